// Depthwise causal short convolution: the whole sequence (conv.ts) and one token at a time (step.ts).
export { shortConv } from './conv.js';
export { shortConvStep } from './step.js';
