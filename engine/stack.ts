// Stacked runs (issue 13 goal 3; the plan is docs/stacked-runs.md). The runs of one grid point that differ only in
// their learning rate share everything else — seed, data, batch order, initial parameters, dropout masks — so R of
// them train as ONE model whose parameters carry a leading run axis [R, ...] (engine/params.ts), the runs folded
// into the batch axis, runs outermost ([R·B, T, d]): one set of dispatches per step serves all R.
//
// Each run stays the run it would be alone:
//   - forward: every op works per run — linear layers are one batched matMul over the run axis (ops/linear), norms
//     use their run's gamma and beta (ops/layerNorm), dropout draws each run's mask as the run alone would
//     (ops/dropout withStackedRuns), and the mixers opted in (MixerDefinition.stackable) treat every leading axis
//     as batch;
//   - loss: the objective is the SUM of the runs' mean losses. Runs share no parameter, so the gradient of the sum
//     with respect to run r's slice is run r's own gradient;
//   - AdamW: one step count for all, a learning rate per run (ops/adamw takes an array): the cosine schedule of
//     each run's own base rate;
//   - a run that stops (early stop, divergence) gets learning rate 0 from then on (AdamW's update and decoupled
//     decay are both scaled by it), so its parameters never change again; its record is the one it reached.
// On the CPU backend each run's records equal those of the run trained alone (tests/stack.test.ts).
//
// The runners build on it: runners/stack.ts (runStack: records, per-run checkpoints), runners/sweep.ts (--stack).
// Not yet (docs/stacked-runs.md): stacks of seeds (different initial parameters and data), the mixers whose own
// parameters have no run axis in their ops yet (MixerDefinition.stackable says which have).
import * as tf from '@tensorflow/tfjs';
import { stepSeed } from '../core/prng.js';
import type { Segment } from '../tasks/types.js';
import { checkedOnGpu } from './gpuFaults.js';
import { epochViolations, NumericalFaultError } from './invariants.js';
import type { LanguageModel } from './model.js';
import { AdamW, cosineLr } from './optimizer.js';
import type { EpochRecord } from './records.js';
import { batchesOf, createOptimizer, evaluateRuns, shuffleForEpoch, stepLoss, supervised, tokensOf, type Batch, type Supervised, type TrainOptions, type TrainResult } from './train.js';

/** Why these runs cannot share a stack, or undefined when they can: all settings equal but the learning rate. */
export function stackMismatch(runs: TrainOptions[]): string | undefined {
  if (runs.length === 0) return 'no runs';
  const { lr: _lr, ...first } = runs[0]!;
  for (const [i, run] of runs.entries()) {
    const { lr: _l, ...rest } = run;
    for (const key of Object.keys({ ...first, ...rest }) as Array<keyof typeof rest>) {
      if (JSON.stringify(rest[key]) !== JSON.stringify(first[key])) return `run ${i} differs from run 0 in ${String(key)} (a stack's runs differ only in lr)`;
    }
  }
  return undefined;
}

/** The loss a stacked step differentiates: the sum over runs of each run's mean loss at the supervised positions; and the runs' losses [R]. */
export function stackStepLoss(model: LanguageModel, batch: Batch, sup: Supervised, dropoutSeed: number, logitFloats = STACK_LOGIT_FLOATS): { total: tf.Scalar; perRun: tf.Tensor1D } {
  const R = model.runs;
  if (R === 1) {
    // a stack of one is the run alone (engine/train.ts's step loss)
    const loss = stepLoss(model, batch, sup, dropoutSeed);
    return { total: loss, perRun: loss.reshape([1]) };
  }
  const T = batch.segment.seqLen;
  const d = model.config.dModel;
  const M = sup.rows.length;
  const flat = model.forward(tokensOf(batch), { training: true, prefixLength: batch.segment.prefixLength, dropoutSeed }).reshape([-1, d]) as tf.Tensor2D;
  const labels = tf.tensor1d(sup.labels, 'int32');
  // every run's supervised rows at once (run r's start at r·B·T), through every run's tied head as one batched
  // matMul: loss_ri = logsumexp(h_ri E_rᵀ) − h_ri·E_r[label_i] (ops/crossEntropy's reference, with a run axis)
  const at = tf.add(tf.tensor2d(sup.rows, [1, M], 'int32'), tf.range(0, R * batch.size * T, batch.size * T, 'int32').reshape([R, 1]));
  const hidden = tf.gather(flat, at.reshape([R * M])).reshape([R, M, d]) as tf.Tensor3D;
  const embedding = model.embedding as tf.Tensor3D;
  // the logits [runs, M, V] of as many runs at once as fit `logitFloats` (a run alone's are never split): one
  // buffer of them all can pass the device's binding limit — 4 runs at B256 with 64 queries per example at V 8192
  // are exactly 2 GiB, over an H200's 2 GiB − 4 B (a validation error, found on the H200 on 2026-11-29)
  const V = embedding.shape[1];
  const runsPerChunk = Math.max(1, Math.floor(logitFloats / (M * V)));
  const chunks: tf.Tensor1D[] = [];
  for (let r0 = 0; r0 < R; r0 += runsPerChunk) {
    const n = Math.min(runsPerChunk, R - r0);
    const h = n === R ? hidden : hidden.slice([r0, 0, 0], [n, M, d]);
    const e = n === R ? embedding : embedding.slice([r0, 0, 0], [n, V, d]);
    const logits = tf.matMul(h, e, false, true);
    const target = tf.sum(tf.mul(h, tf.gather(e, labels, 1)), 2);
    chunks.push(tf.mean(tf.sub(tf.logSumExp(logits, 2), target), 1) as tf.Tensor1D);
  }
  const perRun = chunks.length === 1 ? chunks[0]! : (tf.concat(chunks) as tf.Tensor1D);
  return { total: tf.sum(perRun), perRun };
}

/** Most logits (floats) a stacked step builds in one tensor: 256 Mi floats, 1 GiB — half the usual binding limit. */
export const STACK_LOGIT_FLOATS = 2 ** 28;

/** One stacked optimisation step at the runs' learning rates `lrs`; returns the runs' losses [R] (the caller disposes them). */
export function trainStackStep(model: LanguageModel, optimizer: AdamW, batch: Batch, sup: Supervised, lrs: number[], dropoutSeed: number): tf.Tensor1D {
  let perRun: tf.Tensor1D | undefined;
  const { value, grads } = tf.variableGrads(() => {
    const step = stackStepLoss(model, batch, sup, dropoutSeed);
    perRun = tf.keep(step.perRun);
    return step.total;
  }, model.variables);
  optimizer.apply(model.variables.map((v) => grads[v.name]!), lrs);
  tf.dispose([value, ...Object.values(grads)]);
  return perRun!;
}

/** Per run of the stack: are all of its parameters finite? One reduction over every variable, R numbers read back. */
export async function runsFinite(model: LanguageModel): Promise<boolean[]> {
  const R = model.runs;
  const total = tf.tidy(() => model.variables.reduce<tf.Tensor>((sum, v) => tf.add(sum, tf.sum(tf.abs(v.reshape([R, -1])), 1)), tf.zeros([R])));
  const values = await total.data();
  total.dispose();
  return Array.from(values, (x) => Number.isFinite(x));
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
  control: { resume?: { epoch: number; optimizer: AdamW; records: EpochRecord[][] }; stopAfterEpoch?: number } = {},
): Promise<StackRunResult[]> {
  const mismatch = stackMismatch(opts);
  if (mismatch) throw new Error(`trainStack: ${mismatch}`);
  if (opts.length !== model.runs) throw new Error(`trainStack: ${opts.length} runs' settings for a model of ${model.runs} runs`);
  const started = performance.now();
  const shared = opts[0]!;
  const { resume, stopAfterEpoch } = control;
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
  // the batch order of epoch e is the order of e − 1 shuffled: a resumed stack replays the earlier shuffles (as train())
  if (shared.shuffle) for (let e = 0; e < firstEpoch; e++) shuffleForEpoch(order, shared.seed, e);

  for (let epoch = firstEpoch; epoch < shared.epochs && runs.some((r) => r.active); epoch++) {
    const epochStart = performance.now();
    const lrs = opts.map((o, r) => (runs[r]!.active ? cosineLr(o.lr, epoch, shared.epochs) : 0));
    if (shared.shuffle) shuffleForEpoch(order, shared.seed, epoch);
    const trained = await checkedOnGpu(async () => {
      const stepLosses: tf.Tensor1D[] = [];
      for (const i of order) {
        step += 1;
        stepLosses.push(trainStackStep(model, optimizer, batches[i]!, sup[i]!, lrs, stepSeed(shared.seed, step)));
        hooks.onStep?.(step, totalSteps);
      }
      const losses = tf.stack(stepLosses) as tf.Tensor2D; // [steps, R]
      const values = await losses.data();
      tf.dispose([losses, ...stepLosses]);
      return values;
    });
    const trainSeconds = (performance.now() - epochStart) / 1000;
    const R = opts.length;
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
      validation: await evaluateRuns(model, splits.validation, shared.evalBatchSize),
      test: await evaluateRuns(model, splits.test, shared.evalBatchSize),
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
  if (!resume) optimizer.dispose();
  return runs.map(resultOf);
}
