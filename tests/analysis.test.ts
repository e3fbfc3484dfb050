// Best-lr selection, seed statistics, Pareto fronts, the information floor and the SD order split, on SYNTHETIC
// records (tests/synthetic-records.ts: made-up numbers, never written under results/).
import { describe, expect, it } from 'vitest';
import {
  analyseRuns,
  bestVariantPerWidth,
  figurePoints,
  leftOutReason,
  leftOutSummary,
  provenanceCells,
  informationFloorBits,
  informationFloorBytes,
  orderSplit,
  paretoFront,
  settingFloor,
  spread,
  taskSettings,
} from '../runners/analysis.js';
import { syntheticRecord } from './synthetic-records.js';

const mq = (o: Partial<Parameters<typeof syntheticRecord>[0]>) =>
  syntheticRecord({ label: 'attention', dModel: 64, lr: 1e-3, slices: [[64, 4]], state: 1000, validation: 0.5, test: 0.5, ...o });

describe('spread', () => {
  it('mean, min, max and sample std', () => {
    const s = spread([1, 2, 3, 4]);
    expect(s.mean).toBe(2.5);
    expect(s.min).toBe(1);
    expect(s.max).toBe(4);
    expect(s.std).toBeCloseTo(Math.sqrt(5 / 3), 12);
    expect(s.n).toBe(4);
    expect(spread([0.7]).std).toBe(0);
    expect(() => spread([])).toThrow();
  });
});

describe('best learning rate', () => {
  it('is chosen on validation and reported on test', () => {
    // lr 1e-3 has the better validation but the worse test: the point must use 1e-3 and report its test accuracy
    const points = figurePoints([
      mq({ lr: 1e-3, validation: 0.9, test: 0.6 }),
      mq({ lr: 1e-2, validation: 0.8, test: 0.95 }),
      mq({ lr: 1e-4, validation: 0.1, test: 0.1 }),
    ]);
    expect(points).toHaveLength(1);
    expect(points[0]!.bestLr).toBe(1e-3);
    expect(points[0]!.test.mean).toBe(0.6);
    expect(points[0]!.validation.mean).toBe(0.9);
    expect(points[0]!.learningRates).toEqual([1e-4, 1e-3, 1e-2]);
    expect(points[0]!.runIds).toHaveLength(3);
  });

  it('uses the mean over seeds, and gives mean / min / max / std of test over the seeds', () => {
    const points = figurePoints([
      // lr 1e-3: one lucky seed (0.95) but mean validation 0.6
      mq({ lr: 1e-3, seed: 0, validation: 0.95, test: 0.9 }),
      mq({ lr: 1e-3, seed: 1, validation: 0.25, test: 0.2 }),
      // lr 1e-2: mean validation 0.8
      mq({ lr: 1e-2, seed: 0, validation: 0.8, test: 0.7 }),
      mq({ lr: 1e-2, seed: 1, validation: 0.8, test: 0.9 }),
    ]);
    expect(points).toHaveLength(1);
    const p = points[0]!;
    expect(p.bestLr).toBe(1e-2);
    expect(p.test.mean).toBeCloseTo(0.8, 12);
    expect(p.test.min).toBe(0.7);
    expect(p.test.max).toBe(0.9);
    expect(p.test.std).toBeCloseTo(Math.sqrt(0.02), 12);
    expect(p.test.n).toBe(2);
    expect(p.bestRuns.map((r) => r.seed)).toEqual([0, 1]);
  });

  it('ties go to the smaller learning rate; failed runs are left out', () => {
    const points = figurePoints([
      mq({ lr: 1e-2, validation: 0.5, test: 0.5 }),
      mq({ lr: 1e-3, validation: 0.5, test: 0.4 }),
      mq({ lr: 1e-1, validation: 0.99, test: 0.99, status: 'failed' }),
    ]);
    expect(points[0]!.bestLr).toBe(1e-3);
    expect(points[0]!.leftOut).toEqual({ failed: 1, invalid: 0, diverged: 0 });
    expect(figurePoints([mq({ status: 'failed' })])).toHaveLength(0);
  });

  it("a point missing some lr of its label's grid is provisional: lrsMissing names them (stopped runs count, failed ones do not)", () => {
    const points = figurePoints([
      // d 64: all three lrs of attention's grid, one stopped at a rung
      mq({ lr: 1e-4, validation: 0.2, status: 'stopped' }),
      mq({ lr: 1e-3, validation: 0.9 }),
      mq({ lr: 1e-2, validation: 0.8 }),
      // d 128: one lr has a result, one failed, one not run
      mq({ dModel: 128, lr: 1e-3, validation: 0.95 }),
      mq({ dModel: 128, lr: 1e-2, validation: 0.99, status: 'failed' }),
      // another label's grid is its own
      mq({ label: 'hyena', lr: 5e-3, validation: 0.5 }),
    ]);
    const of = (label: string, d: number) => points.find((p) => p.label === label && p.dModel === d)!;
    expect(of('attention', 64).lrsMissing).toEqual([]);
    expect(of('attention', 128).lrsMissing).toEqual([1e-4, 1e-2]);
    expect(of('attention', 128).bestLr).toBe(1e-3);
    expect(of('hyena', 64).lrsMissing).toEqual([]);
  });

  it("a point missing some seed of its label's grid is provisional: seedsMissing names them (stopped runs count, failed ones do not)", () => {
    const points = figurePoints([
      // d 64: seeds 0 and 1 (seed 1's run stopped at a rung)
      mq({ lr: 1e-3, validation: 0.9 }),
      mq({ lr: 1e-3, validation: 0.2, seed: 1, status: 'stopped' }),
      // d 128: seed 0 only, seed 1 failed
      mq({ dModel: 128, lr: 1e-3, validation: 0.95 }),
      mq({ dModel: 128, lr: 1e-3, validation: 0.99, seed: 1, status: 'failed' }),
      // another label's seeds are its own
      mq({ label: 'hyena', lr: 1e-3, validation: 0.5 }),
    ]);
    const of = (label: string, d: number) => points.find((p) => p.label === label && p.dModel === d)!;
    expect([of('attention', 64).seedsMissing, of('attention', 128).seedsMissing, of('hyena', 64).seedsMissing]).toEqual([[], [1], []]);
    expect(of('attention', 128).lrsMissing).toEqual([]);
  });

  it('keeps (architecture, size/variant, task setting) apart', () => {
    const recs = [
      mq({ dModel: 64 }),
      mq({ dModel: 128 }),
      mq({ dModel: 64, slices: [[128, 8]] }),
      mq({ dModel: 64, label: 'hyena' }),
      mq({ dModel: 64, label: 'based', layers: [{ mixer: 'based', params: { featureDim: 8 } }] }),
      mq({ dModel: 64, label: 'based', layers: [{ mixer: 'based', params: { featureDim: 16 } }], validation: 0.7 }),
    ];
    const points = figurePoints(recs);
    expect(points).toHaveLength(6);
    const based = points.filter((p) => p.label === 'based');
    expect(based.map((p) => p.variant)).toEqual([{ f: 8 }, { f: 16 }]);
    expect(based.map((p) => p.variantLabel)).toEqual(['d64 f8', 'd64 f16']);
    // accuracy-vs-width keeps the better variant (on validation) per width
    const best = bestVariantPerWidth(points).filter((p) => p.label === 'based');
    expect(best).toHaveLength(1);
    expect(best[0]!.variant).toEqual({ f: 16 });
    expect(taskSettings(recs).map((s) => s.label).sort()).toEqual(['L128-K8', 'L64-K4']);
  });
});

describe('runs that are not results', () => {
  it('a failed and an invalid run are not in the points, and are listed as left out with their reasons', () => {
    const good = mq({ lr: 1e-3, validation: 0.6, test: 0.55 });
    const failed = mq({ lr: 1e-2, validation: 0, test: 0, status: 'failed', error: 'GPU fault (out-of-memory): Failed to allocate a buffer', epochsRun: 0 });
    // invalid and better on validation than the sane run: the best-lr pick must still not choose it
    const invalid = mq({ lr: 3e-3, validation: 0.95, test: 0.97 });
    const violations = ['epoch 1: validation loss -3.20e+8 < (1 − accuracy 0.0000)·ln 2 = 0.6931'];
    const { points, leftOut, runs } = analyseRuns([good, failed, invalid], new Map([[invalid.id, violations]]));
    expect(points).toHaveLength(1);
    const p = points[0]!;
    expect(p.bestLr).toBe(1e-3);
    expect(p.test.mean).toBe(0.55);
    expect(p.validation.mean).toBe(0.6);
    expect(p.learningRates).toEqual([1e-3]);
    expect(p.bestRuns.map((r) => r.id)).toEqual([good.id]);
    expect(p.leftOut).toEqual({ failed: 1, invalid: 1, diverged: 0 });
    expect(p.runIds).toEqual([good.id, failed.id, invalid.id]);
    expect(leftOut.map((r) => [r.id, r.kind, r.status, r.reason, r.lr, r.groupHasPoint])).toEqual([
      [failed.id, 'failed', 'failed', 'GPU fault (out-of-memory): Failed to allocate a buffer', 1e-2, true],
      [invalid.id, 'invalid', 'done', violations[0], 3e-3, true],
    ]);
    // the failed run never measured its state (zeros in its record): its mark goes where its model's runs are
    expect(failed.stateBytes.measured).toBe(0);
    expect(leftOut[0]!.stateBytes).toEqual({ measured: 1000, paper: 1000 });
    expect(leftOut[0]!.variantLabel).toBe('d64');
    expect(runs.map((a) => [a.record.id, a.leftOut?.kind, a.atBestLr])).toEqual([
      [good.id, undefined, true],
      [failed.id, 'failed', false],
      [invalid.id, 'invalid', false],
    ]);
    expect(leftOutSummary(leftOut)).toBe('failed 1, invalid 1');
    // without the verify result the invalid run would have won: the check is what keeps it out
    expect(figurePoints([good, failed, invalid])[0]!.bestLr).toBe(3e-3);
  });

  it('a model whose runs are all left out has no point, but its runs are listed (and placed where a run measured the state)', () => {
    const failed = mq({ dModel: 128, lr: 1e-3, status: 'failed', error: 'device lost', epochsRun: 0 });
    const invalid = mq({ dModel: 128, lr: 1e-2, state: 4096 });
    const { points, leftOut } = analyseRuns([mq({}), failed, invalid], new Map([[invalid.id, ['its curve (curves/<id>.json) is missing or unreadable']]]));
    expect(points.map((p) => p.dModel)).toEqual([64]);
    expect(leftOut.map((r) => [r.dModel, r.kind, r.groupHasPoint, r.stateBytes?.measured])).toEqual([
      [128, 'failed', false, 4096],
      [128, 'invalid', false, 4096],
    ]);
    // alone, a failed run has no state size to be placed at
    expect(analyseRuns([failed]).leftOut[0]!.stateBytes).toBeUndefined();
  });

  it('a diverged run counts for its finite epochs; one that diverged before any evaluation is left out', () => {
    const early = mq({ lr: 1e-1, validation: 0, test: 0, status: 'diverged', divergedAtStep: 7, epochsRun: 0 });
    const late = mq({ lr: 1e-2, validation: 0.7, test: 0.65, status: 'diverged', divergedAtStep: 300, epochsRun: 3 });
    const sane = mq({ lr: 1e-3, validation: 0.5, test: 0.5 });
    const { points, leftOut } = analyseRuns([early, late, sane]);
    expect(points).toHaveLength(1);
    expect(points[0]!.bestLr).toBe(1e-2);
    expect(points[0]!.test.mean).toBe(0.65);
    expect(points[0]!.learningRates).toEqual([1e-3, 1e-2]);
    expect(points[0]!.divergedCounted).toBe(1);
    expect(points[0]!.leftOut).toEqual({ failed: 0, invalid: 0, diverged: 1 });
    expect(leftOut.map((r) => [r.id, r.kind, r.reason])).toEqual([[early.id, 'diverged', 'diverged at step 7, before its first evaluation: no finite epoch']]);
    // alone, the early-diverged run gives no point at accuracy 0: no point at all
    expect(figurePoints([early])).toEqual([]);
  });

  it('leftOutReason: a failure first, then impossible numbers, then no evaluated epoch', () => {
    expect(leftOutReason(mq({ status: 'failed', error: 'x' }), ['v'])).toEqual({ kind: 'failed', reason: 'x' });
    expect(leftOutReason(mq({ status: 'failed' }))).toEqual({ kind: 'failed', reason: 'failed without a recorded reason' });
    expect(leftOutReason(mq({}), ['a', 'b'])).toEqual({ kind: 'invalid', reason: 'a; b' });
    expect(leftOutReason(mq({ epochsRun: 0 }))).toEqual({ kind: 'invalid', reason: "status 'done' with no evaluated epoch" });
    expect(leftOutReason(mq({}))).toBeUndefined();
    expect(leftOutReason(mq({ status: 'diverged', epochsRun: 2 }))).toBeUndefined();
  });
});

describe('provenance cells', () => {
  it('short commit with the dirty flag, levers on/off, driver; unknown for legacy records', () => {
    expect(provenanceCells(mq({}))).toEqual({ commit: 'unknown', levers: 'unknown', driver: 'unknown' });
    const gpu = mq({ provenance: { commit: '727b2b507524b733b929329e865409f7dc74f30a', dirty: true, fastPath: { uploads: true, bindGroups: false, adamw: true }, driver: 'NVIDIA 550.54' } });
    expect(provenanceCells(gpu)).toEqual({ commit: '727b2b5 +dirty', levers: '2/3 on (off: bindGroups)', driver: 'NVIDIA 550.54' });
    const cpu = { ...mq({ provenance: { commit: 'abcdef0123456789', dirty: false } }), backend: 'cpu' };
    expect(provenanceCells(cpu)).toEqual({ commit: 'abcdef0', levers: 'none (cpu)', driver: 'not reported' });
    // Dawn's device toggles (engine/dawnToggles.ts) beside the levers, where a run used any (both by default since 2026-12-01)
    const toggled = mq({ provenance: { commit: '727b2b5', dirty: false, fastPath: { uploads: true }, dawnToggles: ['disable_robustness', 'disable_workgroup_init'] } });
    expect(provenanceCells(toggled).levers).toBe('1/1 on; Dawn toggles disable_robustness, disable_workgroup_init');
    expect(provenanceCells(mq({ provenance: { commit: 'unknown' } })).commit).toBe('unknown');
    expect(provenanceCells(mq({ provenance: { commit: 'abcdef0123' } })).commit).toBe('abcdef0 (dirty?)');
  });

  it('a resumed run names its earlier processes where their code or levers differ from the finishing one', () => {
    const levers = (ordered: boolean) => ({ uploads: true, segmentSumOrdered: ordered });
    const prov = (commit: string, ordered: boolean) => ({ commit, dirty: false, fastPath: levers(ordered), driver: 'NVIDIA 580' });
    const part = (fromEpoch: number, commit: string, ordered: boolean) => ({ fromEpoch, backend: 'webgpu', device: 'gpu 0', provenance: prov(commit, ordered) });
    const record = (parts: ReturnType<typeof part>[]) => ({ ...mq({ provenance: prov('22b1b2e0', true) }), parts });
    // epochs 1–8 on the atomic gather, 9– with the ordered one, one commit
    expect(provenanceCells(record([part(0, '22b1b2e0', false), part(8, '22b1b2e0', true)]))).toEqual({
      commit: '22b1b2e', levers: '2/2 on (epochs 1–8: 1/2 on (off: segmentSumOrdered))', driver: 'NVIDIA 580',
    });
    // three processes: the middle one on other code
    expect(provenanceCells(record([part(0, '22b1b2e0', true), part(4, 'c12e4dd0', true), part(8, '22b1b2e0', true)])).commit).toBe('22b1b2e (epochs 5–8: c12e4dd)');
    // resumed with nothing changed: the cells of a run trained at once
    expect(provenanceCells(record([part(0, '22b1b2e0', true), part(8, '22b1b2e0', true)]))).toEqual(provenanceCells(mq({ provenance: prov('22b1b2e0', true) })));
  });
});

describe('Pareto front', () => {
  it('keeps the points no other beats on (smaller state, higher accuracy)', () => {
    const pts = [
      { x: 1, y: 0.2 },
      { x: 2, y: 0.1 }, // dominated by (1, 0.2)
      { x: 4, y: 0.6 },
      { x: 4, y: 0.5 }, // same state, lower accuracy
      { x: 8, y: 0.6 }, // same accuracy, larger state
      { x: 16, y: 0.9 },
      { x: 32, y: 0.85 },
    ];
    const front = paretoFront(pts, (p) => p.x, (p) => p.y);
    expect(front).toEqual([{ x: 1, y: 0.2 }, { x: 4, y: 0.6 }, { x: 16, y: 0.9 }]);
    expect(paretoFront([], (p: { x: number }) => p.x, () => 0)).toEqual([]);
  });
});

describe('information-theoretic floor', () => {
  it('K·log2(V/2) bits', () => {
    expect(informationFloorBits(4, 8192)).toBe(48);
    expect(informationFloorBits(256, 8192)).toBe(3072);
    expect(informationFloorBytes(16, 8192)).toBe(24);
    expect(informationFloorBits(1, 4)).toBe(1);
  });

  it('of a setting is that of its hardest slice; SD has none', () => {
    const [mix] = taskSettings([mq({ slices: [[64, 4], [256, 64], [1024, 256]] })]);
    expect(settingFloor(mix!)).toEqual({ bits: 3072, bytes: 384, numKvPairs: 256, vocabSize: 8192 });
    const [sd] = taskSettings([syntheticRecord({ label: 'x', task: 'sd', dModel: 8, lr: 1, slices: [[4, 16]], state: 1, validation: 0, test: 0 })]);
    expect(settingFloor(sd!)).toBeUndefined();
  });
});

describe('set disjointness order split', () => {
  it('averages small-first and large-first slices per seed, then over seeds', () => {
    const slices: [number, number][] = [[4, 32], [32, 4], [16, 256], [256, 16]];
    const rec = (seed: number, acc: number[], validation = 0.5) =>
      syntheticRecord({ label: 'causal', task: 'sd', dModel: 36, lr: 5e-4, seed, slices, state: 4000, validation, test: 0.5, sliceAccuracy: acc });
    const [p] = figurePoints([rec(0, [0.9, 0.5, 0.7, 0.3]), rec(1, [0.8, 0.6, 0.6, 0.2])]);
    const o = orderSplit(p!)!;
    expect(o.smallSlices).toEqual(['A4-B32', 'A16-B256']);
    expect(o.largeSlices).toEqual(['A32-B4', 'A256-B16']);
    expect(o.smallFirst.mean).toBeCloseTo((0.8 + 0.7) / 2, 12); // seed 0: 0.8, seed 1: 0.7
    expect(o.largeFirst.mean).toBeCloseTo((0.4 + 0.4) / 2, 12);
    expect(o.difference.mean).toBeCloseTo(0.35, 12);
    expect(o.difference.min).toBeCloseTo(0.3, 12);
    expect(o.difference.max).toBeCloseTo(0.4, 12);
    // an MQAR point has no order split
    expect(orderSplit(figurePoints([mq({})])[0]!)).toBeUndefined();
  });
});

describe('task settings', () => {
  it('settings that differ only in passes share a basis (the JRT-prompt panel)', () => {
    const s = taskSettings([mq({ passes: 1, slices: [[256, 16]] }), mq({ passes: 2, slices: [[256, 16]] }), mq({ passes: 3, slices: [[256, 16]] })]);
    expect(s).toHaveLength(3);
    expect(new Set(s.map((x) => x.basis)).size).toBe(1);
    expect(s.map((x) => x.passes)).toEqual([1, 2, 3]);
    expect(s.map((x) => x.label)).toEqual(['L256-K16', 'L256-K16, P2', 'L256-K16, P3']);
    expect(new Set(s.map((x) => x.basisLabel))).toEqual(new Set(['L256-K16']));
  });
});
