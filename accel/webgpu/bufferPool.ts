/// <reference types="@webgpu/types" />
// A cap on tfjs-backend-webgpu's buffer pool. Its BufferManager (4.22) keeps every released buffer for reuse,
// keyed by exact byte size and usage, and never gives one back to the device: a run whose batches come in several
// shapes (a training mixture of sequence lengths, the last partial batch of a segment, evaluation at another batch
// size and length, read-back staging buffers of each size) ends up holding the working set of every shape at
// once, far beyond its live tensors — 16 sweep processes filled an H200 that way (issue 11).
//
// With a limit, the process's allocated bytes (live + pooled) stay within max(limit, live):
//   - acquiring a size the pool does not hold, when creating it would pass the limit, first destroys pooled
//     buffers of other sizes until it fits (or the pool is empty);
//   - releasing a buffer while allocated bytes exceed the limit destroys pooled buffers down to the limit.
// The steady state of a training loop (the same shapes every step) keeps reusing its buffers as before.
//
// Why destroying a pooled buffer is safe: the open command encoder is submitted first (a pooled buffer may still
// be the target of a recorded upload copy: tfjs defers the release of buffers that programs use, not of those),
// and GPUBuffer.destroy() of a buffer that submitted work still uses is deferred by Dawn until that work completes
// — tfjs destroys its staging buffers right after submit on the same rule. Evictions happen only at the limit, so
// the extra submits are rare.

interface BufferManagerInternals {
  freeBuffers: Map<string, GPUBuffer[]>;
  numFreeBuffers: number;
  numBytesUsed: number;
  numBytesAllocated: number;
  acquireBuffer(size: number, usage: number, mappedAtCreation?: boolean, reuse?: boolean): GPUBuffer;
  releaseBuffer(buffer: GPUBuffer, reuse?: boolean): void;
  __recallbenchPool?: PoolState;
}

interface BackendInternals {
  bufferManager?: BufferManagerInternals;
  commandEncoder: unknown;
  endComputePassEncoder(): void;
  submitQueue(): void;
}

interface PoolState {
  backend: BackendInternals;
  limitBytes: number | undefined;
  /** Highest live (used) and allocated (used + pooled) bytes seen. */
  peakUsedBytes: number;
  peakAllocatedBytes: number;
  evictedBytes: number;
}

function managerOf(backend: object): BufferManagerInternals {
  const manager = (backend as BackendInternals).bufferManager;
  if (!manager || !(manager.freeBuffers instanceof Map)) throw new Error('setBufferPoolLimit: not a tfjs-backend-webgpu backend (no bufferManager)');
  return manager;
}

/** Destroy pooled buffers until `bytes` are freed or the pool is empty; largest sizes first (fewest destroys). */
function evict(manager: BufferManagerInternals, state: PoolState, bytes: number): void {
  if (bytes <= 0 || manager.numFreeBuffers <= 0) return;
  if (state.backend.commandEncoder) {
    state.backend.endComputePassEncoder();
    state.backend.submitQueue();
  }
  const keys = [...manager.freeBuffers.entries()].filter(([, list]) => list.length > 0).sort((a, b) => b[1][0]!.size - a[1][0]!.size);
  let freed = 0;
  for (const [, list] of keys) {
    while (list.length > 0 && freed < bytes) {
      const buffer = list.pop()!;
      freed += buffer.size;
      manager.numFreeBuffers--;
      manager.numBytesAllocated -= buffer.size;
      buffer.destroy();
    }
    if (freed >= bytes) break;
  }
  // keys stay in the map, even with empty lists: releaseBuffer ignores every release once the map is empty
  state.evictedBytes += freed;
}

function install(backend: object): PoolState {
  const manager = managerOf(backend);
  if (manager.__recallbenchPool) return manager.__recallbenchPool;
  const state: PoolState = { backend: backend as BackendInternals, limitBytes: undefined, peakUsedBytes: 0, peakAllocatedBytes: 0, evictedBytes: 0 };
  const acquire = manager.acquireBuffer.bind(manager);
  const release = manager.releaseBuffer.bind(manager);
  manager.acquireBuffer = (size, usage, mappedAtCreation = false, reuse = true) => {
    const limit = state.limitBytes;
    if (limit !== undefined && manager.numBytesAllocated + size > limit) {
      const pooled = reuse ? manager.freeBuffers.get(`${size}_${usage}`) : undefined;
      if (!pooled || pooled.length === 0) evict(manager, state, manager.numBytesAllocated + size - limit);
    }
    const buffer = acquire(size, usage, mappedAtCreation, reuse);
    state.peakUsedBytes = Math.max(state.peakUsedBytes, manager.numBytesUsed);
    state.peakAllocatedBytes = Math.max(state.peakAllocatedBytes, manager.numBytesAllocated);
    return buffer;
  };
  manager.releaseBuffer = (buffer, reuse = true) => {
    release(buffer, reuse);
    const limit = state.limitBytes;
    if (limit !== undefined && manager.numBytesAllocated > limit) evict(manager, state, manager.numBytesAllocated - limit);
  };
  manager.__recallbenchPool = state;
  return state;
}

/**
 * Cap the pool of the webgpu backend `backend` (tf.findBackend('webgpu')) so that allocated bytes stay within
 * `limitBytes` whenever the live tensors allow it; undefined: no cap (tfjs's own behaviour), peaks still tracked.
 */
export function setBufferPoolLimit(backend: object, limitBytes: number | undefined): void {
  const manager = managerOf(backend);
  const state = install(backend);
  state.limitBytes = limitBytes;
  if (limitBytes !== undefined && manager.numBytesAllocated > limitBytes) evict(manager, state, manager.numBytesAllocated - limitBytes);
}

/** Destroy every pooled buffer (e.g. between runs of one process); returns the bytes given back. */
export function trimBufferPool(backend: object): number {
  const manager = managerOf(backend);
  const state = install(backend);
  const before = manager.numBytesAllocated;
  evict(manager, state, Number.POSITIVE_INFINITY);
  return before - manager.numBytesAllocated;
}

export interface BufferPoolStats {
  limitBytes: number | undefined;
  usedBytes: number;
  allocatedBytes: number;
  peakUsedBytes: number;
  peakAllocatedBytes: number;
  evictedBytes: number;
}

export function bufferPoolStats(backend: object): BufferPoolStats {
  const manager = managerOf(backend);
  const state = install(backend);
  return { limitBytes: state.limitBytes, usedBytes: manager.numBytesUsed, allocatedBytes: manager.numBytesAllocated, peakUsedBytes: state.peakUsedBytes, peakAllocatedBytes: state.peakAllocatedBytes, evictedBytes: state.evictedBytes };
}
