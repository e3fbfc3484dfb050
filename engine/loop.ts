// The training loop (zoology's recipe, experiments.md): AdamW, cosine over epochs, evaluation after every epoch on
// validation and test, early stop once validation accuracy > 0.99; loss and accuracy only at supervised positions.
// One loop for a run alone (`train`) and for a stack of runs that differ only in learning rate (`trainStack`,
// engine/stack.ts says how a stack keeps each run the run it would be alone): a run alone is a stack of one, whose
// step and finiteness check are engine/train.ts's own (engine/stack.ts), so its numbers are the run's alone.
// Each epoch's steps and its evaluation run inside the GPU's error scopes: a fault anywhere in them throws a
// GpuFaultError before any of their numbers is used (engine/gpuFaults.ts); numbers no working model can produce
// fail the run before any hook stores them (engine/invariants.ts).
import * as tf from '@tensorflow/tfjs';
import { stepSeed } from '../core/prng.js';
import type { Segment } from '../tasks/types.js';
import { checkedOnGpu } from './gpuFaults.js';
import { epochViolations, NumericalFaultError } from './invariants.js';
import type { LanguageModel } from './model.js';
import { AdamW, cosineLr } from './optimizer.js';
import type { EpochRecord } from './records.js';
import { runsFinite, stackMismatch, trainStackStep } from './stack.js';
import { batchesOf, createOptimizer, evaluateRuns, shuffleForEpoch, supervised, type TrainHooks, type TrainOptions, type TrainResult } from './train.js';

/**
 * Train one run: `resume` continues after `epoch` epochs with this optimizer (restored from the run's checkpoint;
 * the caller keeps and disposes it) and these records. The hooks see each epoch's record and, when more epochs
 * follow, the state a checkpoint needs.
 */
export async function train(model: LanguageModel, splits: { train: Segment[]; validation: Segment[]; test: Segment[] }, opts: TrainOptions, hooks: TrainHooks = {}, resume?: { epoch: number; optimizer?: AdamW; records?: EpochRecord[] }): Promise<TrainResult> {
  const [result] = await trainStack(
    model,
    splits,
    [opts],
    {
      onStep: (step, totalSteps) => hooks.onStep?.(step, totalSteps),
      onEpoch: (_run, record) => hooks.onEpoch?.(record),
      onCheckpoint: ({ epoch, step, optimizer, records }) => hooks.onCheckpoint?.({ epoch, step, optimizer, records: records[0]! }),
    },
    { ...(resume ? { resume: { epoch: resume.epoch, ...(resume.optimizer ? { optimizer: resume.optimizer } : {}), records: [resume.records ?? []] } } : {}), ...(hooks.setTargets ? { setTargets: hooks.setTargets } : {}) },
  );
  const { epochs, steps, status, divergedAtStep, seconds } = result!;
  return { epochs, steps, status: status as TrainResult['status'], ...(divergedAtStep !== undefined ? { divergedAtStep } : {}), seconds };
}

export interface StackHooks {
  onStep?(step: number, totalSteps: number): void;
  /** Run `run`'s epoch record, as train()'s onEpoch gives a run alone its own. */
  onEpoch?(run: number, record: EpochRecord): void | Promise<void>;
  /** A run of the stack ended before the others (early stop, divergence): its result is final, store it now. */
  onRunEnd?(run: number, result: StackRunResult): void | Promise<void>;
  /**
   * Run `run`'s epoch broke an invariant (engine/invariants.ts): with this hook the run leaves the stack (the caller
   * stores it as failed) and the others train on, as they would alone; without it the whole stack throws.
   */
  onRunFault?(run: number, error: NumericalFaultError): void | Promise<void>;
  /**
   * After an epoch when more follow, the state a resumed stack (or each run alone) needs: `records[r]` run r's so
   * far, `active[r]` whether run r trains on (runners/checkpoint.ts saves a checkpoint per active run).
   */
  onCheckpoint?(state: { epoch: number; step: number; optimizer: AdamW; records: EpochRecord[][]; active: boolean[] }): void | Promise<void>;
}

/** What trainStack returns per run: train()'s result, and `paused` when the run stopped at `stopAfterEpoch`. */
export type StackRunResult = Omit<TrainResult, 'status'> & { status: TrainResult['status'] | 'stopped'; paused?: boolean; /** left through onRunFault: no result */ faulted?: boolean };

/**
 * Train a stack: `model` built with `runs: opts.length`, `opts[r]` run r's settings (equal but for lr: stackMismatch).
 * Returns each run's TrainResult, as train() returns it for the run alone; `seconds` and each record's times are the
 * stack's (the runs share every step). `resume`: continue after `epoch` epochs with this optimizer (restored from
 * the runs' checkpoints) and these records per run. `stopAfterEpoch`: pause every run still training after that
 * epoch (its checkpoint saved by onCheckpoint): status 'stopped', `paused` (a rung of successive halving).
 */
export async function trainStack(
  model: LanguageModel,
  splits: { train: Segment[]; validation: Segment[]; test: Segment[] },
  opts: TrainOptions[],
  hooks: StackHooks = {},
  control: { resume?: { epoch: number; optimizer?: AdamW; records: EpochRecord[][] }; stopAfterEpoch?: number; setTargets?: TrainHooks['setTargets'] } = {},
): Promise<StackRunResult[]> {
  const mismatch = stackMismatch(opts);
  if (mismatch) throw new Error(`trainStack: ${mismatch}`);
  if (opts.length !== model.runs) throw new Error(`trainStack: ${opts.length} runs' settings for a model of ${model.runs} runs`);
  const started = performance.now();
  const shared = opts[0]!;
  const { resume, stopAfterEpoch, setTargets } = control;
  const R = opts.length;
  const optimizer = resume?.optimizer ?? createOptimizer(model, shared);
  const batches = batchesOf(splits.train, shared.batchSize);
  const sup = batches.map((b) => supervised(b.segment, b.start, b.size));
  const order = batches.map((_, i) => i);
  const totalSteps = batches.length * shared.epochs;
  let step = optimizer.stepCount;
  const runs = opts.map((_, r) => ({ records: [...(resume?.records[r] ?? [])], status: 'done' as StackRunResult['status'], divergedAtStep: undefined as number | undefined, steps: step, active: true, paused: false, faulted: false }));
  const resultOf = (run: (typeof runs)[number]): StackRunResult => ({
    epochs: run.records, steps: run.steps, status: run.status, ...(run.divergedAtStep !== undefined ? { divergedAtStep: run.divergedAtStep } : {}), seconds: (performance.now() - started) / 1000, ...(run.paused ? { paused: true } : {}), ...(run.faulted ? { faulted: true } : {}),
  });
  const firstEpoch = resume?.epoch ?? 0;
  // the batch order of epoch e is the order of e − 1 shuffled: a resumed run or stack replays the earlier shuffles
  if (shared.shuffle) for (let e = 0; e < firstEpoch; e++) shuffleForEpoch(order, shared.seed, e);

  for (let epoch = firstEpoch; epoch < shared.epochs && runs.some((r) => r.active); epoch++) {
    const epochStart = performance.now();
    const lrs = opts.map((o, r) => (runs[r]!.active ? cosineLr(o.lr, epoch, shared.epochs) : 0));
    if (shared.shuffle) shuffleForEpoch(order, shared.seed, epoch);
    const trained = await checkedOnGpu(async () => {
      // each step's losses stay on the device until the epoch ends (no per-step sync)
      const stepLosses: tf.Tensor1D[] = [];
      for (const i of order) {
        step += 1;
        stepLosses.push(trainStackStep(model, optimizer, batches[i]!, sup[i]!, lrs, stepSeed(shared.seed, step)));
        hooks.onStep?.(step, totalSteps);
      }
      if (stepLosses.length === 0) return new Float32Array(0); // no training batch: a loss of 0, as a sum of none
      const losses = tf.stack(stepLosses); // [steps, R]
      const values = await losses.data();
      tf.dispose([losses, ...stepLosses]);
      return values;
    });
    const trainSeconds = (performance.now() - epochStart) / 1000;
    const firstStep = step - order.length + 1;
    // per run: its epoch's mean loss summed in step order as train() sums it (float32 adds), or its first bad step
    const trainLoss = opts.map((_, r) => {
      let sum = Math.fround(0);
      for (let s = 0; s < order.length; s++) sum = Math.fround(sum + trained[s * R + r]!);
      return sum / Math.max(1, batches.length);
    });
    for (const [r, run] of runs.entries()) {
      if (!run.active || Number.isFinite(trainLoss[r])) continue;
      let s = 0;
      while (s < order.length && Number.isFinite(trained[s * R + r])) s++;
      // as train(): the first step whose loss is not finite (the epoch's first when every one was, but not their sum)
      Object.assign(run, { status: 'diverged', divergedAtStep: firstStep + (s < order.length ? s : 0), steps: step, active: false });
      await hooks.onRunEnd?.(r, resultOf(run));
    }
    if (!runs.some((r) => r.active)) break;
    const { validation, test, finite } = await checkedOnGpu(async () => ({
      validation: await evaluateRuns(model, splits.validation, shared.evalBatchSize, setTargets),
      test: await evaluateRuns(model, splits.test, shared.evalBatchSize, setTargets),
      finite: await runsFinite(model),
    }));
    for (const [r, run] of runs.entries()) {
      if (!run.active) continue;
      const record: EpochRecord = { epoch: epoch + 1, lr: lrs[r]!, trainLoss: trainLoss[r]!, validation: validation[r]!, test: test[r]!, trainSeconds, seconds: (performance.now() - epochStart) / 1000, steps: step };
      const violations = [...epochViolations(record), ...(finite[r] ? [] : [`epoch ${epoch + 1}: a parameter is NaN or ±Inf`])];
      if (violations.length) {
        const fault = new NumericalFaultError(violations);
        if (!hooks.onRunFault) throw fault;
        run.active = false;
        run.faulted = true;
        await hooks.onRunFault(r, fault);
        continue;
      }
      run.records.push(record);
      run.steps = step;
      await hooks.onEpoch?.(r, record);
      if (validation[r]!.accuracy > shared.earlyStopAccuracy) {
        Object.assign(run, { status: 'early-stop', active: false });
        if (epoch + 1 < shared.epochs) await hooks.onRunEnd?.(r, resultOf(run));
      }
    }
    if (epoch + 1 < shared.epochs && runs.some((r) => r.active)) {
      await checkedOnGpu(() => hooks.onCheckpoint?.({ epoch: epoch + 1, step, optimizer, records: runs.map((r) => [...r.records]), active: runs.map((r) => r.active) }));
      if (stopAfterEpoch !== undefined && epoch + 1 >= stopAfterEpoch) {
        for (const run of runs) if (run.active) Object.assign(run, { status: 'stopped', paused: true, active: false });
        break;
      }
    }
  }
  if (!resume?.optimizer) optimizer.dispose();
  return runs.map(resultOf);
}
