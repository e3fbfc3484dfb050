// Backend selection: auto | webgpu | wasm | cpu | tensorflow. Optional backends are imported lazily, so the
// package (and the GPU-host bundle) loads without them.
import * as tf from '@tensorflow/tfjs';
import { UserInputError } from './errors.js';
import { bindGpu } from './gpuSelect.js';
import { registerUnsortedSegmentSum, registerUnsortedSegmentSumWasm } from './kernels/unsortedSegmentSum.js';
import { registerWasmMatMulTransposeFix } from './kernels/wasmMatMul.js';

export const BACKEND_CHOICES = ['auto', 'webgpu', 'wasm', 'cpu', 'tensorflow'] as const;
export type BackendChoice = (typeof BACKEND_CHOICES)[number];

export interface BackendInfo {
  /** tfjs backend name actually in use. */
  backend: string;
  /** Human-readable device, e.g. "NVIDIA H100 80GB HBM3 (vulkan)" or "CPU (wasm, SIMD)". */
  device: string;
}

export interface BackendOptions {
  /** Dawn options, e.g. ['backend=vulkan'] or ['adapter=NVIDIA']. */
  dawnOptions?: string[];
  /** Allow a software (CPU-emulated) WebGPU adapter — for kernel tests only. */
  allowSoftwareAdapter?: boolean;
  /** Bind to this GPU of the host (`--gpu INDEX`; engine/gpuSelect.ts): identical GPUs are told apart by PCI address. */
  gpu?: number;
}

let current: BackendInfo | undefined;
let gpuRegistered = false;
let cpuKernelsRegistered = false;

function registerCpuKernels(): void {
  if (cpuKernelsRegistered) return;
  registerUnsortedSegmentSum();
  cpuKernelsRegistered = true;
}

const SOFTWARE_ADAPTER = /llvmpipe|lavapipe|swiftshader|software/i;

/** Dawn's adapter, or undefined when there is no usable GPU. */
async function findWebGpuAdapter(opts: BackendOptions): Promise<{ adapter: GPUAdapterLike; description: string } | undefined> {
  let webgpu: { create: (o: string[]) => unknown; globals: Record<string, unknown> };
  try {
    webgpu = (await import('webgpu')) as unknown as typeof webgpu;
  } catch {
    return undefined;
  }
  const g = globalThis as unknown as { navigator?: { gpu?: unknown } };
  if (!g.navigator?.gpu) {
    Object.assign(globalThis, webgpu.globals);
    Object.defineProperty(globalThis, 'navigator', { value: { gpu: webgpu.create(opts.dawnOptions ?? []) }, configurable: true, writable: true });
  }
  const gpu = (globalThis as unknown as { navigator: { gpu: { requestAdapter(o?: object): Promise<GPUAdapterLike | null> } } }).navigator.gpu;
  const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (!adapter) return undefined;
  const info = adapter.info ?? {};
  const description = [info.vendor, info.architecture, info.device, info.description].filter(Boolean).join(' ').trim() || 'unknown GPU';
  if (!opts.allowSoftwareAdapter && (adapter.isFallbackAdapter || SOFTWARE_ADAPTER.test(description))) return undefined;
  return { adapter, description };
}

interface GPUAdapterLike {
  info?: { vendor?: string; architecture?: string; device?: string; description?: string };
  isFallbackAdapter?: boolean;
}

async function useWebGpu(opts: BackendOptions): Promise<BackendInfo | undefined> {
  const found = await findWebGpuAdapter(opts);
  if (!found) return undefined;
  if (!gpuRegistered) {
    await import('@tensorflow/tfjs-backend-webgpu'); // registers 'webgpu' now that navigator.gpu exists
    gpuRegistered = true;
    const fast = await import('./kernels/webgpu/index.js').catch(() => undefined);
    fast?.registerWebGpuKernels?.();
  }
  if (!(await tf.setBackend('webgpu'))) return undefined;
  await tf.ready();
  // the fast path's levers (pooled uploads, SplitK threshold, fused kernels) need the backend instance
  (await import('./kernels/webgpu/index.js').catch(() => undefined))?.onWebGpuReady?.();
  return { backend: 'webgpu', device: found.description };
}

async function useWasm(): Promise<BackendInfo> {
  const wasmModule = '@tensorflow/tfjs-backend-wasm';
  await import(/* @vite-ignore */ wasmModule);
  registerUnsortedSegmentSumWasm();
  registerWasmMatMulTransposeFix();
  if (!(await tf.setBackend('wasm'))) throw new UserInputError('the wasm backend failed to initialise');
  await tf.ready();
  return { backend: 'wasm', device: 'CPU (wasm, SIMD)' };
}

async function useTensorflow(): Promise<BackendInfo | undefined> {
  for (const pkg of ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node']) {
    try {
      await import(/* @vite-ignore */ pkg);
    } catch {
      continue;
    }
    if (await tf.setBackend('tensorflow')) {
      await tf.ready();
      return { backend: 'tensorflow', device: `libtensorflow (${pkg})` };
    }
  }
  return undefined;
}

export async function initBackend(choice: BackendChoice, opts: BackendOptions = {}): Promise<BackendInfo> {
  tf.env().set('PROD', true); // no "install tfjs-node" banner, no debug checks
  registerCpuKernels();
  // --gpu: the selection goes into the environment before Dawn / libtensorflow load and read it
  if (opts.gpu !== undefined && (choice === 'cpu' || choice === 'wasm')) throw new UserInputError(`--gpu ${opts.gpu}: needs a GPU backend (--backend webgpu, tensorflow or auto), not ${choice}`);
  const gpu = opts.gpu !== undefined ? bindGpu(opts.gpu) : undefined;
  if (gpu?.dawnOptions.length) opts = { ...opts, dawnOptions: [...(opts.dawnOptions ?? []), ...gpu.dawnOptions] };
  let info: BackendInfo | undefined;
  switch (choice) {
    case 'cpu':
      await tf.setBackend('cpu');
      info = { backend: 'cpu', device: 'CPU (tfjs-backend-cpu, JavaScript)' };
      break;
    case 'wasm':
      info = await useWasm();
      break;
    case 'webgpu':
      info = await useWebGpu(opts);
      if (!info) throw new UserInputError('--backend webgpu: no WebGPU adapter found (Dawn needs a Vulkan driver: install your GPU vendor\'s Vulkan ICD, or use --backend wasm)');
      break;
    case 'tensorflow':
      info = await useTensorflow();
      if (!info) throw new UserInputError('--backend tensorflow: @tensorflow/tfjs-node-gpu is not installed (it is an optional peer: npm install @tensorflow/tfjs-node-gpu, needs CUDA 11 + cuDNN 8), or use --backend webgpu|wasm');
      break;
    case 'auto':
      info = (await useTensorflow()) ?? (await useWebGpu(opts)) ?? (await useWasm());
      break;
    default:
      throw new UserInputError(`unknown backend '${String(choice)}' (choose from ${BACKEND_CHOICES.join(', ')})`);
  }
  if (gpu) {
    if (info.backend !== 'webgpu' && info.backend !== 'tensorflow') throw new UserInputError(`--gpu ${opts.gpu}: no GPU backend could be initialised (got ${info.backend})`);
    info = { ...info, device: `${info.device} [${gpu.tag}]` };
  }
  current = info;
  return info;
}

export function currentBackend(): BackendInfo | undefined {
  return current;
}

/** Let Node exit: Dawn's instance keeps the event loop alive while referenced. */
export function releaseGpu(): void {
  const g = globalThis as unknown as { navigator?: { gpu?: unknown } };
  if (g.navigator?.gpu) (g.navigator as { gpu?: unknown }).gpu = undefined;
}
