// A run's peak GPU memory, estimated before it starts, so that `sweep --concurrency auto` can choose how many runs
// share a GPU, and a run that cannot fit is left out (auto) or refuses the grid (explicit N) before training
// (runners/concurrency.ts).
//
// Method (measured, not a formula). Per distinct model shape, on a shape-only copy of the cpu backend (the probe
// backend below: the same kernels allocate the same tensors, the costly ones without computing anything):
//   1. build the model and its AdamW moments;
//   2. run one training step and evaluation forward unprofiled (what mixers cache at module level, such as causal
//      masks, is built there and not inside the first profile only: else the two profiles' kernel sequences differ
//      and the fit falls back to one line through their peaks, which put zoology-fig2's attention d512 at 3.2 GiB
//      instead of 17.0), then tf.profile one training step (forward, loss, backward, AdamW: engine/train.ts
//      trainStep) on the run's largest training segment at two small batch sizes b1 < b2 (PROFILE_BATCHES), and the evaluation forward
//      and head (model.forward, then the tied-head logits and argmax of engine/train.ts batchLoss / evaluate) on
//      its largest validation/test slice at the same two sizes;
//   3. every kernel k of the profile leaves a snapshot of the live tensor bytes; the kernel sequence does not
//      depend on the batch size, so each kernel's snapshot is a line c_k + s_k · B through its two points, and
//      the peak at the run's batch B is max_k (c_k + s_k · B). (The overall peak of two small batches would not
//      do: at b = 2 the peak is the AdamW update, whose bytes do not grow with B, while at B = 256 it is the
//      backward pass.) The evaluation head's per-example slope is split into the final hidden states (grow
//      with B) and the logit rows, which evaluation builds in chunks of at most EVAL_LOGIT_ROWS rows: the rows
//      part is taken at min(B, EVAL_LOGIT_ROWS / rows-per-example) examples.
//   4. what tfjs-backend-webgpu's buffer pool keeps: every buffer each step allocates and releases is recorded at
//      the two batch sizes too, for every batch shape of the run (each training segment, each evaluation slice and
//      its logit chunks), and replayed at the run's batch sizes through the pool's rules (simulatePool below).
// Fused forms that allocate differently from the plain kernels are modelled where the run will use them
// (EstimateOptions.fused, keyed by accel/webgpu's lever names): with a lever on, the probe runs that form's own
// entry point (the same declines: dimension caps; fitsDevice has no device here and accepts) and its customGrad
// over shape-only stand-ins of its kernels that allocate exactly what the WebGPU kernelFuncs allocate; with it off
// the probe runs the plain tfjs form. The levers:
//   - selectiveScan (accel/webgpu/selectiveScan.ts, Mamba): y and h's checkpoints forward, one gradient buffer
//     backward, instead of the blocked form's [B, T, E, N] tensors;
//   - delta (accel/webgpu/deltaRule.ts, DeltaNet, Gated DeltaNet): o and S's checkpoints forward, one buffer of dv
//     and the column blocks' partials backward, instead of the chunked form's per-chunk tensors;
//   - generalizedDelta (accel/webgpu/generalizedDeltaRule.ts, RWKV-7): likewise (the stacked r, w, k, a, b, o and S's
//     checkpoints forward, one buffer of dv and the partials of dr, dw, dk, da, db backward), instead of the chunked
//     form's [C, C, d_k] pairwise tensors and their gradients;
//   - gla (accel/webgpu/gla.ts, GLA, up to d_k GLA_FAST_MAX_DK: past it the probe runs the chunked form, as training
//     does) and ssd (Mamba-2's SSD through the same kernel): o and S's checkpoints forward, one buffer of dv and the
//     partials of dq, dk, dg backward, instead of the chunked forms' per-chunk tensors;
//   - attention (accel/webgpu/attention.ts): o and the log-sum-exp forward, dq, dk, dv backward, no [B, H, T, T]
//     scores, weights or their gradients. With dropout it is fused only where the dropout lever is on too
//     (ops/causalAttention: the same hashed mask), so `dropout` is a key as well: on the probe it only tells
//     ops/causalAttention that the hashed dropout is there (its memory is tf.dropout's, as with it off);
//   - linearAttention (accel/webgpu/linearAttention.ts, Based, linear attention): y and den forward, dφq, dφk, dv
//     backward, instead of the chunked form's per-chunk states;
//   - longConv (accel/webgpu/longConv.ts, BaseConv-long, H3, Hyena, M2): y forward, dx and dh backward, no
//     Toeplitz blocks;
//   - shortConv (accel/webgpu/shortConv.ts, the short causal conv of BaseConv, DeltaNet, Gated DeltaNet, GLA, Mamba,
//     Mamba-2, Hyena, M2): y forward (bias included), dx, dw (and db) backward, instead of the reference's padded
//     copy, its k shifted slices and products kept for the gradients;
//   - taylorMap (accel/webgpu/taylorMap.ts, Based's and jrt-sd's Taylor feature map): φ forward, dx backward,
//     instead of the reference's two selection matmuls [.., f(f+1)/2], their product and its coefficient scaling,
//     kept for the gradients — at jrt-sd's f 24 the largest run's estimate was 2.5–4 × the pool an H200 measured
//     (14.83 GiB against ≤ 3.93, 2026-12-02, bench/logs/2026-12-02-h200/call1-memory-log-default-poolBestFit.jsonl);
//   - rwkv7Token (accel/webgpu/rwkv7Token.ts, RWKV-7's per-token parts): the keys' one packed output [rows, H, 4 d_k]
//     (split into w, k, a, b) and the output's y forward, one packed gradient of 5 and of 6 parts backward (the
//     per-channel parameters' shares summed after), instead of the ~17 small ops a layer and their saved tensors;
//   - stridedHeads (accel/webgpu/heads.ts): the fused recurrences above read and write their callers' head layouts
//     (the kernels' attributes; the stand-ins size o by them), without the transposes' copies and their gradients.
// The GPU estimate is then  max(live peak, pool × (1 + POOL_MARGIN)) + PROCESS_OVERHEAD_BYTES: the pool, not the
// live peak, is what a process holds (it only grows), and a reservation below it is not safe — see simulatePool.
// Measured error (H200, webgpu fast path; jrt-rnn: bench/RESULTS.md "Memory per run", Mamba: simulatePool's note):
//   - live bytes on cpu: 0.975–1.000 × tf.profile's peak over whole runs (tests/memory.test.ts asserts 0.95–1.1);
//   - live bytes on the GPU (15 runs of jrt-rnn --scale 0.01, based-fig2 Mamba d256): the live estimate is 1.3–3.3 ×
//     tfjs's peak of used GPU buffers, never below it — the probe runs the plain kernels (naive cross-entropy
//     keeps several [rows, V] tensors; the fused WebGPU kernels keep fewer);
//   - the pool: tfjs-backend-webgpu keeps every released buffer keyed by exact size, 3.4–11 × the live peak for a
//     training mixture of several shapes; the simulated pool (with the levers of each measurement) is 0.98–2.4 ×
//     tfjs's uncapped peak of allocated GPU buffers over those 16 runs (POOL_MARGIN covers the 0.98).
//     Each run's pool is still capped at its reservation less the context (accel/webgpu/bufferPool.ts), a guard
//     that should not bind: a cap below the pool makes it evict, and evicted memory comes back late (simulatePool).
import * as tf from '@tensorflow/tfjs';
import { LanguageModel } from '../engine/model.js';
import { tiedHeadCrossEntropy } from '../ops/crossEntropy/index.js';
import { createOptimizer, EVAL_LOGIT_ROWS as TRAIN_EVAL_LOGIT_ROWS, supervised, trainStep, type Batch } from '../engine/train.js';
import { getTask } from '../tasks/index.js';
import { addSize, BEST_FIT_RATIO, bestFitSize, replacedSize } from '../core/bestFit.js';
import { hashSeeds, Rng } from '../core/prng.js';
import type { Segment } from '../tasks/types.js';
import { canonicalJson, runId, type RunConfig } from './config.js';
import { registerFastForm, setLever } from '../core/fastForms.js';
import { selectiveScanOp } from '../ops/selectiveScan/index.js';
import { deltaRuleOp } from '../ops/deltaRule/index.js';
import { gatedDeltaRuleOp } from '../ops/gatedDeltaRule/index.js';
import { generalizedDeltaRuleOp } from '../ops/generalizedDeltaRule/index.js';
import { headDims, headShape } from '../ops/shared/heads.js';
import { causalAttentionOp } from '../ops/causalAttention/index.js';
import { dropoutOp } from '../ops/dropout/index.js';
import { causalLinearAttentionOp } from '../ops/linearAttention/index.js';
import { longConvOp } from '../ops/longConv/index.js';
import { shortConvOp } from '../ops/shortConv/index.js';
import { taylorFeatureSize, taylorMapOp } from '../ops/taylorMap/index.js';
import { rwkv7KeysOp, rwkv7OutputOp } from '../ops/rwkv7Token/index.js';
import { glaOp } from '../ops/gatedLinearAttention/index.js';
import { ssdOp } from '../ops/ssd/index.js';
import { checkpointShape } from '../accel/webgpu/dispatch.js';
import { gradsSize as selectiveScanGradsSize, SELECTIVE_SCAN_GRAD_KERNEL, SELECTIVE_SCAN_KERNEL, selectiveScanWebGpu } from '../accel/webgpu/selectiveScan.js';
import { DELTA_GRAD_KERNEL, DELTA_KERNEL, deltaRuleWebGpu, gatedDeltaRuleWebGpu, gradsSize as deltaGradsSize } from '../accel/webgpu/deltaRule.js';
import { layoutsOf, setStridedHeads, stridedHeadsOn } from '../accel/webgpu/heads.js';
import { GENERALIZED_DELTA_GRAD_KERNEL, GENERALIZED_DELTA_KERNEL, generalizedDeltaRuleWebGpu, gradsSize as generalizedDeltaGradsSize } from '../accel/webgpu/generalizedDeltaRule.js';
import { ATTENTION_GRAD_KERNEL, ATTENTION_KERNEL, causalAttentionWebGpu } from '../accel/webgpu/attention.js';
import { causalLinearAttentionWebGpu, LINEAR_ATTENTION_GRAD_KERNEL, LINEAR_ATTENTION_KERNEL } from '../accel/webgpu/linearAttention.js';
import { LONG_CONV_GRAD_KERNEL, LONG_CONV_KERNEL, longConvWebGpu } from '../accel/webgpu/longConv.js';
import { SHORT_CONV_GRAD_KERNEL, SHORT_CONV_KERNEL, shortConvWebGpu } from '../accel/webgpu/shortConv.js';
import { TAYLOR_MAP_GRAD_KERNEL, TAYLOR_MAP_KERNEL, taylorMapWebGpu } from '../accel/webgpu/taylorMap.js';
import { RWKV7_KEYS_GRAD_KERNEL, RWKV7_KEYS_KERNEL, RWKV7_OUTPUT_GRAD_KERNEL, RWKV7_OUTPUT_KERNEL, rwkv7KeysWebGpu, rwkv7OutputWebGpu } from '../accel/webgpu/rwkv7Token.js';
import { GLA_GRAD_KERNEL, GLA_KERNEL, glaFastForm, gradsSize as glaGradsSize, ssdWebGpu } from '../accel/webgpu/gla.js';

/** Evaluation builds its logits in chunks of at most this many rows × vocabulary: engine/train.ts's own constant (8192). */
export const EVAL_LOGIT_ROWS: number = TRAIN_EVAL_LOGIT_ROWS;
/** The two batch sizes a step is profiled at; the line through them gives every kernel's bytes at any batch. */
const PROFILE_BATCHES: readonly [number, number] = [2, 4];
/**
 * The formula's room for the webgpu pool beyond the live tensors (formulaShape only: a measured shape simulates the
 * pool). Known to be short: the pool holds 3.4–11 × the live peak (see the header).
 */
export const POOL_OVERHEAD_FRACTION = 0.25;
/**
 * Margin on the simulated pool. The simulation replays the probe's tensors (plain forms, cpu shapes) and not the
 * webgpu backend's own buffers (read-back staging, uniforms, a kernel's internal passes); over the 16 runs measured
 * on an H200 (see the header) it came out 0.98–2.4 × the pool tfjs really kept, the 0.98 a jrt-rnn d48 run (29.89 vs
 * 30.47 GiB). 10% lifts that case to 1.08, so that the pool cap (the reservation less the context) sits above the
 * pool and never evicts — an evicting cap is what overflowed the GPU (simulatePool).
 */
export const POOL_MARGIN = 0.1;

/**
 * The margin with best fit (lever poolBestFit): larger, because its replay stands for orders it did not run. On an
 * H200 (2026-12-02, bench/gpu_check_pending.sh memory: 24 jrt-sd runs) each run's peak pool was 0.20–0.40 of its
 * estimate, so this margin is far from binding; kept until a preset of other shapes has been measured.
 */
export const POOL_MARGIN_BEST_FIT = 0.25;
/**
 * What one process holds on the GPU beyond tfjs's buffers: the Vulkan/Dawn context, pipelines, uniform slots
 * (nvidia-smi minus tfjs's allocated bytes: 124–949 MiB over 15 runs on an H200, bench/RESULTS.md).
 */
export const PROCESS_OVERHEAD_BYTES = 2 ** 30;
const FLOAT_BYTES = 4;

export type EstimateMethod = 'measured' | 'formula';

/** The levers (accel/webgpu LEVERS) whose fused forms the probe models (see the header). */
export const FUSED_LEVERS = ['selectiveScan', 'delta', 'generalizedDelta', 'gla', 'ssd', 'attention', 'linearAttention', 'longConv', 'shortConv', 'taylorMap', 'rwkv7Token', 'dropout', 'stridedHeads'] as const;
export type FusedLever = (typeof FUSED_LEVERS)[number];

/** The fused forms the run will use (webgpu with their lever on), whose memory differs from the plain kernels'. */
export interface EstimateOptions {
  /** Per lever, whether its fused form runs (absent: off, the plain tfjs form). runners/pool.ts passes defaultFastPath(). */
  fused?: Partial<Record<FusedLever, boolean>>;
  /** The pool serves requests by best fit (lever poolBestFit): simulatePool replays that rule. Not a shape's key: the probe's buffers are the same. */
  poolBestFit?: boolean;
}

/** What a run's estimate follows of a fast path (accel/webgpu's FastPath, e.g. defaultFastPath()): its fused forms and the pool's rule. */
export function estimateOptions(fastPath: Readonly<Record<FusedLever | 'poolBestFit', boolean>>): EstimateOptions {
  return { fused: Object.fromEntries(FUSED_LEVERS.map((l) => [l, fastPath[l]])), poolBestFit: fastPath.poolBestFit };
}

/** Every lever of FUSED_LEVERS, on or off, in FUSED_LEVERS' order (the cache key and the probe read this). */
function fusedLevers(options: EstimateOptions): Record<FusedLever, boolean> {
  return Object.fromEntries(FUSED_LEVERS.map((l) => [l, options.fused?.[l] === true])) as Record<FusedLever, boolean>;
}

/** A run's estimated peak GPU memory, in bytes, and what it is made of. */
export interface MemoryEstimate {
  id: string;
  /** "label d64 lr0.001", as the sweep prints runs. */
  run: string;
  parameters: number;
  /** AdamW's first and second moments (2 × parameters). */
  optimizerMoments: number;
  /** One gradient per parameter, alive at the optimizer update. */
  gradients: number;
  /** Live bytes of the training step at the run's batch size beyond parameters and moments (activations kept for backward, logits, gradients). */
  trainActivations: number;
  /** Live bytes of an evaluation batch beyond parameters and moments (eval forward at evalBatchSize over the longest slice, one logit chunk). */
  evalTransient: number;
  /** max of the training and evaluation live peaks (parameters and moments included). */
  livePeak: number;
  /** What tfjs-backend-webgpu's buffer pool holds beyond the live peak (the simulated pool with its margin, less the live peak). */
  poolOverhead: number;
  processOverhead: number;
  /** What the run's process is expected to hold on the GPU at its peak. */
  total: number;
  method: EstimateMethod;
  /** Wall time spent measuring this model shape (0 when it came from the cache). */
  measureMs: number;
}

/** Bytes at every kernel boundary, as lines in the batch size: bytes_k(B) = constant[k] + perExample[k] · B. */
interface KernelLines {
  constant: number[];
  perExample: number[];
}

/** What the cpu measurement of one model shape yields, independent of batch sizes, lr and seed. */
interface ShapeProfile {
  parameterBytes: number;
  train: KernelLines;
  evalForward: KernelLines;
  evalHead: KernelLines;
  /** Bytes per example of the final hidden states (alive through the evaluation head). */
  hiddenBytesPerExample: number;
  evalRowsPerExample: number;
  /** The buffer events of every batch shape the run trains and evaluates (measured only; see simulatePool). */
  pool?: PoolProfile;
  method: EstimateMethod;
  measureMs: number;
}

const profiles = new Map<string, ShapeProfile>();

/** Peak of kernel lines at batch size `batch`. */
function peakAt(lines: KernelLines, batch: number): number {
  let peak = 0;
  for (let k = 0; k < lines.constant.length; k++) peak = Math.max(peak, lines.constant[k]! + lines.perExample[k]! * batch);
  return peak;
}

/** Lines through two profiles of the same kernel sequence at batches b1 < b2; one line through the overall peaks when the sequences differ. */
function fitLines(snap1: number[], snap2: number[], [b1, b2]: readonly [number, number]): KernelLines {
  if (snap1.length !== snap2.length || snap1.length === 0) {
    const p1 = Math.max(0, ...snap1);
    const p2 = Math.max(0, ...snap2);
    const slope = Math.max(0, (p2 - p1) / (b2 - b1));
    return { constant: [p2 - slope * b2], perExample: [slope] };
  }
  const perExample = snap1.map((s1, k) => Math.max(0, (snap2[k]! - s1) / (b2 - b1)));
  return { constant: snap1.map((s1, k) => s1 - perExample[k]! * b1), perExample };
}

/** The segment whose examples are largest: longest, then most supervised rows. */
function largestSegment(segments: Record<string, unknown>[], generate: (p: Record<string, unknown>, count: number) => Segment): { params: Record<string, unknown>; seqLen: number; rowsPerExample: number } {
  let best: { params: Record<string, unknown>; seqLen: number; rowsPerExample: number } | undefined;
  for (const params of segments) {
    const seg = generate(params, 1);
    const rows = supervised(seg, 0, 1).rows.length;
    if (!best || seg.seqLen > best.seqLen || (seg.seqLen === best.seqLen && rows > best.rowsPerExample)) best = { params, seqLen: seg.seqLen, rowsPerExample: rows };
  }
  return best!;
}

/** The parts of a config that decide its memory per example (not lr, seeds, counts or batch sizes), and the fused forms. */
function shapeKey(config: RunConfig, options: EstimateOptions): string {
  const withoutCount = (segs: Record<string, unknown>[] | undefined) => segs?.map(({ count: _count, ...rest }) => rest);
  return canonicalJson({ model: config.model, task: config.data.task, common: config.data.common, train: withoutCount(config.data.train), test: withoutCount(config.data.test), validation: withoutCount(config.data.validation), fused: fusedLevers(options) });
}

// The probe backend: tfjs-backend-cpu with its costly kernels replaced by ones that only allocate their output.
// A kernel's bytes depend on shapes, never on values, and on this machine's JavaScript cpu backend a training
// step of a d 128 model at batch 2 took 5 s, 2.8 s of it in BatchMatMul (the tied head's [rows, d] × [d, V]):
// with the matmuls (and the embedding gradient's UnsortedSegmentSum) left as zero-filled outputs it takes a small
// fraction of that. Its values are garbage; only the byte counts of tf.profile are read.
const PROBE_BACKEND = 'recallbench-memory-probe';
/** The lever of the probe's dropout entry (not one of accel/webgpu's: switched by measureShape only). */
const PROBE_DROPOUT_LEVER = `${PROBE_BACKEND}:dropout`;
let probeRegistered = false;

// float outputs are views of one shared zero buffer (no allocation, no fill: values are garbage by design);
// integer and boolean outputs are fresh zeros, since a gather's indices must stay in range
let sharedFloats = new Float32Array(0);
function zeroOutput(backend: object, shape: number[], dtype: tf.DataType): tf.TensorInfo {
  const size = shape.reduce((a, b) => a * b, 1);
  let values: tf.backend_util.BackendValues;
  if (dtype === 'float32') {
    if (sharedFloats.length < size) sharedFloats = new Float32Array(size);
    values = sharedFloats.subarray(0, size);
  } else values = dtype === 'int32' ? new Int32Array(size) : new Uint8Array(size);
  return (backend as unknown as { makeTensorInfo(s: number[], d: tf.DataType, v: tf.backend_util.BackendValues): tf.TensorInfo }).makeTensorInfo(shape, dtype, values);
}

function registerProbeBackend(): void {
  if (probeRegistered) return;
  const cpu = tf.findBackend('cpu');
  if (!cpu) throw new Error('the cpu backend is not available');
  const CpuBackend = cpu.constructor as new () => tf.KernelBackend;
  tf.registerBackend(PROBE_BACKEND, () => new CpuBackend(), -1); // never chosen by itself
  tf.copyRegisteredKernels('cpu', PROBE_BACKEND);
  const matMulShape = (a: tf.TensorInfo, b: tf.TensorInfo, attrs: { transposeA?: boolean; transposeB?: boolean }) => {
    const m = a.shape[a.shape.length - (attrs.transposeA ? 1 : 2)]!;
    const n = b.shape[b.shape.length - (attrs.transposeB ? 2 : 1)]!;
    const batch = tf.backend_util.assertAndGetBroadcastShape(a.shape.slice(0, -2), b.shape.slice(0, -2));
    return [...batch, m, n];
  };
  const replace = (config: tf.KernelConfig) => {
    if (tf.getKernel(config.kernelName, PROBE_BACKEND)) tf.unregisterKernel(config.kernelName, PROBE_BACKEND);
    tf.registerKernel(config);
  };
  for (const kernelName of ['BatchMatMul', '_FusedMatMul']) {
    replace({
      kernelName,
      backendName: PROBE_BACKEND,
      kernelFunc: ({ inputs, backend, attrs }) => zeroOutput(backend, matMulShape(inputs.a as tf.TensorInfo, inputs.b as tf.TensorInfo, attrs as { transposeA?: boolean; transposeB?: boolean }), 'float32'),
    });
  }
  const shapeOnly = (kernelName: string, output: (inputs: tf.NamedTensorInfoMap, attrs: Record<string, unknown>) => { shape: number[]; dtype: tf.DataType }) =>
    replace({
      kernelName,
      backendName: PROBE_BACKEND,
      kernelFunc: ({ inputs, backend, attrs }) => {
        const { shape, dtype } = output(inputs, attrs as unknown as Record<string, unknown>);
        return zeroOutput(backend, shape, dtype);
      },
    });
  shapeOnly('UnsortedSegmentSum', ({ x }, a) => ({ shape: [a.numSegments as number, ...x!.shape.slice(1)], dtype: x!.dtype }));
  // elementwise ops: most of the remaining time, all of it on [rows, V] and [B, T, d] tensors
  const broadcast = (a: tf.TensorInfo, b: tf.TensorInfo) => tf.backend_util.assertAndGetBroadcastShape(a.shape, b.shape);
  for (const k of ['Add', 'Sub', 'Multiply', 'RealDiv', 'Maximum', 'Minimum', 'Pow', 'SquaredDifference']) shapeOnly(k, ({ a, b }) => ({ shape: broadcast(a!, b!), dtype: tf.upcastType(a!.dtype, b!.dtype) }));
  for (const k of ['Equal', 'NotEqual', 'Greater', 'GreaterEqual', 'Less', 'LessEqual', 'LogicalAnd', 'LogicalOr']) shapeOnly(k, ({ a, b }) => ({ shape: broadcast(a!, b!), dtype: 'bool' }));
  for (const k of ['Exp', 'Log', 'Log1p', 'Expm1', 'Sqrt', 'Rsqrt', 'Neg', 'Abs', 'Tanh', 'Sigmoid', 'Softplus', 'Square', 'Relu', 'Elu', 'Erf', 'Reciprocal', 'Sin', 'Cos', 'Sign', 'Step', 'ClipByValue', 'LeakyRelu', 'ZerosLike', 'OnesLike', 'Softmax', 'Cumsum', 'Reverse']) shapeOnly(k, ({ x, logits }) => ({ shape: (x ?? logits)!.shape, dtype: (x ?? logits)!.dtype }));
  shapeOnly('Transpose', ({ x }, a) => ({ shape: (a.perm as number[]).map((i) => x!.shape[i]!), dtype: x!.dtype }));
  shapeOnly('Select', ({ t }) => ({ shape: t!.shape, dtype: t!.dtype }));
  shapeOnly('Concat', (inputs, a) => {
    const xs = Object.values(inputs) as tf.TensorInfo[];
    const axis = tf.util.parseAxisParam(a.axis as number, xs[0]!.shape)[0]!;
    return { shape: tf.backend_util.computeOutShape(xs.map((x) => x.shape), axis), dtype: xs[0]!.dtype };
  });
  shapeOnly('Pack', (inputs, a) => {
    const xs = Object.values(inputs) as tf.TensorInfo[];
    const shape = xs[0]!.shape.slice();
    shape.splice(tf.util.parseAxisParam(a.axis as number, [...shape, xs.length])[0]!, 0, xs.length);
    return { shape, dtype: xs[0]!.dtype };
  });
  shapeOnly('GatherV2', ({ x, indices }, a) => {
    const axis = tf.util.parseAxisParam(a.axis as number, x!.shape)[0]!;
    const info = tf.backend_util.segment_util.collectGatherOpShapeInfo(x as tf.TensorInfo as tf.Tensor, indices as tf.TensorInfo as tf.Tensor, axis, (a.batchDims as number) ?? 0);
    return { shape: info.outputShape, dtype: x!.dtype };
  });
  shapeOnly('Slice', ({ x }, a) => ({ shape: tf.slice_util.parseSliceParams(x as tf.TensorInfo as tf.Tensor, a.begin as number[], a.size as number[])[1], dtype: x!.dtype }));
  shapeOnly('PadV2', ({ x }, a) => ({ shape: x!.shape.map((n, i) => n + (a.paddings as Array<[number, number]>)[i]![0] + (a.paddings as Array<[number, number]>)[i]![1]), dtype: x!.dtype }));
  const reduced = (x: tf.TensorInfo, a: Record<string, unknown>) => {
    const axes = tf.util.parseAxisParam((a.axis ?? a.reductionIndices) as number | number[], x.shape); // Max names it reductionIndices
    const [out] = tf.backend_util.computeOutAndReduceShapes(x.shape, axes);
    return a.keepDims ? tf.backend_util.expandShapeToKeepDim(out, axes) : out;
  };
  for (const k of ['Sum', 'Max', 'Min', 'Mean', 'Prod']) shapeOnly(k, ({ x }, a) => ({ shape: reduced(x!, a), dtype: x!.dtype === 'bool' ? 'int32' : x!.dtype }));
  replace({
    kernelName: 'SplitV',
    backendName: PROBE_BACKEND,
    kernelFunc: ({ inputs, backend, attrs }) => {
      const x = inputs.x as tf.TensorInfo;
      const { numOrSizeSplits, axis } = attrs as unknown as { numOrSizeSplits: number | number[]; axis: number };
      const dim = tf.util.parseAxisParam(axis, x.shape)[0]!;
      const sizes = tf.backend_util.prepareSplitSize(x as tf.TensorInfo as tf.Tensor, numOrSizeSplits, dim);
      return sizes.map((n) => zeroOutput(backend, x.shape.map((s, i) => (i === dim ? n : s)), x.dtype));
    },
  });
  // The fused forms' kernels, shape only, with the outputs the WebGPU kernelFuncs allocate. Where a kernelFunc also
  // allocates a scratch buffer and releases it before returning (the selective scan's and the delta rule's replay
  // states, the attention backward's D rows, the linear-attention backward's g rows), the stand-in allocates nothing for it: tf.profile snapshots the
  // live bytes after each kernel, where that scratch is already gone, so it is not counted (as the plain
  // kernels' own internal temporaries are not). Each form's entry point runs only while a measurement turns its
  // lever on (probeFused), else the op declines to its plain form.
  const outputs = (kernelName: string, output: (inputs: Record<string, tf.TensorInfo>, attrs: unknown) => number[][]) =>
    replace({
      kernelName,
      backendName: PROBE_BACKEND,
      kernelFunc: ({ inputs, backend, attrs }) => output(inputs as Record<string, tf.TensorInfo>, attrs).map((shape) => zeroOutput(backend, shape, 'float32')),
    });
  // selective scan: y [B, T, E] and the checkpoints forward; one gradient buffer backward (its replay scratch released inside)
  outputs(SELECTIVE_SCAN_KERNEL, ({ x, A }) => {
    const [B, T, E] = x!.shape as [number, number, number];
    return [x!.shape, checkpointShape(T, A!.shape[1]!, B * E)];
  });
  shapeOnly(SELECTIVE_SCAN_GRAD_KERNEL, ({ x, A }) => {
    const [B, T, E] = x!.shape as [number, number, number];
    return { shape: [selectiveScanGradsSize(B, T, E, A!.shape[1]!)], dtype: 'float32' };
  });
  // the state-column kernels of q, v [B, H, T, d_k | d_v] (or the layouts their attributes name, lever stridedHeads:
  // accel/webgpu/heads.ts): o [B, H, T, d_v] and S's checkpoints forward; one buffer of dv and the column blocks'
  // partials backward (its replay scratch [C, d_k, B·H·d_v] released inside)
  const stateColumnKernels = (forward: string, backward: string, gradsSize: (rows: number, dk: number, dv: number) => number) => {
    outputs(forward, ({ q, v }, attrs) => {
      const L = layoutsOf(attrs);
      const { B, H, T } = headDims(q!.shape, L.input);
      const [dk, dv] = [q!.shape[3]!, v!.shape[3]!];
      return [headShape(L.output, B, H, T, dv), checkpointShape(T, dk, B * H * dv)];
    });
    shapeOnly(backward, ({ q, v }) => {
      const [a, b, c, dk] = q!.shape as [number, number, number, number];
      return { shape: [gradsSize(a * b * c, dk, v!.shape[3]!)], dtype: 'float32' };
    });
  };
  // delta rule (gated or not)
  stateColumnKernels(DELTA_KERNEL, DELTA_GRAD_KERNEL, deltaGradsSize);
  // generalized delta rule: o [B, H, T, d_v] and S's checkpoints forward (the stacked x [5, B, H, T, d_k] is a Pack
  // before it); one buffer of dv and the partials backward (its replay scratch released inside)
  outputs(GENERALIZED_DELTA_KERNEL, ({ x, v }, attrs) => {
    const L = layoutsOf(attrs);
    const { B, H, T } = headDims(x!.shape.slice(1), L.input);
    const [dk, dv] = [x!.shape[4]!, v!.shape[3]!];
    return [headShape(L.output, B, H, T, dv), checkpointShape(T, dk, B * H * dv)];
  });
  shapeOnly(GENERALIZED_DELTA_GRAD_KERNEL, ({ x, v }) => {
    const [, a, b, c, dk] = x!.shape as [number, number, number, number, number];
    return { shape: [generalizedDeltaGradsSize(a * b * c, dk, v!.shape[3]!)], dtype: 'float32' };
  });
  // gated linear attention (and Mamba-2's SSD through it)
  stateColumnKernels(GLA_KERNEL, GLA_GRAD_KERNEL, glaGradsSize);
  // causal attention: o [B, H, T, d_h] and lse [B, H, T] forward; dq, dk, dv backward (its D [B, H, T] released inside)
  outputs(ATTENTION_KERNEL, ({ q }) => [q!.shape, q!.shape.slice(0, 3)]);
  outputs(ATTENTION_GRAD_KERNEL, ({ q }) => [q!.shape, q!.shape, q!.shape]);
  // causal linear attention: y [B, H, T, d_v] and den [B, H, T] forward; dφq, dφk, dv backward
  outputs(LINEAR_ATTENTION_KERNEL, ({ q, v }) => [v!.shape, q!.shape.slice(0, 3)]);
  outputs(LINEAR_ATTENTION_GRAD_KERNEL, ({ q, v }) => [q!.shape, q!.shape, v!.shape]);
  // long convolution: y [B, T, C] forward (one output, not a list); dx, dh backward
  shapeOnly(LONG_CONV_KERNEL, ({ x }) => ({ shape: x!.shape, dtype: 'float32' }));
  outputs(LONG_CONV_GRAD_KERNEL, ({ x, h }) => [x!.shape, h!.shape]);
  // short convolution: y [B, T, C] forward (one output); dx, dw and, with a bias (attrs.hasBias), db backward (its
  // per-tile partials released inside)
  shapeOnly(SHORT_CONV_KERNEL, ({ x }) => ({ shape: x!.shape, dtype: 'float32' }));
  replace({
    kernelName: SHORT_CONV_GRAD_KERNEL,
    backendName: PROBE_BACKEND,
    kernelFunc: ({ inputs, backend, attrs }) => {
      const { x, w } = inputs as Record<string, tf.TensorInfo>;
      const shapes = [x!.shape, w!.shape, ...((attrs as { hasBias?: boolean }).hasBias ? [[w!.shape[1]!]] : [])];
      return shapes.map((shape) => zeroOutput(backend, shape, 'float32'));
    },
  });
  // Taylor feature map: φ [.., 1 + f + f(f+1)/2] forward (one output); dx backward
  shapeOnly(TAYLOR_MAP_KERNEL, ({ x }) => ({ shape: [...x!.shape.slice(0, -1), taylorFeatureSize(x!.shape[x!.shape.length - 1]!)], dtype: 'float32' }));
  shapeOnly(TAYLOR_MAP_GRAD_KERNEL, ({ x }) => ({ shape: x!.shape, dtype: 'float32' }));
  // RWKV-7's per-token parts: one packed output [rows, H, parts · d_k] each way (the keys 4 parts forward, 5 backward;
  // the output's gradient 6), the output's y forward in g's shape — as rwkv7Token.ts's kernels allocate
  const packed = (first: string, parts: number) => (inputs: tf.NamedTensorInfoMap, attrs: Record<string, unknown>) => {
    const { H, dk } = attrs as { H: number; dk: number };
    const rows = tf.util.sizeFromShape(inputs[first]!.shape) / (H * dk);
    return { shape: [rows, H, parts * dk], dtype: 'float32' as tf.DataType };
  };
  shapeOnly(RWKV7_KEYS_KERNEL, packed('wl', 4));
  shapeOnly(RWKV7_KEYS_GRAD_KERNEL, packed('wl', 5));
  shapeOnly(RWKV7_OUTPUT_KERNEL, ({ g }) => ({ shape: g!.shape, dtype: 'float32' }));
  shapeOnly(RWKV7_OUTPUT_GRAD_KERNEL, packed('o', 6));
  registerFastForm({ op: selectiveScanOp, backend: PROBE_BACKEND, impl: (x, dt, A, B, C) => (probeFused.selectiveScan ? selectiveScanWebGpu(x, dt, A, B, C) : undefined) });
  registerFastForm({ op: deltaRuleOp, backend: PROBE_BACKEND, impl: (q, k, v, beta, layouts) => (probeFused.delta ? deltaRuleWebGpu(q, k, v, beta, layouts) : undefined) });
  registerFastForm({ op: gatedDeltaRuleOp, backend: PROBE_BACKEND, impl: (q, k, v, beta, g, layouts) => (probeFused.delta ? gatedDeltaRuleWebGpu(q, k, v, beta, g, layouts) : undefined) });
  registerFastForm({ op: generalizedDeltaRuleOp, backend: PROBE_BACKEND, impl: (r, w, k, v, a, b, layouts) => (probeFused.generalizedDelta ? generalizedDeltaRuleWebGpu(r, w, k, v, a, b, layouts) : undefined) });
  registerFastForm({ op: glaOp, backend: PROBE_BACKEND, impl: (q, k, v, g, layouts) => (probeFused.gla ? glaFastForm(q, k, v, g, layouts) : undefined) });
  registerFastForm({ op: ssdOp, backend: PROBE_BACKEND, impl: (c, b, v, a) => (probeFused.ssd ? ssdWebGpu(c, b, v, a) : undefined) });
  registerFastForm({ op: causalAttentionOp, backend: PROBE_BACKEND, impl: (q, k, v, scale, rate, seed) => (probeFused.attention ? causalAttentionWebGpu(q, k, v, scale, rate, seed) : undefined) });
  registerFastForm({ op: causalLinearAttentionOp, backend: PROBE_BACKEND, impl: (q, k, v, opts) => (probeFused.linearAttention ? causalLinearAttentionWebGpu(q, k, v, opts) : undefined) });
  registerFastForm({ op: longConvOp, backend: PROBE_BACKEND, impl: (u, h) => (probeFused.longConv ? longConvWebGpu(u, h) : undefined) });
  registerFastForm({ op: shortConvOp, backend: PROBE_BACKEND, impl: (x, w, bias) => (probeFused.shortConv ? shortConvWebGpu(x, w, bias) : undefined) });
  registerFastForm({ op: taylorMapOp, backend: PROBE_BACKEND, impl: (x) => (probeFused.taylorMap ? taylorMapWebGpu(x) : undefined) });
  registerFastForm({ op: rwkv7KeysOp, backend: PROBE_BACKEND, impl: (wl, al, k0, kK, kA, H) => (probeFused.rwkv7Token ? rwkv7KeysWebGpu(wl, al, k0, kK, kA, H) : undefined) });
  registerFastForm({ op: rwkv7OutputOp, backend: PROBE_BACKEND, impl: (o, r, k, v, rK, g) => (probeFused.rwkv7Token ? rwkv7OutputWebGpu(o, r, k, v, rK, g) : undefined) });
  // dropout cannot decline (its fast form returns a tensor), so its entry has a lever of its own, on only while a
  // measurement models the dropout lever: it lets ops/causalAttention fuse under dropout, and allocates as
  // tf.dropout (the reference) does
  registerFastForm({ op: dropoutOp, backend: PROBE_BACKEND, lever: PROBE_DROPOUT_LEVER, impl: (x, rate, seed) => tf.dropout(x, rate, undefined, seed) });
  probeRegistered = true;
}

/** The fused forms the measurement in progress models (set by measureShape). */
let probeFused: Record<FusedLever, boolean> = fusedLevers({});

/** Run `fn` on the probe backend, then give the previous backend back (a serial sweep measures beside its GPU). */
async function onProbeBackend<T>(fn: () => Promise<T>): Promise<T> {
  tf.env().set('PROD', true); // as initBackend: no debug checks, no banner (the sweep's parent may have no backend yet)
  registerProbeBackend();
  const previous = tf.getBackend();
  await tf.setBackend(PROBE_BACKEND);
  try {
    return await fn();
  } finally {
    if (previous && previous !== PROBE_BACKEND) await tf.setBackend(previous);
  }
}

async function kernelSnapshots(fn: () => void, base: number): Promise<number[]> {
  const info = await tf.profile(fn);
  return info.kernels.map((k) => k.totalBytesSnapshot - base);
}

// ---------------------------------------------------------------------------------------------------------
// What tfjs-backend-webgpu's buffer pool keeps (simulated on the probe's buffer events)
//
// Its BufferManager (4.22) keeps every released buffer for reuse, keyed by exact byte size, and never frees one: a
// process ends up holding, for every size s, the most buffers of size s that were ever live at once — over every
// batch shape it trains and evaluates (each training segment's full and last partial batch, each evaluation slice's
// full and partial batch and its logit chunks). The live peak × 1.25 that this estimate used to reserve is far
// below that, and capping the pool there (accel/webgpu/bufferPool.ts) does not bound the process either. Measured
// on an H200 (2026-11-29; based-fig2 Mamba d256 N24 at --scale 0.01's counts, 1 epoch, sweep --concurrency auto with
// RECALLBENCH_MEMORY_LOG and nvidia-smi every 0.2 s): GPU live 12.05 GiB, the uncapped pool 40.62 GiB (nvidia-smi
// 40.9 GiB); capped at 30.45 GiB the pool evicted 70.6 GiB in the epoch, and since Dawn returns a destroyed
// buffer's memory only once the GPU has run the work queued before it (a training epoch is queued without a sync,
// engine/loop.ts), nvidia-smi showed 45.0 GiB alone and 50.6 GiB beside three others — four such runs, packed at
// their old estimate of 29.12 GiB each, filled the GPU (143.1 GiB) and failed out of memory. So the estimate reserves the pool
// itself: the probe records every buffer the step allocates and releases, at two batch sizes (each buffer's bytes
// are linear in the batch: its shape has the batch as a factor or not), and replays the events of every batch
// shape of the run through tfjs's pool rules. Then the pool cap (the reservation less the process context) does
// not bind, nothing is evicted, and nothing waits on the GPU to be freed.

/** tfjs-backend-webgpu's bytes per element (webgpu_util GPUBytesPerElement: bool and int32 take 4 bytes, as float32). */
const gpuBytes = (shape: number[], dtype: tf.DataType) => (dtype === 'complex64' ? 8 : dtype === 'string' ? 0 : 4) * shape.reduce((a, b) => a * b, 1);

/**
 * Buffer events of one recording: op i ≥ 0 allocates buffer i (bytes[i]), op −1 − i releases it. Recorded at two
 * values x1 < x2 of the batch variable (examples, or logit rows for the evaluation head), each buffer's bytes are
 * a line in x: bytes_i(x) = at[i] + slope[i] · (x − x1).
 */
interface BufferEvents {
  ops: number[];
  at: number[];
  slope: number[];
  x1: number;
}

/** The events of every batch shape of a model shape, by segment (config.data order; evaluation: test then validation). */
interface PoolProfile {
  /** Per training segment: one training step, in examples. */
  train: BufferEvents[];
  /** Per evaluation slice: the forward pass (its hidden states stay live through the head), in examples. */
  evalForward: BufferEvents[];
  /** Per evaluation slice: one logit chunk of the head (gather, tied-head logits, loss, argmax), in rows. */
  evalHead: BufferEvents[];
  evalRowsPerExample: number[];
}

/** The probe backend's buffer allocations and releases while `fn` runs (bytes as the webgpu backend allocates them). */
function recordBuffers(fn: () => void): { ops: number[]; bytes: number[] } {
  type Recorded = { write(values: unknown, shape: number[], dtype: tf.DataType): object; disposeData(dataId: object, force?: boolean): boolean; data: { has(dataId: object): boolean } };
  const backend = tf.backend() as unknown as Recorded;
  const { write, disposeData } = backend;
  const index = new Map<object, number>();
  const ops: number[] = [];
  const bytes: number[] = [];
  backend.write = function (values, shape, dtype) {
    const dataId = write.call(this, values, shape, dtype);
    index.set(dataId, bytes.length);
    ops.push(bytes.length);
    bytes.push(gpuBytes(shape, dtype));
    return dataId;
  };
  backend.disposeData = function (dataId, force) {
    const freed = disposeData.call(this, dataId, force);
    const i = index.get(dataId);
    // a buffer allocated before the recording (a parameter a step reassigns) is not the recording's: its release
    // is left out, which only over-states the pool (the step cannot reuse it)
    if (i !== undefined && !this.data.has(dataId)) {
      index.delete(dataId);
      ops.push(-1 - i);
    }
    return freed;
  };
  try {
    fn();
  } finally {
    delete (backend as Partial<Recorded>).write;
    delete (backend as Partial<Recorded>).disposeData;
  }
  return { ops, bytes };
}

/** Lines through two recordings of the same event sequence at x1 < x2; when the sequences differ, x2's bytes scaled by x / x2 (an upper bound for x ≥ x2). */
function lineEvents(r1: { ops: number[]; bytes: number[] }, r2: { ops: number[]; bytes: number[] }, x1: number, x2: number): BufferEvents {
  const same = r1.ops.length === r2.ops.length && r1.ops.every((op, k) => op === r2.ops[k]);
  if (!same) return { ops: r2.ops, at: r2.bytes.map((b) => (b * x1) / x2), slope: r2.bytes.map((b) => b / x2), x1 };
  const slope = r1.bytes.map((b, i) => Math.max(0, (r2.bytes[i]! - b) / (x2 - x1)));
  return { ops: r1.ops, at: r1.bytes, slope, x1 };
}

/** How many buffers submitted together: a buffer released mid-pass goes back to the pool at the next submit (tfjs-backend-webgpu's WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE, 15). */
const SUBMIT_EVERY = 15;

/**
 * tfjs-backend-webgpu's pool, replayed: a request takes a free buffer of its own size, or with best fit (lever
 * poolBestFit, ratio > 1) the smallest free one within `ratio` times its size; only when none is free is a buffer
 * made — with best fit in place of the largest free one down to 1/ratio of its size, if any (core/bestFit.ts: the
 * rule the pool itself applies, accel/webgpu/bufferPool.ts). With ratio 1 (tfjs's rule) nothing is given back, and
 * the pool is, for every size, the most buffers of it live at once.
 */
class PoolSimulation {
  /** Free buffers per byte size. */
  private readonly free = new Map<number, number>();
  /** Every size a buffer was made of, ascending. */
  private readonly sizes: number[] = [];
  private allocated = 0;
  private peakAllocated = 0;
  private pending: number[] = [];
  private sinceSubmit = 0;

  constructor(private readonly ratio: number) {}

  /** A request of `size` bytes: the size of the buffer it takes. */
  private acquire(size: number): number {
    if (++this.sinceSubmit > SUBMIT_EVERY) this.submit();
    const hasFree = (s: number) => (this.free.get(s) ?? 0) > 0;
    const fit = bestFitSize(this.sizes, size, hasFree, this.ratio); // its own size first: every size made is in `sizes`
    if (fit === undefined) {
      // best fit's miss: the new buffer replaces the largest free one a little smaller, if any
      const replaced = this.ratio > 1 ? replacedSize(this.sizes, size, hasFree, this.ratio) : undefined;
      if (replaced !== undefined) {
        this.free.set(replaced, this.free.get(replaced)! - 1);
        this.allocated -= replaced;
      }
      this.allocated += size;
      this.peakAllocated = Math.max(this.peakAllocated, this.allocated);
      addSize(this.sizes, size);
      return size;
    }
    this.free.set(fit, this.free.get(fit)! - 1);
    return fit;
  }

  /** Released buffers return to the pool (a submit, or a read back at a phase's end). */
  submit(): void {
    for (const size of this.pending) this.free.set(size, (this.free.get(size) ?? 0) + 1);
    this.pending = [];
    this.sinceSubmit = 0;
  }

  /** Replay `events` at batch variable x; the buffers it leaves live are returned (released later by `release`). */
  run(events: BufferEvents, x: number): number[] {
    const open = new Map<number, number>();
    for (const op of events.ops) {
      const i = op >= 0 ? op : -1 - op;
      const size = Math.round(events.at[i]! + events.slope[i]! * (x - events.x1));
      if (size <= 0) continue;
      if (op >= 0) open.set(i, this.acquire(size));
      else {
        const taken = open.get(i);
        if (taken === undefined) continue;
        open.delete(i);
        this.pending.push(taken);
      }
    }
    return [...open.values()];
  }

  release(sizes: number[]): void {
    this.pending.push(...sizes);
    this.submit();
  }

  /** Bytes the pool holds at its fullest (with ratio 1: every buffer it made; none is given back). */
  get bytes(): number {
    return this.peakAllocated;
  }
}

/** A segment of `count` examples in batches of `batch`: the batch sizes it runs (full and last partial, each once). */
function batchSizesOf(count: number, batch: number): number[] {
  const sizes = new Set<number>();
  if (count >= batch) sizes.add(batch);
  if (count % batch > 0) sizes.add(count % batch);
  return [...sizes];
}

/** Segment counts of a config (those the shape key leaves out), in PoolProfile's order. */
const countOf = (seg: Record<string, unknown>) => (typeof seg.count === 'number' ? seg.count : 1);

/** Bytes a replay of `events` at batch variable x allocates in all (what orders the shapes for best fit's replays). */
function eventBytes(events: BufferEvents, x: number): number {
  let total = 0;
  for (const op of events.ops) if (op >= 0) total += Math.max(0, events.at[op]! + events.slope[op]! * (x - events.x1));
  return total;
}

/** Shuffled epochs best fit's replay runs beside its three fixed orders (each: every training shape twice, then evaluation). */
const BEST_FIT_EPOCHS = 8;

/**
 * Bytes tfjs-backend-webgpu's pool holds after every batch shape of the run has been through it: parameters and
 * moments (allocated before any step), then per byte size the most buffers live at once in any training step or
 * evaluation batch (its logit chunks of at most EVAL_LOGIT_ROWS rows on top of its hidden states). With best fit
 * (ratio > 1) what the pool holds depends on the order in which the shapes come — the batches are shuffled every
 * epoch, and a pool replaying shuffled epochs drifts up (a reviewer's replay of this rule: up to 14 % past the three
 * orders below over 30 epochs of close lengths). So the replay takes the fullest of three fixed orders of the
 * training shapes (the config's, smallest first, largest first; each followed by the evaluation batches and the
 * training shapes again) and of BEST_FIT_EPOCHS seeded shuffled epochs with the evaluation between them; the
 * estimate's margin is POOL_MARGIN_BEST_FIT until a GPU has measured it.
 */
function simulatePool(p: ShapeProfile, pool: PoolProfile, config: RunConfig, ratio: number): number {
  const trainShapes = config.data.train.flatMap((seg, k) => batchSizesOf(countOf(seg), config.train.batchSize).map((b) => ({ events: pool.train[k]!, b })));
  const evalSegments = [...config.data.test, ...(config.data.validation ?? [])];
  const evaluate = (sim: PoolSimulation) =>
    evalSegments.forEach((seg, k) => {
      for (const b of batchSizesOf(countOf(seg), config.train.evalBatchSize)) {
        const hidden = sim.run(pool.evalForward[k]!, b);
        const rows = Math.ceil(b * pool.evalRowsPerExample[k]!);
        for (const chunk of batchSizesOf(rows, EVAL_LOGIT_ROWS)) sim.release(sim.run(pool.evalHead[k]!, chunk));
        sim.release(hidden);
      }
    });
  const train = (sim: PoolSimulation, order: typeof trainShapes) => {
    for (const { events, b } of order) sim.release(sim.run(events, b));
  };
  const replay = (order: typeof trainShapes) => {
    const sim = new PoolSimulation(ratio);
    train(sim, order);
    evaluate(sim);
    if (ratio > 1) train(sim, order);
    return sim.bytes;
  };
  let bytes = replay(trainShapes);
  if (ratio > 1) {
    const bySize = [...trainShapes].sort((a, c) => eventBytes(a.events, a.b) - eventBytes(c.events, c.b));
    bytes = Math.max(bytes, replay(bySize), replay([...bySize].reverse()));
    const sim = new PoolSimulation(ratio);
    const rng = new Rng(hashSeeds('pool best fit', config.seed));
    for (let epoch = 0; epoch < BEST_FIT_EPOCHS; epoch++) {
      train(sim, rng.shuffle([...trainShapes, ...trainShapes]));
      evaluate(sim);
    }
    bytes = Math.max(bytes, sim.bytes);
  }
  return 3 * p.parameterBytes + bytes;
}

/**
 * The buffer events of one training step per training segment, and of one evaluation forward and one logit chunk
 * per evaluation slice, each at PROFILE_BATCHES (after one unrecorded pass of that shape: what a mixer caches per
 * length is built there), as engine/train.ts runs them.
 */
function recordPool(model: LanguageModel, optimizer: ReturnType<typeof createOptimizer>, config: RunConfig, generate: (p: Record<string, unknown>, count: number) => Segment): PoolProfile {
  const [b1, b2] = PROFILE_BATCHES;
  const train = config.data.train.map((params) => {
    const step = (b: number) => {
      const segment = generate(params, b);
      const sup = supervised(segment, 0, b);
      return () => trainStep(model, optimizer, { segment, start: 0, size: b }, sup, 1e-4, 1).dispose();
    };
    step(b1)();
    return lineEvents(recordBuffers(step(b1)), recordBuffers(step(b2)), b1, b2);
  });
  const evalForward: BufferEvents[] = [];
  const evalHead: BufferEvents[] = [];
  const evalRowsPerExample: number[] = [];
  for (const params of [...config.data.test, ...(config.data.validation ?? [])]) {
    const at = (b: number) => {
      const segment = generate(params, b);
      const sup = supervised(segment, 0, b);
      let hidden: tf.Tensor2D | undefined;
      // engine/train.ts evaluateRuns: the forward in a tidy, its hidden states [B·T, d] kept for the head
      const forward = recordBuffers(() => {
        hidden = tf.tidy(() => model.forward(tf.tensor2d(segment.inputs, [b, segment.seqLen], 'int32'), { training: false, prefixLength: segment.prefixLength, dropoutSeed: 0 }).reshape([-1, model.config.dModel]) as tf.Tensor2D);
      });
      // headChunks: the chunk's rows gathered, tied-head logits and loss, the greedy token
      const head = recordBuffers(() =>
        tf
          .tidy(() => {
            const rows = tf.gather(hidden!, tf.tensor1d(sup.rows, 'int32')) as tf.Tensor2D;
            const { loss, logits } = tiedHeadCrossEntropy(rows, model.headOf(0), tf.tensor1d(sup.labels, 'int32'));
            return [tf.argMax(logits, 1), loss];
          })
          .forEach((t) => t.dispose()),
      );
      hidden!.dispose();
      return { forward, head, rows: sup.rows.length };
    };
    at(b1);
    const [r1, r2] = [at(b1), at(b2)];
    evalForward.push(lineEvents(r1.forward, r2.forward, b1, b2));
    evalRowsPerExample.push(r1.rows / b1);
    evalHead.push(r1.rows > 0 && r2.rows > r1.rows ? lineEvents(r1.head, r2.head, r1.rows, r2.rows) : { ops: [], at: [], slope: [], x1: 0 });
  }
  return { train, evalForward, evalHead, evalRowsPerExample };
}

/** Profile one model shape on the cpu backend (see the header). */
async function measureShape(config: RunConfig, options: EstimateOptions): Promise<ShapeProfile> {
  const started = performance.now();
  const task = getTask(config.data.task);
  const generate = (p: Record<string, unknown>, count: number) => task.generate({ ...p, count } as never, 12345, 0);
  const allSegments = [...config.data.train, ...config.data.test, ...(config.data.validation ?? [])];
  const vocabSize = Math.max(...allSegments.map((p) => task.vocabSize(p as never)));
  const maxSeqLen = Math.max(...allSegments.map((p) => generate(p, 1).seqLen));
  const trainSegment = largestSegment(config.data.train, generate);
  const evalSegment = largestSegment([...config.data.test, ...(config.data.validation ?? [])], generate);
  return onProbeBackend(async () => {
    probeFused = fusedLevers(options);
    setLever(PROBE_DROPOUT_LEVER, probeFused.dropout);
    const stridedBefore = stridedHeadsOn();
    setStridedHeads(probeFused.stridedHeads); // the fused recurrences in their callers' layouts, or between transposes
    // what this measurement switched, put back however it ends (a model that cannot be built included)
    const restore = () => {
      probeFused = fusedLevers({});
      setLever(PROBE_DROPOUT_LEVER, false);
      setStridedHeads(stridedBefore);
    };
    const base = tf.memory().numBytes;
    let model: LanguageModel;
    let optimizer: ReturnType<typeof createOptimizer>;
    try {
      model = new LanguageModel({ ...config.model, vocabSize, maxSeqLen, seed: config.seed });
      optimizer = createOptimizer(model, config.train);
    } catch (e) {
      restore();
      throw e;
    }
    try {
      const parameterBytes = model.parameterCount * FLOAT_BYTES;
      const trainSnaps: number[][] = [];
      const forwardSnaps: number[][] = [];
      const headSnaps: number[][] = [];
      const hiddenBytes: number[] = [];
      // one step unprofiled first: what a mixer builds once and caches (causal masks and the like) is then built
      // here, not inside the first profile only, so both profiles run the same kernel sequence (one line per kernel)
      {
        const b = PROFILE_BATCHES[0];
        const segment = generate(trainSegment.params, b);
        trainStep(model, optimizer, { segment, start: 0, size: b }, supervised(segment, 0, b), 1e-4, 1).dispose();
        const evalSeg = generate(evalSegment.params, b);
        tf.tidy(() => void model.forward(tf.tensor2d(evalSeg.inputs, [b, evalSeg.seqLen], 'int32'), { training: false, prefixLength: evalSeg.prefixLength, dropoutSeed: 0 }));
      }
      for (const b of PROFILE_BATCHES) {
        const segment = generate(trainSegment.params, b);
        const batch: Batch = { segment, start: 0, size: b };
        const sup = supervised(segment, 0, b);
        trainSnaps.push(await kernelSnapshots(() => trainStep(model, optimizer, batch, sup, 1e-4, 1).dispose(), base));

        const evalSeg = generate(evalSegment.params, b);
        const evalSup = supervised(evalSeg, 0, b);
        const tokens = tf.tensor2d(evalSeg.inputs, [b, evalSeg.seqLen], 'int32');
        let hidden: tf.Tensor3D | undefined;
        forwardSnaps.push(await kernelSnapshots(() => void (hidden = model.forward(tokens, { training: false, prefixLength: evalSeg.prefixLength, dropoutSeed: 0 })), base));
        hiddenBytes.push(hidden!.size * FLOAT_BYTES);
        // the head as engine/train.ts evaluate runs it: gather the supervised rows, tied-head logits, loss, argmax
        headSnaps.push(
          await kernelSnapshots(() => {
            tf.tidy(() => {
              const rows = tf.gather(hidden!.reshape([-1, model.config.dModel]), tf.tensor1d(evalSup.rows, 'int32')) as tf.Tensor2D;
              const { loss, logits } = tiedHeadCrossEntropy(rows, model.embedding as tf.Tensor2D, tf.tensor1d(evalSup.labels, 'int32'));
              return [tf.argMax(logits, 1), loss];
            }).forEach((t) => t.dispose());
          }, base),
        );
        tf.dispose([hidden!, tokens]);
      }
      const pool = recordPool(model, optimizer, config, generate);
      return {
        parameterBytes,
        train: fitLines(trainSnaps[0]!, trainSnaps[1]!, PROFILE_BATCHES),
        evalForward: fitLines(forwardSnaps[0]!, forwardSnaps[1]!, PROFILE_BATCHES),
        evalHead: fitLines(headSnaps[0]!, headSnaps[1]!, PROFILE_BATCHES),
        hiddenBytesPerExample: (hiddenBytes[1]! - hiddenBytes[0]!) / (PROFILE_BATCHES[1] - PROFILE_BATCHES[0]),
        evalRowsPerExample: evalSegment.rowsPerExample,
        pool,
        method: 'measured' as const,
        measureMs: performance.now() - started,
      };
    } finally {
      restore();
      optimizer.dispose();
      model.dispose();
    }
  });
}

/**
 * The coarse fallback when a step cannot be profiled: parameters, moments, gradients; per token and layer
 * FORMULA_FLOATS_PER_TOKEN_LAYER floats of activations (plus T per token for attention-like score rows); four
 * logit-sized tensors per supervised row in training, two per chunk row in evaluation.
 */
const FORMULA_FLOATS_PER_TOKEN_LAYER = 48;
function formulaShape(config: RunConfig, started: number): ShapeProfile {
  const task = getTask(config.data.task);
  const generate = (p: Record<string, unknown>, count: number) => task.generate({ ...p, count } as never, 12345, 0);
  const allSegments = [...config.data.train, ...config.data.test, ...(config.data.validation ?? [])];
  const vocabSize = Math.max(...allSegments.map((p) => task.vocabSize(p as never)));
  const train = largestSegment(config.data.train, generate);
  const evalSeg = largestSegment([...config.data.test, ...(config.data.validation ?? [])], generate);
  const { dModel: d, nLayers, mlp } = config.model;
  const layerParams = nLayers * (12 + (mlp ? 8 : 0)) * d * d;
  const parameterBytes = (vocabSize * d + layerParams) * FLOAT_BYTES;
  const perTokenFloats = (T: number) => nLayers * (FORMULA_FLOATS_PER_TOKEN_LAYER * d + T);
  const persistent = 3 * parameterBytes;
  return {
    parameterBytes,
    train: { constant: [persistent + parameterBytes], perExample: [(train.seqLen * perTokenFloats(train.seqLen) + 4 * train.rowsPerExample * vocabSize) * FLOAT_BYTES] },
    evalForward: { constant: [persistent], perExample: [(evalSeg.seqLen * perTokenFloats(evalSeg.seqLen)) * FLOAT_BYTES / 4] },
    evalHead: { constant: [persistent], perExample: [evalSeg.seqLen * d * FLOAT_BYTES + 2 * evalSeg.rowsPerExample * vocabSize * FLOAT_BYTES] },
    hiddenBytesPerExample: evalSeg.seqLen * d * FLOAT_BYTES,
    evalRowsPerExample: evalSeg.rowsPerExample,
    method: 'formula',
    measureMs: performance.now() - started,
  };
}

async function shapeProfile(config: RunConfig, options: EstimateOptions): Promise<{ profile: ShapeProfile; cached: boolean }> {
  const key = shapeKey(config, options);
  const known = profiles.get(key);
  if (known) return { profile: known, cached: true };
  const started = performance.now();
  let profile: ShapeProfile;
  try {
    profile = await measureShape(config, options);
  } catch {
    profile = formulaShape(config, started);
  }
  profiles.set(key, profile);
  return { profile, cached: false };
}

/** Live bytes of an evaluation batch of `batch` examples, the logit rows bounded by EVAL_LOGIT_ROWS. */
function evalPeak(p: ShapeProfile, batch: number): number {
  const rowsBatch = p.evalRowsPerExample > 0 ? Math.min(batch, EVAL_LOGIT_ROWS / p.evalRowsPerExample) : batch;
  let head = 0;
  for (let k = 0; k < p.evalHead.constant.length; k++) {
    const hidden = Math.min(p.hiddenBytesPerExample, p.evalHead.perExample[k]!);
    head = Math.max(head, p.evalHead.constant[k]! + hidden * batch + (p.evalHead.perExample[k]! - hidden) * rowsBatch);
  }
  return Math.max(peakAt(p.evalForward, batch), head);
}

/** How a run is named in messages: its label, d_model and lr, as the sweep prints it. */
export function runName(config: RunConfig): string {
  return `${config.label} d${config.model.dModel} lr${config.train.lr}`;
}

/**
 * Estimate a run's peak GPU memory from its resolved config (measured once per model shape, then cached).
 * Only in a process that trains nothing afterwards: the probe backend's garbage values end up in the mixers'
 * module-level caches (attention masks and the like) — runners/concurrency.ts estimateInChild runs it apart.
 */
export async function estimateRunMemory(config: RunConfig, options: EstimateOptions = {}): Promise<MemoryEstimate> {
  const { profile: p, cached } = await shapeProfile(config, options);
  const moments = 2 * p.parameterBytes;
  const trainPeak = peakAt(p.train, config.train.batchSize);
  const evalLive = evalPeak(p, config.train.evalBatchSize);
  const livePeak = Math.max(trainPeak, evalLive, 3 * p.parameterBytes);
  // measured: what tfjs's pool keeps over every batch shape of the run (simulatePool); the formula's fallback: a share
  const poolOverhead = p.pool ? Math.max(0, (1 + (options.poolBestFit ? POOL_MARGIN_BEST_FIT : POOL_MARGIN)) * simulatePool(p, p.pool, config, options.poolBestFit ? BEST_FIT_RATIO : 1) - livePeak) : POOL_OVERHEAD_FRACTION * livePeak;
  return {
    id: runId(config),
    run: runName(config),
    parameters: p.parameterBytes,
    optimizerMoments: moments,
    gradients: p.parameterBytes,
    trainActivations: Math.max(0, trainPeak - p.parameterBytes - moments),
    evalTransient: Math.max(0, evalLive - p.parameterBytes - moments),
    livePeak,
    poolOverhead,
    processOverhead: PROCESS_OVERHEAD_BYTES,
    total: livePeak + poolOverhead + PROCESS_OVERHEAD_BYTES,
    method: p.method,
    measureMs: cached ? 0 : p.measureMs,
  };
}

/** Estimates of every run of a grid, in grid order (each model shape measured once). */
export async function estimateGridMemory(configs: RunConfig[], options: EstimateOptions = {}): Promise<MemoryEstimate[]> {
  const out: MemoryEstimate[] = [];
  for (const c of configs) out.push(await estimateRunMemory(c, options));
  return out;
}

/** Bytes in GiB with two decimals, for messages. */
export function gib(bytes: number): string {
  return bytes < 2 ** 30 ? `${Math.round(bytes / 2 ** 20)} MiB` : `${(bytes / 2 ** 30).toFixed(2)} GiB`;
}

/** One line: a run's estimate and what it is made of. */
export function describeEstimate(e: MemoryEstimate): string {
  const mib = (b: number) => `${Math.round(b / 2 ** 20)} MiB`;
  return `${gib(e.total)} (${e.method}: parameters ${mib(e.parameters)}, moments ${mib(e.optimizerMoments)}, training activations ${mib(e.trainActivations)}, eval transient ${mib(e.evalTransient)}, pool ${mib(e.poolOverhead)}, process ${mib(e.processOverhead)})`;
}
