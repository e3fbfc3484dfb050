// bench/cpuprof_top.py: self time grouped by function, a native leaf named by its JS caller, the inspector's own
// samples left out — on a hand-built profile whose shares are known; a file that is not a profile is one line and
// exit 2 (as for bench/submit_summary.ts).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from './cliRunner.js';

const dir = mkdtempSync(join(tmpdir(), 'cpuprof-'));
const frame = (functionName: string, url = 'file:///b/step.mjs', lineNumber = 0) => ({ functionName, url, lineNumber });
const top = (file: string) => spawnSync('python3', [join(ROOT, 'bench', 'cpuprof_top.py'), file, '5'], { encoding: 'utf8', timeout: 60_000 });

describe('bench/cpuprof_top.py', () => {
  it('groups self time, names native leaves by their caller, and leaves the inspector out', () => {
    const profile = {
      nodes: [
        { id: 1, callFrame: frame('(root)', ''), children: [2, 5, 7] },
        { id: 2, callFrame: frame('submitQueue', 'file:///b/step.mjs', 9), children: [3, 4] },
        { id: 3, callFrame: frame('submit', '') }, // native under submitQueue
        { id: 4, callFrame: frame('', 'file:///b/step.mjs', 40) }, // an anonymous JS function
        { id: 5, callFrame: frame('post', 'node:inspector', 111), children: [6] },
        { id: 6, callFrame: frame('dispatch', '') }, // the inspector's work: left out
        { id: 7, callFrame: frame('(garbage collector)', '') },
      ],
      samples: [3, 3, 3, 4, 6, 6, 6, 6, 7],
      timeDeltas: [1000, 1000, 1000, 2000, 5000, 5000, 5000, 5000, 1000],
    };
    const file = join(dir, 'step.cpuprofile');
    writeFileSync(file, JSON.stringify(profile));
    const r = top(file);
    expect(r.status, r.stderr).toBe(0);
    const self = r.stdout.split('self time:\n')[1]!.split('inclusive time')[0]!.trim().split('\n').map((l) => l.trim().split(/\s{2,}/));
    // [ms, share, name]: the inspector's 20 ms are not in the 6 ms sampled
    expect(r.stdout).toMatch(/^profile: 6 ms sampled/);
    expect(self).toEqual([
      ['3.0 ms', '50.0%', 'native under submitQueue step.mjs:10'],
      ['2.0 ms', '33.3%', '(anonymous) step.mjs:41'],
      ['1.0 ms', '16.7%', '(garbage collector) :1'],
    ]);
  });

  it('a file that is not a CPU profile: one line naming it, exit 2 (and the same for the submit summary and the step benchmark\'s flags)', () => {
    const file = join(dir, 'not-a-profile.json');
    writeFileSync(file, '{}');
    const runs = [
      [top(file), /not-a-profile.json is not a readable V8 CPU profile/],
      [spawnSync(process.execPath, ['--import', 'tsx', 'bench/submit_summary.ts', file], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 }), /has no WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE benchmark header/],
      [spawnSync(process.execPath, ['--import', 'tsx', 'bench/step.ts', '--mixers', 'attention', '--nope'], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 }), /^bench\/step.ts: unknown flag --nope/],
    ] as const;
    for (const [r, says] of runs) {
      expect(r.status).toBe(2);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(says);
    }
  });
});
