// What the training loop (engine/loop.ts) runs: batches and their supervised positions (labels ≠ -100, where loss
// and accuracy are taken), a training step (AdamW on the step loss), evaluation of a split, the finiteness check,
// the optimizer a run builds and the per-epoch shuffle.
import * as tf from '@tensorflow/tfjs';
import { epochShuffleSeed, Rng } from '../core/prng.js';
import type { AuxBatch, AuxObjective } from '../architectures/mixer.js';
import { IGNORE_INDEX, type Segment, type SetTargetAccumulator, type SetTargetMetrics } from '../tasks/types.js';
import type { TrainSettings } from './config.js';
import type { LanguageModel } from './model.js';
import { tiedHeadCrossEntropy } from '../ops/crossEntropy/index.js';
import { AdamW } from './optimizer.js';

/** The training part of a run config (engine/config.ts trainSchema, its one definition) and the run's seed. */
export type TrainOptions = TrainSettings & { seed: number };

export type { EpochRecord, SplitMetrics } from './records.js';
import type { EpochRecord, SplitMetrics } from './records.js';

export interface TrainResult {
  epochs: EpochRecord[];
  steps: number;
  /** 'done' | 'early-stop' | 'diverged' */
  status: 'done' | 'early-stop' | 'diverged';
  divergedAtStep?: number;
  seconds: number;
}

export interface TrainHooks {
  onStep?(step: number, totalSteps: number): void;
  onEpoch?(record: EpochRecord): void | Promise<void>;
  /**
   * After an epoch when more epochs follow: everything a resumed run needs (runners/checkpoint.ts saves it).
   * `epoch` = completed epochs; pass it back as `resume.epoch` with the restored optimizer and records.
   */
  onCheckpoint?(state: { epoch: number; step: number; optimizer: AdamW; records: EpochRecord[] }): void | Promise<void>;
  /**
   * The task's set-valued evaluation hook (TaskDefinition.evalMetrics, e.g. regbench): when given, evaluation scores
   * each supervised position as right when its greedy token is in the position's allowed set, and the split's
   * metrics gain `validity`. Absent (MQAR and the other recall tasks): the single-label path, unchanged.
   */
  setTargets?: SetTargetMetrics;
}

/** A batch's tensors, supervised positions flattened: rows index [B·T], labels [M]. */
export interface Batch {
  segment: Segment;
  start: number;
  size: number;
}

/** Supervised positions of a batch: flat row indices into [B·T], their labels, and the example of each. */
export type Supervised = { rows: Int32Array; labels: Int32Array; example: Int32Array };

export function supervised(segment: Segment, start: number, size: number): Supervised {
  const T = segment.seqLen;
  const rows: number[] = [];
  const labels: number[] = [];
  const example: number[] = [];
  for (let b = 0; b < size; b++) {
    const base = (start + b) * T;
    for (let t = 0; t < T; t++) {
      const label = segment.labels[base + t]!;
      if (label !== IGNORE_INDEX) {
        rows.push(b * T + t);
        labels.push(label);
        example.push(b);
      }
    }
  }
  return { rows: Int32Array.from(rows), labels: Int32Array.from(labels), example: Int32Array.from(example) };
}

export function batchesOf(segments: Segment[], batchSize: number): Batch[] {
  const out: Batch[] = [];
  for (const segment of segments) for (let start = 0; start < segment.count; start += batchSize) out.push({ segment, start, size: Math.min(batchSize, segment.count - start) });
  return out;
}

export function tokensOf(batch: Batch): tf.Tensor2D {
  const T = batch.segment.seqLen;
  return tf.tensor2d(batch.segment.inputs.subarray(batch.start * T, (batch.start + batch.size) * T), [batch.size, T], 'int32');
}

/** What the auxiliary objectives (architectures/mixer.ts Mixer.auxObjective) see of a batch at a step's seed. */
export function auxBatchOf(batch: Batch, seed: number): AuxBatch {
  const T = batch.segment.seqLen;
  return { tokens: batch.segment.inputs.subarray(batch.start * T, (batch.start + batch.size) * T), batchSize: batch.size, seqLen: T, prefixLength: batch.segment.prefixLength, seed };
}

/**
 * Loss (and logits) of a batch at its supervised positions, plus the given auxiliary objectives' losses: the forward
 * runs on an objective's `tokens` when one gives them, and each objective's `loss` (already weighted) is added.
 */
export function batchLoss(model: LanguageModel, batch: Batch, training: boolean, dropoutSeed: number, sup: Supervised, objectives: AuxObjective[] = []) {
  const fed = objectives.find((o) => o.tokens)?.tokens;
  const tokens = fed ? tf.tensor2d(fed, [batch.size, batch.segment.seqLen], 'int32') : tokensOf(batch);
  const hidden = model.forward(tokens, { training, prefixLength: batch.segment.prefixLength, dropoutSeed });
  const d = model.config.dModel;
  const flat = hidden.reshape([-1, d]) as tf.Tensor2D;
  const rows = tf.gather(flat, tf.tensor1d(sup.rows, 'int32')) as tf.Tensor2D;
  const lm = tiedHeadCrossEntropy(rows, model.embedding as tf.Tensor2D, tf.tensor1d(sup.labels, 'int32'));
  const crossEntropy = (at: Int32Array, labels: Int32Array): tf.Scalar => {
    const { loss, logits } = tiedHeadCrossEntropy(tf.gather(flat, tf.tensor1d(at, 'int32')) as tf.Tensor2D, model.embedding as tf.Tensor2D, tf.tensor1d(labels, 'int32'));
    logits.dispose();
    return loss;
  };
  const aux = objectives.map((o) => o.loss({ hidden: flat, crossEntropy })).filter((l): l is tf.Tensor => l !== undefined);
  if (aux.length === 0) return lm;
  return { loss: tf.add(lm.loss, tf.addN(aux)) as tf.Scalar, logits: lm.logits };
}

/** A training step's loss, what trainStep differentiates: the LM loss plus the mixers' auxiliary objectives. */
export function stepLoss(model: LanguageModel, batch: Batch, sup: Supervised, dropoutSeed: number): tf.Scalar {
  const { loss, logits } = batchLoss(model, batch, true, dropoutSeed, sup, model.auxObjectives(auxBatchOf(batch, dropoutSeed)));
  logits.dispose();
  return loss;
}

/**
 * One optimisation step, the training loop's hot path (bench/step.ts times exactly this): forward, loss at the
 * supervised positions (+ auxiliary objectives), backward, AdamW. Returns the step's loss; the caller disposes it.
 */
export function trainStep(model: LanguageModel, optimizer: AdamW, batch: Batch, sup: Supervised, lr: number, dropoutSeed: number): tf.Scalar {
  const { value, grads } = tf.variableGrads(() => stepLoss(model, batch, sup, dropoutSeed), model.variables);
  optimizer.apply(model.variables.map((v) => grads[v.name]!), lr);
  for (const g of Object.values(grads)) g.dispose();
  return value;
}

/**
 * Rows of logits [rows, vocab] built at once in evaluation: a test slice of L 1024 with 256 queries at V 8192 and
 * an eval batch of 128 would otherwise make 1 GiB of logits in one tensor.
 */
export const EVAL_LOGIT_ROWS = 8192;

/**
 * A batch's supervised rows of run `run` (a stack's: its rows of `hidden` start at run·B·T) through the run's tied
 * head, logits built in bounded chunks: per chunk `head(logits)` gives `width` numbers per row (the greedy token, or
 * the next-token distribution), read back into `out`; returns the summed cross-entropy against the stored labels.
 */
async function headChunks<T extends Int32Array | Float32Array>(model: LanguageModel, hidden: tf.Tensor2D, run: number, batch: Batch, sup: Supervised, out: T, width: number, head: (logits: tf.Tensor2D) => tf.Tensor): Promise<number> {
  const offset = run * batch.size * batch.segment.seqLen;
  let lossSum = 0;
  for (let from = 0; from < sup.rows.length; from += EVAL_LOGIT_ROWS) {
    const to = Math.min(sup.rows.length, from + EVAL_LOGIT_ROWS);
    const [rowsOut, loss] = tf.tidy(() => {
      const at = tf.tensor1d(sup.rows.subarray(from, to), 'int32');
      const rows = tf.gather(hidden, offset ? tf.add(at, tf.scalar(offset, 'int32')) : at) as tf.Tensor2D;
      const { loss, logits } = tiedHeadCrossEntropy(rows, model.headOf(run), tf.tensor1d(sup.labels.subarray(from, to), 'int32'));
      return [head(logits as tf.Tensor2D), loss];
    });
    out.set((await rowsOut.data()) as T, from * width);
    lossSum += (await loss.data())[0]! * (to - from);
    rowsOut.dispose();
    loss.dispose();
  }
  return lossSum;
}

/**
 * One batch scored for run `run`: per supervised row whether it counts as right and the greedy token, and the
 * summed loss. Single-label tasks: right = the greedy token is the label. Set-valued targets (`acc`, a task's hook):
 * the next-token distributions go to the hook, which marks a row right when its greedy token is in the allowed set.
 */
async function scoreBatch(model: LanguageModel, hidden: tf.Tensor2D, run: number, batch: Batch, sup: Supervised, acc: SetTargetAccumulator | undefined): Promise<{ right: Uint8Array; predicted: Int32Array; lossSum: number }> {
  const right = new Uint8Array(sup.rows.length);
  const predicted = new Int32Array(sup.rows.length);
  if (!acc) {
    const lossSum = await headChunks(model, hidden, run, batch, sup, predicted, 1, (logits) => tf.argMax(logits, 1));
    for (let i = 0; i < sup.rows.length; i++) right[i] = predicted[i] === sup.labels[i] ? 1 : 0;
    return { right, predicted, lossSum };
  }
  const vocab = model.config.vocabSize;
  const probs = new Float32Array(sup.rows.length * vocab);
  const lossSum = await headChunks(model, hidden, run, batch, sup, probs, vocab, (logits) => tf.softmax(logits));
  acc.add(batch.segment, batch.start, sup.rows, probs, vocab, right, predicted);
  return { right, predicted, lossSum };
}

/**
 * Accuracy (per example, then per slice and split), mean cross-entropy and token accuracy of a split. With
 * `setTargets` (a task's set-valued hook) a position is right when its greedy token is in its allowed set, so
 * `accuracy` and `slices` are mean validity, `tokenAccuracy` stays the fraction of positions whose greedy token
 * equals the stored (sampled) label — what the loss bound of engine/invariants.ts needs — and `validity` holds the
 * hook's metrics. Without it, this is the single-label path every recall task takes.
 */
export async function evaluate(model: LanguageModel, segments: Segment[], batchSize: number, setTargets?: SetTargetMetrics): Promise<SplitMetrics> {
  return (await evaluateRuns(model, segments, batchSize, setTargets))[0]!;
}

/**
 * evaluate for every run of the model's stack (engine/stack.ts), one forward pass per batch: a run's metrics each.
 * A stack of R forwards batchSize / R examples of each run at a time — the rows a run alone forwards — so no tensor
 * of its evaluation is larger than the run's alone (R × 128 examples at L 1024 would make R × 512 MiB of attention
 * scores, past the device's 2 GiB binding limit at R 4). The metrics are per example: the batch size changes none.
 */
export async function evaluateRuns(model: LanguageModel, segments: Segment[], batchSize: number, setTargets?: SetTargetMetrics): Promise<SplitMetrics[]> {
  const examplesPerForward = Math.max(1, Math.floor(batchSize / model.runs));
  const runs = Array.from({ length: model.runs }, () => ({ acc: setTargets?.start(), slices: {} as Record<string, number>, total: 0, lossSum: 0, tokensRight: 0, segTotal: 0 }));
  let examples = 0;
  let tokens = 0;
  for (const segment of segments) {
    for (const r of runs) r.segTotal = 0;
    for (const batch of batchesOf([segment], examplesPerForward)) {
      const sup = supervised(segment, batch.start, batch.size);
      if (sup.rows.length === 0) continue;
      tokens += sup.rows.length;
      const hidden = tf.tidy(() => model.forward(tokensOf(batch), { training: false, prefixLength: batch.segment.prefixLength }).reshape([-1, model.config.dModel]) as tf.Tensor2D);
      try {
        for (const [index, run] of runs.entries()) {
          const scored = await scoreBatch(model, hidden, index, batch, sup, run.acc);
          run.lossSum += scored.lossSum;
          const right = new Float64Array(batch.size);
          const count = new Float64Array(batch.size);
          for (let i = 0; i < sup.rows.length; i++) {
            count[sup.example[i]!]! += 1;
            right[sup.example[i]!]! += scored.right[i]!;
            if (scored.predicted[i] === sup.labels[i]) run.tokensRight += 1;
          }
          for (let b = 0; b < batch.size; b++) if (count[b]! > 0) run.segTotal += right[b]! / count[b]!;
        }
      } finally {
        hidden.dispose();
      }
    }
    for (const run of runs) {
      run.slices[segment.key] = run.segTotal / segment.count;
      run.total += run.segTotal;
    }
    examples += segment.count;
  }
  return runs.map((run) => ({
    accuracy: examples ? run.total / examples : 0,
    slices: run.slices,
    loss: tokens ? run.lossSum / tokens : NaN,
    tokenAccuracy: tokens ? run.tokensRight / tokens : 0,
    ...(run.acc ? { validity: run.acc.result() } : {}),
  }));
}

/** Are all parameters finite? One reduction over every variable, one number read back. */
export async function parametersFinite(model: LanguageModel): Promise<boolean> {
  // pairwise adds, not tf.addN: WebGPU's AddN binds every input at once, and more than the device's
  // maxStorageBuffersPerShaderStage (8 by default) fails validation — found by the error scopes of gpuFaults.ts
  const total = tf.tidy(() => model.variables.reduce<tf.Tensor>((sum, v) => tf.add(sum, tf.sum(tf.abs(v))), tf.scalar(0)));
  const value = (await total.data())[0]!;
  total.dispose();
  return Number.isFinite(value);
}

/** The run's optimizer; a resumed run builds it the same way, then loads its moments and step count. */
export function createOptimizer(model: LanguageModel, opts: Pick<TrainOptions, 'weightDecay'>): AdamW {
  return new AdamW(model.variables, { weightDecay: opts.weightDecay });
}

/**
 * The batch order of an epoch is `order` (the previous epoch's) shuffled by a generator seeded from (seed,
 * epoch): a pure function of (seed, epoch), which a resumed run rebuilds by replaying the earlier shuffles.
 */
export function shuffleForEpoch(order: number[], seed: number, epoch: number): void {
  new Rng(epochShuffleSeed(seed, epoch)).shuffle(order);
}
