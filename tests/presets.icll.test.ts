// The `icll` preset (in-context language learning, RegBench): its grid, its figure (validity and total variation vs
// strings seen, from SYNTHETIC records — made-up numbers, written to a temporary folder only), and one preset point
// trained end to end on the CPU with the regbench metrics in its record and curve.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { parse } from 'csv-parse/sync';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend, type BackendInfo } from '../engine/backend.js';
import { runId } from '../runners/config.js';
import { expandPreset, loadPreset } from '../runners/sweep.js';
import { scalePreset } from '../runners/scale.js';
import { analyseRuns } from '../runners/analysis.js';
import { icllFigures, MIN_POSITIONS } from '../runners/charts/icll.js';
import { plotResults } from '../runners/plot.js';
import { parseRunRecord, ResultsDir, type RunRecord } from '../runners/results.js';
import { resolveRunConfig, runOne } from '../runners/run.js';
import { epochViolations } from '../engine/invariants.js';
import { syntheticRecord, writeSyntheticResults } from './synthetic-records.js';

const MIXERS = ['attention', 'based', 'deltanet', 'hyena', 'mamba'];

describe('icll preset', () => {
  it('expands to 5 mixers × 3 widths × 2 learning rates = 30 runs on regbench data, and --scale 0.1 keeps every mixer and both width ends', () => {
    const configs = expandPreset(loadPreset('icll'));
    expect(configs.length).toBe(30);
    expect(new Set(configs.map(runId)).size).toBe(30);
    expect([...new Set(configs.map((c) => c.label))].sort()).toEqual(MIXERS);
    expect([...new Set(configs.map((c) => c.model.dModel))].sort((a, b) => a - b)).toEqual([32, 64, 128]);
    expect([...new Set(configs.map((c) => c.train.lr))].sort()).toEqual([0.001, 0.003]);
    for (const c of configs) {
      expect(c.data.task).toBe('regbench');
      expect(c.data.train).toEqual([expect.objectContaining({ count: 5000, seqLen: 128, acceptProb: 0.5, minStates: 4, maxStates: 12, minAlphabet: 4, maxAlphabet: 18 })]);
      expect(c.data.test).toEqual([expect.objectContaining({ count: 500, seqLen: 128 })]);
      expect(c.model.nLayers).toBe(2);
      expect(c.model.mlp).toBe(true);
      const last = c.model.layers[c.model.layers.length - 1]!;
      expect(last.mixer).toBe(c.label);
      if (['attention', 'based', 'deltanet'].includes(c.label)) expect(c.model.layers[0]).toMatchObject({ mixer: 'baseconv', params: { convType: 'short', kernelSize: 3 } });
      else expect(c.model.layers.length).toBe(1);
    }
    const scaled = expandPreset(scalePreset(loadPreset('icll'), 0.1));
    expect(scaled.length).toBe(10);
    expect([...new Set(scaled.map((c) => c.label))].sort()).toEqual(MIXERS);
    expect([...new Set(scaled.map((c) => c.model.dModel))].sort((a, b) => a - b)).toEqual([32, 128]);
    expect(scaled.every((c) => c.data.train[0]!.count === 1582 && c.train.epochs === 6)).toBe(true);
  });
});

/** A synthetic regbench record: validity rising with strings seen toward `top` (made up), over one L128 slice. */
function syntheticIcll(label: string, dModel: number, lr: number, top: number): RunRecord {
  const base = syntheticRecord({ label, dModel, lr, slices: [[128, 1]], state: dModel * 100, validation: top, test: top });
  const seg = (count: number) => ({ count, seqLen: 128, minStates: 4, maxStates: 12, numSymbols: 18, minAlphabet: 4, maxAlphabet: 18, maxOutDegree: 3, acceptProb: 0.5 });
  const k = 8;
  const validity = Array.from({ length: k }, (_, i) => Math.round((0.4 + (top - 0.4) * (i / (k - 1))) * 1e4) / 1e4);
  const positions = Array.from({ length: k }, (_, i) => (i === k - 1 ? MIN_POSITIONS - 1 : 100));
  return {
    ...base,
    config: { ...base.config, data: { task: 'regbench', common: {}, train: [seg(1000)], test: [seg(100)], seed: 0 } },
    testSlices: { L128: top },
    testValidity: { validity: top, tv: 1 - top, positions: 800, delimiterValidity: 0.39, byStrings: { validity, tv: validity.map((v) => Math.round((1 - v) * 1e4) / 1e4), positions } },
  };
}

describe('icll figure', () => {
  it('one line per mixer per width at the best lr: the rows hold the records\' validity by strings seen; thin buckets and the worse lr left out; floor drawn', () => {
    const records = [
      syntheticIcll('attention', 32, 1e-3, 0.9),
      syntheticIcll('attention', 32, 3e-3, 0.6), // worse on validation: not drawn
      syntheticIcll('mamba', 32, 1e-3, 0.7),
      syntheticIcll('mamba', 64, 1e-3, 0.8),
    ];
    for (const r of records) expect(parseRunRecord(JSON.parse(JSON.stringify(r)))?.testValidity?.byStrings.validity.length).toBe(8);
    const { points, runs } = analyseRuns(records);
    const figs = icllFigures(points, runs, ['attention', 'mamba']);
    expect(figs.map((f) => f.name)).toEqual(['icll-validity', 'icll-tv']);
    const rows = figs[0]!.rows.filter((r) => r.kind === 'point');
    // 3 lines (attention d32, mamba d32, mamba d64) × 7 buckets (the 8th has < MIN_POSITIONS positions)
    expect(rows.length).toBe(21);
    const att = rows.filter((r) => r.mixer === 'attention').sort((a, b) => (a.strings as number) - (b.strings as number));
    expect(att.map((r) => r.value)).toEqual(records[0]!.testValidity!.byStrings.validity.slice(0, 7));
    expect(att.every((r) => r.bestLr === 1e-3 && r.panel === 'd_model 32')).toBe(true);
    expect(new Set(rows.map((r) => r.panel))).toEqual(new Set(['d_model 32', 'd_model 64']));
    expect(figs[0]!.rows.filter((r) => r.kind === 'floor').map((r) => r.value)).toEqual([0.39, 0.39]);
    const tv = figs[1]!.rows.filter((r) => r.kind === 'point' && r.mixer === 'mamba' && r.panel === 'd_model 64' && r.strings === 0);
    expect(tv.map((r) => r.value)).toEqual([0.6]);
    // records without regbench metrics draw no icll figure
    expect(icllFigures(analyseRuns([syntheticRecord({ label: 'attention', dModel: 32, lr: 1e-3, slices: [[64, 4]], state: 100, validation: 0.5, test: 0.5 })]).points, [], ['attention'])).toEqual([]);
  });

  it('`recallbench plot` draws it into figures/', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'icll-plot-'));
    try {
      writeSyntheticResults(dir, [syntheticIcll('attention', 32, 1e-3, 0.9), syntheticIcll('mamba', 32, 1e-3, 0.7)]);
      const r = await plotResults(dir, { png: false });
      expect(r.files).toEqual(expect.arrayContaining(['figures/icll-validity.svg', 'figures/icll-validity.csv', 'figures/icll-tv.vl.json']));
      // runs.csv gains validity and TV columns where records have them
      new ResultsDir(dir).writeCsv();
      const rows = parse(readFileSync(join(dir, 'runs.csv'), 'utf8'), { columns: true }) as Record<string, string>[];
      const stored = readFileSync(join(dir, 'runs.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as RunRecord);
      expect(rows.map((x) => Number(x.test_validity))).toEqual(stored.map((x) => x.testValidity!.validity));
      expect(rows.map((x) => Number(x.test_tv))).toEqual(stored.map((x) => x.testValidity!.tv));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('icll end to end', () => {
  let backend: BackendInfo;
  beforeAll(async () => {
    backend = await initBackend('wasm');
  });
  it('one preset point (attention d32) trains on the CPU; its record and curve hold validity, TV and the curve by strings seen', async () => {
    const c = expandPreset(loadPreset('icll')).find((x) => x.label === 'attention' && x.model.dModel === 32 && x.train.lr === 0.003)!;
    const config = resolveRunConfig({ ...c, data: { ...c.data, train: [{ ...c.data.train[0]!, count: 192 }], test: [{ ...c.data.test[0]!, count: 32 }] }, train: { ...c.train, epochs: 1 } });
    const { record, curve } = await runOne(config, { backend });
    const v = record.testValidity!;
    expect(v.positions).toBe(32 * 128);
    expect(v.validity).toBeGreaterThan(0);
    expect(v.validity).toBeLessThanOrEqual(1);
    expect(v.tv).toBeGreaterThan(0);
    expect(v.tv).toBeLessThanOrEqual(1);
    expect(v.delimiterValidity).toBeGreaterThan(0.2);
    expect(v.byStrings.positions.reduce((a, b) => a + b, 0)).toBe(32 * 128);
    // accuracy is validity (per example, mean), token accuracy is the exact-label match and never above it
    expect(record.testAccuracy).toBeCloseTo(v.validity, 10); // every example has 128 scored positions
    const test = curve[0]!.test;
    expect(test.validity!.byPosition.positions).toEqual(Array.from({ length: 128 }, () => 32));
    expect(test.tokenAccuracy!).toBeLessThanOrEqual(test.validity!.validity);
    expect(epochViolations(curve[0]!)).toEqual([]);
    expect(parseRunRecord(JSON.parse(JSON.stringify(record)))?.testValidity?.validity).toBeCloseTo(v.validity, 12);
  }, 30_000);
});
