// Every seed of recallbench comes from this module: the seeded, counter-based pseudo-random numbers of task
// generation (never Math.random), the one 32-bit hash (murmur3) and the named derivations of the training seeds
// (parameter init aside: engine/params.ts). Only 32-bit integer arithmetic (Math.imul, shifts) is used, so the
// numbers are identical on every JavaScript engine and machine.
//
// Example i of a stream is a pure function of (seed, stream, i): `hashSeeds(seed, stream, i)` (a murmur3-style
// 32-bit hash of the parts, with the murmur3 finaliser) gives the example's own seed, and an sfc32 generator
// seeded from it (through splitmix32) draws everything that example needs.

const TWO_32 = 4294967296;
const INV_2_32 = 1 / 4294967296;

/** murmur3's 32-bit finaliser (full avalanche). */
export function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** A 32-bit integer hash (lowbias32, Wellons): the hash of the dropout masks (ops/dropout/), which
 *  the WGSL dropout kernel computes too. */
export function lowbias32(v: number): number {
  let x = v >>> 0;
  x ^= x >>> 16;
  x = Math.imul(x, 0x7feb352d) >>> 0;
  x ^= x >>> 15;
  x = Math.imul(x, 0x846ca68b) >>> 0;
  x ^= x >>> 16;
  return x >>> 0;
}

/** One murmur3 body round: absorbs the 32-bit word `k` into the running hash `h`. */
export function murmur3Round(h: number, k: number): number {
  k = Math.imul(k, 0xcc9e2d51);
  k = (k << 15) | (k >>> 17);
  k = Math.imul(k, 0x1b873593);
  h ^= k;
  h = (h << 13) | (h >>> 19);
  return (Math.imul(h, 5) + 0xe6546b64) | 0;
}

const HASH_INIT = 0x2f6b8f31;
const TAG_INT = 0x1;
const TAG_FLOAT = 0x2;
const TAG_STRING = 0x3;
const f64 = new Float64Array(1);
const f64Words = new Uint32Array(f64.buffer);

/** Running state of a hashSeeds computation: the hash and the number of 32-bit words absorbed. */
interface HashState {
  h: number;
  words: number;
}

function absorbPart(s: HashState, part: number | string): void {
  if (typeof part === 'string') {
    s.h = murmur3Round(s.h, TAG_STRING);
    s.h = murmur3Round(s.h, part.length);
    s.words += 2;
    // Two UTF-16 code units per word.
    for (let i = 0; i < part.length; i += 2) {
      const lo = part.charCodeAt(i);
      const hi = i + 1 < part.length ? part.charCodeAt(i + 1) : 0;
      s.h = murmur3Round(s.h, lo | (hi << 16));
      s.words++;
    }
  } else if (typeof part === 'number') {
    if (!Number.isFinite(part)) throw new RangeError(`hashSeeds: non-finite number ${part}`);
    if (Number.isSafeInteger(part)) {
      // Low and high 32 bits of the (two's complement) integer.
      const hi = Math.floor(part / TWO_32);
      s.h = murmur3Round(s.h, TAG_INT);
      s.h = murmur3Round(s.h, part >>> 0);
      s.h = murmur3Round(s.h, hi | 0);
    } else {
      f64[0] = part;
      s.h = murmur3Round(s.h, TAG_FLOAT);
      s.h = murmur3Round(s.h, f64Words[0]!);
      s.h = murmur3Round(s.h, f64Words[1]!);
    }
    s.words += 3;
  } else {
    throw new TypeError(`hashSeeds: parts must be numbers or strings, got ${typeof part}`);
  }
}

/**
 * Hash any number of seed parts (integers, floats, strings) into one 32-bit seed. Parts are typed: `1` and `'1'`
 * hash differently; integers up to 2^53 keep all their bits. `hashSeeds(a, b, c)` is a pure function of its
 * arguments.
 */
export function hashSeeds(...parts: (number | string)[]): number {
  const s: HashState = { h: HASH_INIT, words: 0 };
  for (const p of parts) absorbPart(s, p);
  return fmix32(s.h ^ s.words);
}

/**
 * The per-example seeds of one stream, fast: `new SeedStream(seed, stream).seedAt(i) === hashSeeds(seed, stream, i)`
 * for every safe integer i, without re-hashing the first two parts each time.
 */
export class SeedStream {
  private readonly h: number;
  private readonly words: number;
  constructor(readonly seed: number, readonly stream: number | string) {
    const s: HashState = { h: HASH_INIT, words: 0 };
    absorbPart(s, seed);
    absorbPart(s, stream);
    this.h = s.h;
    this.words = s.words;
  }

  seedAt(index: number): number {
    if (!Number.isSafeInteger(index)) return hashSeeds(this.seed, this.stream, index);
    let h = murmur3Round(this.h, TAG_INT);
    h = murmur3Round(h, index >>> 0);
    h = murmur3Round(h, Math.floor(index / TWO_32) | 0);
    return fmix32(h ^ (this.words + 3));
  }

  /** The Rng of example `index`; reseeds `into` (no allocation) when given. */
  rngAt(index: number, into?: Rng): Rng {
    const seed = this.seedAt(index);
    if (into) {
      into.reseed(seed);
      return into;
    }
    return new Rng(seed);
  }
}

function splitmix32(s: number, i: number): number {
  let z = (s + Math.imul(i, 0x9e3779b9)) | 0;
  z ^= z >>> 16;
  z = Math.imul(z, 0x21f0aaad);
  z ^= z >>> 15;
  z = Math.imul(z, 0x735a2d97);
  z ^= z >>> 15;
  return z | 0;
}

/**
 * sfc32 (Chris Doty-Humphrey's small fast chaotic generator, 128-bit state, period ≥ 2^32), seeded through
 * splitmix32. `reseed` makes one instance reusable across examples without allocating.
 */
export class Rng {
  private a = 0;
  private b = 0;
  private c = 0;
  private d = 0;

  constructor(seed: number) {
    this.reseed(seed);
  }

  /** Restart the generator from `seed` (any number; its low 32 bits are used, non-integers are hashed). */
  reseed(seed: number): void {
    const s = Number.isInteger(seed) ? seed | 0 : hashSeeds(seed);
    // splitmix32: the i-th output is a fixed mix of s + i·golden
    this.a = splitmix32(s, 1);
    this.b = splitmix32(s, 2);
    this.c = splitmix32(s, 3);
    this.d = 1;
    for (let i = 0; i < 6; i++) this.nextU32();
  }

  /** Uniform 32-bit unsigned integer. */
  nextU32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  /** Uniform float in [0, 1) with 32 bits of resolution. */
  nextFloat(): number {
    return this.nextU32() / TWO_32;
  }

  /**
   * Uniform integer in [0, maxExclusive), exactly unbiased (Lemire's multiply-shift with rejection for
   * maxExclusive < 2^21, plain rejection + modulo above). maxExclusive: an integer in [1, 2^32].
   */
  int(maxExclusive: number): number {
    const n = maxExclusive;
    if (n < 2097152 && n >= 1) {
      // x·n < 2^53 is exact in a double; hi = ⌊x·n / 2^32⌋, low = x·n mod 2^32 (no fmod: it is slow).
      let m = this.nextU32() * n;
      let hi = Math.floor(m * INV_2_32);
      let low = m - hi * TWO_32;
      if (low < n) {
        const threshold = (TWO_32 - n) % n;
        while (low < threshold) {
          m = this.nextU32() * n;
          hi = Math.floor(m * INV_2_32);
          low = m - hi * TWO_32;
        }
      }
      return hi;
    }
    if (!(n >= 1 && n <= TWO_32) || !Number.isInteger(n)) {
      throw new RangeError(`Rng.int: maxExclusive must be an integer in [1, 2^32], got ${n}`);
    }
    const limit = TWO_32 - (TWO_32 % n);
    let x = this.nextU32();
    while (x >= limit) x = this.nextU32();
    return x % n;
  }

  /** Fisher–Yates shuffle in place (uniform over permutations); returns `arr`. */
  shuffle<A extends { length: number; [i: number]: unknown }>(arr: A): A {
    for (let i = arr.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const tmp = arr[i];
      arr[i] = arr[j];
      arr[j] = tmp;
    }
    return arr;
  }
}

/**
 * Uniform floats in [0, 1) from a 32-bit linear congruential generator (Numerical Recipes' constants): the input
 * batch of bench/export-weights.ts, kept as it was so the exported batches stay the same. Task data uses Rng.
 */
export function lcgUniform(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

/** The Rng of example `index` of stream `stream` under `seed`: `new Rng(hashSeeds(seed, stream, index))`. */
export function rngFor(seed: number, stream: number | string, index: number): Rng {
  return new Rng(hashSeeds(seed, stream, index));
}

// ---- Training seeds ------------------------------------------------------------------------------------------
// Each formula below is the one the runs were made with (run ids, stored curves and checkpoints depend on them):
// a site that needs a seed calls its function here instead of doing its own arithmetic.

/** The seed of training step `step` (1-based, counted over the whole run): its dropout masks derive from it. */
export function stepSeed(runSeed: number, step: number): number {
  return (runSeed * 1_000_003 + step) >>> 0;
}

/** The seed of the generator that shuffles the batch order of epoch `epoch` (0-based). */
export function epochShuffleSeed(runSeed: number, epoch: number): number {
  return (runSeed ^ Math.imul(epoch + 1, 0x9e3779b1)) >>> 0;
}

/** The seed of the `counter`-th parameter a model's store creates (1-based): tfjs seeds its Alea generator from it. */
export function paramSeed(storeSeed: number, counter: number): number {
  return (Math.imul(storeSeed + 0x9e3779b9, 2654435761) ^ Math.imul(counter, 40503)) >>> 0;
}

/** The seed of a step's prefix masking (JRT-RNN's masked-token objective), from the step's seed. */
export function prefixMaskSeed(stepSeed: number): number {
  return stepSeed ^ 0x5bd1e995;
}

/** The places in the model where a step draws a dropout mask (engine/model.ts); each has its own prime. */
const DROPOUT_SITE_PRIMES = {
  /** inside layer i's mixer (attention weights, ...) */
  mixer: 7919,
  /** after layer i's mixer (residual dropout) */
  residual: 104729,
  /** zoology's TransformerBlock i: dropout1 on the block's input */
  blockInput: 15485863,
  /** zoology: the last residual dropout, after all blocks (layer 0) */
  final: 32452843,
} as const;
export type DropoutSite = keyof typeof DROPOUT_SITE_PRIMES;

/** The seed of the dropout mask at `site` of layer `layer` (0-based) in a step with seed `stepSeed`. */
export function dropoutSeed(stepSeed: number, site: DropoutSite, layer = 0): number {
  return stepSeed + DROPOUT_SITE_PRIMES[site] * (layer + 1);
}
