// The gated delta rule (Gated DeltaNet): chunked WY form with decay (chunk.ts), per-token reference (naive.ts),
// step view (step.ts).
export { gatedDeltaRuleChunked } from './chunk.js';
export { gatedDeltaRuleNaive } from './naive.js';
export { gatedDeltaRuleStep } from './step.js';
