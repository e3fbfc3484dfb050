// RWKV-4's WKV (Peng et al. 2023, arXiv 2305.13048), per channel c, decay w = exp(time_decay) > 0, bonus u:
//
//   wkv_t = (Σ_{i<t} e^{−(t−1−i)w + k_i} v_i + e^{u + k_t} v_t) / (Σ_{i<t} e^{−(t−1−i)w + k_i} + e^{u + k_t})
//
// The sums are a decaying recurrence num_t = e^{−w} num_{t−1} + e^{k_t} v_t (den alike with v = 1), but
// e^{k} overflows fp32, so — like RWKV's CUDA kernel — the state is kept in scaled form (m, a, b):
// num = a·e^m, den = b·e^m. Segments of tokens compose associatively (R after L, R.δ = its total log decay):
//
//   m = max(L.m + R.δ, R.m),   a = L.a e^{L.m + R.δ − m} + R.a e^{R.m − m}   (b alike),   δ = L.δ + R.δ
//
// so the parallel form (`wkvParallel`) is an odd–even associative scan over T (2·⌈log₂T⌉ levels of
// whole-tensor ops, as ops/scan/parallel.ts, in tfjs ops: tfjs's own gradients). Every exponent is ≤ 0, so
// nothing overflows; the current token's bonus term enters the same way at the end. `wkvNaive` (naive.ts) is
// the per-token recurrence (RWKV's stable kernel, `wkvStep` of step.ts), the reference for the tests and the step view.
import * as tf from '@tensorflow/tfjs';
import { byExample } from '../shared/runAxis.js';
import { EMPTY, readout } from './common.js';

/** A scaled segment state: log scale m, numerator a, denominator b, and δ (total log decay, −len·w). */
interface Segment {
  m: tf.Tensor3D;
  a: tf.Tensor3D;
  b: tf.Tensor3D;
  delta: tf.Tensor3D;
}

function combine(L: Segment, R: Segment): Segment {
  const lm = tf.add(L.m, R.delta);
  const m = tf.maximum(lm, R.m);
  const wl = tf.exp(tf.sub(lm, m));
  const wr = tf.exp(tf.sub(R.m, m));
  return {
    m: m as tf.Tensor3D,
    a: tf.add(tf.mul(L.a, wl), tf.mul(R.a, wr)) as tf.Tensor3D,
    b: tf.add(tf.mul(L.b, wl), tf.mul(R.b, wr)) as tf.Tensor3D,
    delta: tf.add(L.delta, R.delta) as tf.Tensor3D,
  };
}

const parts = ['m', 'a', 'b', 'delta'] as const;
const mapSegment = (s: Segment, f: (x: tf.Tensor3D) => tf.Tensor3D): Segment => ({ m: f(s.m), a: f(s.a), b: f(s.b), delta: f(s.delta) });

/** Pad every part with `count` empty segments (m = EMPTY, a = b = δ = 0) at the start or the end of time. */
function padEmpty(s: Segment, count: number, atEnd: boolean): Segment {
  const pad = (x: tf.Tensor3D, value: number) => tf.pad(x, [[0, 0], atEnd ? [0, count] : [count, 0], [0, 0]], value) as tf.Tensor3D;
  return { m: pad(s.m, EMPTY), a: pad(s.a, 0), b: pad(s.b, 0), delta: pad(s.delta, 0) };
}

/** Inclusive prefix composition over axis 1 of [B, T, C] parts (δ may have batch 1). */
function prefixScan(s: Segment): Segment {
  const T = s.a.shape[1];
  if (T === 1) return s;
  if (T % 2 === 1) {
    const padded = prefixScan(padEmpty(s, 1, true));
    return mapSegment(padded, (x) => x.slice([0, 0, 0], [x.shape[0], T, x.shape[2]]));
  }
  // even and odd time steps of every part (reshape + split on the last axis: rank-3 copies only)
  const halves = (x: tf.Tensor3D) => tf.split(x.reshape([x.shape[0], T / 2, 2 * x.shape[2]]), 2, 2) as [tf.Tensor3D, tf.Tensor3D];
  const split = Object.fromEntries(parts.map((p) => [p, halves(s[p])])) as Record<(typeof parts)[number], [tf.Tensor3D, tf.Tensor3D]>;
  const even: Segment = { m: split.m[0], a: split.a[0], b: split.b[0], delta: split.delta[0] };
  const odd: Segment = { m: split.m[1], a: split.a[1], b: split.b[1], delta: split.delta[1] };
  const upToOdd = prefixScan(combine(even, odd)); // prefixes ending at t = 1, 3, 5, …
  // prefixes ending at t = 2i: (prefix ending at 2i − 1) then token 2i; an empty prefix before t = 0
  const before = mapSegment(padEmpty(upToOdd, 1, false), (x) => x.slice([0, 0, 0], [x.shape[0], T / 2, x.shape[2]]));
  const upToEven = combine(before, even);
  const interleave = (e: tf.Tensor3D, o: tf.Tensor3D) => tf.concat([e, o], 2).reshape([e.shape[0], T, e.shape[2]]) as tf.Tensor3D;
  return { m: interleave(upToEven.m, upToOdd.m), a: interleave(upToEven.a, upToOdd.a), b: interleave(upToEven.b, upToOdd.b), delta: interleave(upToEven.delta, upToOdd.delta) };
}

/**
 * w (decay rate, > 0) and u [C]; k, v [B, T, C] → wkv [B, T, C]. Parallel over T. A stack of R runs: w, u [R, C],
 * example b of run ⌊b/(B/R)⌋ (engine/stack.ts), its δ and bonus that run's.
 */
export function wkvParallel(w: tf.Tensor1D | tf.Tensor2D, u: tf.Tensor1D | tf.Tensor2D, k: tf.Tensor3D, v: tf.Tensor3D): tf.Tensor3D {
  return tf.tidy(() => {
    const [B, T, C] = k.shape;
    const runs = w.rank === 2 ? w.shape[0]! : 1;
    // δ [1, T, C] (one w), or [B, T, C] with each example's run's w; the bonus u [C] or [B, 1, C] alike
    const delta = runs === 1 ? tf.neg(w).reshape([1, 1, C]).tile([1, T, 1]) : byExample(tf.neg(w), B).reshape([B, 1, C]).tile([1, T, 1]);
    const bonus = runs === 1 ? u : byExample(u, B).reshape([B, 1, C]);
    const tokens: Segment = { m: k, a: v, b: tf.onesLike(v), delta: delta as tf.Tensor3D };
    const upTo = prefixScan(tokens);
    // the state before token t: the prefix ending at t − 1 (empty at t = 0)
    const prev = mapSegment(padEmpty(upTo, 1, false), (x) => x.slice([0, 0, 0], [x.shape[0], T, C]));
    void B;
    return readout(prev.m, prev.a, prev.b, bonus, k, v) as tf.Tensor3D;
  });
}
