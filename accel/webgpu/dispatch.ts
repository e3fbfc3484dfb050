/// <reference types="@webgpu/types" />
// A lean dispatch path for the fused kernels: our own WGSL with explicit bindings (several outputs, in-place
// read_write buffers), recorded into tfjs-backend-webgpu's open compute pass so that ordering with tfjs's own
// kernels is kept. Per dispatch it costs one uniform buffer (tfjs's pool, written by queue.writeBuffer), one
// bind group and three pass commands — no shader-key strings, no generated index helpers.
//
// It follows recordAndSubmit() of tfjs-backend-webgpu 4.22 (backend_webgpu.ts) step by step: tensors are
// marked command-queue-owned (so a buffer released mid-pass returns to the pool only after submit), the pass is
// submitted every WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE dispatches, and under tf.profile each dispatch gets its own
// timestamped pass and an entry in activeTimers, so kernel times show up in tf.profile like tfjs's own.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';

interface TensorData {
  resource: GPUBuffer | null;
  values: unknown;
  refCount: number;
  dtype: tf.DataType;
  shape: number[];
}

/** The parts of tfjs-backend-webgpu's WebGPUBackend that the lean path uses (4.22). */
export interface WebGpuBackendInternals {
  device: GPUDevice;
  queue: GPUQueue;
  tensorMap: { get(dataId: object): TensorData; has(dataId: object): boolean };
  commandEncoder: GPUCommandEncoder | null;
  computePassEncoder: GPUComputePassEncoder | null;
  commandQueueOwnedIds: WeakSet<object>;
  dispatchCountInPass: number;
  activeTimers?: Array<{ name: string; query: Promise<number> }> | null;
  supportTimestampQuery: boolean;
  querySet: GPUQuerySet | null;
  querySetCount: number;
  bufferManager: { acquireBuffer(size: number, usage: number, mappedAtCreation?: boolean, reuse?: boolean): GPUBuffer };
  uploadToGPU(dataId: object): void;
  makeTensorInfo(shape: number[], dtype: tf.DataType, values?: tf.backend_util.BackendValues): tf.TensorInfo;
  makeUniforms(uniforms: Array<{ type: 'int32' | 'uint32' | 'float32'; data: number[] }>): GPUBufferBinding;
  ensureCommandEncoderReady(): void;
  endComputePassEncoder(): void;
  submitQueue(): void;
  getQueryTime(): Promise<number>;
}

export function webgpuBackend(): WebGpuBackendInternals {
  return tf.backend() as unknown as WebGpuBackendInternals;
}

/** A uniform field: every field is one 4-byte scalar, so the WGSL struct is the fields in order. */
export type Uniform = { i: number } | { u: number } | { f: number };

export interface Binding {
  tensor: tf.TensorInfo;
  /** Bound read_write (an output, or a buffer updated in place). */
  write?: boolean;
}

const pipelines = new WeakMap<GPUDevice, Map<string, GPUComputePipeline>>();

function pipelineFor(device: GPUDevice, key: string, wgsl: () => string): GPUComputePipeline {
  let cache = pipelines.get(device);
  if (!cache) pipelines.set(device, (cache = new Map()));
  let pipeline = cache.get(key);
  if (!pipeline) {
    const code = wgsl();
    // RECALLBENCH_WGSL_DUMP=dir: each kernel's WGSL as compiled, one file a pipeline key — a refactor of a kernel that
    // a GPU has checked proves itself by dumping before and after (the tests reach every form) and diffing
    const dump = process.env.RECALLBENCH_WGSL_DUMP;
    if (dump) (mkdirSync(dump, { recursive: true }), writeFileSync(join(dump, `${key}.wgsl`), code));
    const module = device.createShaderModule({ code, label: key });
    pipeline = device.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: 'main' }, label: key });
    cache.set(key, pipeline);
  }
  return pipeline;
}

/** WGSL declarations for `bindings` (names in order) and a `Params` uniform struct bound after them. */
export function declare(names: Array<{ name: string; type: string; write?: boolean }>, uniformFields: string[]): string {
  const lines = names.map((b, i) => `@group(0) @binding(${i}) var<storage, ${b.write ? 'read_write' : 'read'}> ${b.name}: array<${b.type}>;`);
  if (uniformFields.length) {
    lines.push(`struct Params { ${uniformFields.map((f) => `${f},`).join(' ')} };`);
    lines.push(`@group(0) @binding(${names.length}) var<uniform> params: Params;`);
  }
  return lines.join('\n');
}

/**
 * make(arg) once per key(arg), kept: a differentiable kernel closes over its non-tensor attributes (tf.customGrad
 * takes tensors only), so each attribute value — an ε, a length, a pair of head layouts — gets a function of its own,
 * made on first use (a handful a process).
 */
export function madeOnce<A, F>(make: (arg: A) => F, key: (arg: A) => string | number = (arg) => arg as unknown as string | number): (arg: A) => F {
  const made = new Map<string | number, F>();
  return (arg) => {
    const k = key(arg);
    let f = made.get(k);
    if (f === undefined) made.set(k, (f = make(arg)));
    return f;
  };
}

/**
 * A fused kernel and its gradient kernel as one differentiable function of the tensors named `inputs`: the forward
 * runs `kernel` on them, the backward runs `gradKernel` on the saved inputs and the output's gradient (named
 * `gradName`) and returns one gradient per input, in order — the kernel's outputs as they are, or `unpack`ed from
 * what it wrote (e.g. the parts of one packed output, rwkv7Token.ts). `attrs` are the kernels' non-tensor attributes.
 */
export function kernelWithGrad(
  kernel: string,
  gradKernel: string,
  inputs: string[],
  gradName: string,
  attrs: Record<string, number | boolean> = {},
  unpack: (grads: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => tf.Tensor[] = (grads) => grads as tf.Tensor[],
): (...tensors: tf.Tensor[]) => tf.Tensor {
  const named = (tensors: tf.Tensor[]) => Object.fromEntries(inputs.map((n, i) => [n, tensors[i]!]));
  const attrMap = attrs as unknown as tf.NamedAttrMap;
  return tf.customGrad(((...args: unknown[]) => {
    const save = args.pop() as tf.GradSaveFunc;
    const tensors = args as tf.Tensor[];
    save(tensors);
    return {
      value: tf.engine().runKernel(kernel, named(tensors), attrMap) as tf.Tensor,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => unpack(tf.engine().runKernel(gradKernel, { ...named(saved), [gradName]: dy }, attrMap) as tf.Tensor | tf.Tensor[], saved),
    };
  }) as unknown as Parameters<typeof tf.customGrad>[0]) as unknown as (...tensors: tf.Tensor[]) => tf.Tensor;
}

const overridden = new Set<string>();

/**
 * Replace tfjs's webgpu kernel `name`, once per process, by `wrap(stock)`: the replacement calls the stock kernel for
 * whatever it does not take. Nothing happens where the webgpu backend package is not loaded (no stock kernel).
 */
export function overrideKernel(name: string, wrap: (stock: tf.KernelConfig) => tf.KernelFunc): void {
  if (overridden.has(name)) return;
  const stock = tf.getKernel(name, 'webgpu');
  if (!stock) return;
  overridden.add(name);
  tf.unregisterKernel(name, 'webgpu');
  tf.registerKernel({ kernelName: name, backendName: 'webgpu', kernelFunc: wrap(stock) });
}

/** Workgroup storage a fused kernel tiles for at most, whatever the device allows (bytes; an H200 allows 48 KiB). */
export const MAX_WORKGROUP_BYTES = 48 * 1024;

/**
 * The device's workgroup storage limit (as tfjs requested it from the adapter; 16 KiB, WebGPU's guaranteed minimum,
 * without a device), at most `cap` where given (the tests' way to reach a kernel's small tilings).
 */
export function workgroupStorageBytes(cap?: number): number {
  const limits = (webgpuBackend() as Partial<ReturnType<typeof webgpuBackend>>).device?.limits;
  const device = limits?.maxComputeWorkgroupStorageSize ?? 16384;
  return cap === undefined ? device : Math.min(device, cap);
}

/**
 * WGSL: `main` of a kernel with one thread per element — e, over the 1-D or 2-D grid `grid` makes, in workgroups of
 * `size` threads — that returns at once past params.n (its uniforms must include `n: u32`).
 */
export const elementMain = (size: number): string => `@compute @workgroup_size(${size})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) tid: u32) {
  let e = (wg.y * nwg.x + wg.x) * ${size}u + tid;
  if (e >= params.n) { return; }`;

/** Free a kernel's scratch or partials buffer now (a TensorInfo from `allocate` that no tensor owns). */
export function release(info: tf.TensorInfo): void {
  (tf.backend() as unknown as { disposeData(id: object): void }).disposeData(info.dataId);
}

/** Allocate an output tensor on the GPU (contents undefined until a kernel writes it). */
export function allocate(backend: WebGpuBackendInternals, shape: number[], dtype: tf.DataType = 'float32'): tf.TensorInfo {
  const info = backend.makeTensorInfo(shape, dtype);
  backend.uploadToGPU(info.dataId);
  return info;
}

/** Workgroups along one dimension of a dispatch at most (WebGPU's default maxComputeWorkgroupsPerDimension). */
export const MAX_WORKGROUPS_PER_DIMENSION = 65535;

/** Workgroup grid for `count` workgroups: x up to MAX_WORKGROUPS_PER_DIMENSION, the rest in y. */
export function grid(count: number): [number, number, number] {
  const max = MAX_WORKGROUPS_PER_DIMENSION;
  if (count <= max) return [Math.max(1, count), 1, 1];
  const y = Math.ceil(count / max);
  return [Math.ceil(count / y), y, 1];
}

/** Dispatches recorded so far, per `name` given to dispatch: which of a kernel's forms a call took (the tests ask). */
export const dispatchCounts = new Map<string, number>();

/**
 * Record one dispatch of the kernel `key` (WGSL from `wgsl()`, compiled once per device and key) with storage
 * buffers `bindings` (binding i = bindings[i]) and, if any, the uniform fields (binding = bindings.length).
 */
export function dispatch(name: string, key: string, wgsl: () => string, bindings: Binding[], uniforms: Uniform[], workgroups: [number, number, number]): void {
  const backend = webgpuBackend();
  dispatchCounts.set(name, (dispatchCounts.get(name) ?? 0) + 1);
  const pipeline = pipelineFor(backend.device, key, wgsl);
  const entries: GPUBindGroupEntry[] = bindings.map((b, i) => {
    backend.uploadToGPU(b.tensor.dataId);
    const data = backend.tensorMap.get(b.tensor.dataId);
    if (b.write) data.values = null; // the GPU copy changes: drop any CPU cache of it
    return { binding: i, resource: { buffer: data.resource as GPUBuffer } };
  });
  if (uniforms.length) {
    const fields = uniforms.map((u) => ('i' in u ? { type: 'int32' as const, data: [u.i] } : 'u' in u ? { type: 'uint32' as const, data: [u.u] } : { type: 'float32' as const, data: [u.f] }));
    entries.push({ binding: bindings.length, resource: backend.makeUniforms(fields) });
  }
  for (const b of bindings) backend.commandQueueOwnedIds.add(b.tensor.dataId);
  const bindGroup = backend.device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries });

  const timed = backend.activeTimers != null;
  backend.ensureCommandEncoderReady();
  if (timed && backend.supportTimestampQuery) {
    backend.endComputePassEncoder();
    if (backend.querySet == null) backend.querySet = backend.device.createQuerySet({ type: 'timestamp', count: backend.querySetCount });
    backend.computePassEncoder = backend.commandEncoder!.beginComputePass({
      timestampWrites: { querySet: backend.querySet, beginningOfPassWriteIndex: 0, endOfPassWriteIndex: 1 },
    });
  } else if (!backend.computePassEncoder) {
    backend.computePassEncoder = backend.commandEncoder!.beginComputePass({});
  }
  const pass = backend.computePassEncoder!;
  pass.setPipeline(pipeline);
  pass.setBindGroup(0, bindGroup);
  pass.dispatchWorkgroups(workgroups[0], workgroups[1], workgroups[2]);
  backend.dispatchCountInPass++;
  if (timed || tf.env().getNumber('WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE') <= backend.dispatchCountInPass) {
    backend.endComputePassEncoder();
    if (timed) backend.activeTimers!.push({ name, query: backend.getQueryTime() });
    else backend.submitQueue();
  }
}

/**
 * WGSL of a tree reduction over a workgroup of `size` threads (index `tid`) of the values they left in
 * `red[0..size)`, by `combine` (a WGSL expression of two operands: max, +): red[0] holds the result. Every thread
 * passes the barriers: call it outside any non-uniform branch, after a barrier that follows the writes to red.
 */
export const treeReduce = (size: number, combine: (a: string, b: string) => string): string => `for (var s = ${size / 2}u; s > 0u; s >>= 1u) {
    if (tid < s) { red[tid] = ${combine('red[tid]', 'red[tid + s]')}; }
    workgroupBarrier();
  }`;

/**
 * WGSL for a workgroup of `width` columns × `split` threads a column (thread li = k · width + column cl), each holding
 * a partial sum `s`: `columnSumsDecl` at module scope, then `columnSumsReduce` in main, after which sums[cl] is the
 * column's total (a tree over k, barriers for every thread: call it outside any non-uniform branch).
 */
export const columnSumsDecl = (width: number, split: number): string => `var<workgroup> sums: array<f32, ${width * split}>;`;
export const columnSumsReduce = (width: number, split: number): string => `sums[li] = s;
  workgroupBarrier();
  for (var stride = ${split / 2}u; stride > 0u; stride >>= 1u) {
    if (k < stride) { sums[li] = sums[li] + sums[li + stride * ${width}u]; }
    workgroupBarrier();
  }`;

/**
 * WGSL `fn name(row, col) -> u32`: where element (row, col) of a [rows, cols] workgroup-memory table lives, with each
 * row's columns permuted by col ^ (row mod cols) (cols a power of two). The fused recurrences' backwards write such a
 * table a column per thread and then sum it a row per thread: unpermuted, the threads of a warp summing rows r, r + 1, …
 * read addresses cols apart — one memory bank when cols is a multiple of 32 (NVIDIA: 32 four-byte banks), a 32-way
 * conflict on every read. Permuted, they fall in different banks, and a row's values are still summed in column order
 * (the same sums, bit for bit); the writes of a row stay one bank each. No memory beyond the table. Lever `swizzle`:
 * off, the plain layout.
 */
export function swizzleFn(name: string, cols: number): string {
  if (!Number.isInteger(Math.log2(cols))) throw new Error(`swizzleFn: ${cols} columns, not a power of two`);
  if (!swizzle) return `fn ${name}(row: u32, col: u32) -> u32 { return row * ${cols}u + col; }`;
  return `fn ${name}(row: u32, col: u32) -> u32 { return row * ${cols}u + (col ^ (row & ${cols - 1}u)); }`;
}

/**
 * WGSL lines `line(n)` for n = 0 … N−1, each indented: a loop over a private state, unrolled in TypeScript so that the
 * state lives in named scalars (registers). A private array indexed by a loop to a uniform bound is indexed by a value
 * the compiler cannot know, and sits in per-thread local memory (levers selectiveScanRegisters, deltaRegisters).
 */
export const unrolled = (N: number, line: (n: number) => string, indent = ''): string => Array.from({ length: N }, (_, n) => indent + line(n)).join('\n');

let swizzle = false;

/** Lever swizzle: swizzleFn permutes (on) or lays rows out plainly (off). Kernels using it put swizzleKey() in their pipeline keys. */
export function setSwizzle(on: boolean): void {
  swizzle = on;
}

/** The pipeline-key suffix of swizzleFn's layout. */
export const swizzleKey = () => (swizzle ? '_sw' : '');

/** Whether a tensor is the only one that sees its buffer (tfjs counts the tensors sharing a dataId in the backend). */
export function soleOwner(t: tf.Tensor): boolean {
  const backend = webgpuBackend();
  return backend.tensorMap.has(t.dataId) && backend.tensorMap.get(t.dataId).refCount === 1;
}

/**
 * The sum of `blocks` equal consecutive slices of `flat` (a kernel's per-block partials). Not tf.sum over a
 * [blocks, n] view — its transpose exceeded the dispatch limits on an H200 — and not one tf.addN of every slice:
 * AddN binds each input plus its output, and WebGPU allows 8 storage buffers per shader stage (tfjs asks for no
 * more), so from 8 blocks on its pipeline fails validation. Adds of at most 7 slices at a time.
 */
export function sumOfSlices(flat: tf.Tensor, blocks: number): tf.Tensor {
  let parts = blocks > 1 ? tf.split(flat, blocks) : [flat];
  while (parts.length > 1) {
    const next: tf.Tensor[] = [];
    for (let i = 0; i < parts.length; i += 7) {
      const group = parts.slice(i, i + 7);
      next.push(group.length === 1 ? group[0]! : tf.addN(group));
    }
    parts = next;
  }
  return parts[0]!;
}

/**
 * Whether buffers of these many f32 elements each fit this device (its storage-binding and buffer-size limits, as
 * tfjs requested them from the adapter). A fused kernel whose buffers would not fit declines, and its op runs the
 * reference — instead of a validation error that fails the run.
 */
export function fitsDevice(...floats: number[]): boolean {
  // no device (runners/memory.ts measures the kernels' allocations on a probe backend): no limit to check
  const limits = (webgpuBackend() as Partial<WebGpuBackendInternals>).device?.limits;
  if (!limits) return true;
  const most = Math.min(limits.maxStorageBufferBindingSize, limits.maxBufferSize);
  return floats.every((n) => 4 * n <= most);
}

/**
 * Length of a private (per-thread) array that must hold n floats: the power of two ≥ max(n, 4). It is baked into the
 * WGSL and its pipeline key, so rounding up keeps the number of compiled pipelines small.
 */
export const pow2AtLeast = (n: number) => 2 ** Math.ceil(Math.log2(Math.max(4, n)));

/**
 * Checkpoint interval of a fused recurrence's backward (deltaRule.ts, generalizedDeltaRule.ts, selectiveScan.ts): every ⌈√T⌉ steps, which
 * balances the ⌈T/C⌉ stored states against the C-step replay scratch.
 */
export const checkpointInterval = (T: number) => Math.max(1, Math.ceil(Math.sqrt(T)));

/** The checkpoints such a backward keeps: the state (`stateRows` × `lanes` floats) every checkpointInterval(T) steps. */
export const checkpointShape = (T: number, stateRows: number, lanes: number) => [Math.ceil(T / checkpointInterval(T)), stateRows, lanes];

// WGSL shared by the state-column kernels (deltaRule.ts, generalizedDeltaRule.ts, selectiveScan.ts, gla.ts: one thread
// a state column walking time, a checkpoint every params.C steps, the backward replaying each chunk). A state is a
// private array indexed to a uniform row count `rows` (the loop forms: rows a WGSL expression, e.g. 'dk') or named
// scalars s0, s1, … (the register forms: rows a number, the loops unrolled here). The text each emits is the kernels'
// own, byte for byte (RECALLBENCH_WGSL_DUMP shows it).
export interface StateColumn {
  /** The array, or the scalars' prefix. */
  state: string;
  /** Rows of the column: a WGSL expression (loops) or a number (registers). */
  rows: string | number;
  /** The loop variable over the rows (loops). */
  index?: string;
}

const rowsOf = ({ rows }: StateColumn) => (typeof rows === 'number' ? `${rows}u` : rows);

/** `target[(offset + row) * params.lanes + lane] = state[row]` for every row (or the reverse with `load`), indented. */
function columnCopy(col: StateColumn, buffer: string, offset: string, indent: string, load = false): string {
  const line = (row: string, value: string) => (load ? `${value} = ${buffer}[(${offset} + ${row}) * params.lanes + lane];` : `${buffer}[(${offset} + ${row}) * params.lanes + lane] = ${value};`);
  if (typeof col.rows === 'number') return unrolled(col.rows, (n) => line(`${n}u`, `${col.state}${n}`), indent);
  const i = col.index ?? 'i';
  return `${indent}for (var ${i} = 0u; ${i} < ${col.rows}; ${i}++) { ${line(i, `${col.state}[${i}]`)} }`;
}

/** Forward, inside `for (var t …)`: store the column as checkpoint t / C when a chunk starts (`base`: its offset's name). */
export function checkpointStore(col: StateColumn, indent = '    ', base = 'base'): string {
  return `${indent}if (t % params.C == 0u) {
${indent}  let ${base} = (t / params.C) * ${rowsOf(col)};
${columnCopy(col, 'ckpt', base, `${indent}  `)}
${indent}}`;
}

/**
 * Backward: the chunks from the last, and each chunk's replay from its checkpoint into the column and the scratch
 * (scratch[m] = the state before step t0 + m; `symbol` names it in the comment), up to the replayed step's own
 * lines; the kernel writes the step's update and closes the replay loop and `if (valid)`.
 */
export function chunkReplay(col: StateColumn, symbol = 'S'): string {
  return `  let chunks = (params.T + params.C - 1u) / params.C;
  for (var cc = 0u; cc < chunks; cc++) {
    let c = chunks - 1u - cc;
    let t0 = c * params.C;
    let t1 = min(params.T, t0 + params.C);
    if (valid) {
      // replay the chunk from its checkpoint: scratch[m] = ${symbol}_{t0+m−1}
${columnCopy(col, 'ckpt', `c * ${rowsOf(col)}`, '      ', true)}
      for (var t = t0; t < t1; t++) {
        let sb = (t - t0) * ${rowsOf(col)};
${columnCopy(col, 'scratch', 'sb', '        ')}`;
}

/**
 * The one output buffer of a state-column backward (deltaRule.ts, generalizedDeltaRule.ts, gla.ts): dv [rows·d_v],
 * then for each block of `cols` value columns the rows' R column-summed terms (the tile sums of columnBlockSums).
 */
export const columnGradsSize = (rows: number, dv: number, R: number, cols: number) => rows * dv + Math.ceil(dv / cols) * rows * R;

/** That buffer's two parts: dv (rows·d_v) and the blocks' partials summed (rows·R), flat. */
export function splitColumnGrads(grads: tf.Tensor, rows: number, dv: number, R: number, cols: number): { dV: tf.Tensor; terms: tf.Tensor } {
  const blocks = Math.ceil(dv / cols);
  const dV = grads.slice([0], [rows * dv]);
  const flat = grads.slice([rows * dv], [blocks * rows * R]);
  return { dV, terms: sumOfSlices(flat, blocks) };
}

/**
 * Backward, after a step's `if (valid) {` block that wrote its R terms into the workgroup tile `red` (redAt): an idle
 * column writes zeros, then the tile's rows are summed over the workgroup's `cols` columns into the step's partials
 * (grads[partBase + row·R + r]), between two barriers. `r`, `m`: the loop variables' names.
 */
export const columnBlockSums = (cols: number, r = 'x', m = 'y') => `      } else {
        for (var ${r} = 0u; ${r} < R; ${r}++) { red[redAt(${r}, tid)] = 0.0f; }
      }
      workgroupBarrier();
      for (var ${r} = tid; ${r} < R; ${r} += ${cols}u) {
        var acc = 0.0f;
        for (var ${m} = 0u; ${m} < ${cols}u; ${m}++) { acc += red[redAt(${r}, ${m})]; }
        grads[partBase + row * R + ${r}] = acc;
      }
      workgroupBarrier();`;

