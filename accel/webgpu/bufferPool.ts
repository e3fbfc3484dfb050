/// <reference types="@webgpu/types" />
import { addSize, bestFitSize, replacedSize } from '../../core/bestFit.js';
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
//
// Best fit (lever poolBestFit, setBufferPoolBestFit): a storage buffer request takes the smallest free buffer of its
// usage within core/bestFit.ts's ratio of its size instead of one of exactly its size, so a mixture's smaller
// shapes run in its larger shapes' buffers and the pool holds about the largest shape's working set, not every
// shape's. A buffer larger than its request reads `size` as the request while it is in use (an own property over
// GPUBuffer's getter): tfjs copies, maps and reads back buffer.size bytes. Shaders index by their uniforms and bind
// whole buffers, so the extra bytes are never read. Released, it reads its own size again and goes back to the
// free list of that size, as tfjs keys it.

interface BufferManagerInternals {
  freeBuffers: Map<string, GPUBuffer[]>;
  usedBuffers: Map<string, GPUBuffer[]>;
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
  /** Serve storage requests by best fit (lever poolBestFit). */
  bestFit: boolean;
  /** Per usage, every byte size best fit has taken or made a buffer of, ascending (it searches them). */
  sizes: Map<number, number[]>;
  /** Requests served by a larger free buffer (best fit). */
  fittedRequests: number;
  /** Bytes of free buffers a larger request replaced (best fit's misses). */
  replacedBytes: number;
}

function managerOf(backend: object): BufferManagerInternals {
  const manager = (backend as BackendInternals).bufferManager;
  if (!manager || !(manager.freeBuffers instanceof Map)) throw new Error('setBufferPoolLimit: not a tfjs-backend-webgpu backend (no bufferManager)');
  return manager;
}

/** Submit the open command encoder: a pooled buffer may be the target of a copy recorded there (see the header). */
function submitOpenWork(state: PoolState): void {
  if (state.backend.commandEncoder) {
    state.backend.endComputePassEncoder();
    state.backend.submitQueue();
  }
}

/** Destroy pooled buffers until `bytes` are freed or the pool is empty; largest sizes first (fewest destroys). */
function evict(manager: BufferManagerInternals, state: PoolState, bytes: number): void {
  if (bytes <= 0 || manager.numFreeBuffers <= 0) return;
  submitOpenWork(state);
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

/** GPUBufferUsage.STORAGE (the global exists only once Dawn is loaded; tests drive the pool without it). */
const STORAGE_USAGE = 0x80;

/** Buffers that read as their request (best fit), until released. */
const readingAsRequest = new WeakSet<GPUBuffer>();

/** While in use, a buffer larger than its request reads `size` as the request (tfjs reads back buffer.size bytes). */
function readAs(buffer: GPUBuffer, size: number): void {
  Object.defineProperty(buffer, 'size', { value: size, configurable: true });
  readingAsRequest.add(buffer);
}

/** Its own size again (GPUBuffer's getter, on its prototype): before the buffer goes back to the pool, keyed by it. */
function readOwnSize(buffer: GPUBuffer): void {
  if (readingAsRequest.delete(buffer)) delete (buffer as { size?: number }).size;
}

/** tfjs's key of a free list (buffer_manager.js getBufferKey). */
const keyOf = (size: number, usage: number) => `${size}_${usage}`;

function hasFree(manager: BufferManagerInternals, size: number, usage: number): boolean {
  return (manager.freeBuffers.get(keyOf(size, usage))?.length ?? 0) > 0;
}

/**
 * Best fit (core/bestFit.ts): the size of the free buffer a storage request of `size` bytes takes — its own size
 * first (also a buffer made before this pool was installed, not yet in `sizes`), else the smallest within the ratio;
 * on a miss `size` itself, the new buffer made in place of the largest free one a little smaller, if any (chosen
 * after the submit, whose releases may have evicted it).
 */
function bestFitTake(manager: BufferManagerInternals, state: PoolState, size: number, usage: number): number {
  let sizes = state.sizes.get(usage);
  if (!sizes) state.sizes.set(usage, (sizes = []));
  const free = (s: number) => hasFree(manager, s, usage);
  const fit = free(size) ? size : bestFitSize(sizes, size, free);
  addSize(sizes, fit ?? size);
  if (fit !== undefined) return fit;
  if (replacedSize(sizes, size, free) !== undefined) {
    submitOpenWork(state);
    const replaced = replacedSize(sizes, size, free);
    const old = replaced === undefined ? undefined : manager.freeBuffers.get(keyOf(replaced, usage))?.pop();
    if (old) {
      manager.numFreeBuffers--;
      manager.numBytesAllocated -= old.size;
      state.replacedBytes += old.size;
      old.destroy();
    }
  }
  return size;
}

function install(backend: object): PoolState {
  const manager = managerOf(backend);
  if (manager.__recallbenchPool) return manager.__recallbenchPool;
  const state: PoolState = { backend: backend as BackendInternals, limitBytes: undefined, peakUsedBytes: 0, peakAllocatedBytes: 0, evictedBytes: 0, bestFit: false, sizes: new Map(), fittedRequests: 0, replacedBytes: 0 };
  const acquire = manager.acquireBuffer.bind(manager);
  const release = manager.releaseBuffer.bind(manager);
  manager.acquireBuffer = (size, usage, mappedAtCreation = false, reuse = true) => {
    // storage buffers only: staging buffers are mapped whole on read back and keep tfjs's exact sizes
    const take = reuse && state.bestFit && (usage & STORAGE_USAGE) !== 0 ? bestFitTake(manager, state, size, usage) : size;
    const limit = state.limitBytes;
    if (limit !== undefined && manager.numBytesAllocated + size > limit && !(reuse && hasFree(manager, take, usage))) evict(manager, state, manager.numBytesAllocated + size - limit);
    // a fitted buffer is taken as tfjs takes a buffer of its own size (its free list, its counters), then reads as the request
    const buffer = acquire(take, usage, mappedAtCreation, reuse);
    if (take !== size) {
      readAs(buffer, size);
      state.fittedRequests++;
    }
    state.peakUsedBytes = Math.max(state.peakUsedBytes, manager.numBytesUsed);
    state.peakAllocatedBytes = Math.max(state.peakAllocatedBytes, manager.numBytesAllocated);
    return buffer;
  };
  manager.releaseBuffer = (buffer, reuse = true) => {
    readOwnSize(buffer);
    release(buffer, reuse);
    const limit = state.limitBytes;
    if (limit !== undefined && manager.numBytesAllocated > limit) evict(manager, state, manager.numBytesAllocated - limit);
  };
  manager.__recallbenchPool = state;
  return state;
}

/** Serve the storage buffer requests of `backend` by best fit (true) or by tfjs's exact sizes (false); see the header. */
export function setBufferPoolBestFit(backend: object, on: boolean): void {
  install(backend).bestFit = on;
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
  // best fit searches only sizes that can come free again: those of the buffers still in use
  const inUse = new Map<number, number[]>();
  for (const [key, list] of manager.usedBuffers) {
    if (list.length === 0) continue;
    const [size, usage] = key.split('_').map(Number) as [number, number];
    const sizes = inUse.get(usage) ?? [];
    addSize(sizes, size);
    inUse.set(usage, sizes);
  }
  state.sizes = inUse;
  return before - manager.numBytesAllocated;
}

export interface BufferPoolStats {
  limitBytes: number | undefined;
  usedBytes: number;
  allocatedBytes: number;
  peakUsedBytes: number;
  peakAllocatedBytes: number;
  evictedBytes: number;
  /** Requests a larger free buffer served (best fit). */
  fittedRequests: number;
  /** Bytes of free buffers a larger request replaced (best fit). */
  replacedBytes: number;
}

export function bufferPoolStats(backend: object): BufferPoolStats {
  const manager = managerOf(backend);
  const state = install(backend);
  return { limitBytes: state.limitBytes, usedBytes: manager.numBytesUsed, allocatedBytes: manager.numBytesAllocated, peakUsedBytes: state.peakUsedBytes, peakAllocatedBytes: state.peakAllocatedBytes, evictedBytes: state.evictedBytes, fittedRequests: state.fittedRequests, replacedBytes: state.replacedBytes };
}
