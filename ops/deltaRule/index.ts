// The delta rule (DeltaNet): chunked WY form (chunk.ts), per-token reference (naive.ts), step view (step.ts).
export { deltaRuleChunked } from './chunk.js';
export { deltaRuleNaive } from './naive.js';
export { deltaRuleStep } from './step.js';
