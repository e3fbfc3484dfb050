// The batched matrix product (tf.matMul's BatchMatMul): the plain loop (naive.ts); the kernel that replaces tfjs's
// on webgpu is accel/webgpu/matmul.ts (lever `matmul`).
export { batchMatMulValues, type MatMulShape } from './naive.js';
