// How far back an MQAR answer lies: a model that sees only the last `maxDistance` tokens (a sliding window, plus
// whatever its short convolutions add) can answer a query only if the value of its key is within reach. The share of
// such queries bounds its accuracy (bench/window_reach.ts sets it beside the campaign's sliding-window points).
import type { Segment } from './types.js';

/**
 * Share of the labelled positions of an MQAR segment whose answer — the token after the first occurrence of the
 * queried key in the kv block (keys at even positions, each value right after) — is at most `maxDistance` tokens
 * before the query: distance t − (key + 1) for a query at t.
 */
export function mqarShareWithinReach(seg: Pick<Segment, 'seqLen' | 'count' | 'inputs' | 'labels'>, maxDistance: number): number {
  const L = seg.seqLen;
  let queries = 0;
  let reachable = 0;
  for (let e = 0; e < seg.count; e++) {
    const row = e * L;
    const firstAt = new Map<number, number>(); // token → its first even position (the kv block comes first)
    for (let t = 0; t < L; t++) {
      const token = seg.inputs[row + t]!;
      if (t % 2 === 0 && !firstAt.has(token)) firstAt.set(token, t);
      if (seg.labels[row + t]! < 0) continue;
      queries++;
      const key = firstAt.get(token);
      if (key !== undefined && key < t && t - (key + 1) <= maxDistance) reachable++;
    }
  }
  return queries === 0 ? 0 : reachable / queries;
}
