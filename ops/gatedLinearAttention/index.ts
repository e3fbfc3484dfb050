// Gated linear attention (GLA): chunked form (chunk.ts), per-token reference (naive.ts), step view (step.ts).
export { glaChunked } from './chunk.js';
export { glaNaive } from './naive.js';
export { glaStep } from './step.js';
