// The buffer pool by best fit (lever poolBestFit: accel/webgpu/bufferPool.ts, the rule in core/bestFit.ts) on a
// real adapter: a tiny model's forward and backward over a shuffled mixture of lengths give the same loss and
// gradients, bit for bit, with the lever on and off — in a smaller pool with it on; and a tensor held in a larger
// buffer reads back its own length and values. Runs on a real GPU or on lavapipe (`eval "$(bash
// .ci/setup-webgpu.sh)"`); skipped without any adapter.
import * as tf from '@tensorflow/tfjs';
import { afterAll, describe, expect, it } from 'vitest';
import { webgpuDevice } from './webgpuKit.js';
import { releaseGpu } from '../engine/backend.js';
import { LanguageModel } from '../engine/model.js';
import { setFastPath } from '../accel/webgpu/index.js';
import { bufferPoolStats, trimBufferPool } from '../accel/webgpu/bufferPool.js';

const device = await webgpuDevice('webgpu-poolBestFit');

describe.skipIf(!device)(`buffer pool by best fit on WebGPU (${device ?? 'no adapter'})`, () => {
  afterAll(() => {
    setFastPath({ poolBestFit: false });
    releaseGpu();
  });

  /** Pool bytes made and requests fitted since `trimBufferPool`, around `f`. */
  async function measured<T>(bestFit: boolean, f: () => Promise<T>): Promise<{ value: T; poolBytes: number; fitted: number }> {
    setFastPath({ poolBestFit: bestFit });
    const backend = tf.findBackend('webgpu')!;
    trimBufferPool(backend);
    const before = bufferPoolStats(backend);
    const value = await f();
    const after = bufferPoolStats(backend);
    return { value, poolBytes: after.allocatedBytes - before.allocatedBytes, fitted: after.fittedRequests - before.fittedRequests };
  }

  it('a mixture of lengths: the same loss and gradients bit for bit, in a smaller pool', async () => {
    const model = new LanguageModel({ vocabSize: 30, dModel: 16, nLayers: 2, maxSeqLen: 64, layers: [{ mixer: 'baseconv' }, { mixer: 'attention' }], positionEmbeddings: false, mlp: false, embeddingDropout: 0, residualDropout: 0, seed: 3 });
    const lengths = [8, 64, 16, 32, 8, 64, 16];
    const steps = async () => {
      const out: number[][] = [];
      for (const T of lengths) {
        const tokens = tf.tensor2d(Array.from({ length: 4 * T }, (_, i) => (i * 7 + T) % 30), [4, T], 'int32');
        const { value, grads } = tf.variableGrads(() => tf.mean(tf.square(model.forward(tokens, { training: true, dropoutSeed: 1 }))), model.variables);
        out.push([...(await value.data())]);
        for (const v of model.variables) out.push([...(await grads[v.name]!.data())]);
        tf.dispose([tokens, value, ...Object.values(grads)]);
      }
      return out;
    };
    try {
      const exact = await measured(false, steps);
      const fitted = await measured(true, steps);
      expect(fitted.value).toEqual(exact.value); // every number of every step: bit for bit
      expect(exact.fitted).toBe(0);
      expect(fitted.fitted).toBeGreaterThan(0);
      expect(fitted.poolBytes).toBeLessThan(0.8 * exact.poolBytes);
      console.log(`poolBestFit: pool ${(exact.poolBytes / 2 ** 20).toFixed(2)} MiB exact, ${(fitted.poolBytes / 2 ** 20).toFixed(2)} MiB by best fit (${fitted.fitted} requests fitted)`);
    } finally {
      model.dispose();
    }
  });

  it('a tensor in a larger buffer reads back its own length and values', async () => {
    // sizes past tfjs's CPU hand-off (WEBGPU_CPU_HANDOFF_SIZE_THRESHOLD, 1000 elements), so that both run on the GPU
    const { value, fitted } = await measured(true, async () => {
      const ones = tf.ones([4000]);
      const big = tf.add(ones, 1);
      await big.data(); // submitted: its buffers go back to the pool when disposed
      tf.dispose([ones, big]); // 16,000-byte buffers in the pool
      const small = tf.add(tf.range(0, 2000, 1, 'float32'), 1); // 8,000 bytes: its upload and its output take them (within 4x)
      const values = await small.data();
      small.dispose();
      return values;
    });
    expect(fitted).toBeGreaterThanOrEqual(2);
    expect(value.length).toBe(2000);
    expect([...value]).toEqual(Array.from({ length: 2000 }, (_, i) => i + 1));
  });
});
