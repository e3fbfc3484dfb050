// Long causal depthwise convolution (BaseConv-long, H3, Hyena): blocked Toeplitz matmuls (blocked.ts), the
// shifted-sum reference (naive.ts), the step view (step.ts); channelMatMul.ts is its batched per-channel product.
export { circularLongConv, defaultLongConvChunk, longConv, longConvOp, toeplitzBlocks, type LongConvOptions } from './blocked.js';
export { longConvNaive } from './naive.js';
export { longConvStep } from './step.js';
export { channelMatMul, channelMatMulOp } from './channelMatMul.js';
