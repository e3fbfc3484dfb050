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
// Here: the stacked loss and step, the stack's finiteness check and which runs may share a stack; the loop is
// engine/loop.ts's (a run alone is a stack of one). The runners build on it: runners/stack.ts (runStack: records,
// per-run checkpoints), runners/sweep.ts and runners/concurrency.ts (--stack).
// Not yet (docs/stacked-runs.md): stacks of seeds (different initial parameters and data), the mixers whose own
// parameters have no run axis in their ops yet (MixerDefinition.stackable says which have).
import * as tf from '@tensorflow/tfjs';
import type { LanguageModel } from './model.js';
import { AdamW } from './optimizer.js';
import { stackedTiedHeadCrossEntropy } from '../ops/crossEntropy/index.js';
import { parametersFinite, stepLoss, tokensOf, trainStep, type Batch, type Supervised, type TrainOptions } from './train.js';

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
  // matMul: loss_ri = logsumexp(h_ri E_rᵀ) − h_ri·E_r[label_i], each run's mean (ops/crossEntropy, with a run axis)
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
    chunks.push(stackedTiedHeadCrossEntropy(h as tf.Tensor3D, e as tf.Tensor3D, labels));
  }
  const perRun = chunks.length === 1 ? chunks[0]! : (tf.concat(chunks) as tf.Tensor1D);
  return { total: tf.sum(perRun), perRun };
}

/** Most logits (floats) a stacked step builds in one tensor: 256 Mi floats, 1 GiB — half the usual binding limit. */
export const STACK_LOGIT_FLOATS = 2 ** 28;

/**
 * One stacked optimisation step at the runs' learning rates `lrs`; returns the runs' losses [R] (the caller disposes
 * them). A stack of one is the run alone: engine/train.ts's step at its one rate.
 */
export function trainStackStep(model: LanguageModel, optimizer: AdamW, batch: Batch, sup: Supervised, lrs: number[], dropoutSeed: number): tf.Tensor1D {
  if (model.runs === 1) {
    const loss = trainStep(model, optimizer, batch, sup, lrs[0]!, dropoutSeed);
    const one = loss.reshape([1]) as tf.Tensor1D;
    loss.dispose();
    return one;
  }
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
  if (R === 1) return [await parametersFinite(model)]; // the run alone's check
  const total = tf.tidy(() => model.variables.reduce<tf.Tensor>((sum, v) => tf.add(sum, tf.sum(tf.abs(v.reshape([R, -1])), 1)), tf.zeros([R])));
  const values = await total.data();
  total.dispose();
  return Array.from(values, (x) => Number.isFinite(x));
}
