// RWKV-7's per-token parts around its recurrence (naive.ts): the keys — decay, write key, removal key and in-context
// rate from their projections — and the output — GroupNorm's output plus the bonus, gated. A backend's fused kernels
// (accel/webgpu/rwkv7Token.ts, lever `rwkv7Token`) replace them while their lever is on — each part one pass per
// (token, head) forward and one backward — in place of ~11 and ~6 small tfjs ops and their gradients a layer (a host-
// bound step's dispatches); they may decline (undefined: the reference runs).
import * as tf from '@tensorflow/tfjs';
import { fastForm, fastOp } from '../../core/fastForms.js';
import { rwkv7KeysNaive, rwkv7OutputNaive, type Rwkv7Keys } from './naive.js';

export { RWKV7_DECAY_SCALE, rwkv7KeysNaive, rwkv7OutputNaive, type Rwkv7Keys } from './naive.js';

/** The fast forms' signatures (each with its own gradient); undefined: declined. */
export const rwkv7KeysOp = fastOp<(wLogit: tf.Tensor, aLogit: tf.Tensor, k0: tf.Tensor, kK: tf.Tensor, kA: tf.Tensor, H: number) => Rwkv7Keys | undefined>('rwkv7Keys');
export const rwkv7OutputOp = fastOp<(o: tf.Tensor, r: tf.Tensor, k: tf.Tensor, v: tf.Tensor, rK: tf.Tensor, g: tf.Tensor) => tf.Tensor | undefined>('rwkv7Output');

const same = (a: tf.Tensor, b: tf.Tensor) => tf.util.arraysEqual(a.shape, b.shape);

/** w, k, a, b [.., H, d/H] from wLogit, aLogit, k0 [.., d] and the per-channel k_k, k_a [d] (naive.ts). */
export function rwkv7Keys(wLogit: tf.Tensor, aLogit: tf.Tensor, k0: tf.Tensor, kK: tf.Tensor, kA: tf.Tensor, H: number): Rwkv7Keys {
  const d = k0.shape[k0.rank - 1]!;
  if (!Number.isInteger(H) || H < 1 || d % H !== 0) throw new Error(`rwkv7Keys: width ${d} is not a multiple of ${H} heads`);
  if (!same(wLogit, k0) || !same(aLogit, k0) || kK.rank !== 1 || kA.rank !== 1 || kK.shape[0] !== d || kA.shape[0] !== d)
    throw new Error(`rwkv7Keys: shapes [${wLogit.shape}], [${aLogit.shape}], [${k0.shape}], [${kK.shape}], [${kA.shape}] do not pair`);
  return fastForm(rwkv7KeysOp, tf.getBackend())?.(wLogit, aLogit, k0, kK, kA, H) ?? rwkv7KeysNaive(wLogit, aLogit, k0, kK, kA, H);
}

/** (o + (Σ_i r_i k_i r_k,i) v) ⊙ g: o, r, k, v [.., H, d_k], rK [H, d_k], g [.., H·d_k] → [.., H·d_k] (naive.ts). */
export function rwkv7Output(o: tf.Tensor, r: tf.Tensor, k: tf.Tensor, v: tf.Tensor, rK: tf.Tensor, g: tf.Tensor): tf.Tensor {
  const [H, dk] = o.shape.slice(-2) as [number, number];
  if (o.rank < 3 || !same(r, o) || !same(k, o) || !same(v, o) || !tf.util.arraysEqual(rK.shape, [H, dk]) || !tf.util.arraysEqual(g.shape, [...o.shape.slice(0, -2), H * dk]))
    throw new Error(`rwkv7Output: shapes [${o.shape}], [${r.shape}], [${k.shape}], [${v.shape}], [${rK.shape}], [${g.shape}] do not pair`);
  return fastForm(rwkv7OutputOp, tf.getBackend())?.(o, r, k, v, rK, g) ?? rwkv7OutputNaive(o, r, k, v, rK, g);
}
