// RegBench — in-context language learning (Akyürek, Wang, Kim & Andreas 2024, "In-context language learning:
// architectures and algorithms", arXiv 2401.12973; reference code github.com/berlino/seq_icl,
// src/dataloaders/dfa.py and configs/dataset/icl_dfa.yaml). Each example is a random regular language, given by a
// random DFA, and a run of strings sampled from it, joined by a delimiter; the model must infer the language in
// context and continue it. Train and held-out splits never share a language (below).
//
// The DFA family, as the reference code (`ICLDFADataModule.setup`, `RandomDFASampler.sample`) draws it:
//   number of states   n uniform in [4, 12]   (rng.integers(max_outgoing_edges = 4, max_num_nodes + 1 = 13))
//   alphabet size      a uniform in [4, 18]   (rng.integers(4, vocab_size − 2 + 1 = 19)), a distinct symbols of 18
//   out-edges          each state gets k uniform in [1, 3] (rng.integers(1, max_outgoing_edge = 4)) edges labelled by
//                      k distinct symbols of the alphabet, to k distinct states other than itself (no self-loops)
//   start, accepting   state 0 starts; every state accepts (the languages are prefix-closed)
//   then minimised and trimmed (pythomata's minimize().trim()).
// Parameters: minStates/maxStates, minAlphabet/maxAlphabet, numSymbols, maxOutDegree (defaults = the paper's), and
// acceptProb: each state accepts with this probability (default 1 = the paper: every state). With every state
// accepting, a string may end after any symbol, so the delimiter is a valid next token at every position but a
// string's first: a model that always predicts it is ~70% valid while knowing nothing of the language. acceptProb
// < 1 (the icll preset: 0.5) makes where a string may end part of the language; DFAs whose start state reaches no
// non-empty accepted string are redrawn. Each split's metrics also store that floor (`delimiterValidity`).
//
// Strings. The reference code draws a length uniform in [1, 49] and walks the DFA uniformly over a state's
// out-edges, then masks the delimiter targets (the model is never asked where a string ends). Here the metrics
// (validity, total variation to the uniform distribution over the ALLOWED next tokens, delimiter included where the
// string may end) ask for the delimiter too, so the walk draws every next token uniformly from that same allowed
// set: at state s after ℓ symbols of the current string, allowed(s, ℓ) = the symbols of s's out-edges (to states
// from which an accepting state is reachable), plus the delimiter when s accepts and ℓ ≥ 1 (strings are non-empty,
// as the reference's). The data's next-token law is then exactly the metrics' reference distribution: a model that
// knew the language would reach TV 0 and validity 1. (Strings are shorter than the reference's 1–49: with every
// state accepting the walk ends with probability 1/(k+1) at a state with k out-edges, ~2.8 symbols on average.)
//
// Layout. Tokens: 0 = the delimiter, 1..numSymbols = the symbols (vocabSize = numSymbols + 1). A stream of L + 1
// tokens is written: token 0 is a delimiter (the sequence starts as if a string had just ended), then strings and
// delimiters until the stream is full (the last string is cut off). inputs = stream[0, L), labels = stream[1, L + 1):
// EVERY position is supervised with the sampled next token (symbol or delimiter), the first string included — so
// the metrics can be read as a function of the number of complete strings seen (0 while reading the first).
//
// Held-out languages, by construction. A language is identified by its minimal DFA, which is unique up to naming
// its states; numbering the states in breadth-first order from the start (symbols in increasing order) gives a
// canonical table, and its 32-bit hash puts the language into one of 16 buckets: 0–13 are train languages, 14
// validation, 15 test. An example of a segment of split S redraws DFAs (from its own seeded stream) until the
// canonical bucket is one of S's; so no language of the test split can ever occur in training (or validation), for
// any seeds and counts. The split comes from buildSplits (tasks/dataset.ts); a direct generate() call without one
// draws train languages.
//
// Per example the canonical minimal DFA is stored in the segment (Segment.languages: a transition table of
// maxStates × numSymbols int8s, an accepting-state mask, the number of states), from which the metrics recompute
// every position's allowed set (regbenchMetrics below, the evaluation hook of engine/train.ts).
import { z } from 'zod';
import { fmix32, murmur3Round, Rng, SeedStream } from '../core/prng.js';
import { allocSegment, checkSegmentSize, zCount, zPosInt, type TaskDefinition } from './task.js';
import { TaskConfigError, type PackedLanguages, type Segment, type SetTargetAccumulator, type SetTargetMetrics, type TaskSplit, type ValidityMetrics } from './types.js';

export const REGBENCH_DELIMITER = 0;
export const REGBENCH_FIRST_SYMBOL = 1;
/** Canonical-hash buckets of the languages: train 0..13, validation 14, test 15. */
export const REGBENCH_BUCKETS = 16;
export const REGBENCH_SPLIT_BUCKETS: Record<TaskSplit, readonly number[]> = {
  train: Array.from({ length: 14 }, (_, i) => i),
  validation: [14],
  test: [15],
};
/** The most states a DFA may have here (the accepting mask is a 32-bit word; the table stores int8 states). */
export const REGBENCH_MAX_STATES = 32;

export const regbenchSchema = z.strictObject({
  count: zCount,
  seqLen: zPosInt.default(256),
  minStates: zPosInt.default(4),
  maxStates: zPosInt.default(12),
  /** Symbols available to the alphabets (the reference: vocab_size 20 − separator − padding = 18). */
  numSymbols: zPosInt.default(18),
  minAlphabet: zPosInt.default(4),
  maxAlphabet: zPosInt.default(18),
  /** Out-edges per state are uniform in [1, maxOutDegree] (the reference: max_outgoing_edges 4 → 1..3). */
  maxOutDegree: zPosInt.default(3),
  /** Probability that a state accepts (the reference: 1, every state). */
  acceptProb: z.number().gt(0).max(1).default(1),
});
export type RegbenchParams = z.output<typeof regbenchSchema>;

function validateRegbench(p: RegbenchParams): void {
  const fail = (m: string) => {
    throw new TaskConfigError(`regbench: ${m}`);
  };
  if (p.minStates > p.maxStates) fail(`minStates ${p.minStates} exceeds maxStates ${p.maxStates}`);
  if (p.maxStates > REGBENCH_MAX_STATES) fail(`maxStates ${p.maxStates} exceeds ${REGBENCH_MAX_STATES}`);
  if (p.minAlphabet > p.maxAlphabet) fail(`minAlphabet ${p.minAlphabet} exceeds maxAlphabet ${p.maxAlphabet}`);
  if (p.maxAlphabet > p.numSymbols) fail(`maxAlphabet ${p.maxAlphabet} exceeds numSymbols ${p.numSymbols}`);
  if (p.numSymbols > 120) fail(`numSymbols ${p.numSymbols} exceeds 120`);
  if (p.maxOutDegree > p.minAlphabet) fail(`maxOutDegree ${p.maxOutDegree} exceeds minAlphabet ${p.minAlphabet} (a state's edge labels are distinct symbols of the alphabet)`);
  if (p.maxOutDegree > p.minStates - 1) fail(`maxOutDegree ${p.maxOutDegree} exceeds minStates − 1 = ${p.minStates - 1} (a state's edges go to distinct other states)`);
  if (p.seqLen < 2) fail(`seqLen must be at least 2, got ${p.seqLen}`);
  checkSegmentSize('regbench', p.count, p.seqLen);
}

/** A DFA over symbols 0..numSymbols−1: next[s·numSymbols + σ] = target state or −1; state 0 starts. */
export interface Dfa {
  numStates: number;
  numSymbols: number;
  next: Int8Array;
  /** Bit s set: state s accepts. */
  accepting: number;
}

/** Draw one DFA of the reference family (unminimised), from `rng`. */
export function sampleDfa(rng: Rng, p: Pick<RegbenchParams, 'minStates' | 'maxStates' | 'numSymbols' | 'minAlphabet' | 'maxAlphabet' | 'maxOutDegree' | 'acceptProb'>): Dfa {
  const n = p.minStates + rng.int(p.maxStates - p.minStates + 1);
  const a = p.minAlphabet + rng.int(p.maxAlphabet - p.minAlphabet + 1);
  const symbols = Int32Array.from({ length: p.numSymbols }, (_, i) => i);
  // a partial Fisher–Yates: the first a entries are a uniformly random a-subset of the symbols
  for (let i = 0; i < a; i++) {
    const j = i + rng.int(p.numSymbols - i);
    const t = symbols[i]!;
    symbols[i] = symbols[j]!;
    symbols[j] = t;
  }
  const alphabet = symbols.slice(0, a);
  const next = new Int8Array(n * p.numSymbols).fill(-1);
  const labels = new Int32Array(a);
  const targets = new Int32Array(n - 1);
  for (let s = 0; s < n; s++) {
    const k = 1 + rng.int(p.maxOutDegree);
    labels.set(alphabet);
    for (let i = 0, j = 0; i < n; i++) if (i !== s) targets[j++] = i;
    for (let i = 0; i < k; i++) {
      const li = i + rng.int(a - i);
      const ti = i + rng.int(n - 1 - i);
      [labels[i], labels[li]] = [labels[li]!, labels[i]!];
      [targets[i], targets[ti]] = [targets[ti]!, targets[i]!];
      next[s * p.numSymbols + labels[i]!] = targets[i]!;
    }
  }
  let accepting = 0;
  if (p.acceptProb >= 1) accepting = n >= 32 ? -1 : (1 << n) - 1;
  else for (let s = 0; s < n; s++) if (rng.nextFloat() < p.acceptProb) accepting |= 1 << s;
  return { numStates: n, numSymbols: p.numSymbols, next, accepting };
}

const accepts = (d: Dfa, s: number) => ((d.accepting >>> s) & 1) === 1;

/**
 * The canonical minimal DFA of d's language: unreachable states dropped (trim), equivalent states merged (Moore's
 * partition refinement, a missing edge = a dead non-accepting sink), states renumbered in breadth-first order from
 * the start with symbols in increasing order. Two DFAs accept the same language iff their canonical forms are
 * equal (the minimal DFA is unique up to renaming, and the BFS order fixes the names). States from which no
 * accepting state is reachable are dropped too (their edges become missing), so the sink is implicit.
 */
export function canonicalDfa(d: Dfa): Dfa {
  const S = d.numSymbols;
  const n = d.numStates;
  // co-reachable: can reach an accepting state
  const live = new Uint8Array(n);
  for (let s = 0; s < n; s++) if (accepts(d, s)) live[s] = 1;
  for (let changed = true; changed; ) {
    changed = false;
    for (let s = 0; s < n; s++) {
      if (live[s]) continue;
      for (let c = 0; c < S; c++) {
        const t = d.next[s * S + c]!;
        if (t >= 0 && live[t]) {
          live[s] = 1;
          changed = true;
          break;
        }
      }
    }
  }
  const edge = (s: number, c: number) => {
    const t = d.next[s * S + c]!;
    return t >= 0 && live[t] ? t : -1;
  };
  if (!live[0]) return { numStates: 0, numSymbols: S, next: new Int8Array(0), accepting: 0 };
  // Moore refinement over all states (unreachable ones are dropped by the BFS below)
  let cls = Int32Array.from({ length: n }, (_, s) => (accepts(d, s) ? 1 : 0));
  let classes = new Set(cls).size;
  for (;;) {
    const sig = new Map<string, number>();
    const nextCls = new Int32Array(n);
    for (let s = 0; s < n; s++) {
      let key = `${cls[s]}`;
      for (let c = 0; c < S; c++) {
        const t = edge(s, c);
        key += `,${t < 0 ? -1 : cls[t]}`;
      }
      let id = sig.get(key);
      if (id === undefined) sig.set(key, (id = sig.size));
      nextCls[s] = id;
    }
    const size = sig.size;
    cls = nextCls;
    if (size === classes) break;
    classes = size;
  }
  // BFS over classes from the start's class, symbols in order
  const name = new Int32Array(classes).fill(-1);
  const rep: number[] = [];
  name[cls[0]!] = 0;
  rep.push(0);
  for (let i = 0; i < rep.length; i++) {
    for (let c = 0; c < S; c++) {
      const t = edge(rep[i]!, c);
      if (t >= 0 && name[cls[t]!] === -1) {
        name[cls[t]!] = rep.length;
        rep.push(t);
      }
    }
  }
  const m = rep.length;
  const next = new Int8Array(m * S).fill(-1);
  let accepting = 0;
  for (let i = 0; i < m; i++) {
    if (accepts(d, rep[i]!)) accepting |= 1 << i;
    for (let c = 0; c < S; c++) {
      const t = edge(rep[i]!, c);
      if (t >= 0) next[i * S + c] = name[cls[t]!]!;
    }
  }
  return { numStates: m, numSymbols: S, next, accepting: accepting | 0 };
}

/** Has state s an out-edge? */
export function hasEdge(d: Dfa, s: number): boolean {
  for (let c = 0; c < d.numSymbols; c++) if (d.next[s * d.numSymbols + c]! >= 0) return true;
  return false;
}

/** 32-bit hash of a canonical DFA (its state count, accepting mask and table). */
export function languageHash(c: Dfa): number {
  let h = murmur3Round(0x6c616e67, c.numStates);
  h = murmur3Round(h, c.numSymbols);
  h = murmur3Round(h, c.accepting);
  for (let i = 0; i < c.next.length; i += 4) {
    h = murmur3Round(h, (c.next[i]! & 0xff) | ((c.next[i + 1] ?? -1) & 0xff) << 8 | ((c.next[i + 2] ?? -1) & 0xff) << 16 | ((c.next[i + 3] ?? -1) & 0xff) << 24);
  }
  return fmix32(h ^ c.next.length);
}

/** The split bucket of a language (0..15): train 0..13, validation 14, test 15. */
export function languageBucket(c: Dfa): number {
  return languageHash(c) % REGBENCH_BUCKETS;
}

/** The split whose languages include this one. */
export function languageSplit(c: Dfa): TaskSplit {
  const b = languageBucket(c);
  return b === 15 ? 'test' : b === 14 ? 'validation' : 'train';
}

/** The canonical DFA of example e of a packed segment. */
export function languageAt(lang: PackedLanguages, e: number): Dfa {
  const size = lang.maxStates * lang.numSymbols;
  const numStates = lang.numStates[e]!;
  return { numStates, numSymbols: lang.numSymbols, next: lang.next.slice(e * size, e * size + numStates * lang.numSymbols), accepting: lang.accepting[e]! | 0 };
}

/**
 * The allowed next tokens at state `s` of a canonical DFA after `len` symbols of the current string (see the
 * header): the out-edge symbols of s (as tokens), plus the delimiter when s accepts and 1 ≤ len. Written into
 * `out` (token ids, increasing); returns how many.
 */
export function allowedTokens(next: ArrayLike<number>, numSymbols: number, acceptingMask: number, s: number, len: number, out: Int32Array): number {
  let m = 0;
  if (len >= 1 && ((acceptingMask >>> s) & 1) === 1) out[m++] = REGBENCH_DELIMITER;
  for (let c = 0; c < numSymbols; c++) if (next[s * numSymbols + c]! >= 0) out[m++] = REGBENCH_FIRST_SYMBOL + c;
  return m;
}

/** Is the token stream a run of strings of d's language (each a path from the start, ended where the state accepts)? */
export function walkAccepts(d: Dfa, tokens: ArrayLike<number>): boolean {
  let s = 0;
  let len = 0;
  for (let i = 1; i < tokens.length; i++) {
    const t = tokens[i]!;
    if (t === REGBENCH_DELIMITER) {
      if (len < 1 || !accepts(d, s)) return false;
      s = 0;
      len = 0;
    } else {
      const n = d.next[s * d.numSymbols + (t - REGBENCH_FIRST_SYMBOL)];
      if (n === undefined || n < 0) return false;
      s = n;
      len++;
    }
  }
  return true;
}

export function regbenchSliceKey(p: RegbenchParams): string {
  const states = p.minStates !== 4 || p.maxStates !== 12 ? `-S${p.minStates}-${p.maxStates}` : '';
  const alpha = p.minAlphabet !== 4 || p.maxAlphabet !== 18 || p.numSymbols !== 18 ? `-A${p.minAlphabet}-${p.maxAlphabet}of${p.numSymbols}` : '';
  const acc = p.acceptProb !== 1 ? `-F${p.acceptProb}` : '';
  const deg = p.maxOutDegree !== 3 ? `-D${p.maxOutDegree}` : '';
  return `L${p.seqLen}${states}${alpha}${deg}${acc}`;
}

export const regbench: TaskDefinition<RegbenchParams> = {
  name: 'regbench',
  description:
    "In-context language learning (RegBench, Akyürek et al. 2024): strings of a random DFA's regular language joined by a delimiter; predict the next token. Held-out splits use languages never seen in training; metrics: validity of the greedy next token and total variation to the uniform distribution over the allowed tokens, by number of strings seen.",
  segmentSchema: regbenchSchema,
  validate: validateRegbench,
  sliceKey: regbenchSliceKey,
  vocabSize: (p) => p.numSymbols + 1,
  generate(p: RegbenchParams, seed: number, start = 0, split: TaskSplit = 'train'): Segment {
    validateRegbench(p);
    checkSegmentSize('regbench', p.count, p.seqLen, start);
    const { seqLen: L, count, numSymbols: S, maxStates: M } = p;
    const seg = allocSegment(
      regbenchSliceKey(p),
      { task: 'regbench', seqLen: L, minStates: p.minStates, maxStates: p.maxStates, minAlphabet: p.minAlphabet, maxAlphabet: p.maxAlphabet, acceptProb: p.acceptProb, languages: split },
      L,
      count,
      0,
    );
    const languages: PackedLanguages = {
      maxStates: M,
      numSymbols: S,
      next: new Int8Array(count * M * S).fill(-1),
      accepting: new Int32Array(count),
      numStates: new Uint8Array(count),
    };
    seg.languages = languages;
    const buckets = new Set(REGBENCH_SPLIT_BUCKETS[split]);
    const { inputs, labels } = seg;
    const stream = new SeedStream(seed, 'regbench');
    const rng = new Rng(0);
    const allowed = new Int32Array(S + 1);
    for (let e = 0; e < count; e++) {
      rng.reseed(stream.seedAt(start + e));
      let d: Dfa;
      // redraw until the language has a non-empty string (the start has an out-edge) and belongs to this split
      do d = canonicalDfa(sampleDfa(rng, p));
      while (!(d.numStates > 0 && hasEdge(d, 0) && buckets.has(languageBucket(d))));
      languages.next.set(d.next, e * M * S);
      languages.accepting[e] = d.accepting;
      languages.numStates[e] = d.numStates;
      const off = e * L;
      let s = 0;
      let len = 0;
      inputs[off] = REGBENCH_DELIMITER;
      for (let t = 0; t < L; t++) {
        const m = allowedTokens(d.next, S, d.accepting, s, len, allowed);
        const tok = allowed[rng.int(m)]!;
        labels[off + t] = tok;
        if (t + 1 < L) inputs[off + t + 1] = tok;
        if (tok === REGBENCH_DELIMITER) {
          s = 0;
          len = 0;
        } else {
          s = d.next[s * S + tok - REGBENCH_FIRST_SYMBOL]!;
          len++;
        }
      }
    }
    return seg;
  },
  get evalMetrics(): SetTargetMetrics {
    return regbenchMetrics;
  },
};

// ---- Metrics: the evaluation hook (engine/train.ts evaluate) ------------------------------------------------

/**
 * The walk of example e's inputs: per position t (having read inputs[0..t]) the DFA state, the length of the
 * current string, and the number of complete strings before t (delimiters in inputs[1..t]; inputs[0] opens the
 * sequence). Throws on an input the DFA cannot read (never in generated data).
 */
export function walkPositions(seg: Segment, e: number, state: Int32Array, len: Int32Array, strings: Int32Array): void {
  const lang = seg.languages;
  if (!lang) throw new Error(`regbench metrics: segment ${seg.key} holds no languages`);
  const L = seg.seqLen;
  const S = lang.numSymbols;
  const base = e * lang.maxStates * S;
  let s = 0;
  let l = 0;
  let k = 0;
  for (let t = 0; t < L; t++) {
    const tok = seg.inputs[e * L + t]!;
    if (t > 0) {
      if (tok === REGBENCH_DELIMITER) {
        s = 0;
        l = 0;
        k++;
      } else {
        const n = lang.next[base + s * S + tok - REGBENCH_FIRST_SYMBOL];
        if (n === undefined || n < 0) throw new Error(`regbench metrics: example ${e} of ${seg.key}: token ${tok} at position ${t} is not allowed by its DFA`);
        s = n;
        l++;
      }
    }
    state[t] = s;
    len[t] = l;
    strings[t] = k;
  }
}

/** Validity and total variation of one next-token distribution against the allowed set `allowed[0, m)`. */
export function scoreDistribution(probs: ArrayLike<number>, from: number, vocab: number, allowed: Int32Array, m: number): { argmax: number; valid: boolean; tv: number } {
  let argmax = 0;
  let best = -Infinity;
  for (let v = 0; v < vocab; v++) {
    const x = probs[from + v]!;
    if (x > best) {
      best = x;
      argmax = v;
    }
  }
  // TV(p, u_A) = ½ (Σ_{a∈A} |p_a − 1/m| + Σ_{v∉A} p_v)
  let inSet = 0;
  let valid = false;
  let outside = 0;
  let j = 0;
  for (let v = 0; v < vocab; v++) {
    const x = probs[from + v]!;
    if (j < m && allowed[j] === v) {
      inSet += Math.abs(x - 1 / m);
      if (v === argmax) valid = true;
      j++;
    } else outside += x;
  }
  return { argmax, valid, tv: 0.5 * (inSet + outside) };
}

class RegbenchAccumulator implements SetTargetAccumulator {
  private validSum = 0;
  private delimiterValid = 0;
  private tvSum = 0;
  private n = 0;
  private readonly byPos = { valid: [] as number[], tv: [] as number[], n: [] as number[] };
  private readonly byStr = { valid: [] as number[], tv: [] as number[], n: [] as number[] };

  add(seg: Segment, start: number, rows: Int32Array, probs: Float32Array, vocab: number, right: Uint8Array, predicted: Int32Array): void {
    const lang = seg.languages;
    if (!lang) throw new Error(`regbench metrics: segment ${seg.key} holds no languages`);
    const L = seg.seqLen;
    const state = new Int32Array(L);
    const len = new Int32Array(L);
    const strings = new Int32Array(L);
    const allowed = new Int32Array(lang.numSymbols + 1);
    const S = lang.numSymbols;
    let walked = -1;
    for (let i = 0; i < rows.length; i++) {
      const b = Math.floor(rows[i]! / L);
      const t = rows[i]! - b * L;
      const e = start + b;
      if (e !== walked) {
        walkPositions(seg, e, state, len, strings);
        walked = e;
      }
      const table = lang.next.subarray(e * lang.maxStates * S, (e + 1) * lang.maxStates * S);
      const m = allowedTokens(table, S, lang.accepting[e]!, state[t]!, len[t]!, allowed);
      const r = scoreDistribution(probs, i * vocab, vocab, allowed, m);
      if (allowed[0] === REGBENCH_DELIMITER) this.delimiterValid++;
      right[i] = r.valid ? 1 : 0;
      predicted[i] = r.argmax;
      this.validSum += right[i]!;
      this.tvSum += r.tv;
      this.n++;
      bump(this.byPos, t, right[i]!, r.tv);
      bump(this.byStr, strings[t]!, right[i]!, r.tv);
    }
  }

  result(): ValidityMetrics {
    const curve = (c: { valid: number[]; tv: number[]; n: number[] }) => ({
      validity: c.n.map((n, i) => (n ? roundTo(c.valid[i]! / n) : null)),
      tv: c.n.map((n, i) => (n ? roundTo(c.tv[i]! / n) : null)),
      positions: c.n.map((n) => n ?? 0),
    });
    return { validity: this.n ? this.validSum / this.n : 0, tv: this.n ? this.tvSum / this.n : 0, positions: this.n, delimiterValidity: this.n ? this.delimiterValid / this.n : 0, byStrings: curve(this.byStr), byPosition: curve(this.byPos) };
  }
}

function bump(c: { valid: number[]; tv: number[]; n: number[] }, at: number, valid: number, tv: number): void {
  while (c.n.length <= at) {
    c.n.push(0);
    c.valid.push(0);
    c.tv.push(0);
  }
  c.n[at]! += 1;
  c.valid[at]! += valid;
  c.tv[at]! += tv;
}

const roundTo = (x: number) => Math.round(x * 1e6) / 1e6;

/** regbench's evaluation hook: validity and total variation per position, by strings seen, and averaged. */
export const regbenchMetrics: SetTargetMetrics = {
  name: 'regbench',
  start: () => new RegbenchAccumulator(),
};
