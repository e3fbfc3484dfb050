// The generic checks every mixer passes (architectures.md), in one place: tests/mixers.test.ts runs them on the
// built-ins and the example plugin, `recallbench check-plugin FILE` on a user's plugin — the same code, so the
// two cannot drift.
//
//   shape      forward keeps [B, T, d]
//   causal     changing token t changes no output before t (after the prefix for prefix mixers); it does change
//              outputs at/after t (a mixer that ignores its input fails)
//   step       the recurrent view (prefill the prefix when `usesPrefix`, then step) reproduces the parallel
//              forward: max |Δ| / max |y| < 2e-4 (fp32, different summation orders)
//   state      initState(1) holds exactly stateFloats().measured floats, initState(3) three times that
//   gradients  every parameter gets a finite, non-zero gradient of a loss on the training forward
import * as tf from '@tensorflow/tfjs';
import { mixerIsCausal, type Mixer, type MixerContext, type MixerDefinition, type MixerState } from '../architectures/mixer.js';
import { UserInputError } from './errors.js';
import { importPlugin } from './plugins.js';
import { ParamStore } from './params.js';
import { resolveMixerParams } from './registry.js';

/** Stepping and the parallel forward must agree to this relative error (fp32, different summation orders). */
export const STEP_TOLERANCE = 2e-4;
/** An output before the changed token may move by at most this much (causality)... */
export const CAUSAL_LEAK = 1e-5;
/** ...and an output at/after it must move by more than this (the mixer reads its input). */
export const CAUSAL_EFFECT = 1e-6;

export type CheckId = 'shape' | 'causal' | 'step' | 'state' | 'gradients' | 'aux';
export interface CheckOutcome {
  status: 'pass' | 'fail' | 'skip';
  /** The numbers behind the verdict, one line. */
  detail: string;
}
export interface CheckResult extends CheckOutcome {
  check: CheckId;
}

/** Sizes and hyperparameters the checks run at (small: the suite stays fast on 2 CPU cores). */
export interface CheckSetup {
  /** Raw hyperparameters (validated with the mixer's schema); absent = its defaults. */
  params?: Record<string, unknown>;
  batch?: number;
  seqLen?: number;
  dModel?: number;
}

interface Built {
  mixer: Mixer;
  store: ParamStore;
  params: Record<string, unknown>;
  ctx: MixerContext;
  B: number;
  T: number;
  D: number;
  /** Prefix length for `usesPrefix` mixers (their non-causal part), else undefined. */
  prefix: number | undefined;
}

function build(def: MixerDefinition, setup: CheckSetup): Built {
  const B = setup.batch ?? 2;
  const T = setup.seqLen ?? 8;
  const D = setup.dModel ?? 16;
  const params = resolveMixerParams(def, setup.params ?? {});
  const ctx: MixerContext = { dModel: D, maxSeqLen: T, layerIndex: 0, nLayers: 2 };
  const store = new ParamStore(1, 2);
  try {
    const mixer = def.create(params, ctx, store.scope(`t.${def.name}`));
    return { mixer, store, params, ctx, B, T, D, prefix: def.usesPrefix ? Math.min(3, T - 1) : undefined };
  } catch (e) {
    store.dispose();
    throw e;
  }
}

const randn = (shape: number[], seed: number) => tf.randomNormal(shape, 0, 1, 'float32', seed);
const tol = (x: number) => x.toExponential(0);
const fmt = (x: number) => (x === 0 ? '0' : Math.abs(x) >= 1e-2 && Math.abs(x) < 1e4 ? x.toPrecision(3) : x.toExponential(2));

/** max |x − y| / (max |y| + tiny) over two equally long arrays: the one error measure of the checks and the tests. */
export function maxRelativeError(x: ArrayLike<number>, y: ArrayLike<number>): number {
  if (x.length !== y.length) throw new Error(`size mismatch ${x.length} vs ${y.length}`);
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < x.length; i++) {
    diff = Math.max(diff, Math.abs(x[i]! - y[i]!));
    scale = Math.max(scale, Math.abs(y[i]!));
  }
  return diff / (scale + 1e-12);
}

/** max |a − b| / (max |b| + tiny), read synchronously. */
export function relativeError(a: tf.Tensor, b: tf.Tensor): number {
  return maxRelativeError(a.dataSync(), b.dataSync());
}

function checkShape({ mixer, B, T, D, prefix }: Built): CheckOutcome {
  const y = mixer.forward(randn([B, T, D], 3) as tf.Tensor3D, { training: false, prefixLength: prefix ?? 3 });
  const ok = y.shape.join() === [B, T, D].join();
  return { status: ok ? 'pass' : 'fail', detail: `forward [${B}, ${T}, ${D}] → [${y.shape.join(', ')}]${ok ? '' : ` (must keep [batch, time, d_model])`}` };
}

function checkCausal(def: MixerDefinition, { mixer, params, B, T, D, prefix }: Built): CheckOutcome {
  if (!mixerIsCausal(def, params)) return { status: 'skip', detail: 'isCausal(params) is false: reads the whole sequence' };
  const start = prefix ?? 0;
  const x = randn([B, T, D], 4);
  const y = mixer.forward(x as tf.Tensor3D, { training: false, prefixLength: start }).arraySync();
  const positions = [...new Set([Math.max(start, 1), Math.max(start, T - 3), T - 1])];
  let leak = 0;
  let leakAt = -1;
  let weakest = Infinity;
  let weakestAt = -1;
  for (const t of positions) {
    const bump = tf.tensor3d(Array.from({ length: B * T * D }, (_, i) => (Math.floor(i / D) % T === t ? 1.5 : 0)), [B, T, D]);
    const y2 = mixer.forward(tf.add(x, bump) as tf.Tensor3D, { training: false, prefixLength: start }).arraySync();
    let before = 0;
    let at = 0;
    for (let b = 0; b < B; b++)
      for (let s = 0; s < T; s++)
        for (let c = 0; c < D; c++) {
          const diff = Math.abs(y2[b]![s]![c]! - y[b]![s]![c]!);
          if (s < t) before = Math.max(before, diff);
          else at = Math.max(at, diff);
        }
    if (before > leak || leakAt < 0) [leak, leakAt] = [before, t];
    if (at < weakest) [weakest, weakestAt] = [at, t];
  }
  const ok = leak < CAUSAL_LEAK && weakest > CAUSAL_EFFECT;
  const why = leak >= CAUSAL_LEAK ? `: changing token ${leakAt} moved an earlier output` : weakest <= CAUSAL_EFFECT ? `: changing token ${weakestAt} moved nothing at/after it (ignores its input?)` : '';
  return {
    status: ok ? 'pass' : 'fail',
    detail: `token t = ${positions.join(', ')}${start ? ` (prefix ${start})` : ''} changed: max |Δy| before t ${fmt(leak)} (< ${tol(CAUSAL_LEAK)}), at/after t ≥ ${fmt(weakest)} (> ${tol(CAUSAL_EFFECT)})${why}`,
  };
}

/**
 * The step view over x [B, T, D] from token `from` on (a prefix mixer: after its prefill; state then the prefill's):
 * each token's output y [B, D], in order.
 */
export function stepOutputs(mixer: Mixer, x: tf.Tensor3D, from = 0, state: MixerState = mixer.initState(x.shape[0])): tf.Tensor[] {
  const [B, T, D] = x.shape;
  const ys: tf.Tensor[] = [];
  for (let t = from; t < T; t++) {
    const out = mixer.step(state, x.slice([0, t, 0], [B, 1, D]).reshape([B, D]) as tf.Tensor2D, t);
    ys.push(out.y);
    state = out.state;
  }
  return ys;
}

function checkStep(def: MixerDefinition, { mixer, params, B, T, D, prefix }: Built): CheckOutcome {
  if (!mixerIsCausal(def, params)) return { status: 'skip', detail: 'isCausal(params) is false: no step view' };
  const x = randn([B, T, D], 5) as tf.Tensor3D;
  const parallel = mixer.forward(x, { training: false, prefixLength: prefix });
  let state: MixerState = mixer.initState(B);
  const ys: tf.Tensor[] = [];
  let start = 0;
  if (def.usesPrefix) {
    // a prefix mixer's recurrent view: prefill the first M tokens in parallel, then step the rest
    if (typeof mixer.prefill !== 'function') return { status: 'fail', detail: 'usesPrefix is set but the mixer has no prefill(x): its recurrent view starts with one' };
    const out = mixer.prefill(x.slice([0, 0, 0], [B, prefix!, D]));
    ys.push(...tf.unstack(out.y, 1));
    state = out.state;
    start = prefix!;
  }
  ys.push(...stepOutputs(mixer, x, start, state));
  const err = relativeError(tf.stack(ys, 1), parallel);
  const ok = err < STEP_TOLERANCE; // NaN fails
  return { status: ok ? 'pass' : 'fail', detail: `${def.usesPrefix ? `prefill ${start} + ` : ''}${T - start} steps vs parallel forward: max rel err ${fmt(err)} (< ${tol(STEP_TOLERANCE)})` };
}

function checkState(def: MixerDefinition, { mixer, params, ctx }: Built): CheckOutcome {
  const floats = (s: MixerState) => Object.values(s).reduce((n, t) => n + t.size, 0);
  const held = floats(mixer.initState(1));
  const held3 = floats(mixer.initState(3));
  const declared = def.stateFloats(params, ctx).measured;
  const ok = held === declared && held3 === 3 * held;
  return {
    status: ok ? 'pass' : 'fail',
    detail: `initState(1) holds ${held} floats, stateFloats().measured ${declared}; initState(3) holds ${held3} (3 × ${held} = ${3 * held})`,
  };
}

function checkGradients(def: MixerDefinition, { mixer, store, B, T, D, prefix }: Built): CheckOutcome {
  if (store.variables.length === 0) return { status: 'pass', detail: 'no parameters' };
  const x = randn([B, T, D], 6) as tf.Tensor3D;
  const target = randn([B, T, D], 7);
  const { grads } = tf.variableGrads(() => tf.mean(tf.square(tf.sub(mixer.forward(x, { training: true, prefixLength: prefix, dropoutSeed: 1 }), target))) as tf.Scalar, store.variables);
  const bad: string[] = [];
  let smallest = Infinity;
  for (const v of store.variables) {
    const g = grads[v.name];
    if (!g) {
      bad.push(`${v.name}: none`);
      continue;
    }
    const norm = tf.norm(g).dataSync()[0]!;
    if (!Number.isFinite(norm)) bad.push(`${v.name}: not finite`);
    else if (norm <= 0) bad.push(`${v.name}: zero`);
    else smallest = Math.min(smallest, norm);
  }
  const n = store.variables.length;
  return {
    status: bad.length ? 'fail' : 'pass',
    detail: `${n - bad.length}/${n} parameters get a finite non-zero gradient${Number.isFinite(smallest) ? ` (smallest norm ${fmt(smallest)})` : ''}${bad.length ? `; ${bad.slice(0, 4).join(', ')}${bad.length > 4 ? `, … ${bad.length - 4} more` : ''}` : ''}`,
  };
}

/**
 * A mixer's auxiliary objective (Mixer.auxObjective, the hook JRT-RNN's masked prefix and Hedgehog's distillation
 * use), when it declares one for this batch: called before a training forward as the training step does, its loss
 * must be a finite scalar that sends a gradient to some parameter, and replacement inputs must keep the batch's size.
 * The model's parts it may use are stood in for: the final hidden states are the mixer's output, the tied head a
 * fixed random [d, 16] matrix.
 */
function checkAux(_def: MixerDefinition, { mixer, store, B, T, D, prefix }: Built): CheckOutcome {
  if (typeof mixer.auxObjective !== 'function') return { status: 'skip', detail: 'no auxiliary objective (auxObjective not defined)' };
  const V = 16;
  const tokens = Int32Array.from({ length: B * T }, (_, i) => (i * 7 + 3) % V);
  const objective = mixer.auxObjective({ tokens, batchSize: B, seqLen: T, prefixLength: prefix ?? 0, seed: 1 });
  if (!objective) return { status: 'skip', detail: 'auxObjective declared, none for this model and batch (e.g. switched off by its hyperparameters)' };
  if (objective.tokens && objective.tokens.length !== B * T) return { status: 'fail', detail: `auxObjective's replacement tokens hold ${objective.tokens.length} ids, the batch ${B * T}` };
  const x = randn([B, T, D], 8) as tf.Tensor3D;
  const head = randn([D, V], 9);
  let declared = true;
  const { value, grads } = tf.variableGrads(() => {
    const hidden = mixer.forward(x, { training: true, prefixLength: prefix, dropoutSeed: 1 }).reshape([B * T, D]) as tf.Tensor2D;
    const crossEntropy = (rows: Int32Array, labels: Int32Array) =>
      tf.losses.softmaxCrossEntropy(tf.oneHot(tf.tensor1d(labels, 'int32'), V), tf.matMul(tf.gather(hidden, tf.tensor1d(rows, 'int32')), head));
    const loss = objective.loss({ hidden, crossEntropy });
    if (!loss) declared = false;
    // a zero-weight tie to the parameters keeps variableGrads defined when the objective gives no loss this step
    return tf.add(loss ? tf.sum(loss) : tf.scalar(0), tf.mul(0, tf.mean(hidden))) as tf.Scalar;
  }, store.variables);
  const loss = value.dataSync()[0]!;
  if (!declared) return { status: 'skip', detail: 'auxObjective gave no loss after the forward for this batch' };
  const norms = store.variables.flatMap((v) => (grads[v.name] ? [tf.norm(grads[v.name]!).dataSync()[0]!] : []));
  const reached = norms.filter((n) => n > 0).length;
  const finiteGrads = norms.every((n) => Number.isFinite(n));
  const ok = Number.isFinite(loss) && reached > 0 && finiteGrads;
  return {
    status: ok ? 'pass' : 'fail',
    detail: `auxiliary loss ${fmt(loss)}${objective.shared ? ` (shared: ${objective.shared})` : ''}${objective.tokens ? ', replaces the inputs' : ''}; reaches ${reached}/${store.variables.length} parameters${finiteGrads ? '' : ', a gradient is not finite'}${Number.isFinite(loss) ? '' : ': the loss is not finite'}`,
  };
}

/** The generic checks, in order, with the titles the test suite names them by. */
export const MIXER_CHECKS: ReadonlyArray<{ id: CheckId; title: string; run(def: MixerDefinition, built: Built): CheckOutcome }> = [
  { id: 'shape', title: 'keeps the shape [B, T, d]', run: (_def, b) => checkShape(b) },
  { id: 'causal', title: 'is causal: changing token t changes no output before t (after the prefix for prefix mixers)', run: checkCausal },
  { id: 'step', title: 'step view reproduces the parallel forward', run: checkStep },
  { id: 'state', title: 'holds exactly the declared measured state', run: checkState },
  { id: 'gradients', title: 'sends gradients to every parameter', run: checkGradients },
  { id: 'aux', title: 'its auxiliary objective, if any, gives a finite loss that reaches its parameters', run: checkAux },
];

/** Run one check on a freshly built mixer (its own parameters, disposed after); an exception is a failure. */
export function runMixerCheck(def: MixerDefinition, id: CheckId, setup: CheckSetup = {}): CheckResult {
  const check = MIXER_CHECKS.find((c) => c.id === id)!;
  tf.engine().startScope();
  let built: Built | undefined;
  try {
    built = build(def, setup);
    return { check: id, ...check.run(def, built) };
  } catch (e) {
    return { check: id, status: 'fail', detail: `threw: ${String((e as Error)?.message ?? e).split('\n')[0]}` };
  } finally {
    built?.store.dispose();
    tf.engine().endScope();
  }
}

/** Every check on `def`. */
export function runMixerChecks(def: MixerDefinition, setup: CheckSetup = {}): CheckResult[] {
  return MIXER_CHECKS.map((c) => runMixerCheck(def, c.id, setup));
}

/**
 * `recallbench check-plugin FILE`: import the plugin (a bad file is a UserInputError: one line, exit 2), run every
 * check, one line each: `PASS|FAIL|SKIP  check  numbers`. `ok` is false when any check fails.
 */
export async function checkPlugin(file: string, setup: CheckSetup = {}): Promise<{ lines: string[]; ok: boolean }> {
  for (const [flag, value, min] of [['--d-model', setup.dModel, 1], ['--seq-len', setup.seqLen, 2], ['batch', setup.batch, 1]] as const)
    if (value !== undefined && (!Number.isInteger(value) || value < min)) throw new UserInputError(`${flag} expects a whole number ≥ ${min}, got ${value}`);
  const def = await importPlugin(file);
  const params = resolveMixerParams(def, setup.params ?? {});
  const lines = [`${def.name} from ${file}: params ${JSON.stringify(params)}; batch ${setup.batch ?? 2}, ${setup.seqLen ?? 8} tokens, d_model ${setup.dModel ?? 16}; backend ${tf.getBackend()}`];
  const results = runMixerChecks(def, setup);
  for (const r of results) lines.push(`${r.status.toUpperCase().padEnd(4)}  ${r.check.padEnd(9)}  ${r.detail}`);
  const failed = results.filter((r) => r.status === 'fail');
  lines.push(failed.length ? `${failed.length} of ${results.length} checks failed: ${failed.map((r) => r.check).join(', ')}` : `all ${results.filter((r) => r.status === 'pass').length} checks pass${results.some((r) => r.status === 'skip') ? ` (${results.filter((r) => r.status === 'skip').map((r) => r.check).join(', ')} skipped)` : ''}`);
  return { lines, ok: failed.length === 0 };
}
