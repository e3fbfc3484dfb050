// The import layers of .dependency-cruiser.cjs hold for the whole source tree, and the rules do catch a violation.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..');
const LAYERS = ['core', 'tasks', 'ops', 'architectures', 'accel', 'engine', 'runners', 'src', 'index.ts'];

/** The rules' violations for `paths` under `cwd`, as `npm run lint:layers` runs them (the depcruise CLI). */
function violations(cwd: string, paths: string[]): { rule: string; from: string; to: string }[] {
  const run = spawnSync(process.execPath, [join(root, 'node_modules/dependency-cruiser/bin/dependency-cruise.mjs'), '--config', join(root, '.dependency-cruiser.cjs'), '--output-type', 'json', ...paths], { cwd, encoding: 'utf8', maxBuffer: 64 * 2 ** 20 });
  const output = JSON.parse(run.stdout) as { summary: { violations: { rule: { name: string }; from: string; to: string }[] }; modules: unknown[] };
  expect(output.modules.length).toBeGreaterThan(0);
  return output.summary.violations.map((v) => ({ rule: v.rule.name, from: v.from, to: v.to }));
}

describe('import layers (dependency-cruiser)', () => {
  it('core → tasks, ops → architectures → accel → engine → runners → cli: no import points up, no cycle', async () => {
    expect(violations(root, LAYERS)).toEqual([]);
  }, 60_000);

  it('the rules catch an upward import, a cycle, an op importing the fast path and a static import of it from engine', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rb-layers-'));
    try {
      for (const d of ['core', 'ops', 'engine', 'accel/webgpu']) mkdirSync(join(dir, d), { recursive: true });
      writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({ compilerOptions: { module: 'NodeNext', moduleResolution: 'NodeNext', noEmit: true } }));
      writeFileSync(join(dir, 'core', 'a.ts'), "import { b } from '../engine/b.js';\nexport const a = b;\n");
      writeFileSync(join(dir, 'engine', 'b.ts'), "import { c } from '../ops/c.js';\nimport { fast } from '../accel/webgpu/fast.js';\nexport const b = c + fast;\n");
      writeFileSync(join(dir, 'ops', 'c.ts'), "import { d } from '../ops/d.js';\nexport const c = d;\n");
      writeFileSync(join(dir, 'ops', 'd.ts'), "import { c } from './c.js';\nexport const d = 1;\nexport const e = c;\n");
      writeFileSync(join(dir, 'ops', 'f.ts'), "import { fast } from '../accel/webgpu/fast.js';\nexport const f = fast;\n");
      writeFileSync(join(dir, 'accel', 'webgpu', 'fast.ts'), 'export const fast = 2;\n');
      writeFileSync(join(dir, 'accel', 'webgpu', 'g.ts'), "import { b } from '../../engine/b.js';\nexport const g = b;\n");
      const found = violations(dir, ['core', 'ops', 'accel', 'engine']);
      const rules = new Set(found.map((v) => v.rule));
      expect(rules).toContain('core-not-above');
      expect(rules).toContain('no-circular');
      expect(rules).toContain('fast-path-is-opt-in');
      expect(found).toContainEqual({ rule: 'ops-not-above', from: 'ops/f.ts', to: 'accel/webgpu/fast.ts' });
      expect(found).toContainEqual({ rule: 'fast-path-is-opt-in', from: 'engine/b.ts', to: 'accel/webgpu/fast.ts' });
      expect(found).toContainEqual({ rule: 'accel-not-above', from: 'accel/webgpu/g.ts', to: 'engine/b.ts' });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
