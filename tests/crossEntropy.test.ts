// ops/crossEntropy's plain-tfjs forms on the CPU backends: logSumExpLast is tf.logSumExp with the gradient written
// as softmax (tfjs differentiates through its max shift with a broadcast Equal that tfjs-wasm runs slowly) — the same
// value, and the gradient of tf.logSumExp within float32 rounding, rank 2 and 3; and the tied-head loss through it
// equals the loss written out with a one-hot target, value and gradients.
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { logSumExpLast, softmaxCrossEntropyNaive, tiedHeadCrossEntropyNaive } from '../ops/crossEntropy/index.js';
import { randn, relativeError, useBackend } from './helpers.js';

describe.each(['cpu', 'wasm'] as const)('softmax cross-entropy, plain forms (%s)', (backend) => {
  it('logSumExpLast: the value of tf.logSumExp over the last axis, its gradient softmax (ranks 2 and 3)', async () => {
    await useBackend(backend);
    for (const shape of [[7, 300], [3, 5, 64]]) {
      // large logits (std 20): without the max shift exp would overflow
      const x = tf.tidy(() => tf.mul(randn(shape, 11), 20));
      const w = randn(shape.slice(0, -1), 12);
      const mine = tf.valueAndGrad((a: tf.Tensor) => tf.sum(tf.mul(logSumExpLast(a), w)))(x);
      const stock = tf.valueAndGrad((a: tf.Tensor) => tf.sum(tf.mul(tf.logSumExp(a, -1), w)))(x);
      expect(await relativeError(logSumExpLast(x), tf.logSumExp(x, -1))).toBe(0);
      expect(await relativeError(mine.grad, stock.grad)).toBeLessThan(1e-5);
      // the gradient is exactly w ⊙ softmax: rows sum to w
      expect(await relativeError(tf.sum(mine.grad, -1), w)).toBeLessThan(1e-5);
      tf.dispose([x, w, mine.value, mine.grad, stock.value, stock.grad]);
    }
  });

  it('the tied-head loss through it equals the one-hot form, loss and gradients of hidden and embedding', async () => {
    await useBackend(backend);
    const [M, d, V] = [6, 8, 50];
    const hidden = randn([M, d], 21) as tf.Tensor2D;
    const embedding = randn([V, d], 22) as tf.Tensor2D;
    const labels = tf.tensor1d([0, 3, 49, 3, 17, 8], 'int32');
    const tied = tf.grads((h: tf.Tensor, e: tf.Tensor) => tiedHeadCrossEntropyNaive(h as tf.Tensor2D, e as tf.Tensor2D, labels).loss)([hidden, embedding]);
    const oneHot = tf.grads((h: tf.Tensor, e: tf.Tensor) => softmaxCrossEntropyNaive(tf.matMul(h, e, false, true) as tf.Tensor2D, labels))([hidden, embedding]);
    expect(await relativeError(tiedHeadCrossEntropyNaive(hidden, embedding, labels).loss, softmaxCrossEntropyNaive(tf.matMul(hidden, embedding, false, true) as tf.Tensor2D, labels))).toBeLessThan(1e-6);
    for (let i = 0; i < 2; i++) expect(await relativeError(tied[i]!, oneHot[i]!)).toBeLessThan(1e-5);
    // and against the definition: softmax(logits) − onehot(labels), averaged over rows, through the head
    const logits = tf.matMul(hidden, embedding, false, true);
    const dLogits = tf.div(tf.sub(tf.softmax(logits), tf.oneHot(labels, V)), M);
    expect(await relativeError(tied[0]!, tf.matMul(dLogits, embedding))).toBeLessThan(1e-5);
  });
});
