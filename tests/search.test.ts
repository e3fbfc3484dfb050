// Successive halving as pure functions (runners/search.ts): the rungs, the ranking rule (best-so-far validation
// accuracy, ties by lower loss then smaller lr), eta, finished runs (never stopped, still ranked), the group plan
// a folder's state gives, the budget, and what --scale and the analysis make of it.
import { describe, expect, it } from 'vitest';
import { presetSchema, type RunConfig } from '../runners/config.js';
import { analyseRuns } from '../runners/analysis.js';
import { scalePreset } from '../runners/scale.js';
import { expandPreset, loadPreset } from '../runners/sweep.js';
import { describeSearch, groupKey, halvingBudget, halvingDecision, keptOf, planGroup, rungsFor, savingsText, searchMarker, searchSavings, standingAt, stopsToReopen, type EpochLike, type Halving, type MemberState } from '../runners/search.js';
import { recordViolations } from '../runners/verify.js';
import type { RunRecord } from '../runners/results.js';
import { syntheticRecord } from './synthetic-records.js';

const H = (over: Partial<Halving> = {}): Halving => ({ kind: 'halving', eta: 2, keepWithin: 0, stopOnSolved: false, ...over });
/** A curve from validation accuracies (and losses 1 − acc unless given). */
const curve = (accs: number[], losses?: number[]): EpochLike[] => accs.map((a, i) => ({ epoch: i + 1, validation: { accuracy: a, loss: losses?.[i] ?? 1 - a } }));

describe('rungs', () => {
  it('default: max(1, round(E/8))·eta^k below E; explicit rungs and minEpochs', () => {
    expect(rungsFor(H(), 64)).toEqual([8, 16, 32]);
    expect(rungsFor(H(), 32)).toEqual([4, 8, 16]);
    expect(rungsFor(H(), 48)).toEqual([6, 12, 24]);
    expect(rungsFor(H(), 7)).toEqual([1, 2, 4]);
    expect(rungsFor(H(), 1)).toEqual([]);
    expect(rungsFor(H({ eta: 3 }), 64)).toEqual([8, 24]);
    expect(rungsFor(H({ rungs: [2, 5, 9] }), 8)).toEqual([2, 5]);
    expect(rungsFor(H({ minEpochs: 3 }), 20)).toEqual([3, 6, 12]);
    expect(keptOf(4, 2)).toBe(2);
    expect(keptOf(3, 2)).toBe(2);
    expect(keptOf(7, 3)).toBe(3);
    expect(keptOf(1, 2)).toBe(1);
  });

  it('the preset schema takes a search, rejects bad ones, and defaults to the full grid', () => {
    const base = { name: 'x', data: [{ train: [{ count: 1, seqLen: 8 }], test: [{ count: 1, seqLen: 8 }] }], architectures: [{ label: 'a', layers: [{ mixer: 'attention' }] }], dModels: [8], learningRates: [1e-3] };
    expect(presetSchema.parse(base).search).toEqual({ kind: 'grid' });
    expect(presetSchema.parse({ ...base, search: { kind: 'halving' } }).search).toEqual({ kind: 'halving', eta: 2, keepWithin: 0, stopOnSolved: false });
    expect(presetSchema.safeParse({ ...base, search: { kind: 'halving', keepWithin: -0.01 } }).success).toBe(false);
    expect(presetSchema.safeParse({ ...base, search: { kind: 'halving', rungs: [4, 2] } }).success).toBe(false);
    expect(presetSchema.safeParse({ ...base, search: { kind: 'halving', rungs: [2], minEpochs: 2 } }).success).toBe(false);
    expect(presetSchema.safeParse({ ...base, search: { kind: 'halving', eta: 1 } }).success).toBe(false);
    expect(presetSchema.safeParse({ ...base, search: { kind: 'halving', etta: 2 } }).success).toBe(false);
  });
});

describe('the halving rule', () => {
  it('ranks by best validation accuracy up to the rung epoch (later epochs unseen), keeps ⌈n/eta⌉', () => {
    expect(standingAt(curve([0.2, 0.5, 0.4, 0.9]), 3)).toEqual({ accuracy: 0.5, loss: 0.5, bestEpoch: 2 });
    expect(standingAt([], 3).accuracy).toBe(-Infinity);
    const d = halvingDecision(
      [
        { id: 'a', lr: 1e-4, curve: curve([0.1, 0.2, 0.99]), finished: false }, // its epoch 3 comes after the rung
        { id: 'b', lr: 1e-3, curve: curve([0.3, 0.6]), finished: false },
        { id: 'c', lr: 1e-2, curve: curve([0.5, 0.4]), finished: false },
        { id: 'd', lr: 1e-1, curve: curve([0.0, 0.0]), finished: false },
      ],
      2,
      2,
    );
    expect(d.ranking.map((r) => [r.id, r.rank, r.accuracy])).toEqual([['b', 1, 0.6], ['c', 2, 0.5], ['a', 3, 0.2], ['d', 4, 0]]);
    expect(d.kept).toBe(2);
    expect(d.survivors).toEqual(['b', 'c']);
    expect(d.stopped).toEqual(['a', 'd']);
  });

  it('ties: lower validation loss first, then the smaller lr; NaN accuracies rank last', () => {
    const d = halvingDecision(
      [
        { id: 'p', lr: 3e-3, curve: curve([0.25], [2.0]), finished: false },
        { id: 'q', lr: 1e-3, curve: curve([0.25], [1.5]), finished: false },
        { id: 'r', lr: 1e-2, curve: curve([0.25], [1.5]), finished: false },
        { id: 's', lr: 1e-4, curve: curve([Number.NaN], [Number.NaN]), finished: false },
      ],
      1,
      2,
    );
    expect(d.ranking.map((r) => r.id)).toEqual(['q', 'r', 'p', 's']);
    expect(d.stopped).toEqual(['p', 's']);
  });

  it('keepWithin: runs below the line within the margin of its last run go on (a plateau is not ranked); none without it', () => {
    // zoology-fig2 L 64 BaseConv d 512 at rung 1 (epoch 8), validation accuracies as stored: all four on the 1/K plateau
    const plateau = [
      { id: 'lr1e-4', lr: 1e-4, curve: curve([0.256]), finished: false },
      { id: 'lr4.6e-4', lr: 4.6e-4, curve: curve([0.2598]), finished: false },
      { id: 'lr2.2e-3', lr: 2.2e-3, curve: curve([0.2611]), finished: false },
      { id: 'lr1e-2', lr: 1e-2, curve: curve([0.2573]), finished: false },
    ];
    const strict = halvingDecision(plateau, 1, 2);
    expect(strict.survivors).toEqual(['lr2.2e-3', 'lr4.6e-4']);
    expect(strict.stopped).toEqual(['lr1e-2', 'lr1e-4']);
    const tied = halvingDecision(plateau, 1, 2, 0.01);
    expect(tied.kept).toBe(4);
    expect(tied.stopped).toEqual([]);
    expect(tied.ranking.map((r) => r.rank)).toEqual([1, 2, 3, 4]); // the ranking itself is unchanged
    // the margin is measured from the last run above the line, not from the best: 0.30 − 0.0105 is out, 0.30 − 0.0095 in
    const spread = [0.5, 0.3, 0.2905, 0.2895].map((a, i) => ({ id: `r${i}`, lr: 10 ** -(i + 1), curve: curve([a]), finished: false }));
    expect(halvingDecision(spread, 1, 2, 0.01).survivors).toEqual(['r0', 'r1', 'r2']);
    expect(halvingDecision(spread, 1, 2, 0.01).stopped).toEqual(['r3']);
    // a run with no epoch yet (-Infinity) never ties, even with a line at -Infinity
    const empty = [curve([]), curve([]), curve([0.1])].map((c, i) => ({ id: `e${i}`, lr: i + 1, curve: c, finished: false }));
    expect(halvingDecision(empty, 1, 2, 1).survivors).toEqual(['e2', 'e0']);
  });

  it('eta 3 keeps a third; a finished run (early stop) is never stopped and keeps its place when it ranks high', () => {
    const cands = [0.9, 0.8, 0.7, 0.6, 0.5, 0.4].map((a, i) => ({ id: `r${i}`, lr: 10 ** -(i + 1), curve: curve([a]), finished: i === 0 || i === 5 }));
    const d = halvingDecision(cands, 1, 3);
    expect(d.kept).toBe(2);
    expect(d.survivors).toEqual(['r0', 'r1']); // r0 early-stopped at 0.9 holds a place
    expect(d.stopped).toEqual(['r2', 'r3', 'r4']); // r5 ranks last but is finished: not stopped
    expect(d.ranking.find((r) => r.id === 'r5')).toMatchObject({ rank: 6, survives: false, stops: false, finished: true });
  });

  it('solvedAbove (stopOnSolved): once a run is above the early-stop threshold by the rung, every run still training below it stops, margin or not', () => {
    // zoology-fig2 L 512 d 64, attention, rung 32: lr 1e-2 early-stopped at epoch 22 (1.000); the others sat on the
    // plateau at 0.008–0.009, within the 0.01 margin of the line (the second run), so all four went on to epoch 64
    const plateau = (a: number) => curve(Array.from({ length: 32 }, () => a));
    const solvedCurve = curve([...Array.from({ length: 21 }, () => 0.01), 0.9995]);
    const cands = [
      { id: 'lr1e-4', lr: 1e-4, curve: plateau(0.009), finished: false },
      { id: 'lr4.6e-4', lr: 4.6e-4, curve: plateau(0.0093), finished: false },
      { id: 'lr2.2e-3', lr: 2.2e-3, curve: plateau(0.008), finished: false },
      { id: 'lr1e-2', lr: 1e-2, curve: solvedCurve, finished: true },
    ];
    const margin = halvingDecision(cands, 32, 2, 0.01);
    expect(margin.survivors).toEqual(['lr1e-2', 'lr4.6e-4', 'lr1e-4', 'lr2.2e-3']); // what the sweep did
    const solved = halvingDecision(cands, 32, 2, 0.01, 0.99);
    expect(solved.survivors).toEqual(['lr1e-2']);
    expect(solved.kept).toBe(1);
    expect(solved.stopped).toEqual(['lr4.6e-4', 'lr1e-4', 'lr2.2e-3']);
    expect(solved.ranking.map((r) => r.rank)).toEqual([1, 2, 3, 4]); // ranked as before
    // solved only after the rung epoch: not yet solved at it, the usual rule (here the margin keeps all)
    expect(halvingDecision(cands, 21, 2, 0.01, 0.99).survivors).toEqual(margin.survivors);
    // at the threshold itself is not above it (the early stop's own test is accuracy > threshold)
    const atThreshold = cands.map((c) => (c.finished ? { ...c, curve: curve([0.99]) } : c));
    expect(halvingDecision(atThreshold, 32, 2, 0.01, 0.99).survivors).toEqual(halvingDecision(atThreshold, 32, 2, 0.01).survivors);
    // no run above the threshold: the same decision as without solvedAbove
    const unsolved = cands.map((c) => (c.finished ? { ...c, curve: curve([0.5]) } : c));
    expect(halvingDecision(unsolved, 32, 2, 0, 0.99)).toEqual(halvingDecision(unsolved, 32, 2, 0));
    // a finished run below the threshold is still never stopped; two solved runs both stay
    const two = [...cands.slice(0, 2), { ...cands[2]!, curve: curve([0.995]), finished: true }, cands[3]!, { id: 'lrDone', lr: 3e-2, curve: curve([0.2]), finished: true }];
    const d = halvingDecision(two, 32, 2, 0.01, 0.99);
    expect(d.survivors).toEqual(['lr1e-2', 'lr2.2e-3']);
    expect(d.stopped).toEqual(['lr4.6e-4', 'lr1e-4']);
    expect(d.ranking.find((r) => r.id === 'lrDone')).toMatchObject({ survives: false, stops: false });
  });
});

function cfg(lr: number, epochs = 8, seed = 0): RunConfig {
  return {
    label: 'attention',
    data: { task: 'mqar', common: {}, train: [{ seqLen: 16, count: 64 }], test: [{ seqLen: 16, count: 16 }], seed: 0 },
    model: { dModel: 8, nLayers: 2, layers: [{ mixer: 'attention', params: {} }] },
    train: { lr, epochs, batchSize: 32, evalBatchSize: 16, weightDecay: 0.1, earlyStopAccuracy: 0.99 },
    seed,
  } as unknown as RunConfig;
}

function member(lr: number, state: Partial<MemberState> = {}): MemberState {
  return { config: cfg(lr), id: `lr${lr}`, lr, terminal: false, blocked: false, curve: [], progress: 0, ...state };
}

describe('the plan of a group', () => {
  const h = H(); // E 8: rungs 1, 2, 4

  it('fresh: every lr trains to rung 1; a group differs only in lr (seeds are separate groups)', () => {
    expect(groupKey(cfg(1e-3))).toBe(groupKey(cfg(1e-2)));
    expect(groupKey(cfg(1e-3, 8, 0))).not.toBe(groupKey(cfg(1e-3, 8, 1)));
    const p = planGroup([member(1e-2), member(1e-3), member(1e-4), member(1e-5)], h);
    expect(p.rungs).toEqual([1, 2, 4]);
    expect(p.decisions).toEqual([]);
    expect(p.work.map((w) => [w.id, w.target, w.rung])).toEqual([['lr0.00001', 1, 1], ['lr0.0001', 1, 1], ['lr0.001', 1, 1], ['lr0.01', 1, 1]]);
  });

  it('all paused at rung 1: the worse half stops there, the survivors train to rung 2', () => {
    const ms = [member(1e-5, { progress: 1, curve: curve([0.1]) }), member(1e-4, { progress: 1, curve: curve([0.3]) }), member(1e-3, { progress: 1, curve: curve([0.6]) }), member(1e-2, { progress: 1, curve: curve([0.2]) })];
    const p = planGroup(ms, h);
    expect(p.stops.map((s) => [s.id, s.rung, s.epoch, s.rank, s.of])).toEqual([['lr0.01', 1, 1, 3, 4], ['lr0.00001', 1, 1, 4, 4]]);
    expect(p.work.map((w) => [w.id, w.target])).toEqual([['lr0.001', 2], ['lr0.0001', 2]]);
  });

  it('stored stops are kept; after the last needed rung the survivor trains to the end; one run left: no more rungs', () => {
    const ms = [
      member(1e-5, { terminal: true, stoppedAtRung: 1, progress: 1, curve: curve([0.1]) }),
      member(1e-4, { progress: 2, curve: curve([0.3, 0.35]) }),
      member(1e-3, { progress: 2, curve: curve([0.6, 0.7]) }),
      member(1e-2, { terminal: true, stoppedAtRung: 1, progress: 1, curve: curve([0.2]) }),
    ];
    const p = planGroup(ms, h);
    expect(p.decisions.map((d) => [d.rung, d.survivors])).toEqual([[1, ['lr0.001', 'lr0.0001']], [2, ['lr0.001']]]);
    expect(p.stops.map((s) => [s.id, s.rung, s.rank, s.of])).toEqual([['lr0.0001', 2, 2, 2]]);
    expect(p.work).toEqual([{ id: 'lr0.001', config: ms[2]!.config }]); // to the end (no target): rung 3 is not needed
  });

  it('keepWithin in a plan: tied runs train on to the next rung; runs stored as stopped by a stricter rule stay stopped', () => {
    const tied = [member(1e-5, { progress: 1, curve: curve([0.256]) }), member(1e-4, { progress: 1, curve: curve([0.2598]) }), member(1e-3, { progress: 1, curve: curve([0.2611]) }), member(1e-2, { progress: 1, curve: curve([0.2573]) })];
    const p = planGroup(tied, H({ keepWithin: 0.01 }));
    expect(p.stops).toEqual([]);
    expect(p.work.map((w) => [w.id, w.target, w.rung])).toEqual([['lr0.001', 2, 2], ['lr0.0001', 2, 2], ['lr0.01', 2, 2], ['lr0.00001', 2, 2]]); // in rank order
    // the same group after a strict rung 1 had stored two stops: the margin keeps them ranked but does not revive them
    const decided = [member(1e-5, { terminal: true, stoppedAtRung: 1, progress: 1, curve: curve([0.256]) }), tied[1]!, tied[2]!, member(1e-2, { terminal: true, stoppedAtRung: 1, progress: 1, curve: curve([0.2573]) })];
    const q = planGroup(decided, H({ keepWithin: 0.01 }));
    expect(q.stops).toEqual([]);
    expect(q.work.map((w) => [w.id, w.target])).toEqual([['lr0.001', 2], ['lr0.0001', 2]]);
  });

  it('stopsToReopen: the stored stops a tie margin would not have made, from the first such rung on; none once a run solved it', () => {
    // strict halving stopped lr 1e-2 and 1e-5 at rung 1 (a plateau), then lr 1e-4 at rung 2; lr 1e-3 trained on
    const decided = [
      member(1e-5, { terminal: true, stoppedAtRung: 1, progress: 1, curve: curve([0.256]) }),
      member(1e-4, { terminal: true, stoppedAtRung: 2, progress: 2, curve: curve([0.2598, 0.2599]) }),
      member(1e-3, { terminal: true, progress: 8, curve: curve([0.2611, 0.2612, 0.26, 0.26, 0.26, 0.26, 0.26, 0.26]) }),
      member(1e-2, { terminal: true, stoppedAtRung: 1, progress: 1, curve: curve([0.2573]) }),
    ];
    expect(stopsToReopen(decided, H(), 0.99)).toEqual([]); // the rule that made them: nothing to re-make
    expect(stopsToReopen(decided, H({ keepWithin: 0.01 }), 0.99).sort()).toEqual(['lr0.00001', 'lr0.0001', 'lr0.01']);
    // a margin too small for rung 1's gaps, wide enough for rung 2's: only the rung-2 stop
    expect(stopsToReopen(decided, H({ keepWithin: 0.0015 }), 0.99)).toEqual(['lr0.0001']);
    // solved: lr 1e-3 reached 0.995, so the group's point stands whatever the others would have done
    const solved = decided.map((m) => (m.lr === 1e-3 ? { ...m, curve: curve([0.2611, 0.995]) } : m));
    expect(stopsToReopen(solved, H({ keepWithin: 0.01 }), 0.99)).toEqual([]);
    // a run still before the rung (no rung note): the rung cannot be re-made
    const unknown = [...decided.slice(0, 3), member(1e-2)];
    expect(stopsToReopen(unknown, H({ keepWithin: 0.01 }), 0.99)).toEqual([]);
  });

  it('an early-stopped run is never stopped but takes its place; a run failed in this sweep makes the group wait', () => {
    const solved = member(1e-3, { terminal: true, progress: 1, curve: curve([0.995]) });
    const p = planGroup([member(1e-4, { progress: 1, curve: curve([0.3]) }), solved, member(1e-2, { progress: 1, curve: curve([0.5]) }), member(1e-5, { blocked: true })], h);
    expect(p.work).toEqual([]);
    expect(p.waitingOnFailed).toBe(true);
    const q = planGroup([member(1e-4, { progress: 1, curve: curve([0.3]) }), solved, member(1e-2, { progress: 1, curve: curve([0.5]) }), member(1e-5, { progress: 1, curve: curve([0.1]) })], h);
    expect(q.decisions[0]!.survivors).toEqual(['lr0.001', 'lr0.01']);
    expect(q.stops.map((s) => s.id)).toEqual(['lr0.0001', 'lr0.00001']);
    expect(q.work.map((w) => [w.id, w.target])).toEqual([['lr0.01', 2]]); // the solved run is done; only lr 0.01 goes on
  });

  it('stopOnSolved in a plan: a group solved before a rung stores its other runs as stopped there and trains nothing more; the threshold is the runs\' earlyStopAccuracy', () => {
    const solved = member(1e-3, { terminal: true, progress: 1, curve: curve([0.995]) });
    const others = [member(1e-4, { progress: 1, curve: curve([0.3]) }), member(1e-2, { progress: 1, curve: curve([0.5]) }), member(1e-5, { progress: 1, curve: curve([0.299]) })];
    const on = planGroup([...others, solved], H({ keepWithin: 0.01, stopOnSolved: true }));
    expect(on.decisions[0]!.survivors).toEqual(['lr0.001']);
    expect(on.stops.map((s) => [s.id, s.rung, s.epoch, s.rank, s.of])).toEqual([['lr0.01', 1, 1, 2, 4], ['lr0.0001', 1, 1, 3, 4], ['lr0.00001', 1, 1, 4, 4]]);
    expect(on.work).toEqual([]);
    // without it: rung 1 keeps the best two (the solved run and lr 1e-2 at 0.5; the others are not within 0.01 of 0.5), so lr 1e-2 trains on
    const off = planGroup([...others, solved], H({ keepWithin: 0.01 }));
    expect(off.work.map((w) => w.id)).toEqual(['lr0.01']);
    // a record says which rule decided it (the margin, and stopOnSolved only when on)
    expect(searchMarker(H({ keepWithin: 0.01, stopOnSolved: true }), cfg(1e-3, 64))).toEqual({ kind: 'halving', eta: 2, rungs: [8, 16, 32], keepWithin: 0.01, stopOnSolved: true });
    expect(searchMarker(H({ keepWithin: 0.01 }), cfg(1e-3, 64))).toEqual({ kind: 'halving', eta: 2, rungs: [8, 16, 32], keepWithin: 0.01 });
    // a threshold of 1 (no early stop): nothing is ever above it, the usual rule
    const strict = [...others, solved].map((m) => ({ ...m, config: { ...m.config, train: { ...m.config.train, earlyStopAccuracy: 1 } } }));
    expect(planGroup(strict, H({ keepWithin: 0.01, stopOnSolved: true })).work.map((w) => w.id)).toEqual(['lr0.01']);
  });

  it('the sweep\'s line says the bound, and that with a tie margin it is a bound only when no rung keeps a tie', () => {
    const configs = [1, 2, 3, 4].map((x) => cfg(x * 1e-3, 64));
    expect(describeSearch(configs, H())).toBe('learning rates: successive halving, eta 2, rungs at epochs 8, 16, 32 (of 64): at most 96 epochs instead of 256 for the full grid (no early stop counted)');
    expect(describeSearch(configs, H({ keepWithin: 0.01 }))).toBe('learning rates: successive halving, eta 2, ties within 0.01 kept, rungs at epochs 8, 16, 32 (of 64): 96 epochs if no rung keeps a tie (up to 256, the full grid, if every rung does) (no early stop counted)');
    expect(describeSearch(configs, H({ keepWithin: 0.01, stopOnSolved: true }))).toBe("learning rates: successive halving, eta 2, ties within 0.01 kept, a solved group's other runs stopped at the next rung, rungs at epochs 8, 16, 32 (of 64): 96 epochs if no rung keeps a tie (up to 256, the full grid, if every rung does) (no early stop counted)");
  });

  it('budget: 4 lrs × 64 epochs is 96 epochs instead of 256; 3 lrs × 48 epochs 66 instead of 144', () => {
    expect(halvingBudget([1, 2, 3, 4].map((x) => cfg(x * 1e-3, 64)), H())).toEqual({ fullEpochs: 256, halvingEpochs: 4 * 8 + 2 * 8 + 48 });
    expect(halvingBudget([1, 2, 3].map((x) => cfg(x * 1e-3, 48)), H())).toEqual({ fullEpochs: 144, halvingEpochs: 3 * 6 + 2 * 6 + 36 });
  });
});

describe('stopped runs in the records', () => {
  /** A made-up record of a grid of 8-epoch runs (tests/synthetic-records.ts). */
  const rec = (lr: number, status: RunRecord['status'], val: number, test: number, epochsRun: number, search: RunRecord['search']) => ({
    ...syntheticRecord({ label: 'attention', dModel: 8, lr, slices: [[16, 2]], state: 1024, validation: val, test, epochs: 8, epochsRun, status }),
    search,
  });
  const stopped = (lr: number, val: number, rung: number, epochs: number) => rec(lr, 'stopped', val, val, epochs, { kind: 'halving', eta: 2, rungs: [1, 2, 4], stoppedAtRung: rung, rungEpoch: epochs, rank: 3, of: 4 });

  it('the figure point is the best surviving lr, even when a stopped lr tied it; savings count stopped runs to their end', () => {
    const survivor = rec(3e-3, 'done', 0.5, 0.45, 8, { kind: 'halving', eta: 2, rungs: [1, 2, 4] });
    const records = [stopped(1e-3, 0.5, 2, 2), stopped(1e-4, 0.1, 1, 1), survivor];
    const { points, runs, leftOut } = analyseRuns(records);
    expect(leftOut).toEqual([]);
    expect(points).toHaveLength(1);
    expect(points[0]!.bestLr).toBe(3e-3);
    expect(points[0]!.test.mean).toBe(0.45);
    expect(points[0]!.stopped).toBe(2);
    expect(points[0]!.learningRates).toEqual([1e-4, 1e-3, 3e-3]);
    expect(runs.map((a) => a.stopped)).toEqual([{ rung: 2, epoch: 2 }, { rung: 1, epoch: 1 }, undefined]);
    const [s] = searchSavings(records);
    expect(s).toMatchObject({ runs: 3, stopped: 2, epochsTrained: 11, fullGridEpochs: 8 + 8 + 8 });
    expect(savingsText(s!)).toBe('3 runs (2 stopped at rungs): 11 epochs trained, a full grid up to 24 (54% saved)');
  });

  it('a group with only stopped runs stored (its survivor still training) has no point yet', () => {
    expect(analyseRuns([stopped(1e-3, 0.5, 1, 1)]).points).toEqual([]);
  });

  it('verify: a stopped record with its rung passes; one without its rung, or short of its rung epoch, does not', () => {
    const r = stopped(1e-3, 0.5, 2, 2);
    const c = [1, 2].map((e) => ({ epoch: e, lr: 1e-3, trainLoss: 1, validation: { accuracy: e === 2 ? 0.5 : 0.1, loss: 1, slices: {}, tokenAccuracy: 0.5 }, test: { accuracy: e === 2 ? 0.5 : 0.1, loss: 1, slices: {}, tokenAccuracy: 0.5 }, trainSeconds: 1, seconds: 1, steps: e }));
    expect(recordViolations(r, c)).toEqual([]);
    expect(recordViolations({ ...r, search: undefined }, c)).toEqual(['stopped without its rung (search.stoppedAtRung, search.rungEpoch)']);
    expect(recordViolations({ ...r, search: { ...r.search!, rungEpoch: 4 } }, c)).toEqual(['stopped at rung 2 (epoch 4) after only 2 epochs']);
  });
});

describe('presets and --scale', () => {
  it('the paper presets search by halving; --scale keeps every lr under halving and the middle ones under grid', () => {
    for (const name of ['zoology-fig2', 'based-fig2', 'jrt-sd', 'jrt-rnn', 'jrt-prompt']) {
      const p = loadPreset(name);
      // stopOnSolved in the presets still being run; based-fig2 finished without it
      expect(p.search, name).toEqual({ kind: 'halving', eta: 2, keepWithin: 0.01, stopOnSolved: name !== 'based-fig2' });
      const lrs = (ps: typeof p) => [...new Set(expandPreset(ps).map((c) => c.train.lr))].sort();
      expect(lrs(scalePreset(p, 0.01)), name).toEqual(lrs(p));
    }
    const grid = { ...loadPreset('based-fig2'), search: { kind: 'grid' as const } };
    expect([...new Set(expandPreset(scalePreset(grid, 0.01)).map((c) => c.train.lr))]).toEqual([0.01]);
    const explicit = scalePreset({ ...loadPreset('zoology-fig2'), search: { kind: 'halving', eta: 2, keepWithin: 0.01, stopOnSolved: true, rungs: [8, 16] } }, 0.25);
    expect(explicit.search).toEqual({ kind: 'halving', eta: 2, keepWithin: 0.01, stopOnSolved: true, rungs: [4, 8] });
  });
});
