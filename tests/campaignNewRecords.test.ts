// bench/campaign_new_records.ts: the stretch paragraph's totals for a task whose segments name no seqLen (set
// disjointness derives it from its sets' sizes) — a jrt-sd merge printed "LNaN" and "NaN G training tokens" before.
import { describe, expect, it } from 'vitest';
import { newRecordsSummary } from '../bench/campaign_new_records.js';
import { sdSeqLen } from '../tasks/setDisjointness.js';
import { syntheticRecord } from './synthetic-records.js';

describe('campaign_new_records', () => {
  it('counts an SD record\'s tokens from its segments\' derived lengths, each segment batched on its own', () => {
    // two segments of 1000 rows, batch 64: 16 steps each an epoch; the record's 40 steps read 40/32 of an epoch's tokens
    const r = syntheticRecord({ label: 'causal', dModel: 36, lr: 1e-4, state: 100, validation: 0.5, test: 0.5, task: 'sd', slices: [[4, 16], [16, 4]] });
    const L = sdSeqLen({ sizeA: 4, sizeB: 16, passes: 1 });
    expect(L).toBeGreaterThan(20);
    const lines = newRecordsSummary([r]);
    expect(lines[1]).toContain(`L${L} `);
    const tokens = (r.steps * (2 * 1000 * L)) / 32;
    expect(lines.at(-1)).toContain(`${(tokens / 1e9).toFixed(2)} G training tokens`);
    expect(lines.join('\n')).not.toMatch(/NaN/);
  });

  it('tells apart records of one label, d and lr by the mixer parameters that vary among them (jrt-sd\'s f)', () => {
    const at = (featureDim: number) => syntheticRecord({ label: 'causal', dModel: 36, lr: 1e-4, state: 100, validation: 0.1, test: 0.1, task: 'sd', slices: [[4, 16]], layers: [{ mixer: 'linear-attention', params: { featureDim } }] });
    const lines = newRecordsSummary([at(16), at(4)]);
    expect(lines.slice(1, 3).map((l) => / (f\d+) +stopped| (f\d+) +done/.exec(l)?.slice(1).find(Boolean))).toEqual(['f4', 'f16']);
  });

  it('counts an MQAR record\'s tokens as an epoch\'s tokens over its steps (the short last batch a step too)', () => {
    const r = syntheticRecord({ label: 'attention', dModel: 64, lr: 1e-3, state: 100, validation: 0.9, test: 0.9, slices: [[256, 16]] });
    // 1000 rows, batch 64: 16 steps an epoch, the last one of 40 rows — tokens a step 1000·256/16, not 64·256
    const lines = newRecordsSummary([{ ...r, steps: 16e6 }]);
    expect(lines[1]).toContain('L256 ');
    expect(lines.at(-1)).toContain(`${((16e6 * 1000 * 256) / 16 / 1e9).toFixed(2)} G training tokens`);
  });
});
