/// <reference types="@webgpu/types" />
// Fused WebGPU kernels of the fast path, registered when the webgpu backend is chosen (engine/backend.ts), and
// the switches that turn each lever on or off (bench/step.ts measures them one by one). Each kernel lives beside
// its plain-tfjs reference and is tested against it (tests/webgpu-kernels.test.ts).
//
// Levers (all on by default; RECALLBENCH_FAST_PATH=0 turns all off, or a comma list such as
// "uploads,splitK" turns on only those):
//   uploads      pooled small uploads through queue.writeBuffer (uploads.ts)
//   splitK       WEBGPU_THRESHOLD_TO_INCREASE_WORKGROUPS_FOR_MATMUL = RECALLBENCH_SPLITK_THRESHOLD (default 600,
//                ≈ 4 × the SM count of an H100): tall-skinny weight-gradient matmuls use SplitK
//   crossEntropy fused softmax cross-entropy with its gradient (crossEntropy.ts)
//   layerNorm    fused LayerNorm forward + backward (layerNorm.ts)
//   adamw        fused in-place AdamW, one dispatch per parameter (adamw.ts)
//   dropout      hashed dropout computed on the GPU (dropout.ts) for callers of ops/dropout.ts
//   bindGroups   cache of bind groups and bind-group layouts (bindGroups.ts): fewer Dawn objects per dispatch
//   transposeViews  transposes that only move size-1 axes become views (transpose.ts): no copy, no dispatch
//   reduceGrads  Sum/Mean gradients broadcast dy on the device instead of multiplying by a CPU-made ones()
//   segmentSum   UnsortedSegmentSum (every tf.gather's gradient) by sorted tiles instead of contended atomics
// Always on (a fix, not a lever): Cumsum of rank > 4 along the last axis (cumsum.ts).
import * as tf from '@tensorflow/tfjs';
import { UserInputError } from '../../errors.js';
import { registerFusedCrossEntropy } from '../../../ops/crossEntropy.js';
import { layerNormNaive, registerFusedLayerNorm } from '../../../ops/layerNorm.js';
import { registerFusedAdamW } from '../../optimizer.js';
import { registerFusedDropout } from '../../../ops/dropout.js';
import { dropoutWebGpu, registerDropoutWebGpu } from './dropout.js';
import { adamWWebGpu, registerAdamWWebGpu } from './adamw.js';
import { registerSoftmaxCrossEntropyWebGpu, softmaxCrossEntropyWebGpu } from './crossEntropy.js';
import { layerNormWebGpu, registerLayerNormWebGpu } from './layerNorm.js';
import { registerSegmentSumWebGpu, setSegmentSumWebGpu } from './segmentSum.js';
import { registerCumsumRank5WebGpu } from './cumsum.js';
import { registerTransposeViewsWebGpu, setTransposeViews } from './transpose.js';
import { registerReduceGradsWebGpu, setReduceGrads } from './reduceGrads.js';
import { setPooledUploads } from './uploads.js';
import { setBindGroupCache, setUniformSlots } from './bindGroups.js';

export const LEVERS = ['uploads', 'splitK', 'crossEntropy', 'layerNorm', 'adamw', 'dropout', 'segmentSum', 'bindGroups', 'transposeViews', 'reduceGrads'] as const;
export type Lever = (typeof LEVERS)[number];
export type FastPath = Record<Lever, boolean>;

const state: FastPath = { uploads: false, splitK: false, crossEntropy: false, layerNorm: false, adamw: false, dropout: false, segmentSum: false, bindGroups: false, transposeViews: false, reduceGrads: false };
const SPLITK_FLAG = 'WEBGPU_THRESHOLD_TO_INCREASE_WORKGROUPS_FOR_MATMUL';

/** The default from the environment: all levers, none (RECALLBENCH_FAST_PATH=0), or a comma list. */
export function defaultFastPath(): FastPath {
  const raw = (typeof process !== 'undefined' ? process.env.RECALLBENCH_FAST_PATH : undefined)?.trim();
  if (raw === undefined || raw === '' || raw === '1' || raw === 'all') return Object.fromEntries(LEVERS.map((l) => [l, true])) as FastPath;
  const on = new Set(raw === '0' || raw === 'none' ? [] : raw.split(',').map((s) => s.trim()));
  for (const name of on) if (!(LEVERS as readonly string[]).includes(name)) throw new Error(`RECALLBENCH_FAST_PATH: unknown lever '${name}' (known: ${LEVERS.join(', ')})`);
  return Object.fromEntries(LEVERS.map((l) => [l, on.has(l)])) as FastPath;
}

let kernelsRegistered = false;

/**
 * The tfjs release whose private internals this layer patches (bind groups, uniforms, the buffer pool, uploads,
 * AdamW's in-place writes: dispatch.ts, bindGroups.ts, uploads.ts, adamw.ts). package.json pins it exactly; a
 * different tfjs may lay those internals out differently, and a silent mismatch would corrupt results.
 */
export const PATCHED_TFJS_VERSION = '4.22.0';

/** Refuse to patch a tfjs this layer was not written against (one line, exit 2 through the CLI). */
export function checkPatchedTfjsVersion(found: string = tf.version_core): void {
  if (found !== PATCHED_TFJS_VERSION) {
    throw new UserInputError(`the WebGPU fast path patches internals of tfjs ${PATCHED_TFJS_VERSION}, but tfjs ${found} is installed: install @tensorflow/tfjs@${PATCHED_TFJS_VERSION} and @tensorflow/tfjs-backend-webgpu@${PATCHED_TFJS_VERSION} (npm ci does), or use --backend wasm`);
  }
}

/** Register the fused kernels and the hooks of the ops that use them (called by engine/backend.ts). */
export function registerWebGpuKernels(): void {
  if (kernelsRegistered) return;
  checkPatchedTfjsVersion();
  kernelsRegistered = true;
  registerSoftmaxCrossEntropyWebGpu();
  registerLayerNormWebGpu();
  registerAdamWWebGpu();
  registerDropoutWebGpu();
  registerSegmentSumWebGpu();
  registerCumsumRank5WebGpu();
  registerTransposeViewsWebGpu();
  registerReduceGradsWebGpu();
  // the hooks consult the switches on every call, so levers can be flipped between steps
  registerFusedLayerNorm('webgpu', (x, gamma, beta, eps) => (state.layerNorm ? layerNormWebGpu(x, gamma, beta, eps) : layerNormNaive(x, gamma, beta, eps)));
  registerFusedAdamW('webgpu', (params, m, v, grads, h) => state.adamw && adamWWebGpu(params, m, v, grads, h));
}

/** Called once the webgpu backend is initialised (engine/backend.ts): applies the default levers. */
export function onWebGpuReady(): void {
  registerWebGpuKernels();
  setFastPath(defaultFastPath());
}

/** Turn levers on or off (the others keep their state). Needs the webgpu backend to be initialised. */
export function setFastPath(levers: Partial<FastPath>): FastPath {
  Object.assign(state, levers);
  const backend = tf.findBackend('webgpu');
  if (backend) {
    setPooledUploads(backend, state.uploads);
    setBindGroupCache((backend as unknown as { device: GPUDevice }).device, state.bindGroups);
    setUniformSlots(backend);
  }
  // off = the op's own plain-tfjs path (tiedHeadCrossEntropyNaive), exactly the stock computation
  registerFusedCrossEntropy('webgpu', state.crossEntropy ? softmaxCrossEntropyWebGpu : undefined);
  registerFusedDropout('webgpu', state.dropout ? dropoutWebGpu : undefined);
  setSegmentSumWebGpu(state.segmentSum);
  setTransposeViews(state.transposeViews);
  setReduceGrads(state.reduceGrads);
  const threshold = Number((typeof process !== 'undefined' ? process.env.RECALLBENCH_SPLITK_THRESHOLD : undefined) ?? 600);
  tf.env().set(SPLITK_FLAG, state.splitK ? threshold : -1);
  return { ...state };
}

export function fastPath(): FastPath {
  return { ...state };
}
