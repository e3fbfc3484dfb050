// Backend selection: auto | webgpu | wasm | cpu | tensorflow. Optional backends are imported lazily, so the
// package (and the GPU-host bundle) loads without them.
import * as tf from '@tensorflow/tfjs';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { dawnTogglesFromEnv, withDawnToggles, type DawnToggle } from './dawnToggles.js';
import { UserInputError } from './errors.js';
import { bindGpu, checkPlacement, gpuOfProcess, type GpuDevice } from './gpuSelect.js';
import { watchGpuDevice } from './gpuFaults.js';
import { registerCpuFastForms, registerWasmFastForms } from '../accel/wasm/index.js';

export const BACKEND_CHOICES = ['auto', 'webgpu', 'wasm', 'cpu', 'tensorflow'] as const;
export type BackendChoice = (typeof BACKEND_CHOICES)[number];

export interface BackendInfo {
  /** tfjs backend name actually in use. */
  backend: string;
  /** Human-readable device, e.g. "NVIDIA H100 80GB HBM3 (vulkan)" or "CPU (wasm, SIMD)". */
  device: string;
  /** The GPU driver as the adapter describes it (Dawn: vendor, architecture, driver description), when a GPU. */
  driver?: string;
  /** Why `auto` chose this backend, when it fell back (e.g. "no GPU: no Vulkan driver ..."). */
  note?: string;
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

/**
 * The accelerator went away mid-run (driver reset, GPU fell off the bus, out of memory at the driver level):
 * nothing more can run on this backend in this process. The run is recorded as failed; a re-run resumes.
 */
export class DeviceLostError extends Error {
  constructor(readonly reason: string, readonly runId?: string) {
    super(`the GPU device was lost (${reason})${runId ? ` during run ${runId}` : ''}`);
    this.name = 'DeviceLostError';
  }
}

/**
 * Dawn found no usable GPU adapter (or tfjs could not start the WebGPU backend on it): bad settings for a lone
 * process; for one of several processes starting at once on a GPU that the others got, a passing refusal
 * (runners/pool.ts tells them apart).
 */
export class NoAdapterError extends UserInputError {
  constructor(message: string) {
    super(message);
    this.name = 'NoAdapterError';
  }
}

/**
 * Is the Vulkan loader installed? Dawn (Linux) needs libvulkan.so.1; without it Dawn prints a multi-line native
 * warning before failing, so look first (ld.so cache, LD_LIBRARY_PATH, the usual folders). Other systems: yes.
 */
export function vulkanLoaderPresent(): boolean {
  if (process.platform !== 'linux') return true;
  const name = 'libvulkan.so.1';
  const dirs = [...(process.env.LD_LIBRARY_PATH ?? '').split(':').filter(Boolean), '/usr/lib/x86_64-linux-gnu', '/usr/lib/aarch64-linux-gnu', '/usr/lib64', '/usr/lib', '/usr/local/lib', '/lib/x86_64-linux-gnu', '/lib64', '/lib'];
  if (dirs.some((d) => existsSync(join(d, name)))) return true;
  try {
    return readFileSync('/etc/ld.so.cache').includes(name);
  } catch {
    return false;
  }
}
/**
 * Is a Vulkan driver (an ICD manifest) installed? Where the loader exists without one, Dawn prints a multi-line
 * "Found no drivers!" warning with a stack path on stderr before finding no adapter: look first, as the Vulkan
 * loader does (the VK_ICD_FILENAMES / VK_DRIVER_FILES / VK_ADD_DRIVER_FILES lists, then the icd.d folders).
 */
export function vulkanDriverPresent(env: NodeJS.ProcessEnv = process.env): boolean {
  if (process.platform !== 'linux') return true;
  for (const key of ['VK_ICD_FILENAMES', 'VK_DRIVER_FILES', 'VK_ADD_DRIVER_FILES']) {
    if ((env[key] ?? '').split(':').some((f) => f && existsSync(f))) return true;
  }
  const dataDirs = [...(env.XDG_DATA_DIRS ?? '/usr/local/share:/usr/share').split(':'), env.HOME ? join(env.HOME, '.local/share') : '', '/usr/local/nvidia/share'];
  const icdDirs = [...dataDirs.filter(Boolean).map((d) => join(d, 'vulkan/icd.d')), '/etc/vulkan/icd.d', '/usr/share/vulkan/icd.d'];
  return icdDirs.some((d) => {
    try {
      return readdirSync(d).some((f) => f.endsWith('.json'));
    } catch {
      return false;
    }
  });
}

/** Why the last search found no WebGPU adapter (one line for the user), if it found none. */
let noAdapterReason: string | undefined;

let gpuRegistered = false;
/** The WebGPU fast path, once loaded (only on the webgpu backend: nothing below it imports it statically). */
let fastPathModule: { onWebGpuReady?(): void; fastPath?(): Record<string, boolean> } | undefined;

/**
 * The Dawn toggles this process's first GPU object was made with (engine/dawnToggles.ts): tfjs keeps the device it
 * made then, even when a later init makes another GPU object, so the first object's toggles are the device's.
 */
let dawnTogglesInUse: DawnToggle[] | undefined;

/** The Dawn toggles in use (RECALLBENCH_DAWN_TOGGLES when the GPU object was made), or undefined off the webgpu backend. */
export function dawnToggles(): DawnToggle[] | undefined {
  return tf.getBackend() === 'webgpu' ? [...(dawnTogglesInUse ?? [])] : undefined;
}

/** The fast-path levers in use (accel/webgpu/index.ts), or undefined off the webgpu backend. */
export function fastPathLevers(): Record<string, boolean> | undefined {
  return tf.getBackend() === 'webgpu' ? fastPathModule?.fastPath?.() : undefined;
}
const ADAPTER_ATTEMPTS = 3;
const SOFTWARE_ADAPTER = /llvmpipe|lavapipe|swiftshader|software/i;

/** Dawn's adapter, or undefined when there is no usable GPU. */
async function findWebGpuAdapter(opts: BackendOptions): Promise<{ adapter: GPUAdapterLike; description: string; driver: string } | undefined> {
  noAdapterReason = undefined;
  if (!vulkanLoaderPresent()) {
    noAdapterReason = 'no Vulkan loader (libvulkan.so.1)';
    return undefined;
  }
  if (!vulkanDriverPresent()) {
    noAdapterReason = 'no Vulkan driver (no ICD manifest in the icd.d folders or VK_DRIVER_FILES)';
    return undefined;
  }
  // .ci/setup-webgpu.sh exposes Mesa's software Vulkan driver for the kernel tests (RECALLBENCH_WEBGPU_SOFTWARE=1).
  // Nothing else may use it, nor even enumerate it: Dawn then prints native warnings on stderr.
  if (!opts.allowSoftwareAdapter && process.env.RECALLBENCH_WEBGPU_SOFTWARE === '1') return undefined;
  let webgpu: { create: (o: string[]) => unknown; globals: Record<string, unknown> };
  try {
    webgpu = (await import('webgpu')) as unknown as typeof webgpu;
  } catch {
    return undefined;
  }
  const g = globalThis as unknown as { navigator?: { gpu?: unknown } };
  if (!g.navigator?.gpu) {
    Object.assign(globalThis, webgpu.globals);
    // the toggles are Dawn's for the process: its one GPU object makes every device with them
    const toggles = dawnTogglesFromEnv();
    Object.defineProperty(globalThis, 'navigator', { value: { gpu: webgpu.create(withDawnToggles(opts.dawnOptions ?? [], toggles)) }, configurable: true, writable: true });
    dawnTogglesInUse ??= toggles;
  }
  const gpu = (globalThis as unknown as { navigator: { gpu: { requestAdapter(o?: object): Promise<GPUAdapterLike | null> } } }).navigator.gpu;
  // Several processes starting at once on one GPU (sweep --concurrency) were seen to get no adapter now and then
  // (H100 host, 2026-11-23): ask again a few times before concluding there is no GPU.
  let adapter: GPUAdapterLike | null = null;
  for (let attempt = 0; attempt < ADAPTER_ATTEMPTS && !adapter; attempt++) {
    if (attempt > 0) await new Promise((r) => setTimeout(r, 250 * 2 ** attempt));
    adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
    if (!adapter && opts.allowSoftwareAdapter) break; // tests: no retries on machines without any adapter
  }
  if (!adapter) {
    noAdapterReason = 'Dawn found no GPU adapter';
    return undefined;
  }
  const info = adapter.info ?? {};
  const description = [info.vendor, info.architecture, info.device, info.description].filter(Boolean).join(' ').trim() || 'unknown GPU';
  if (!opts.allowSoftwareAdapter && (adapter.isFallbackAdapter || SOFTWARE_ADAPTER.test(description))) {
    noAdapterReason = `only a software adapter (${description})`;
    return undefined;
  }
  // the adapter info's fields are getters (JSON.stringify of it gives {}): name them
  const driver = (['vendor', 'architecture', 'device', 'description'] as const).map((k) => `${k}=${info[k] ?? ''}`).join(' ');
  return { adapter, description, driver };
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
    const fast = await import('../accel/webgpu/index.js').catch(() => undefined);
    fast?.registerWebGpuKernels?.();
  }
  if (!(await tf.setBackend('webgpu'))) return undefined;
  await tf.ready();
  watchGpuDevice(); // uncaptured errors and device loss (engine/gpuFaults.ts)
  // the fast path's levers (pooled uploads, SplitK threshold, fused kernels) need the backend instance
  fastPathModule = await import('../accel/webgpu/index.js').catch(() => undefined);
  fastPathModule?.onWebGpuReady?.();
  return { backend: 'webgpu', device: found.description, driver: found.driver };
}

async function useWasm(): Promise<BackendInfo> {
  const wasmModule = '@tensorflow/tfjs-backend-wasm';
  // imported by name (kept out of bundles); a bundle that inlines it (bench/gpu_equiv.ts) has registered it already
  if (!tf.findBackendFactory('wasm')) await import(/* @vite-ignore */ wasmModule);
  registerWasmFastForms();
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
  dawnTogglesFromEnv(); // a misspelt toggle is a one-line error whatever the backend, not only where a GPU is made
  registerCpuFastForms();
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
      if (!info && !vulkanLoaderPresent()) throw new UserInputError('--backend webgpu: the Vulkan loader libvulkan.so.1 is not installed (install it, e.g. apt install libvulkan1, and your GPU vendor\'s Vulkan driver), or use --backend wasm');
      if (!info) throw new NoAdapterError(`--backend webgpu: no WebGPU adapter found (${noAdapterReason ?? 'Dawn found no usable GPU'}: install your GPU vendor's Vulkan driver, or use --backend wasm)`);
      break;
    case 'tensorflow':
      info = await useTensorflow();
      if (!info) throw new UserInputError('--backend tensorflow: @tensorflow/tfjs-node-gpu is not installed (it is an optional peer: npm install @tensorflow/tfjs-node-gpu, needs CUDA 11 + cuDNN 8), or use --backend webgpu|wasm');
      break;
    case 'auto':
      info = (await useTensorflow()) ?? (await useWebGpu(opts));
      // the one line a user sees about the choice: why not the GPU
      if (!info) info = { ...(await useWasm()), note: `no GPU: ${noAdapterReason ?? 'no WebGPU adapter found'}` };
      break;
    default:
      throw new UserInputError(`unknown backend '${String(choice)}' (choose from ${BACKEND_CHOICES.join(', ')})`);
  }
  if (gpu) {
    if (info.backend !== 'webgpu' && info.backend !== 'tensorflow') throw new UserInputError(`--gpu ${opts.gpu}: no GPU backend could be initialised (got ${info.backend})`);
    // the tag names the GPU the process is on (checked through nvidia-smi where it can be), not just the one asked for
    const landed = info.backend === 'webgpu' ? checkPlacement(gpu, await landedGpu()) : undefined;
    info = { ...info, device: `${info.device} [${gpu.tag}${landed ? ', placement checked' : ''}]` };
  }
  current = info;
  return info;
}

/**
 * Which GPU this process's WebGPU device is on, from nvidia-smi's process list (undefined where it cannot tell). The
 * context exists once Dawn's device does; a small read makes sure of it, and nvidia-smi gets a few tries.
 */
async function landedGpu(): Promise<GpuDevice | undefined> {
  const probe = tf.scalar(1).add(1);
  await probe.data();
  probe.dispose();
  for (let attempt = 0; attempt < 3; attempt++) {
    const gpu = gpuOfProcess(process.pid);
    if (gpu !== undefined) return gpu ?? undefined; // found, or no nvidia-smi to ask
    await new Promise((r) => setTimeout(r, 300));
  }
  return undefined;
}

export function currentBackend(): BackendInfo | undefined {
  return current;
}

/** Let Node exit: Dawn's instance keeps the event loop alive while referenced. */
export function releaseGpu(): void {
  const g = globalThis as unknown as { navigator?: { gpu?: unknown } };
  if (g.navigator?.gpu) (g.navigator as { gpu?: unknown }).gpu = undefined;
}
