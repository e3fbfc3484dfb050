// Lever `savedViews` (accel/webgpu/savedViews.ts): the tensors tfjs saves for the backward pass taken as views, not
// by the Identity kernel. Two-layer attention and RWKV-7 models, one training step with the lever on and off: the
// loss and every gradient the same to the bit, no Identity kernel left in the step with it on (tfjs's runs dozens),
// and the tensors and data buffers held after the step the same count (no reference left over or lost); a saved
// tensor disposed by backprop leaves its source readable. Runs on a real GPU or on lavapipe
// (`eval "$(bash .ci/setup-webgpu.sh)"`); skipped without any adapter.
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { webgpuDevice } from './webgpuKit.js';
import { releaseGpu } from '../engine/backend.js';
import { defaultFastPath, setFastPath } from '../accel/webgpu/index.js';
import { LanguageModel, type LayerSpec } from '../engine/model.js';

const device = await webgpuDevice('webgpu-savedViews');

const T = 12;
const D = 16;

/** One step's loss and gradients (as bytes) and the Identity kernels it ran, with the lever as given. */
async function step(model: LanguageModel, on: boolean) {
  setFastPath({ savedViews: on });
  const tokens = tf.tensor2d(Array.from({ length: 2 * T }, (_, i) => (i * 7) % 30), [2, T], 'int32');
  const cotangent = tf.randomNormal([2, T, D], 0, 1, 'float32', 29);
  let out!: { value: tf.Scalar; grads: tf.NamedTensorMap };
  const profile = await tf.profile(() => {
    out = tf.variableGrads(() => tf.sum(tf.mul(model.forward(tokens, { training: true, dropoutSeed: 1 }), cotangent)), model.variables);
    return out.value;
  });
  const bytes = [await out.value.data(), ...(await Promise.all(model.variables.map((v) => out.grads[v.name]!.data())))].map((a) => Buffer.from(a.buffer).toString('hex'));
  tf.dispose([tokens, cotangent, out.value, ...Object.values(out.grads)]);
  return { bytes, identities: profile.kernels.filter((k) => k.name === 'Identity').length };
}

describe.skipIf(!device)(`savedViews on WebGPU (${device ?? 'no adapter'})`, () => {
  beforeAll(() => setFastPath(defaultFastPath()));
  afterAll(() => {
    setFastPath(defaultFastPath());
    releaseGpu();
  });

  const layouts: Array<[string, LayerSpec[]]> = [
    ['attention', [{ mixer: 'attention' }, { mixer: 'attention' }]],
    ['rwkv7', [{ mixer: 'rwkv7', params: { numHeads: 2 } }, { mixer: 'rwkv7', params: { numHeads: 2 } }]],
  ];
  for (const [name, layers] of layouts) {
    it(`${name}: the same loss and gradients to the bit, no Identity kernel, the same tensors and buffers held`, async () => {
      const model = new LanguageModel({ vocabSize: 30, dModel: D, nLayers: 2, maxSeqLen: T, layers, positionEmbeddings: false, mlp: false, embeddingDropout: 0, residualDropout: 0, seed: 3 });
      const held = () => ({ tensors: tf.memory().numTensors, buffers: tf.memory().numDataBuffers });
      const off = await step(model, false);
      const before = held();
      const on = await step(model, true);
      expect(held(), 'held after a step with the lever on').toEqual(before);
      const offAgain = await step(model, false);
      expect(held(), 'held after a step with it off').toEqual(before);
      expect(on.bytes).toEqual(off.bytes);
      expect(offAgain.bytes).toEqual(off.bytes);
      expect(off.identities, 'tfjs clones by Identity').toBeGreaterThan(10);
      expect(on.identities).toBe(0);
      expect(offAgain.identities, "off again: tfjs's clone back").toBe(off.identities);
      model.dispose();
    });
  }

  it('a tensor the caller holds, saved for backprop as a view: still readable after, its reference count and the memory back where they were', async () => {
    setFastPath({ savedViews: true });
    const x = tf.tensor1d([1, 2, 3]);
    const refCount = () => (tf.backend() as unknown as { tensorMap: { get(id: object): { refCount: number } } }).tensorMap.get(x.dataId).refCount;
    const before = { ...tf.memory(), refCount: refCount() };
    // Square saves its input x: a view of x's data, disposed by backprop
    const g = tf.grad((t: tf.Tensor) => tf.sum(tf.square(t)))(x);
    expect(Array.from(await g.data())).toEqual([2, 4, 6]);
    g.dispose();
    expect(Array.from(await x.data())).toEqual([1, 2, 3]);
    const after = { ...tf.memory(), refCount: refCount() };
    expect([after.numTensors, after.numDataBuffers, after.numBytes, after.refCount]).toEqual([before.numTensors, before.numDataBuffers, before.numBytes, before.refCount]);
    x.dispose();
  });
});
