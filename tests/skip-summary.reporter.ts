// A vitest reporter that ends `npm test` with what went untested: the skipped groups (tests that skip when a
// system package or a GPU adapter is absent), what each needs, and the one command that installs all of it. Silent
// when nothing was skipped (CI installs everything: .ci/run) and when a -t filter chose the tests.
import type { Reporter, TestModule } from 'vitest/node';

export interface Need {
  /** What the group checks, for the summary line. */
  what: string;
  /** What is missing when it skips. */
  needs: string;
}

/** Test files that skip as a whole or in part when something outside npm is absent. */
export const NEEDS: Record<string, Need> = {
  'tests/webgpu-kernels.test.ts': { what: 'WebGPU fused kernels', needs: 'a WebGPU adapter' },
  'tests/webgpu-deltaRule.test.ts': { what: 'WebGPU fused delta rule', needs: 'a WebGPU adapter' },
  'tests/webgpu-generalizedDeltaRule.test.ts': { what: 'WebGPU fused generalized delta rule (RWKV-7)', needs: 'a WebGPU adapter' },
  'tests/webgpu-selectiveScan.test.ts': { what: 'WebGPU fused selective scan', needs: 'a WebGPU adapter' },
  'tests/webgpu-linearAttention.test.ts': { what: 'WebGPU fused causal linear attention', needs: 'a WebGPU adapter' },
  'tests/webgpu-attention.test.ts': { what: 'WebGPU fused causal attention', needs: 'a WebGPU adapter' },
  'tests/webgpu-longConv.test.ts': { what: 'WebGPU fused causal long convolution', needs: 'a WebGPU adapter' },
  'tests/webgpu-shortConv.test.ts': { what: 'WebGPU fused causal short convolution', needs: 'a WebGPU adapter' },
  'tests/webgpu-rmsNorm.test.ts': { what: 'WebGPU fused RMSNorm / L2 normalisation', needs: 'a WebGPU adapter' },
  'tests/webgpu-h2oMask.test.ts': { what: 'WebGPU H2O cache selection', needs: 'a WebGPU adapter' },
  'tests/gpu-faults.test.ts': { what: 'GPU fault handling', needs: 'a WebGPU adapter' },
  'tests/gpu-equiv.test.ts': { what: 'GPU ≡ CPU per mixer', needs: 'a WebGPU adapter' },
  'tests/queue.test.ts': { what: 'the BullMQ queue (sweep --queue, worker)', needs: 'redis-server' },
  'tests/report.test.ts': { what: 'the report page in a browser', needs: 'Debian\'s chromium' },
};

/** Installs every need above (apt for Redis and Chromium; a software WebGPU adapter into a cache folder). */
export const INSTALL_COMMAND = 'sudo apt-get install -y redis-server chromium && eval "$(bash .ci/setup-webgpu.sh)" && npm test';

/** The closing summary for skipped tests (file relative to the repository root), or '' when there are none. */
export function skipSummary(skipped: { file: string; name: string }[]): string {
  if (skipped.length === 0) return '';
  const byFile = new Map<string, number>();
  for (const s of skipped) byFile.set(s.file, (byFile.get(s.file) ?? 0) + 1);
  const lines = [`${skipped.length} test${skipped.length === 1 ? '' : 's'} skipped — these parts went untested:`];
  for (const [file, n] of [...byFile].sort(([a], [b]) => a.localeCompare(b))) {
    const need = NEEDS[file];
    lines.push(`  ${file}: ${n} skipped${need ? ` — ${need.what}: needs ${need.needs}` : ' (skip or todo in the test itself)'}`);
  }
  if ([...byFile.keys()].some((f) => NEEDS[f])) lines.push(`install what they need and run them: ${INSTALL_COMMAND}`);
  return lines.join('\n');
}

export default class SkipSummaryReporter implements Reporter {
  private filtered = false;

  onInit(vitest: { config: { testNamePattern?: RegExp } }): void {
    this.filtered = vitest.config.testNamePattern !== undefined;
  }

  onTestRunEnd(testModules: ReadonlyArray<TestModule>): void {
    if (this.filtered) return; // the filter's skips, not missing packages
    const skipped: { file: string; name: string }[] = [];
    for (const m of testModules) {
      for (const t of m.children.allTests('skipped')) skipped.push({ file: m.relativeModuleId, name: t.fullName });
    }
    const text = skipSummary(skipped);
    if (text) process.stdout.write(`\n${text}\n`);
  }
}
