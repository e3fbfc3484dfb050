// bench/campaign_costs.ts: the process-hours and epochs of each figure point's group of records, the basis of
// docs/campaign.md's projection — grouped by label, training length and d_model (lrs together), summed, a group with
// fewer records than the largest marked incomplete.
import { describe, expect, it } from 'vitest';
import { costGroups, costLines } from '../bench/campaign_costs.js';
import { syntheticRecord } from './synthetic-records.js';

const run = (label: string, L: number, d: number, lr: number, epochs: number, wallSeconds: number) => ({
  ...syntheticRecord({ label, dModel: d, lr, slices: [[L, L / 16]], state: 4096, validation: 0.5, test: 0.5, epochs }),
  wallSeconds,
});

describe('bench/campaign_costs.ts', () => {
  it('sums each group of lrs, marks the incomplete ones, and totals the complete', () => {
    const records = [
      run('hyena', 256, 256, 1e-4, 8, 1800), run('hyena', 256, 256, 1e-3, 16, 3600), run('hyena', 256, 256, 1e-2, 64, 7200),
      run('rwkv', 256, 256, 1e-4, 8, 360), run('rwkv', 64, 256, 1e-4, 8, 720), run('rwkv', 64, 256, 1e-3, 8, 720), run('rwkv', 64, 256, 1e-2, 32, 1800),
    ];
    const groups = costGroups(records);
    expect(groups.map((g) => [g.label, g.L, g.d, g.records.length])).toEqual([['hyena', 256, 256, 3], ['rwkv', 64, 256, 3], ['rwkv', 256, 256, 1]]);
    const lines = costLines(records);
    expect(lines[0]).toMatch(/^ {2}hyena +L256 +d256 +3 records +88 epochs +3\.50 process-h$/);
    expect(lines[1]).toMatch(/rwkv +L64 +d256 +3 records +48 epochs +0\.90 process-h$/);
    expect(lines[2]).toMatch(/rwkv +L256 +d256 +1 records +8 epochs +0\.10 process-h \(incomplete\)$/);
    expect(lines.at(-1)).toBe('complete groups: 2 of 3 (3 records each), 4.40 process-hours, 2.20 a group');
  });
});
