// The sweep's lanes under a memory budget (runners/concurrency.ts gridLanes + MemoryBudget), with a stand-in pool
// whose runs take a few milliseconds: what is in hand on a GPU never exceeds its budget, every run trains once, a
// run that needs most of the GPU still runs (after the smaller ones free room), the lanes on two GPUs are budgeted
// apart, and a lane's failure stops the grid without leaking a reservation.
import { describe, expect, it } from 'vitest';
import { gridLanes, MemoryBudget, planConcurrency, stackSizeFor, type Lanes } from '../runners/concurrency.js';
import { runId, type RunConfig } from '../runners/config.js';
import { resolveRunConfig } from '../runners/run.js';
import { PROCESS_OVERHEAD_BYTES, type MemoryEstimate } from '../runners/memory.js';
import type { ResultsDir } from '../runners/results.js';

const GIB = 2 ** 30;
const quiet = { update() {}, log() {}, stop() {} };

/** A tiny attention run of width `dModel` at `lr`. */
const tinyRun = (dModel: number, lr: number) =>
  resolveRunConfig({
    label: 'attention',
    data: { task: 'mqar', common: { vocabSize: 32, seqLen: 16, numKvPairs: 2 }, train: [{ count: 16 }], test: [{ count: 8 }] },
    model: { dModel, nLayers: 1, layers: [{ mixer: 'attention', params: {} }] },
    train: { epochs: 1, batchSize: 8, lr },
    seed: 0,
  });

/** Runs of one tiny model that differ only in lr (each its own run id), with a made-up estimate each. */
function grid(sizesGiB: number[]): { configs: RunConfig[]; estimates: MemoryEstimate[] } {
  const configs = sizesGiB.map((_, i) => tinyRun(8, 1e-3 * (i + 1)));
  const estimates = configs.map((c, i) => ({ id: runId(c), run: `run ${i}`, total: sizesGiB[i]! * GIB }) as MemoryEstimate);
  return { configs, estimates };
}

/** A pool whose runs hold their reservation for `ms` and record what was in hand on each GPU when they started. */
function standInPool(lanes: number, gpus: number[] | undefined, bytesOf: (id: string) => number, ms: (i: number) => number, failOn?: string) {
  const inHand = new Map<number, number>();
  const peak = new Map<number, number>();
  const started: string[] = [];
  let calls = 0;
  const pool: Lanes = {
    lanes,
    gpuOf: (lane) => (gpus?.length ? gpus[lane % gpus.length] : undefined),
    run: async (lane, job) => {
      const gpu = gpus?.length ? gpus[lane % gpus.length]! : 0;
      const id = runId(job.config);
      const bytes = bytesOf(id);
      inHand.set(gpu, (inHand.get(gpu) ?? 0) + bytes);
      peak.set(gpu, Math.max(peak.get(gpu) ?? 0, inHand.get(gpu)!));
      started.push(id);
      await new Promise((r) => setTimeout(r, ms(calls++)));
      inHand.set(gpu, inHand.get(gpu)! - bytes);
      if (id === failOn) throw Object.assign(new Error('bad settings'), { kind: 'user' });
      return { record: { id, status: 'done', testAccuracy: 0.5, epochs: 1, wallSeconds: 0, msPerStep: 1 } } as never;
    },
  };
  return { pool, peak, started, inHand };
}

const options = (budget: ReturnType<typeof planConcurrency>['budget']) => ({ concurrency: 8, backend: 'cpu' as const, plugins: [], results: { dir: '/nonexistent' } as ResultsDir, quiet: true, budget });

/** Lanes that train nothing: each job's run ids (the run and those stacked with it) recorded in order, a done record back. */
function recordingLanes(): { jobs: string[][]; pool: Lanes } {
  const jobs: string[][] = [];
  const pool: Lanes = {
    lanes: 2,
    gpuOf: () => undefined,
    run: async (_lane, job) => {
      jobs.push([job.config, ...(job.stackWith ?? [])].map(runId));
      return { record: { id: runId(job.config), config: job.config, status: 'done', testAccuracy: 0.5, epochs: 1, wallSeconds: 0, msPerStep: 1 } } as never;
    },
  };
  return { jobs, pool };
}
/** A results folder nothing is written to (the stand-in lanes store nothing); checkpoints looked up there are absent. */
const NOWHERE = { dir: '/nonexistent', checkpointDir: (id: string) => `/nonexistent/checkpoints/${id}` } as unknown as ResultsDir;

describe('lanes under a memory budget', () => {
  it('never hold more than a GPU\'s budget; every run trains once; the large run still runs', async () => {
    // 10 GiB free → 9 usable; 1 GiB runs reserve an equal share (9/8), the 6 GiB run its own
    const { configs, estimates } = grid([1, 6, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]);
    const plan = planConcurrency('auto', estimates, { freeBytes: 10 * GIB, totalBytes: 10 * GIB, source: 'test' });
    const budget = new MemoryBudget(plan.budget!);
    const { pool, peak, started } = standInPool(plan.lanes, undefined, (id) => budget.bytesOf(id), (i) => 2 + (i % 3) * 3);
    await gridLanes(configs, options(plan.budget), pool, quiet);
    expect([...started].sort()).toEqual(configs.map(runId).sort());
    expect(peak.get(0)!).toBeLessThanOrEqual(plan.budget!.bytesPerGpu);
    expect(peak.get(0)!).toBeGreaterThan(6 * GIB); // the large run ran beside some small ones, not alone
  });

  it('an explicit --concurrency N with one run larger than its share: N small runs at a time, the large one with fewer beside it, not last', async () => {
    // 40 GiB free → 36 usable; N 4 → shares of 9; the 20 GiB run (RWKV d 512 among small runs, stretches 28–30)
    const sizes = [1, 1, 1, 1, 20, ...Array.from({ length: 20 }, () => 1)];
    const { configs, estimates } = grid(sizes);
    const plan = planConcurrency(4, estimates, { freeBytes: 40 * GIB, totalBytes: 40 * GIB, source: 'test' });
    const budget = new MemoryBudget(plan.budget!);
    const { pool, peak, started } = standInPool(plan.lanes, undefined, (id) => budget.bytesOf(id), (i) => 2 + (i % 3) * 3);
    await gridLanes(configs, options(plan.budget), pool, quiet);
    expect([...started].sort()).toEqual(configs.map(runId).sort());
    expect(peak.get(0)!).toBeLessThanOrEqual(plan.budget!.bytesPerGpu);
    expect(peak.get(0)!).toBeGreaterThanOrEqual(4 * Math.floor((36 * GIB) / 4)); // four small runs in hand at once
    // later runs went ahead of the large one at most once per lane; then the lanes waited for its room (it started
    // 9th), where taking every small run that fits would have left it until the grid's tail
    expect(started.indexOf(runId(configs[4]!))).toBeLessThanOrEqual(4 + plan.lanes);
  });

  it('budgets two GPUs apart: each GPU\'s runs in hand stay within its own budget', async () => {
    const { configs, estimates } = grid([3, 3, 3, 3, 3, 3, 3, 3]);
    const plan = planConcurrency('auto', estimates, { freeBytes: 8 * GIB, totalBytes: 8 * GIB, source: 'test' }, 2); // 7.2 usable: 2 per GPU
    const budget = new MemoryBudget(plan.budget!);
    const { pool, peak, started } = standInPool(plan.lanes, [0, 1], (id) => budget.bytesOf(id), () => 3);
    await gridLanes(configs, options(plan.budget), pool, quiet);
    expect(started).toHaveLength(8);
    const share = budget.bytesOf(runId(configs[0]!)); // max(3 GiB, 7.2 / 2): two runs in hand per GPU, never three
    expect(share).toBe(Math.floor(plan.budget!.bytesPerGpu / 2));
    expect(peak.get(0)).toBe(2 * share);
    expect(peak.get(1)).toBe(2 * share);
  });

  it('a failing run stops the grid; lanes waiting for memory wake and end; nothing stays in hand', async () => {
    const { configs, estimates } = grid([5, 5, 5, 5]);
    const plan = planConcurrency('auto', estimates, { freeBytes: 8 * GIB, totalBytes: 8 * GIB, source: 'test' }); // one at a time
    const budget = new MemoryBudget(plan.budget!);
    const { pool, started, inHand } = standInPool(Math.max(plan.lanes, 3), undefined, (id) => budget.bytesOf(id), () => 2, runId(configs[1]!));
    await expect(gridLanes(configs, options(plan.budget), pool, quiet)).rejects.toThrow('bad settings');
    expect(started).toEqual([runId(configs[0]!), runId(configs[1]!)]); // nothing started after the failure
    expect(inHand.get(0)).toBe(0);
  });
});

describe('stack size under a GPU\'s memory', () => {
  it('caps --stack N at the runs whose live peaks fit the share beside one process context; unknown memory keeps N', () => {
    const largest = { run: 'mamba d256 lr0.001', livePeak: 6 * GIB, poolOverhead: 1.5 * GIB, processOverhead: GIB } as MemoryEstimate;
    // 40 GiB usable: (40 − 1) / 7.5 = 5 runs
    const capped = stackSizeFor(16, { shareBytes: 40 * GIB, largest });
    expect(capped.size).toBe(5);
    expect(capped.note).toBe('--stack 16 capped at 5: the largest run (mamba d256 lr0.001) needs an estimated 7.50 GiB per run of a stack, 40.00 GiB usable');
    expect(stackSizeFor(4, { shareBytes: 40 * GIB, largest })).toEqual({ size: 4 });
    expect(stackSizeFor(16, { shareBytes: 5 * GIB, largest }).size).toBe(1); // not even two: runs alone
    expect(stackSizeFor(16, { shareBytes: undefined, largest })).toEqual({ size: 16 });
    expect(stackSizeFor(16, {})).toEqual({ size: 16 });
    // under auto's budget (no equal share) a stack may fill a whole GPU
    expect(stackSizeFor(16, { budget: { bytesPerGpu: 40 * GIB, bytesOf: new Map() }, largest }).size).toBe(5);
  });

  it('with the grid\'s estimates, sizes each run\'s stack by its own estimate (jrt-sd: small models stacked, the largest alone)', async () => {
    // two models of 3 lrs each: d 8 (≈ 2 GiB a run of a stack) and d 16 (≈ 13 GiB), a 15.73 GiB share as jrt-sd's 8 lanes had
    const small = [1e-4, 5e-4, 8e-4].map((lr) => tinyRun(8, lr));
    const large = [1e-4, 5e-4, 8e-4].map((lr) => tinyRun(16, lr));
    const estimate = (c: RunConfig, perRunGiB: number) => ({ id: runId(c), run: `d${c.model.dModel} lr${c.train.lr}`, livePeak: perRunGiB * 0.8 * GIB, poolOverhead: perRunGiB * 0.2 * GIB, processOverhead: GIB, total: (perRunGiB + 1) * GIB }) as MemoryEstimate;
    const estimates = [...small.map((c) => estimate(c, 2)), ...large.map((c) => estimate(c, 13))];
    const share = 15.73 * GIB;
    const largest = estimates.at(-1)!;
    const sized = stackSizeFor(3, { shareBytes: share, largest, estimates });
    expect(sized.size).toBe(3);
    expect(small.map((c) => sized.sizeOf!(c))).toEqual([3, 3, 3]); // (15.73 − 1) / 2 = 7, capped at the request
    expect(large.map((c) => sized.sizeOf!(c))).toEqual([1, 1, 1]); // (15.73 − 1) / 13 = 1
    expect(sized.note).toBe('--stack 3 sized by each run\'s estimate: 3 run(s) in stacks of ≤ 3, 3 run(s) in stacks of 1 (alone), by memory (unstackable mixers train alone) (the largest run, d16 lr0.0008, needs an estimated 13.00 GiB per run of a stack, 15.73 GiB usable)');
    // the grid's largest alone decided before: every stack capped at 1
    expect(stackSizeFor(3, { shareBytes: share, largest }).size).toBe(1);
    // every run fitting the request: one size, no per-run sizes, no note
    expect(stackSizeFor(3, { shareBytes: share, largest: estimates[0], estimates: estimates.slice(0, 3) })).toEqual({ size: 3 });
    // the lanes: the small model's 3 lrs go as one job of 3, the large model's as 3 jobs of 1
    const { jobs, pool } = recordingLanes();
    await gridLanes([...small, ...large], { ...options(undefined), results: NOWHERE, stack: sized.sizeOf! }, pool, quiet);
    expect(jobs.map((j) => j.length).sort()).toEqual([1, 1, 1, 3]);
    expect(jobs.find((j) => j.length === 3)!.sort()).toEqual(small.map(runId).sort());
  });

  it('a stack reserves its runs\' estimates less all but one process context, at most a GPU; the lanes send stacks whole', async () => {
    const { configs, estimates } = grid([10, 10, 10, 10]);
    const plan = planConcurrency('auto', estimates, { freeBytes: 100 * GIB, totalBytes: 100 * GIB, source: 'test' });
    const budget = new MemoryBudget(plan.budget!);
    const [a, b] = configs.map(runId);
    // usable 90 GiB, perGpu 8 (at most): each run reserves max(10, 90/8) = 11.25 GiB
    const one = budget.bytesOf(a!);
    expect(one).toBe(Math.max(10 * GIB, Math.floor((90 * GIB) / 8)));
    expect(budget.bytesOf([a!, b!])).toBe(2 * one - PROCESS_OVERHEAD_BYTES);
    expect(budget.bytesOf(configs.map(runId).concat(configs.map(runId), configs.map(runId)))).toBe(plan.budget!.bytesPerGpu); // never more than a GPU
    expect(budget.poolLimit([a!, b!])).toBe(2 * one - 2 * PROCESS_OVERHEAD_BYTES);
    // the lanes: 4 runs that differ only in lr, --stack 2 → two jobs of two runs, each run once
    const { jobs, pool } = recordingLanes();
    await gridLanes(configs, { ...options(plan.budget), results: NOWHERE, stack: 2 }, pool, quiet);
    expect(jobs.map((j) => j.length)).toEqual([2, 2]);
    expect(jobs.flat().sort()).toEqual(configs.map(runId).sort());
  });
});
