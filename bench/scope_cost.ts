// What the GPU fault checks cost (issue 11): engine/loop.ts wraps each epoch's training steps, its evaluation and
// its checkpoint in engine/gpuFaults.ts `checkedOnGpu` (three error scopes pushed, three popped and awaited). This
// times a unit of real training steps (engine/train.ts trainStep, BASED-layout model, MQAR batches) with and
// without the wrap, alternating, on the webgpu backend, and one empty wrap around nothing but a read-back.
//
//   npx tsx bench/scope_cost.ts [--steps 20] [--repeats 7] [--allow-software] [--presets-dir DIR]
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../engine/backend.js';
import { checkedOnGpu } from '../engine/gpuFaults.js';
import { LanguageModel } from '../engine/model.js';
import { createOptimizer, trainStep } from '../engine/train.js';
import { equivBatches, loadPresets, modelConfigOf, presetCases } from './gpuEquiv.js';

const arg = (flag: string, fallback: number) => {
  const i = process.argv.indexOf(flag);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
};
const steps = arg('--steps', 20);
const repeats = arg('--repeats', 7);
const device = await initBackend('webgpu', { allowSoftwareAdapter: process.argv.includes('--allow-software') });
const presetsAt = process.argv.indexOf('--presets-dir');
const c = presetCases(loadPresets(presetsAt >= 0 ? process.argv[presetsAt + 1] : undefined)).find((x) => x.name === 'based')!;
const s = { dModel: 128, seqLens: [256], vocabSize: 8192, batchSize: 64, steps, lr: 1e-3, weightDecay: 0.1, seed: 0 };
const data = equivBatches(s);
const model = new LanguageModel(modelConfigOf(c, s, data.vocabSize, data.maxSeqLen));
const optimizer = createOptimizer(model, { weightDecay: s.weightDecay });

async function unit(): Promise<number> {
  let last: tf.Scalar | undefined;
  for (let i = 0; i < steps; i++) {
    last?.dispose();
    last = trainStep(model, optimizer, data.batches[i]!, data.sups[i]!, s.lr, i + 1);
  }
  const [loss] = await last!.data();
  last!.dispose();
  return loss!;
}
const time = async (fn: () => Promise<unknown>) => {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
};
await unit(); // warm-up: shaders compiled, buffers pooled
const plain: number[] = [];
const wrapped: number[] = [];
const empty: number[] = [];
const readOnly: number[] = [];
for (let r = 0; r < repeats; r++) {
  plain.push(await time(unit));
  wrapped.push(await time(() => checkedOnGpu(unit)));
  const x = tf.scalar(1);
  readOnly.push(await time(() => x.data()));
  empty.push(await time(() => checkedOnGpu(() => x.data())));
  x.dispose();
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
console.log(`scope-cost on ${device.device}: based d128 L256 B64 V8192, ${steps} steps per unit, ${repeats} repeats (medians)`);
console.log(`  ${steps} steps + read-back:            ${median(plain).toFixed(1)} ms plain, ${median(wrapped).toFixed(1)} ms inside checkedOnGpu (${(median(wrapped) - median(plain)).toFixed(2)} ms per wrap)`);
console.log(`  a read-back alone:                 ${median(readOnly).toFixed(2)} ms plain, ${median(empty).toFixed(2)} ms inside checkedOnGpu`);
console.log(`  all: plain ${plain.map((x) => x.toFixed(0)).join(' ')} | wrapped ${wrapped.map((x) => x.toFixed(0)).join(' ')}`);
