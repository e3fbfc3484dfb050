// bench/cpuprofile_top.ts: self time grouped by function, a native leaf named by its JS caller, the inspector's own
// samples left out — on a hand-built profile whose shares are known.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { hostShares, type CpuProfile } from '../bench/cpuprofile_top.js';
import { ROOT } from './cliRunner.js';

const frame = (functionName: string, url = 'file:///b/step.mjs', lineNumber = 1) => ({ functionName, url, lineNumber });

describe('bench/cpuprofile_top.ts', () => {
  it('groups self time, names native leaves by their caller, and leaves the inspector out', () => {
    const profile: CpuProfile = {
      nodes: [
        { id: 1, callFrame: frame('(root)', ''), children: [2, 5, 7] },
        { id: 2, callFrame: frame('submitQueue'), children: [3, 4] },
        { id: 3, callFrame: frame('submit', '') }, // native under submitQueue
        { id: 4, callFrame: frame('', 'file:///b/step.mjs', 41) }, // an anonymous JS function
        { id: 5, callFrame: frame('post', 'node:inspector', 111), children: [6] },
        { id: 6, callFrame: frame('dispatch', '') }, // the inspector's work: left out
        { id: 7, callFrame: frame('(garbage collector)', '') },
      ],
      samples: [3, 3, 3, 4, 6, 6, 6, 6, 7],
      timeDeltas: [1000, 1000, 1000, 2000, 5000, 5000, 5000, 5000, 1000],
    };
    const { totalMs, rows } = hostShares(profile);
    expect(totalMs).toBe(6);
    expect(rows.map((r) => [r.name, r.ms])).toEqual([
      ['native under submitQueue', 3],
      ['(anonymous step.mjs:41)', 2],
      ['(garbage collector)', 1],
    ]);
    expect(rows[0]!.share).toBeCloseTo(0.5, 12);
  });

  it('a file that is not a CPU profile: one line naming it, exit 2 (and the same for the submit summary)', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'cpuprof-')), 'not-a-profile.json');
    writeFileSync(file, '{}');
    for (const [script, says] of [['bench/cpuprofile_top.ts', /is not a V8 CPU profile/], ['bench/submit_summary.ts', /has no WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE benchmark header/]] as const) {
      const r = spawnSync(process.execPath, ['--import', 'tsx', script, file], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
      expect(r.status, script).toBe(2);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(says);
    }
  });
});
