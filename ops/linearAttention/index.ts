// Linear attention over feature-mapped queries and keys: chunked causal form (chunk.ts), zoology's formula
// (naive.ts), non-causal (nonCausal.ts) and the recurrent view (step.ts).
export { LINEAR_ATTENTION_CHUNK, LINEAR_ATTENTION_EPS, type LinearAttentionOptions, type LinearAttentionState, type PairScore, type SharedKeys } from './common.js';
export { causalLinearAttention } from './chunk.js';
export { causalLinearAttentionNaive } from './naive.js';
export { linearAttentionNonCausal } from './nonCausal.js';
export { linearAttentionState, linearAttentionStep, linearAttentionZeroState } from './step.js';
