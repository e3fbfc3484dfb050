// WKV one token at a time (RWKV's stable recurrence, in scaled form): the step view.
import * as tf from '@tensorflow/tfjs';
import { EMPTY, readout } from './common.js';

/** The step view's state per channel: log scale m, scaled numerator a and denominator b, each [B, C]. */
export interface WkvState {
  m: tf.Tensor2D;
  a: tf.Tensor2D;
  b: tf.Tensor2D;
}

export function wkvInitState(batch: number, channels: number): WkvState {
  return { m: tf.fill([batch, channels], EMPTY) as tf.Tensor2D, a: tf.zeros([batch, channels]), b: tf.zeros([batch, channels]) };
}

/** One token: k_t, v_t [B, C] → wkv_t [B, C] and the state after t (RWKV's stable recurrence). */
export function wkvStep(state: WkvState, w: tf.Tensor1D, u: tf.Tensor1D, k: tf.Tensor2D, v: tf.Tensor2D): { y: tf.Tensor2D; state: WkvState } {
  return tf.tidy(() => {
    const y = readout(state.m, state.a, state.b, u, k, v) as tf.Tensor2D;
    // num ← e^{−w} num + e^{k} v, in scaled form
    const decayed = tf.sub(state.m, w);
    const m = tf.maximum(decayed, k);
    const wOld = tf.exp(tf.sub(decayed, m));
    const wNew = tf.exp(tf.sub(k, m));
    return { y, state: { m: m as tf.Tensor2D, a: tf.add(tf.mul(state.a, wOld), tf.mul(v, wNew)) as tf.Tensor2D, b: tf.add(tf.mul(state.b, wOld), wNew) as tf.Tensor2D } };
  });
}
