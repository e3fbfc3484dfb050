// bench/cpuprofile_top.ts: self time grouped by function, a native leaf named by its JS caller, the inspector's own
// samples left out — on a hand-built profile whose shares are known.
import { describe, expect, it } from 'vitest';
import { hostShares, type CpuProfile } from '../bench/cpuprofile_top.js';

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
});
