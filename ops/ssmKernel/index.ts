// S4D (H3's diagonal SSM): parameters, discretisation and convolution kernel (kernel.ts: the tfjs form, and the op
// that takes a backend's fused form, accel/webgpu/s4dKernel.ts), the recurrent step (step.ts).
export { s4dDiscretize, s4dKernel, s4dKernelOp, s4dKernelVandermonde, s4dParams, type S4DDiscrete, type S4DParams } from './kernel.js';
export { s4dStep } from './step.js';
