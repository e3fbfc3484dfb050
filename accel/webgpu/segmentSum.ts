// UnsortedSegmentSum on WebGPU without atomic contention — the gradient of every tf.gather (embedding lookup,
// supervised-row selection):   out[s, :] = Σ_{i : ids[i] = s} x[i, :]   (ids outside [0, S) are dropped).
//
// tfjs's kernel adds every element with a compare-and-swap loop straight into the output. In MQAR most tokens
// are the blank 0 (≈ 13k of 16k at batch 64), so thousands of threads retry on the same 128 addresses:
// measured 190 ms per step at batch 64 and 5.4 s at batch 256 on an H100. Here each workgroup takes a tile of
// 256 rows, sorts their ids in workgroup memory (bitonic sort), sums each run of equal ids in registers (one
// thread per column, coalesced), and adds one partial per (run, column) to the output — a blank id costs one
// atomic add per tile instead of one per token. Two dispatches: zero the output, then the tiles.
// Reference: unsortedSegmentSumValues (ops/segmentSum/naive.ts).
import * as tf from '@tensorflow/tfjs';
import { allocate, declare, dispatch, fitsDevice, grid, overrideKernel, release, webgpuBackend } from './dispatch.js';

const TILE = 256;

// Both tile kernels (atomic and ordered): row i = tile·TILE + tid's id, or NONE (dropped, or past the end), and the
// tile's (id, row) pairs sorted by id with a bitonic network — not stable: equal ids keep the network's order, which
// ops/segmentSum/naive.ts segmentSumTileOrderValues reproduces.
const tileDecls = `
const NONE = 0xffffffffu;
var<workgroup> keys: array<u32, ${TILE}>;
var<workgroup> rows: array<u32, ${TILE}>;`;
const sortTile = `
  var key = NONE;
  if (i < params.n) {
    let s = ids[i];
    if (s >= 0 && u32(s) < params.numSegments) { key = u32(s); }
  }
  keys[tid] = key;
  rows[tid] = i;
  workgroupBarrier();
  // bitonic sort of (key, row) by key, ascending; NONE (dropped or past the end) sorts last
  for (var k = 2u; k <= ${TILE}u; k <<= 1u) {
    for (var j = k >> 1u; j > 0u; j >>= 1u) {
      let other = tid ^ j;
      if (other > tid) {
        let a = keys[tid];
        let b = keys[other];
        if ((a > b) == ((tid & k) == 0u)) {
          keys[tid] = b;
          keys[other] = a;
          let r = rows[tid];
          rows[tid] = rows[other];
          rows[other] = r;
        }
      }
      workgroupBarrier();
    }
  }`;

/**
 * WGSL: each thread takes columns c = tid, tid + TILE, … and runs through the sorted tile, summing x's rows of each
 * run of equal ids (s) into acc; `emit` stores a finished run's sum (the atomic and the tile-order kernels differ only
 * there).
 */
const columnRunSums = (emit: string) => `  for (var c = tid; c < params.rowSize; c += ${TILE}u) {
    var acc = 0.0f;
    for (var t = 0u; t < ${TILE}u; t++) {
      let s = keys[t];
      if (s == NONE) { break; }
      acc += x[rows[t] * params.rowSize + c];
      if (t == ${TILE - 1}u || keys[t + 1u] != s) {
        ${emit}
        acc = 0.0f;
      }
    }
  }`;

const zeroWgsl = () => `
${declare([{ name: 'out', type: 'u32', write: true }], ['n: u32'])}
@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) tid: u32) {
  let i = (wg.y * nwg.x + wg.x) * 256u + tid;
  if (i < params.n) { out[i] = 0u; }
}`;

const tileWgsl = () => `
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> ids: array<i32>;
@group(0) @binding(2) var<storage, read_write> out: array<atomic<u32>>;
struct Params { n: u32, rowSize: u32, numSegments: u32, };
@group(0) @binding(3) var<uniform> params: Params;

${tileDecls}

fn addF32(index: u32, value: f32) {
  var old = atomicLoad(&out[index]);
  loop {
    let r = atomicCompareExchangeWeak(&out[index], old, bitcast<u32>(bitcast<f32>(old) + value));
    if (r.exchanged) { break; }
    old = r.old_value;
  }
}

@compute @workgroup_size(${TILE})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) tid: u32) {
  let first = (wg.y * nwg.x + wg.x) * ${TILE}u;
  if (first >= params.n) { return; }
  let i = first + tid;
${sortTile}
  // one thread per column: run through the sorted tile, one atomic add per run of equal ids
${columnRunSums('addF32(s * params.rowSize + c, acc);')}
}`;

// Lever segmentSumOrdered: the same sorted tiles, summed in a fixed order — the GPU run made reproducible. The
// atomic adds above land in whatever order the tiles finish: the blank id's sum, a few hundred partials, differs in
// its last bits from run to run (and so does every later step). Here each tile writes its runs' partials and ids
// in place (part [tiles·TILE, rowSize], runKeys [tiles·TILE], ascending within a tile; runCounts [tiles]) and marks
// in a bitmap which tiles hold each id (tilesOf [S, ⌈tiles/32⌉]: an atomic OR, whose result does not depend on the
// order); a second pass gives every output (s, c) one thread that walks the tiles marked for s in order, finds s
// among that tile's run ids by binary search, and adds that partial: no float atomics, and the exact order of
// ops/segmentSum/naive.ts segmentSumTileOrderValues (tested bit for bit). Without the bitmap each thread visited
// every tile — 128 at B512 L64 — though most ids sit in one or two: 1.72 ms at d 256 against the atomic form's 0.45.
const orderedTileWgsl = () => `
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> ids: array<i32>;
@group(0) @binding(2) var<storage, read_write> part: array<f32>;
@group(0) @binding(3) var<storage, read_write> runKeys: array<u32>;
@group(0) @binding(4) var<storage, read_write> runCounts: array<u32>;
@group(0) @binding(5) var<storage, read_write> tilesOf: array<atomic<u32>>;
struct Params { n: u32, rowSize: u32, numSegments: u32, tiles: u32, };
@group(0) @binding(6) var<uniform> params: Params;

${tileDecls}
var<workgroup> slots: array<u32, ${TILE}>;

@compute @workgroup_size(${TILE})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) tid: u32) {
  let tile = wg.y * nwg.x + wg.x;
  if (tile >= params.tiles) { return; }
  let i = tile * ${TILE}u + tid;
${sortTile}
  // each sorted row's run, and each run's id (one thread: 256 steps, cheap beside the columns below)
  if (tid == 0u) {
    var run = 0u;
    var count = 0u;
    for (var t = 0u; t < ${TILE}u; t++) {
      let s = keys[t];
      if (s == NONE) { break; }
      if (t > 0u && keys[t - 1u] != s) { run++; }
      slots[t] = run;
      if (t == 0u || keys[t - 1u] != s) {
        runKeys[tile * ${TILE}u + run] = s;
        atomicOr(&tilesOf[s * ((params.tiles + 31u) / 32u) + tile / 32u], 1u << (tile % 32u));
      }
      count = run + 1u;
    }
    runCounts[tile] = count;
  }
  workgroupBarrier();
${columnRunSums(`part[(tile * ${TILE}u + slots[t]) * params.rowSize + c] = acc;`)}
}`;

const orderedGatherWgsl = () => `
${declare(
  [
    { name: 'part', type: 'f32' },
    { name: 'runKeys', type: 'u32' },
    { name: 'runCounts', type: 'u32' },
    { name: 'tilesOf', type: 'u32' },
    { name: 'out', type: 'f32', write: true },
  ],
  ['size: u32', 'rowSize: u32', 'tiles: u32'],
)}
@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) tid: u32) {
  let o = (wg.y * nwg.x + wg.x) * 256u + tid;
  if (o >= params.size) { return; }
  let s = o / params.rowSize;
  let c = o % params.rowSize;
  let words = (params.tiles + 31u) / 32u;
  var acc = 0.0f;
  for (var w = 0u; w < words; w++) {
    var bits = tilesOf[s * words + w];
    // the tiles that hold s, in ascending order: the lowest set bit first
    while (bits != 0u) {
      let tile = w * 32u + firstTrailingBit(bits);
      bits &= bits - 1u;
      let base = tile * ${TILE}u;
      var lo = 0u;
      var hi = runCounts[tile];
      while (lo < hi) {
        let mid = (lo + hi) / 2u;
        if (runKeys[base + mid] < s) { lo = mid + 1u; } else { hi = mid; }
      }
      acc += part[(base + lo) * params.rowSize + c];
    }
  }
  out[o] = acc;
}`;

let ordered = false;

/** Lever segmentSumOrdered: the tiles' partials summed in tile order (on), or added by atomics as they finish (off). */
export function setSegmentSumOrdered(on: boolean): void {
  ordered = on;
}

/** x [N, ...rest] float32, ids [N] int32 → [S, ...rest], in the fixed order of segmentSumTileOrderValues; undefined where its partials would not fit the device. */
export function segmentSumOrderedWebGpu(x: tf.TensorInfo, ids: tf.TensorInfo, numSegments: number): tf.TensorInfo | undefined {
  const N = x.shape[0]!;
  if (ids.shape.length !== 1 || ids.shape[0] !== N) throw new Error(`UnsortedSegmentSum: expected segmentIds [${N}], got [${ids.shape}]`);
  const rowSize = x.shape.slice(1).reduce((a, b) => a * b, 1);
  const tiles = Math.ceil(N / TILE);
  // which tiles hold each id (a bit per tile), cleared first: an id of no tile is a row of zeros in the gather
  const bitmapWords = numSegments * Math.ceil(Math.max(1, tiles) / 32);
  if (!fitsDevice(tiles * TILE * rowSize, numSegments * rowSize, bitmapWords)) return undefined;
  const backend = webgpuBackend();
  const out = allocate(backend, [numSegments, ...x.shape.slice(1)], 'float32');
  const size = numSegments * rowSize;
  if (size === 0) return out;
  // no rows: buffers of one element, never written; the gather's bitmap of zero words sends every output to 0
  const part = allocate(backend, [Math.max(1, tiles * TILE * rowSize)]);
  const runKeys = allocate(backend, [Math.max(1, tiles * TILE)], 'int32');
  const runCounts = allocate(backend, [Math.max(1, tiles)], 'int32');
  const tilesOf = allocate(backend, [bitmapWords], 'int32');
  dispatch('SegmentSumZero', 'rb_zero_u32', zeroWgsl, [{ tensor: tilesOf, write: true }], [{ u: bitmapWords }], grid(Math.ceil(bitmapWords / 256)));
  if (tiles > 0 && rowSize > 0) {
    dispatch('SegmentSumOrderedTiles', 'rb_segment_sum_tiles', orderedTileWgsl, [{ tensor: x }, { tensor: ids }, { tensor: part, write: true }, { tensor: runKeys, write: true }, { tensor: runCounts, write: true }, { tensor: tilesOf, write: true }], [{ u: N }, { u: rowSize }, { u: numSegments }, { u: tiles }], grid(tiles));
  }
  dispatch('SegmentSumOrderedGather', 'rb_segment_sum_gather', orderedGatherWgsl, [{ tensor: part }, { tensor: runKeys }, { tensor: runCounts }, { tensor: tilesOf }, { tensor: out, write: true }], [{ u: size }, { u: rowSize }, { u: tiles }], grid(Math.ceil(size / 256)));
  release(part);
  release(runKeys);
  release(runCounts);
  release(tilesOf);
  return out;
}

/** x [N, ...rest] float32, ids [N] int32 → [S, ...rest]. */
export function segmentSumWebGpu(x: tf.TensorInfo, ids: tf.TensorInfo, numSegments: number): tf.TensorInfo {
  const N = x.shape[0]!;
  if (ids.shape.length !== 1 || ids.shape[0] !== N) throw new Error(`UnsortedSegmentSum: expected segmentIds [${N}], got [${ids.shape}]`);
  const rowSize = x.shape.slice(1).reduce((a, b) => a * b, 1);
  const out = allocate(webgpuBackend(), [numSegments, ...x.shape.slice(1)], 'float32');
  const size = numSegments * rowSize;
  dispatch('SegmentSumZero', 'rb_zero_u32', zeroWgsl, [{ tensor: out, write: true }], [{ u: size }], grid(Math.ceil(size / 256)));
  if (N > 0 && rowSize > 0) {
    dispatch('SegmentSum', 'rb_segment_sum', tileWgsl, [{ tensor: x }, { tensor: ids }, { tensor: out, write: true }], [{ u: N }, { u: rowSize }, { u: numSegments }], grid(Math.ceil(N / TILE)));
  }
  return out;
}

let enabled = false;

export function setSegmentSumWebGpu(on: boolean): void {
  enabled = on;
}

/** Replace tfjs's webgpu UnsortedSegmentSum (kept for int32 and for when the lever is off). */
export function registerSegmentSumWebGpu(): void {
  overrideKernel('UnsortedSegmentSum', (stock) => (args) => {
    const { x, segmentIds } = args.inputs as { x: tf.TensorInfo; segmentIds: tf.TensorInfo };
    const { numSegments } = args.attrs as unknown as { numSegments: number };
    if (!enabled || x.dtype !== 'float32' || segmentIds.shape.length !== 1) return stock.kernelFunc(args);
    return (ordered ? segmentSumOrderedWebGpu(x, segmentIds, numSegments) : undefined) ?? segmentSumWebGpu(x, segmentIds, numSegments);
  });
}
