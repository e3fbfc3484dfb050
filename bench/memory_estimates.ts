// Each distinct model of a preset's grid with its estimated peak GPU memory (runners/memory.ts) and the time the
// estimate took:  npx tsx bench/memory_estimates.ts PRESET [SCALE]   (e.g. based-fig2, or based-fig2 0.01)
// The estimate is the sweep's on webgpu: the default fast path's fused forms (accel/webgpu defaultFastPath), and
// beside it the total with the buffer pool by best fit (lever poolBestFit).
import * as tf from '@tensorflow/tfjs';
import { defaultFastPath } from '../accel/webgpu/index.js';
import { describeEstimate, estimateOptions, estimateRunMemory, gib } from '../runners/memory.js';
import { scalePreset } from '../runners/scale.js';
import { expandPreset, loadPreset } from '../runners/sweep.js';

tf.env().set('PROD', true);
const [name, scale] = process.argv.slice(2);
if (!name) throw new Error('usage: npx tsx bench/memory_estimates.ts PRESET [SCALE]');
const preset = scale ? scalePreset(loadPreset(name), Number(scale)) : loadPreset(name);
const options = estimateOptions({ ...defaultFastPath(), poolBestFit: false });
const seen = new Set<string>();
for (const config of expandPreset(preset)) {
  const estimate = await estimateRunMemory(config, options);
  if (estimate.measureMs === 0 || seen.has(estimate.id)) continue; // a shape measured before: same numbers
  seen.add(estimate.id);
  const bestFit = await estimateRunMemory(config, { ...options, poolBestFit: true }); // the same shape: no new measurement
  const mixers = config.model.layers.map((l) => `${l.mixer}${Object.keys(l.params ?? {}).length ? JSON.stringify(l.params) : ''}`).join('+');
  process.stdout.write(`${estimate.run.padEnd(28)} ${(estimate.measureMs / 1000).toFixed(2)} s  ${describeEstimate(estimate)}; by best fit ${gib(bestFit.total)}  [${mixers}]\n`);
}
