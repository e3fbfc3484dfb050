// npm test's closing skip summary (tests/skip-summary.reporter.ts): every skipped group, what it needs, one command.
import { describe, expect, it } from 'vitest';
import SkipSummaryReporter, { INSTALL_COMMAND, skipSummary } from './skip-summary.reporter.js';

const fakeModule = (file: string, tests: { name: string; skipped: boolean }[]) => ({
  relativeModuleId: file,
  children: { *allTests(state?: string) { for (const t of tests) if (!state || (state === 'skipped') === t.skipped) yield { fullName: t.name }; } },
});

function captured(f: () => void): string {
  const write = process.stdout.write.bind(process.stdout);
  let out = '';
  process.stdout.write = ((s: string) => ((out += s), true)) as typeof process.stdout.write;
  try {
    f();
  } finally {
    process.stdout.write = write;
  }
  return out;
}

describe('skip summary', () => {
  it('groups skips by file with what each needs, then the one install command', () => {
    const text = skipSummary([
      { file: 'tests/webgpu-kernels.test.ts', name: 'a' },
      { file: 'tests/webgpu-kernels.test.ts', name: 'b' },
      { file: 'tests/queue.test.ts', name: 'c' },
      { file: 'tests/other.test.ts', name: 'd' },
    ]);
    expect(text.split('\n')).toEqual([
      '4 tests skipped — these parts went untested:',
      '  tests/other.test.ts: 1 skipped (skip or todo in the test itself)',
      '  tests/queue.test.ts: 1 skipped — the BullMQ queue (sweep --queue, worker): needs redis-server',
      '  tests/webgpu-kernels.test.ts: 2 skipped — WebGPU fused kernels: needs a WebGPU adapter',
      `install what they need and run them: ${INSTALL_COMMAND}`,
    ]);
    expect(INSTALL_COMMAND).toBe('sudo apt-get install -y redis-server chromium && eval "$(bash .ci/setup-webgpu.sh)" && npm test');
    expect(skipSummary([])).toBe('');
  });

  it('the reporter prints it after a run with skips, nothing without, nothing under a -t filter', () => {
    const modules = [fakeModule('tests/report.test.ts', [{ name: 'page', skipped: true }, { name: 'html', skipped: false }]), fakeModule('tests/a.test.ts', [{ name: 'x', skipped: false }])];
    const r = new SkipSummaryReporter();
    r.onInit({ config: {} });
    expect(captured(() => r.onTestRunEnd(modules as never))).toBe(`\n1 test skipped — these parts went untested:\n  tests/report.test.ts: 1 skipped — the report page in a browser: needs Debian's chromium\ninstall what they need and run them: ${INSTALL_COMMAND}\n`);
    expect(captured(() => r.onTestRunEnd([modules[1]] as never))).toBe('');
    const filtered = new SkipSummaryReporter();
    filtered.onInit({ config: { testNamePattern: /x/ } });
    expect(captured(() => filtered.onTestRunEnd(modules as never))).toBe('');
  });
});
