// Host time of one tfjs Engine.clone — what the engine runs for every tensor a gradient saves — with lever
// `savedViews` off (tfjs's Identity kernel through runKernel) and on (a reference count and a Tensor): N clones of one
// tensor inside a gradient (clone needs the tape) and, as the engine calls it, inside a kernel; rounds alternated. Host work only: any webgpu adapter will do.
//
//   npx tsx bench/clone_cost.ts [N] [--allow-software]    (lavapipe: eval "$(bash .ci/setup-webgpu.sh)" first)
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../engine/backend.js';
import { setFastPath } from '../accel/webgpu/index.js';

const N = Number(process.argv.slice(2).find((a) => !a.startsWith('--')) ?? 20000);
await initBackend('webgpu', { allowSoftwareAdapter: process.argv.includes('--allow-software') });
const x = tf.randomNormal([64, 128]);
await x.data();
const engine = tf.engine() as unknown as { clone(t: tf.Tensor): tf.Tensor; state: { kernelDepth: number } };
for (const on of [false, true, false, true]) {
  setFastPath({ savedViews: on });
  const start = performance.now();
  tf.tidy(() => tf.grad((t: tf.Tensor) => {
    // as the engine calls it: inside a kernel (kernelDepth > 0), where tfjs's Identity adds no tape node of its own
    engine.state.kernelDepth++;
    for (let i = 0; i < N; i++) engine.clone(t);
    engine.state.kernelDepth--;
    return t.sum();
  })(x));
  console.log(`savedViews ${on ? 'on ' : 'off'}: ${(((performance.now() - start) / N) * 1000).toFixed(2)} µs a clone (${N} clones)`);
}
