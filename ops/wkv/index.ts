// RWKV-4's WKV: parallel associative scan (parallel.ts), per-token reference (naive.ts), step view (step.ts).
export { wkvParallel } from './parallel.js';
export { wkvNaive } from './naive.js';
export { wkvInitState, wkvStep, type WkvState } from './step.js';
