// Fused softmax cross-entropy on integer labels (WebGPU), with its own gradient.
//
//   forward   lse_i = m_i + log Σ_j exp(z_ij − m_i),  m_i = max_j z_ij        (one workgroup per row)
//             loss  = (1/M) Σ_i (lse_i − z_{i, y_i})                          (one workgroup)
//   backward  ∂loss/∂z_ij = (exp(z_ij − lse_i) − [j = y_i]) · dy / M          (one thread per element)
//
// Three dispatches in all instead of tfjs's ~37 kernels for logSumExp + gather + mean and their gradients.
// The reference is `softmaxCrossEntropyNaive` (ops/crossEntropy/naive.ts); labels must lie in [0, V).
// A stack of R runs (engine/stack.ts; attr `runs`): the rows are R runs' M/R rows each, runs outermost, and the loss
// is each run's own mean [R] (one workgroup per run), its gradient each row's run's dy / (M/R). R = 1 is the same
// dispatches as before, bit for bit, and a scalar loss.
import * as tf from '@tensorflow/tfjs';
import { allocate, declare, dispatch, grid, MAX_WORKGROUPS_PER_DIMENSION, release, treeReduce, type Binding } from './dispatch.js';

export const XENT_KERNEL = 'RecallbenchSoftmaxXent';
export const XENT_GRAD_KERNEL = 'RecallbenchSoftmaxXentGrad';

const WG = 256;

const rowWgsl = () => `
${declare(
  [
    { name: 'logits', type: 'f32' },
    { name: 'labels', type: 'i32' },
    { name: 'lse', type: 'f32', write: true },
    { name: 'rowLoss', type: 'f32', write: true },
  ],
  ['rows: u32', 'cols: u32', 'nan: f32'],
)}
var<workgroup> red: array<f32, ${WG}>;

@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) tid: u32) {
  let row = wg.y * nwg.x + wg.x;
  if (row >= params.rows) { return; }
  let cols = params.cols;
  let base = row * cols;
  var m = -3.402823e+38f;
  for (var c = tid; c < cols; c += ${WG}u) { m = max(m, logits[base + c]); }
  red[tid] = m;
  workgroupBarrier();
  ${treeReduce(WG, (a, b) => `max(${a}, ${b})`)}
  let rowMax = red[0];
  workgroupBarrier();
  var sum = 0.0f;
  for (var c = tid; c < cols; c += ${WG}u) { sum += exp(logits[base + c] - rowMax); }
  red[tid] = sum;
  workgroupBarrier();
  ${treeReduce(WG, (a, b) => `${a} + ${b}`)}
  if (tid == 0u) {
    let l = rowMax + log(red[0]);
    lse[row] = l;
    let y = labels[row];
    if (y >= 0 && u32(y) < cols) {
      rowLoss[row] = l - logits[base + u32(y)];
    } else {
      rowLoss[row] = params.nan; // labels must lie in [0, V)
    }
  }
}`;

const meanWgsl = () => `
${declare(
  [
    { name: 'rowLoss', type: 'f32' },
    { name: 'loss', type: 'f32', write: true },
  ],
  ['rowsPerRun: u32'],
)}
var<workgroup> red: array<f32, ${WG}>;

// one workgroup per run: the mean of its rows [run·rowsPerRun, (run + 1)·rowsPerRun)
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) tid: u32) {
  let run = wg.x;
  let first = run * params.rowsPerRun;
  var sum = 0.0f;
  for (var i = tid; i < params.rowsPerRun; i += ${WG}u) { sum += rowLoss[first + i]; }
  red[tid] = sum;
  workgroupBarrier();
  ${treeReduce(WG, (a, b) => `${a} + ${b}`)}
  if (tid == 0u) { loss[run] = red[0] / f32(params.rowsPerRun); }
}`;

const gradWgsl = () => `
${declare(
  [
    { name: 'dy', type: 'f32' },
    { name: 'logits', type: 'f32' },
    { name: 'labels', type: 'i32' },
    { name: 'lse', type: 'f32' },
    { name: 'dlogits', type: 'f32', write: true },
  ],
  ['rows: u32', 'cols: u32', 'rowsPerRun: u32'],
)}
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) tid: u32) {
  let i = (wg.y * nwg.x + wg.x) * ${WG}u + tid;
  let cols = params.cols;
  if (i >= params.rows * cols) { return; }
  let row = i / cols;
  let col = i - row * cols;
  let scale = dy[row / params.rowsPerRun] / f32(params.rowsPerRun);
  var p = exp(logits[i] - lse[row]);
  if (labels[row] == i32(col)) { p = p - 1.0f; }
  dlogits[i] = p * scale;
}`;

function checkInputs(logits: tf.TensorInfo, labels: tf.TensorInfo, runs: number): [number, number] {
  if (logits.shape.length !== 2 || logits.dtype !== 'float32') throw new Error(`${XENT_KERNEL}: logits must be float32 [M, V], got ${logits.dtype} [${logits.shape}]`);
  if (labels.shape.length !== 1 || labels.shape[0] !== logits.shape[0] || labels.dtype !== 'int32') throw new Error(`${XENT_KERNEL}: labels must be int32 [${logits.shape[0]}], got ${labels.dtype} [${labels.shape}]`);
  const [M, V] = logits.shape as [number, number];
  if (M * V >= 2 ** 32) throw new Error(`${XENT_KERNEL}: ${M}×${V} logits exceed 2^32 elements`);
  if (!Number.isInteger(runs) || runs < 1 || M % runs !== 0) throw new Error(`${XENT_KERNEL}: ${runs} runs do not divide ${M} rows`);
  if (runs > MAX_WORKGROUPS_PER_DIMENSION) throw new Error(`${XENT_KERNEL}: ${runs} runs exceed one dispatch dimension (${MAX_WORKGROUPS_PER_DIMENSION} workgroups)`);
  return [M, V];
}

/** Forward: [mean loss (scalar; a stack: each run's [runs]), lse [M]]. */
function forward(logits: tf.TensorInfo, labels: tf.TensorInfo, runs: number): tf.TensorInfo[] {
  const [M, V] = checkInputs(logits, labels, runs);
  const lse = allocate(backendOf(), [M]);
  const rowLoss = allocate(backendOf(), [M]);
  const loss = allocate(backendOf(), runs === 1 ? [] : [runs]);
  const rowBindings: Binding[] = [{ tensor: logits }, { tensor: labels }, { tensor: lse, write: true }, { tensor: rowLoss, write: true }];
  dispatch('SoftmaxXentRows', 'rb_xent_rows', rowWgsl, rowBindings, [{ u: M }, { u: V }, { f: NaN }], grid(M));
  dispatch('SoftmaxXentMean', 'rb_xent_mean', meanWgsl, [{ tensor: rowLoss }, { tensor: loss, write: true }], [{ u: M / runs }], [runs, 1, 1]);
  disposeInfo(rowLoss);
  return [loss, lse];
}

function backward(dy: tf.TensorInfo, logits: tf.TensorInfo, labels: tf.TensorInfo, lse: tf.TensorInfo, runs: number): tf.TensorInfo {
  const [M, V] = checkInputs(logits, labels, runs);
  const dlogits = allocate(backendOf(), [M, V]);
  const bindings: Binding[] = [{ tensor: dy }, { tensor: logits }, { tensor: labels }, { tensor: lse }, { tensor: dlogits, write: true }];
  dispatch('SoftmaxXentGrad', 'rb_xent_grad', gradWgsl, bindings, [{ u: M }, { u: V }, { u: M / runs }], grid(Math.ceil((M * V) / WG)));
  return dlogits;
}

function backendOf() {
  return tf.backend() as unknown as Parameters<typeof allocate>[0];
}

function disposeInfo(info: tf.TensorInfo): void {
  release(info);
}

let registered = false;

/** Register the kernels and the gradient on the 'webgpu' backend (once). */
export function registerSoftmaxCrossEntropyWebGpu(): void {
  if (registered) return;
  registered = true;
  tf.registerKernel({
    kernelName: XENT_KERNEL,
    backendName: 'webgpu',
    kernelFunc: ({ inputs, attrs }) => {
      const { logits, labels } = inputs as { logits: tf.TensorInfo; labels: tf.TensorInfo };
      return forward(logits, labels, runsOf(attrs));
    },
  });
  tf.registerKernel({
    kernelName: XENT_GRAD_KERNEL,
    backendName: 'webgpu',
    kernelFunc: ({ inputs, attrs }) => {
      const { dy, logits, labels, lse } = inputs as Record<string, tf.TensorInfo>;
      return backward(dy!, logits!, labels!, lse!, runsOf(attrs));
    },
  });
  tf.registerGradient({
    kernelName: XENT_KERNEL,
    inputsToSave: ['logits', 'labels'],
    outputsToSave: [false, true],
    gradFunc: (dys, saved, attrs) => {
      const [logits, labels, lse] = saved as [tf.Tensor, tf.Tensor, tf.Tensor];
      const dy = Array.isArray(dys) ? dys[0]! : dys;
      return {
        logits: () => tf.engine().runKernel(XENT_GRAD_KERNEL, { dy, logits, labels, lse }, { runs: runsOf(attrs) } as unknown as tf.NamedAttrMap) as tf.Tensor,
        labels: () => tf.zerosLike(labels),
      };
    },
  });
}

const runsOf = (attrs: unknown) => Number((attrs as { runs?: number } | undefined)?.runs ?? 1);

/** Mean softmax cross-entropy of logits [M, V] against int32 labels [M] through the fused kernels. */
export function softmaxCrossEntropyWebGpu(logits: tf.Tensor2D, labels: tf.Tensor1D): tf.Scalar {
  const [loss, lse] = tf.engine().runKernel(XENT_KERNEL, { logits, labels }) as unknown as [tf.Scalar, tf.Tensor1D];
  lse.dispose();
  return loss;
}

/**
 * A stack's losses: logits [R·M, V] and labels [R·M] of R runs (runs outermost) → each run's mean softmax
 * cross-entropy [R], differentiable in the logits, through the same three dispatches.
 */
export function softmaxCrossEntropyByRunWebGpu(logits: tf.Tensor2D, labels: tf.Tensor1D, runs: number): tf.Tensor1D {
  if (runs === 1) return tf.tidy(() => softmaxCrossEntropyWebGpu(logits, labels).reshape([1]) as tf.Tensor1D);
  const [loss, lse] = tf.engine().runKernel(XENT_KERNEL, { logits, labels }, { runs } as unknown as tf.NamedAttrMap) as unknown as [tf.Tensor1D, tf.Tensor1D];
  lse.dispose();
  return loss;
}
