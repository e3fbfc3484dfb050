/// <reference types="@webgpu/types" />
// Bind-group cache. tfjs-backend-webgpu creates a bind group for every dispatch (and asks the pipeline for its
// layout every time); under Dawn a createBindGroup costs tens of microseconds of host time (94 µs measured on a
// 2-core machine, null backend), a good part of the ~0.2 ms per kernel. In a training loop the buffer pool hands
// out the same buffers in the same order every step, so the same (layout, buffers) combinations recur: the
// bind group is looked up instead of created. Safe because a bind group is only a list of buffer references:
// buffers get a fresh id when created, so a destroyed buffer's entries can never match again. The cache is
// bounded (cleared when full).
const MAX_ENTRIES = 8192;
/** Uniform slots per step (a submit and a restart when exceeded). */
const MAX_SLOTS = 4096;
const SLOT_BYTES = 256;

interface Patched {
  __recallbenchCreateBindGroup?: GPUDevice['createBindGroup'];
}

let enabled = false;
let hits = 0;
let misses = 0;
let nextId = 1;
const ids = new WeakMap<object, number>();
const idOf = (o: object): number => {
  let id = ids.get(o);
  if (id === undefined) ids.set(o, (id = nextId++));
  return id;
};
const cache = new Map<string, GPUBindGroup>();
const layouts = new WeakMap<GPUComputePipeline, Map<number, GPUBindGroupLayout>>();

function keyOf(desc: GPUBindGroupDescriptor): string | undefined {
  let key = String(idOf(desc.layout));
  for (const e of desc.entries as Iterable<GPUBindGroupEntry>) {
    const r = e.resource as GPUBufferBinding;
    if (!r || typeof r !== 'object' || !('buffer' in r)) return undefined; // textures, samplers: not cached
    key += `|${e.binding}:${idOf(r.buffer)}:${r.offset ?? 0}:${r.size ?? -1}`;
  }
  return key;
}

/** Install (once per device) and switch the cache on or off. */
export function setBindGroupCache(device: GPUDevice, on: boolean): void {
  const d = device as GPUDevice & Patched;
  if (!d.__recallbenchCreateBindGroup) {
    const create = device.createBindGroup.bind(device);
    d.__recallbenchCreateBindGroup = create;
    d.createBindGroup = (desc: GPUBindGroupDescriptor): GPUBindGroup => {
      if (!enabled) return create(desc);
      const key = keyOf(desc);
      if (key === undefined) return create(desc);
      let group = cache.get(key);
      if (group) {
        hits++;
        return group;
      }
      misses++;
      if (cache.size >= MAX_ENTRIES) cache.clear();
      group = create(desc);
      cache.set(key, group);
      return group;
    };
    // one layout object per (pipeline, group), so that layouts have stable identities for the key
    const proto = Object.getPrototypeOf(device.createComputePipeline({ layout: 'auto', compute: { module: device.createShaderModule({ code: '@compute @workgroup_size(1) fn main() {}' }), entryPoint: 'main' } })) as GPUComputePipeline & { __recallbenchLayouts?: boolean };
    if (!proto.__recallbenchLayouts) {
      const getLayout = proto.getBindGroupLayout;
      proto.getBindGroupLayout = function (this: GPUComputePipeline, index: number): GPUBindGroupLayout {
        if (!enabled) return getLayout.call(this, index);
        let perPipeline = layouts.get(this);
        if (!perPipeline) layouts.set(this, (perPipeline = new Map()));
        let layout = perPipeline.get(index);
        if (!layout) perPipeline.set(index, (layout = getLayout.call(this, index)));
        return layout;
      };
      proto.__recallbenchLayouts = true;
    }
  }
  enabled = on;
  if (!on) cache.clear();
}

export function bindGroupCacheStats(): { hits: number; misses: number; size: number } {
  return { hits, misses, size: cache.size };
}

// Uniform slots. tfjs takes each dispatch's uniform buffer from its pool, and the pool's order changes from step to
// step, so bind groups would rarely repeat. Instead dispatch i of a step writes its uniforms to slot i (a buffer of
// its own, written with queue.writeBuffer). Safe: a slot is rewritten only after the command that read it was
// submitted — the counter restarts only right after a submit (endStep(), called at the end of each optimizer
// step, or when the slots run out) — and writeBuffer is ordered before the next submit.
interface UniformBackend {
  device: GPUDevice;
  bufferManager?: { freeBuffers: Map<string, GPUBuffer[]> };
  queue: GPUQueue;
  commandEncoder: GPUCommandEncoder | null;
  endComputePassEncoder(): void;
  submitQueue(): void;
  makeUniforms(u: Array<{ type: string; data: number[] }>): GPUBufferBinding;
}
type UniformProto = UniformBackend & { __recallbenchMakeUniforms?: UniformBackend['makeUniforms'] };

const slots: GPUBuffer[] = [];
let slotCursor = 0;
// What each slot holds: its last write, as words, recorded whether or not lever uniformSkip is on. Dispatch i of a
// step mostly carries the same uniforms every step (shapes, sizes), so with the lever its write is skipped when they
// equal what the slot holds: the slot's contents on the queue's timeline are then already those words (the last
// write to it had them), and no command reads it before the next submit that could see anything else. What changes
// (AdamW's bias corrections, dropout seeds) is written as before.
const slotWords: Array<Uint32Array | undefined> = [];
let skipUnchanged = false; // lever uniformSkip (accel/webgpu/index.ts)
let uniformWrites = 0;
let uniformWritesSkipped = 0;

const sameWords = (a: Uint32Array, b: Uint32Array): boolean => {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
};

/** Whether a slot's write is skipped when its uniforms equal what it holds (lever uniformSkip). */
export function setSkipUnchangedUniforms(on: boolean): void {
  skipUnchanged = on;
}

/**
 * Forget every uniform slot (engine/gpuFaults.ts releaseGpuBufferPool: after a GPU fault and between runs). A write
 * dropped by a fault would otherwise be remembered as held and skipped by the next run, and a slot allocated under
 * out-of-memory stays invalid; new slots are made as dispatches need them. Not destroyed here: commands recorded and
 * not yet submitted may still read them (Dawn keeps them alive until then).
 */
export function forgetUniformSlots(): void {
  slots.length = 0;
  slotWords.length = 0;
  slotCursor = 0;
}

/** Uniform slot writes made and skipped since the process started. */
export function uniformSlotStats(): { writes: number; skipped: number } {
  return { writes: uniformWrites, skipped: uniformWritesSkipped };
}

function layout(uniforms: Array<{ type: string; data: number[] }>): ArrayBuffer {
  // the same layout rules as tfjs-backend-webgpu 4.22 makeUniforms (WGSL alignment of vec2/vec3/vec4/vec5/vec6)
  let offset = 0;
  let prev = 0;
  let maxAlign = 1;
  const offsets: number[] = [];
  for (const u of uniforms) {
    if (u.data.length === 0) u.data = [1];
    let align = [0, 4, 8, 16, 16, 16, 16][u.data.length] ?? 16;
    if (prev === 5 || prev === 6) align = 16;
    maxAlign = Math.max(maxAlign, align);
    offset = Math.ceil(offset / align) * align;
    prev = u.data.length;
    offsets.push(offset);
    offset += u.data.length * 4;
  }
  offset = Math.ceil(offset / maxAlign) * maxAlign;
  const buffer = new ArrayBuffer(offset);
  uniforms.forEach((u, i) => {
    const Type = u.type === 'int32' ? Int32Array : u.type === 'uint32' ? Uint32Array : Float32Array;
    new Type(buffer, offsets[i]!, u.data.length).set(u.data);
  });
  return buffer;
}

/** Route tfjs's uniforms through per-dispatch slots while the cache is on. */
export function setUniformSlots(backend: object): void {
  const proto = Object.getPrototypeOf(backend) as UniformProto;
  if (proto.__recallbenchMakeUniforms) return;
  const original = proto.makeUniforms;
  proto.__recallbenchMakeUniforms = original;
  proto.makeUniforms = function (this: UniformBackend, uniforms) {
    if (!enabled) return original.call(this, uniforms);
    const data = layout(uniforms);
    if (data.byteLength > SLOT_BYTES) return original.call(this, uniforms);
    if (slotCursor >= MAX_SLOTS) endStep(this);
    let slot = slots[slotCursor];
    if (!slot) slots.push((slot = this.device.createBuffer({ size: SLOT_BYTES, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST })));
    const words = new Uint32Array(data);
    const held = slotWords[slotCursor];
    if (skipUnchanged && held && sameWords(held, words)) uniformWritesSkipped++;
    else {
      this.queue.writeBuffer(slot, 0, data);
      uniformWrites++;
      slotWords[slotCursor] = words;
    }
    slotCursor++;
    return { buffer: slot, offset: 0, size: data.byteLength };
  };
}

/**
 * Submit what is recorded and restart the uniform slots (the end of a training step). The pool's free lists are
 * put in a canonical order (by buffer id): tfjs's pool is a stack per size, and the order in which a step releases
 * buffers differs from the order it takes them, so without this every step would get its buffers in a new
 * permutation and no bind group would repeat.
 */
export function endStep(backend: UniformBackend): void {
  if (backend.commandEncoder) {
    backend.endComputePassEncoder();
    backend.submitQueue();
  }
  slotCursor = 0;
  if (enabled && backend.bufferManager) for (const list of backend.bufferManager.freeBuffers.values()) list.sort((a, b) => idOf(b) - idOf(a));
}
