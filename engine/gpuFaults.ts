// GPU faults: nothing read back from the GPU is a result until the device said no error happened.
//
// Dawn reports out-of-memory, validation and internal errors only through error scopes or the `uncapturederror`
// event; tfjs-backend-webgpu installs neither. Unchecked, a buffer that could not be allocated or a dispatch that
// failed validation silently does nothing, and its read-back returns zeros or stale memory — which is how 40 of
// the 99 runs committed on 2026-11-23 came to hold impossible numbers (docs/gpu-faults.md). So:
//   - `watchGpuDevice` listens to `uncapturederror` and `device.lost` for the whole process;
//   - `checkedOnGpu(fn)` wraps a unit of work (an epoch's training, an evaluation, a checkpoint) in the three
//     error scopes and throws a GpuFaultError if any error happened inside, or was reported uncaptured since the
//     last check. The training loop checks every epoch before its numbers are used (engine/loop.ts).
// On any other backend every check is free: nothing is pushed, nothing can be reported.
import * as tf from '@tensorflow/tfjs';

/** The device reported an error (out of memory, validation, internal) or was lost: the run's numbers are void. */
export class GpuFaultError extends Error {
  constructor(readonly reason: string, readonly lost = false) {
    super(`GPU fault: ${reason}`);
    this.name = 'GpuFaultError';
  }
}

interface ErrorLike {
  message?: string;
  constructor?: { name?: string };
}

interface DeviceLike {
  pushErrorScope(filter: 'out-of-memory' | 'validation' | 'internal'): void;
  popErrorScope(): Promise<ErrorLike | null>;
  lost?: Promise<{ reason?: string; message?: string }>;
  addEventListener?(type: 'uncapturederror', listener: (event: { error?: ErrorLike }) => void): void;
  onuncapturederror?: ((event: { error?: ErrorLike }) => void) | null;
  createBuffer(descriptor: { size: number; usage: number }): { destroy(): void };
  limits?: { maxBufferSize?: number; maxComputeWorkgroupsPerDimension?: number };
}

const SCOPES = ['out-of-memory', 'validation', 'internal'] as const;

/** Why the device was lost (Dawn's `device.lost`), once it has been: final for the process. */
let lostReason: string | undefined;
/** The first error reported outside any error scope since the last check. */
let uncaptured: string | undefined;
const watched = new WeakSet<object>();

/** One line for a GPUError: its kind (GPUOutOfMemoryError, GPUValidationError, ...) and first message line. */
export function describeGpuError(error: ErrorLike | null | undefined, scope?: string): string {
  const kind = error?.constructor?.name && error.constructor.name !== 'Object' ? error.constructor.name : scope ? `${scope} error` : 'GPU error';
  const message = String(error?.message ?? '').split('\n').find((l) => l.trim()) ?? '';
  return `${kind}${message ? `: ${message.trim().slice(0, 300)}` : ''}`;
}

/** The WebGPU device of the current tfjs backend, when it is webgpu. */
export function webGpuDevice(): DeviceLike | undefined {
  if (tf.getBackend() !== 'webgpu') return undefined;
  return (tf.backend() as unknown as { device?: DeviceLike }).device;
}

/** Listen to the device's uncaptured errors and its loss, once per device. Called when the backend starts. */
export function watchGpuDevice(device: DeviceLike | undefined = webGpuDevice()): void {
  if (!device || watched.has(device)) return;
  watched.add(device);
  const onError = (event: { error?: ErrorLike }) => {
    uncaptured ??= describeGpuError(event?.error);
  };
  // Dawn's node binding supports the handler attribute; browsers the event listener: set whichever exists (once)
  if (typeof device.addEventListener === 'function') device.addEventListener('uncapturederror', onError);
  else device.onuncapturederror = onError;
  void device.lost?.then((info) => {
    lostReason ??= `${info?.reason ?? 'unknown'}${info?.message ? `: ${info.message.split('\n')[0]}` : ''}`;
  });
}

/** Why the device was lost, or undefined while it works. */
export function gpuLost(): string | undefined {
  return lostReason;
}

/** Mark the device lost (the `device.lost` listener does; tests simulate a loss with it). */
export function markGpuLost(reason: string | undefined): void {
  lostReason = reason;
}

/** An error reported outside every error scope since the last check, if any (not cleared). */
export function uncapturedGpuError(): string | undefined {
  return uncaptured;
}

/** Forget uncaptured errors: a new run starts with a clean slate (a lost device stays lost). */
export function clearGpuFaults(): void {
  uncaptured = undefined;
}

/** What makes the current work void: the device's loss, or an uncaptured error. */
function pendingFault(): GpuFaultError | undefined {
  if (lostReason) return new GpuFaultError(`device lost: ${lostReason}`, true);
  if (uncaptured) return new GpuFaultError(uncaptured);
  return undefined;
}

/**
 * Run `fn` inside the out-of-memory, validation and internal error scopes; throw a GpuFaultError if the device
 * reported anything in them, was lost, or reported an uncaptured error meanwhile. A fault wins over the error
 * `fn` itself threw (that error is usually its consequence, e.g. a rejected read-back).
 */
export async function checkedOnGpu<T>(fn: () => Promise<T> | T): Promise<T> {
  const device = webGpuDevice();
  if (!device) return fn();
  for (const scope of SCOPES) device.pushErrorScope(scope);
  let value: T | undefined;
  let thrown: unknown;
  let failed = false;
  try {
    value = await fn();
  } catch (e) {
    failed = true;
    thrown = e;
  }
  // popped in reverse order of pushing; every scope is popped even when one already reported. The cause is
  // named first: after a failed allocation every dispatch that binds the invalid buffer fails validation too
  // ("... is invalid due to a previous error"), which is its consequence.
  const reported = new Map<string, string>();
  for (const scope of [...SCOPES].reverse()) {
    let error: ErrorLike | null = null;
    try {
      error = await device.popErrorScope();
    } catch (e) {
      // popping fails only when the device is gone
      error = { message: `popErrorScope failed: ${String((e as Error)?.message ?? e)}` };
    }
    if (error) reported.set(scope, describeGpuError(error, scope));
  }
  const fault = SCOPES.map((scope) => reported.get(scope)).find((f) => f !== undefined);
  const pending = pendingFault();
  if (pending) throw pending;
  if (fault) throw new GpuFaultError(fault);
  if (failed) throw thrown;
  return value as T;
}

/**
 * Give back every buffer tfjs keeps pooled for reuse (buffers of live tensors are untouched): after a fault, a
 * pooled buffer whose allocation failed is invalid and must not reach the next run; between runs of one process,
 * the pool would otherwise keep every earlier run's shapes (issue 11). The pool cap's own eviction does the work
 * (accel/webgpu/bufferPool.ts: it submits recorded work first and keeps its accounting right). The uniform slots
 * are forgotten too (a slot write a fault dropped must not be taken as held).
 */
export async function releaseGpuBufferPool(): Promise<void> {
  if (tf.getBackend() !== 'webgpu') return;
  try {
    const pool = await import('../accel/webgpu/bufferPool.js');
    pool.trimBufferPool(tf.backend());
    (await import('../accel/webgpu/bindGroups.js')).forgetUniformSlots();
  } catch {
    // a lost device cannot destroy buffers; nothing more can run on it anyway
  }
}

export const GPU_FAULT_KINDS = ['validation', 'oom', 'destroyed-buffer'] as const;
export type GpuFaultKind = (typeof GPU_FAULT_KINDS)[number];

/**
 * Cause a real device error now, for the fault-injection tests (runners/faults.ts, RECALLBENCH_GPU_FAULT_AT):
 *   validation        a buffer one byte over the device's maxBufferSize (a validation error, as the spec says)
 *   oom               a buffer as large as the device allows, 1024 times over (exhausts device memory)
 *   destroyed-buffer  destroy the GPU buffer of a live model tensor: the next dispatch that reads it fails
 *                     validation and does nothing, so the step's results are silently stale — the real failure mode
 */
export function injectGpuFault(kind: GpuFaultKind, victim?: tf.Tensor): void {
  const device = webGpuDevice();
  if (!device) throw new Error(`injectGpuFault(${kind}): the backend is ${tf.getBackend()}, not webgpu`);
  const STORAGE = 0x80;
  if (kind === 'validation') {
    device.createBuffer({ size: (device.limits?.maxBufferSize ?? 2 ** 31) + 4, usage: STORAGE });
  } else if (kind === 'oom') {
    const size = device.limits?.maxBufferSize ?? 2 ** 30;
    const held: { destroy(): void }[] = [];
    for (let i = 0; i < 1024; i++) held.push(device.createBuffer({ size, usage: STORAGE }));
    held.forEach((b) => b.destroy());
  } else {
    if (!victim) throw new Error('injectGpuFault(destroyed-buffer): needs a tensor');
    const backend = tf.backend() as unknown as { tensorMap: { get(dataId: object): { resource?: { destroy?(): void } } } };
    const resource = backend.tensorMap.get(victim.dataId)?.resource;
    if (!resource?.destroy) throw new Error('injectGpuFault(destroyed-buffer): the tensor has no GPU buffer');
    resource.destroy();
  }
}
