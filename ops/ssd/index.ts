// Mamba-2's state space dual (SSD): chunked form (chunk.ts), per-token reference (naive.ts), step view (step.ts).
export { ssdChunked } from './chunk.js';
export { ssdNaive } from './naive.js';
export { ssdStep } from './step.js';
