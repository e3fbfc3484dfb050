// The S4D recurrence one token at a time (H3's step view), with the discretisation of kernel.ts.
import * as tf from '@tensorflow/tfjs';
import type { S4DDiscrete } from './kernel.js';

/**
 * One step of the recurrence for channels grouped as [H, G] (G channels share channel h's SSM, as H3's
 * head_dim² kv products do): state (re, im) [B, H, G, n], u [B, H, G] → y [B, H, G] and the next state.
 */
export function s4dStep(disc: S4DDiscrete, stateRe: tf.Tensor4D, stateIm: tf.Tensor4D, u: tf.Tensor3D): { y: tf.Tensor3D; stateRe: tf.Tensor4D; stateIm: tf.Tensor4D } {
  return tf.tidy(() => {
    const [H, n] = disc.aRe.shape;
    const view = (t: tf.Tensor) => t.reshape([1, H, 1, n]);
    const aRe = view(disc.aRe);
    const aIm = view(disc.aIm);
    const input = u.expandDims(3); // real input, added to the real part: s = dA·s + u (dB lives in W)
    const nextRe = tf.add(tf.sub(tf.mul(aRe, stateRe), tf.mul(aIm, stateIm)), input) as tf.Tensor4D;
    const nextIm = tf.add(tf.mul(aRe, stateIm), tf.mul(aIm, stateRe)) as tf.Tensor4D;
    const y = tf.mul(tf.sum(tf.sub(tf.mul(view(disc.wRe), nextRe), tf.mul(view(disc.wIm), nextIm)), 3), 2) as tf.Tensor3D;
    return { y, stateRe: nextRe, stateIm: nextIm };
  });
}
