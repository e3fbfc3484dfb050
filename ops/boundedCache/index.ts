// Bounded-cache attention (KV-cache eviction: recency, sink + recency, H2O): the policies (policy.ts), the parallel
// masked form (parallel.ts), the cache step (step.ts) and its per-token loop, the reference (naive.ts).
export { boundedCacheAttention, h2oMaskBias, h2oMaskOp } from './parallel.js';
export { boundedCacheNaive } from './naive.js';
export { boundedCacheStep, initCache, type CacheState } from './step.js';
export { h2oVisible, staticSlot, staticVisible, type CachePolicy, type EvictionKind } from './policy.js';
