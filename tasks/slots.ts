// Front-loaded query placement (zoology's MQAR): the query region has `space` even-offset slots; slot g
// (0-based) has weight ∝ (g+1)^(a−1); K distinct slots are drawn sequentially by weight, without replacement.
//
// Exact and fast, with no per-slot work per example: each draw takes a slot from the FULL distribution (inverse
// integer CDF, located through a guide table) and rejects it if it is already taken. A full draw conditioned
// on "not taken" has exactly the renormalised law over the remaining slots, i.e. this is sequential sampling
// without replacement (the same law as numpy's choice(replace=False, p) in zoology, or Efraimidis–Spirakis keys
// u^(1/w), without their O(space) per example). After `maxRejections` rejections in a row (the taken mass is
// large) the draw switches to an exact scan over the remaining mass; since the attempt at which a rejection
// loop first succeeds is independent of the slot it lands on, the mixture of the two paths is still exact.
//
// Weights are quantised to integers summing to 2^31 (each within 2^-32 of p_g, the rounding remainder on the
// heaviest slot) so that sampling compares integers only, identically on every machine; Math.pow runs once per
// (space, a), never per example.
import type { Rng } from '../core/prng.js';

const TOTAL = 2 ** 31;
const MAX_REJECTIONS = 8;

/** Exact first-draw probabilities p_g = (g+1)^(a−1) / Σ_h (h+1)^(a−1) for g in [0, space). */
export function slotProbabilities(space: number, powerA: number): Float64Array {
  const p = new Float64Array(space);
  let sum = 0;
  for (let g = 0; g < space; g++) {
    p[g] = Math.pow(g + 1, powerA - 1);
    sum += p[g]!;
  }
  for (let g = 0; g < space; g++) p[g]! /= sum;
  return p;
}

export class SlotSampler {
  /** Integer mass of each slot (≥ 1), summing to 2^31. */
  readonly mass: Float64Array;
  /** cdf[g] = mass[0] + … + mass[g]. */
  readonly cdf: Float64Array;
  /** guide[j] = first g with cdf[g] > j·2^shift: a draw starts there and walks ~1 step (cutpoint method). */
  private readonly guide: Int32Array;
  private readonly shift: number;
  private readonly taken: Uint32Array;
  private stamp = 0;

  /**
   * @param maxRejections rejected full draws before the exact scan takes over (the result's distribution does not
   *   depend on it, only the speed and the exact random stream: keep the default for reproducible data).
   */
  constructor(
    readonly space: number,
    readonly powerA: number,
    private readonly maxRejections = MAX_REJECTIONS,
  ) {
    if (!Number.isInteger(space) || space < 1) throw new RangeError(`SlotSampler: space must be ≥ 1, got ${space}`);
    const p = slotProbabilities(space, powerA);
    this.mass = new Float64Array(space);
    let sum = 0;
    for (let g = 0; g < space; g++) {
      this.mass[g] = Math.max(1, Math.round(p[g]! * TOTAL));
      sum += this.mass[g]!;
    }
    // Put the rounding remainder on the heaviest slot so the masses sum to exactly 2^31.
    let heaviest = 0;
    for (let g = 1; g < space; g++) if (this.mass[g]! > this.mass[heaviest]!) heaviest = g;
    this.mass[heaviest]! += TOTAL - sum;
    this.cdf = new Float64Array(space);
    let c = 0;
    for (let g = 0; g < space; g++) {
      c += this.mass[g]!;
      this.cdf[g] = c;
    }
    this.taken = new Uint32Array(space);
    const bits = Math.min(20, Math.ceil(Math.log2(space)) + 1);
    this.shift = 31 - bits;
    this.guide = new Int32Array(1 << bits);
    let g = 0;
    for (let j = 0; j < 1 << bits; j++) {
      const r = j * 2 ** this.shift;
      while (this.cdf[g]! <= r) g++;
      this.guide[j] = g;
    }
  }

  /** Draw k ≤ space distinct slots, in draw order, into out[offset .. offset+k). */
  draw(rng: Rng, k: number, out: Int32Array, offset = 0): void {
    const { cdf, mass, taken, space, guide, shift, maxRejections } = this;
    if (k > space) throw new RangeError(`SlotSampler: cannot draw ${k} distinct slots out of ${space}`);
    this.stamp++;
    if (this.stamp === 0xffffffff) {
      taken.fill(0);
      this.stamp = 1;
    }
    const stamp = this.stamp;
    let takenMass = 0;
    for (let i = 0; i < k; i++) {
      let g = -1;
      for (let attempt = 0; attempt < maxRejections; attempt++) {
        const r = rng.nextU32() >>> 1; // uniform in [0, 2^31)
        // first g with cdf[g] > r
        let lo = guide[r >>> shift]!;
        while (cdf[lo]! <= r) lo++;
        if (taken[lo] !== stamp) {
          g = lo;
          break;
        }
      }
      if (g < 0) {
        // exact draw over the remaining mass
        let r = rng.int(TOTAL - takenMass);
        for (let h = 0; h < space; h++) {
          if (taken[h] === stamp) continue;
          r -= mass[h]!;
          if (r < 0) {
            g = h;
            break;
          }
        }
      }
      taken[g] = stamp;
      takenMass += mass[g]!;
      out[offset + i] = g;
    }
  }
}
