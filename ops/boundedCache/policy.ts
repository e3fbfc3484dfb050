// Which tokens a bounded KV cache keeps (ops/boundedCache/): the eviction policies, as the set of earlier positions
// the query at position t sees. Shared by the parallel form (its mask, parallel.ts) and the step view (step.ts).
//
// A cache of C slots fills in order (token t in slot t while t < C); once full, every new token evicts one entry:
//   recency  the oldest entry (= sliding-window attention with w = C)
//   sink     the oldest entry after the first `sink` tokens, which stay (StreamingLLM's attention sinks + recency)
//   h2o      the entry with the smallest accumulated attention (Σ of the weights it received from every query so
//            far, its own included), among those older than the `recent` most recent tokens (H2O's heavy hitters +
//            recent window); ties go to the oldest
// The query at t attends over the cache (tokens < t) and itself; then t enters the cache.

export type EvictionKind = 'recency' | 'sink' | 'h2o';

export interface CachePolicy {
  kind: EvictionKind;
  /** C: most earlier tokens the cache holds. */
  size: number;
  /** sink: the first `sink` tokens are never evicted (0 < sink < C). */
  sink: number;
  /** h2o: the `recent` most recent tokens (the new one included) are never evicted (1 ≤ recent ≤ C). */
  recent: number;
}

/** recency / sink: the slot token t is written to (the slot of the entry it evicts once the cache is full). */
export function staticSlot(p: CachePolicy, t: number): number {
  if (t < p.size) return t;
  if (p.kind === 'recency') return t % p.size;
  if (p.kind === 'sink') return p.sink + ((t - p.sink) % (p.size - p.sink));
  throw new Error(`staticSlot: policy ${p.kind} evicts by content`);
}

/** recency / sink: whether the query at t sees position s (s ≤ t). */
export function staticVisible(p: CachePolicy, t: number, s: number): boolean {
  if (s > t) return false;
  if (s === t || t <= p.size) return true;
  if (p.kind === 'recency') return s >= t - p.size;
  if (p.kind === 'sink') return s < p.sink || s >= t - (p.size - p.sink);
  throw new Error(`staticVisible: policy ${p.kind} evicts by content`);
}

/**
 * H2O's selection computed causally from the raw attention scores of one (example, head): scores [T·T] row-major
 * (query t, key s; only s ≤ t is read) → visible [T·T] (1 where the query at t sees s). Token by token: softmax over
 * cache ∪ {t}, accumulate, insert t, evict the smallest accumulated score older than the `recent` newest (ties: oldest).
 */
export function h2oVisible(p: CachePolicy, scores: ArrayLike<number>, T: number, out: Uint8Array, offset = 0): void {
  const pos: number[] = [];
  const acc: number[] = [];
  const w: number[] = [];
  for (let t = 0; t < T; t++) {
    const row = t * T;
    let max = scores[row + t]!;
    for (const s of pos) max = Math.max(max, scores[row + s]!);
    let total = Math.exp(scores[row + t]! - max);
    for (let i = 0; i < pos.length; i++) total += w[i] = Math.exp(scores[row + pos[i]!]! - max);
    for (let i = 0; i < pos.length; i++) {
      acc[i]! += w[i]! / total;
      out[offset + row + pos[i]!] = 1;
    }
    out[offset + row + t] = 1;
    const own = Math.exp(scores[row + t]! - max) / total;
    if (pos.length < p.size) {
      pos.push(t);
      acc.push(own);
      continue;
    }
    let evict = -1;
    for (let i = 0; i < pos.length; i++) {
      if (pos[i]! > t - p.recent) continue;
      if (evict < 0 || acc[i]! < acc[evict]! || (acc[i] === acc[evict] && pos[i]! < pos[evict]!)) evict = i;
    }
    pos[evict] = t;
    acc[evict] = own;
  }
}
