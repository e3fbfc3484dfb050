// Sum over a run of adjacent axes (tfjs's tf.sum): the plain loop (naive.ts); the kernel that replaces tfjs's where
// each output sums few values is in accel/webgpu/narrowSum.ts.
export { axisRunView, sumAxisRunValues } from './naive.js';
