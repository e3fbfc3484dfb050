// Determinism and split hygiene:
//   - same seed → byte-identical task data for every task, checked by hash in two separate processes (and here);
//     another seed changes every hash;
//   - train / validation / test never share an example (checked naively here, for every task), and a run whose
//     validation and test sets would share one is refused;
//   - on the cpu backend two runs of one config give identical metrics and curves (dropout and batch order on),
//     and a run stopped after a checkpoint and resumed equals the uninterrupted run, training only the rest.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type { BackendInfo } from '../engine/backend.js';
import type { EpochRecord } from '../engine/train.js';
import { buildSplits, checkOverlap, type SplitSpec } from '../tasks/dataset.js';
import type { Segment } from '../tasks/types.js';
import { runId, type RunConfig } from '../runners/config.js';
import type { RunRecord } from '../runners/results.js';
import { resolveRunConfig, runOne } from '../runners/run.js';
import { runStack } from '../runners/stack.js';
import { ROOT } from './cliRunner.js';
import { hashSplits } from './taskHash.js';
import { useBackend } from './helpers.js';

/** One small spec per task: two train segments, test segments of other settings where the task has them. */
const SPECS: SplitSpec[] = [
  { task: 'mqar', common: { vocabSize: 128 }, train: [{ seqLen: 64, numKvPairs: 4, count: 200 }, { seqLen: 32, numKvPairs: 2, count: 100, randomNonQueries: true }], test: [{ seqLen: 64, numKvPairs: 4, count: 50 }, { seqLen: 64, numKvPairs: 2, count: 50, passes: 2 }] },
  { task: 'sd', common: { vocabSize: 64 }, train: [{ sizeA: 4, sizeB: 12, count: 200 }], test: [{ sizeA: 12, sizeB: 4, count: 50 }] },
  { task: 'noisy-recall', common: { vocabSize: 128 }, train: [{ seqLen: 64, numKvPairs: 4, count: 200 }], test: [{ seqLen: 64, numKvPairs: 4, count: 50 }] },
  { task: 'fuzzy-recall', common: { vocabSize: 128 }, train: [{ seqLen: 64, numKvPairs: 4, count: 200 }], test: [{ seqLen: 64, numKvPairs: 4, count: 50 }] },
  { task: 'selective-copying', common: { vocabSize: 16 }, train: [{ seqLen: 32, numTokensToCopy: 4, count: 200 }], test: [{ seqLen: 32, numTokensToCopy: 4, count: 50 }] },
  { task: 'forgetting-mqar', common: { vocabSize: 128, numReassigned: 2 }, train: [{ seqLen: 64, numKvPairs: 4, count: 200 }], test: [{ seqLen: 64, numKvPairs: 4, count: 50 }] },
];

const work = mkdtempSync(join(tmpdir(), 'rb-determinism-'));

describe('task data', () => {
  it('same seed → byte-identical data for every task, in two separate processes; another seed → other data', () => {
    const script = join(work, 'hash-tasks.mts');
    // the child computes the same hashes with its own copy of the generators (no tfjs: starts fast)
    writeFileSync(
      script,
      `import { hashSplits } from ${JSON.stringify(join(ROOT, 'tests', 'taskHash.ts'))};
const specs = JSON.parse(process.argv[2]);
const seed = Number(process.argv[3]);
process.stdout.write(JSON.stringify(specs.map((s) => hashSplits(s, seed))));
`,
    );
    const child = (seed: number) => {
      const r = spawnSync(process.execPath, ['--import', 'tsx', script, JSON.stringify(SPECS), String(seed)], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
      expect(r.status, r.stderr).toBe(0);
      return JSON.parse(r.stdout) as string[];
    };
    const first = child(7);
    const second = child(7);
    expect(first).toHaveLength(SPECS.length);
    expect(second).toEqual(first);
    expect(SPECS.map((s) => hashSplits(s, 7))).toEqual(first); // and in this process too
    const other = SPECS.map((s) => hashSplits(s, 8));
    other.forEach((h, i) => expect(h, SPECS[i]!.task).not.toBe(first[i]));
  });

  it('train, validation and test never share an example (every task, checked naively)', () => {
    const keys = (segments: Segment[]) => {
      const out = new Set<string>();
      for (const s of segments) for (let e = 0; e < s.count; e++) out.add(`${s.seqLen}:${s.inputs.subarray(e * s.seqLen, (e + 1) * s.seqLen).join(',')}`);
      return out;
    };
    for (const spec of SPECS) {
      const splits = buildSplits(spec, 3);
      const [train, validation, test] = [keys(splits.train), keys(splits.validation), keys(splits.test)];
      expect(train.size, spec.task).toBeGreaterThan(100);
      for (const [a, b] of [[train, validation], [train, test], [validation, test]] as const) {
        expect([...b].filter((k) => a.has(k)), spec.task).toEqual([]);
      }
    }
  });
});

describe('training on the cpu backend', () => {
  let backend: BackendInfo;
  beforeAll(async () => {
    await useBackend('cpu');
    backend = { backend: 'cpu', device: 'cpu' };
  });

  /** 64 examples, batch 16: 4 shuffled steps per epoch, 3 epochs, embedding + attention dropout on. */
  const config = (seed = 0): RunConfig =>
    resolveRunConfig({
      label: 'attention',
      data: { task: 'mqar', common: { vocabSize: 32 }, train: [{ seqLen: 16, numKvPairs: 2, count: 64 }], test: [{ seqLen: 16, numKvPairs: 2, count: 16 }] },
      model: { dModel: 8, layers: [{ mixer: 'attention' }] },
      train: { lr: 0.01, epochs: 3, batchSize: 16, evalBatchSize: 16 },
      seed,
    });
  const stable = (r: RunRecord) => {
    const { wallSeconds: _w, msPerStep: _m, finishedAt: _f, worker: _k, resumedFromEpoch: _r, parts: _p, ...rest } = r;
    return rest;
  };
  const stableCurve = (curve: EpochRecord[]) => curve.map(({ trainSeconds: _t, seconds: _s, ...rest }) => rest);

  it('same config → identical metrics and curves; another seed → other numbers', async () => {
    const a = await runOne(config(), { backend });
    const b = await runOne(config(), { backend });
    expect(stable(b.record)).toEqual(stable(a.record));
    expect(stableCurve(b.curve)).toEqual(stableCurve(a.curve));
    expect(a.curve).toHaveLength(3);
    const c = await runOne(config(1), { backend });
    expect(c.curve.map((e) => e.trainLoss)).not.toEqual(a.curve.map((e) => e.trainLoss));
  });

  it('stopped after an epoch checkpoint and resumed: equal to the uninterrupted run, and only the rest is trained', async () => {
    const c = config();
    const uninterrupted = await runOne(c, { backend });
    const dir = join(work, 'checkpoints', runId(c));
    // "crash" at the first step of epoch 3: the checkpoint after epoch 2 is on disk
    await expect(runOne(c, { backend, checkpointDir: dir, hooks: { onStep: (step) => { if (step === 9) throw new Error('crash'); } } })).rejects.toThrow('crash');
    const stepsAfterResume: number[] = [];
    const resumed = await runOne(c, { backend, checkpointDir: dir, hooks: { onStep: (step) => void stepsAfterResume.push(step) } });
    expect(stepsAfterResume).toEqual([9, 10, 11, 12]); // epoch 3 only, continuing the step count
    expect(resumed.record.resumedFromEpoch).toBe(2);
    // the processes that trained it, in order: epochs 1–2 by the crashed one, 3 by this one (same code here)
    expect(resumed.record.parts?.map((p) => p.fromEpoch)).toEqual([0, 2]);
    expect(resumed.record.parts?.every((p) => p.backend === 'cpu' && JSON.stringify(p.provenance) === JSON.stringify(resumed.record.provenance))).toBe(true);
    expect(uninterrupted.record.parts).toBeUndefined(); // never resumed: the record's provenance says it all
    expect(stable(resumed.record)).toEqual(stable(uninterrupted.record));
    expect(stableCurve(resumed.curve)).toEqual(stableCurve(uninterrupted.curve));
  });

  it('a run found already at its pause epoch trains nothing, and its record lists only the processes that trained it', async () => {
    const c = config();
    const dir = join(work, 'checkpoints-paused', runId(c));
    const first = await runOne(c, { backend, checkpointDir: dir, stopAfterEpoch: 2 });
    expect(first.paused).toBe(true);
    // the sweep was killed after the pause, before it noted it: the next pass finds the checkpoint at epoch 2
    const steps: number[] = [];
    const again = await runOne(c, { backend, checkpointDir: dir, stopAfterEpoch: 2, hooks: { onStep: (step) => void steps.push(step) } });
    expect(again.paused).toBe(true);
    expect(steps).toEqual([]);
    expect(again.record.epochs).toBe(2);
    expect(again.record.parts?.map((p) => p.fromEpoch)).toEqual([0]); // no empty part [2, 2) for this process
    // and a stack found so: each run's parts are its first process's
    const lrs: RunConfig[] = [0.01, 0.003].map((lr) => ({ ...config(), train: { ...config().train, lr } }));
    const dirs = lrs.map((l) => join(work, 'checkpoints-paused-stack', runId(l)));
    await runStack(lrs, { backend, checkpointDirs: dirs, stopAfterEpoch: 1 });
    const stacked = await runStack(lrs, { backend, checkpointDirs: dirs, stopAfterEpoch: 1 });
    expect(stacked.map((o) => o.paused)).toEqual([true, true]);
    expect(stacked.map((o) => o.record.parts?.map((p) => p.fromEpoch))).toEqual([[0], [0]]);
  });

  it('a run whose validation and test sets would share an example is refused', async () => {
    // a task space of 4 keys × 5 values × 3 slots = 60 examples: find a data seed where the train example is
    // unique but validation and test (30 each) collide
    const spec = (seed: number) => ({ task: 'mqar', common: { vocabSize: 10 }, train: [{ seqLen: 8, numKvPairs: 1, count: 1 }], test: [{ seqLen: 8, numKvPairs: 1, count: 30 }], seed });
    const seed = Array.from({ length: 50 }, (_, s) => s).find((s) => {
      const splits = buildSplits(spec(s), s, { checkOverlap: false });
      return checkOverlap(splits.train, [...splits.validation, ...splits.test]) === 0 && checkOverlap(splits.validation, splits.test) > 0;
    })!;
    expect(seed).toBeDefined();
    const c = resolveRunConfig({ label: 'attention', data: spec(seed), model: { dModel: 8, layers: [{ mixer: 'attention' }] }, train: { lr: 0.01, epochs: 1 } });
    await expect(runOne(c, { backend })).rejects.toThrow(/validation .* test|test .* validation/);
  });
});
