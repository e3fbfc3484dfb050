// RegBench (tasks/regbench.ts): the generator (determinism, held-out languages, every string in its language), the
// DFA machinery (canonical minimal form, allowed sets against brute force) and the set-valued metrics (validity and
// total variation on hand-built distributions), plus the invariants they add (engine/invariants.ts).
import { describe, expect, it } from 'vitest';
import { Rng } from '../core/prng.js';
import { buildSplits } from '../tasks/dataset.js';
import { getTask, listTasks } from '../tasks/index.js';
import {
  allowedTokens,
  canonicalDfa,
  languageAt,
  languageBucket,
  languageHash,
  languageSplit,
  regbench,
  regbenchMetrics,
  regbenchSchema,
  REGBENCH_DELIMITER,
  sampleDfa,
  scoreDistribution,
  walkAccepts,
  type Dfa,
} from '../tasks/regbench.js';
import type { Segment } from '../tasks/types.js';
import { splitViolations } from '../engine/invariants.js';

const params = (o: Record<string, unknown> = {}) => regbenchSchema.parse({ count: 40, seqLen: 64, ...o });
const canonKey = (d: Dfa) => `${d.numStates}|${d.accepting}|${Array.from(d.next).join(',')}`;

/** A DFA from a table of rows (state → {symbol: target}), accepting states listed. */
function dfaOf(numSymbols: number, rows: Record<number, number>[], accepting: number[]): Dfa {
  const next = new Int8Array(rows.length * numSymbols).fill(-1);
  rows.forEach((r, s) => Object.entries(r).forEach(([c, t]) => (next[s * numSymbols + Number(c)] = t)));
  return { numStates: rows.length, numSymbols, next, accepting: accepting.reduce((m, s) => m | (1 << s), 0) };
}

/** Brute force: token v may follow the token prefix w (w[0] the opening delimiter) iff some completion of ≤ depth
 *  tokens ending with a delimiter makes the whole stream a run of non-empty accepted strings of the ORIGINAL DFA. */
function bruteAllowed(d: Dfa, w: number[], depth: number): number[] {
  const V = d.numSymbols + 1;
  const ok = (stream: number[], left: number): boolean => {
    if (walkAccepts(d, [...stream, REGBENCH_DELIMITER])) return true;
    if (left === 0) return false;
    for (let v = 1; v < V; v++) if (ok([...stream, v], left - 1)) return true;
    return false;
  };
  const out: number[] = [];
  for (let v = 0; v < V; v++) {
    const stream = [...w, v];
    // the stream so far must itself be readable (an ended string accepted): walkAccepts of the prefix up to its last delimiter
    if (v === REGBENCH_DELIMITER ? walkAccepts(d, stream) && stream.length > 1 && stream[stream.length - 2] !== REGBENCH_DELIMITER : ok(stream, depth)) out.push(v);
  }
  return out;
}

describe('regbench: the task', () => {
  it('is registered: listed with a description, vocabSize = symbols + delimiter, slice keys', () => {
    expect(listTasks().map((t) => t.name)).toContain('regbench');
    const t = getTask('regbench');
    expect(t.description).toMatch(/Akyürek/);
    expect(t.vocabSize(params() as never)).toBe(19);
    expect(t.sliceKey(params() as never)).toBe('L64');
    expect(t.sliceKey(params({ acceptProb: 0.5, minStates: 5, maxStates: 8 }) as never)).toBe('L64-S5-8-F0.5');
    expect(t.evalMetrics).toBe(regbenchMetrics);
    expect(() => getTask('regbench').validate(params({ maxOutDegree: 5 }) as never)).toThrow(/maxOutDegree 5 exceeds minAlphabet 4/);
  });

  it('is deterministic and counter-based: same args → identical bytes; a later start = the tail of a longer segment', () => {
    const p = params({ acceptProb: 0.5 });
    const a = regbench.generate(p, 7, 0, 'test');
    const b = regbench.generate(p, 7, 0, 'test');
    expect(Buffer.from(a.inputs.buffer).equals(Buffer.from(b.inputs.buffer))).toBe(true);
    expect(Buffer.from(a.labels.buffer).equals(Buffer.from(b.labels.buffer))).toBe(true);
    expect(Buffer.from(a.languages!.next.buffer).equals(Buffer.from(b.languages!.next.buffer))).toBe(true);
    const tail = regbench.generate({ ...p, count: 10 }, 7, 30, 'test');
    expect(Array.from(tail.inputs)).toEqual(Array.from(a.inputs.subarray(30 * 64)));
    expect(Array.from(tail.languages!.accepting)).toEqual(Array.from(a.languages!.accepting.subarray(30)));
    const other = regbench.generate(p, 8, 0, 'test');
    expect(Array.from(other.inputs)).not.toEqual(Array.from(a.inputs));
  });

  it('layout: opens with the delimiter, labels = inputs shifted by one, every position supervised', () => {
    const seg = regbench.generate(params(), 1);
    for (let e = 0; e < seg.count; e++) {
      const o = e * 64;
      expect(seg.inputs[o]).toBe(REGBENCH_DELIMITER);
      for (let t = 0; t < 63; t++) expect(seg.labels[o + t]).toBe(seg.inputs[o + t + 1]);
      expect(seg.labels[o + 63]).toBeGreaterThanOrEqual(0);
    }
    expect(seg.prefixLength).toBe(0);
  });

  it('every sampled string is a non-empty string of its DFA\'s language (paper family and acceptProb 0.5)', () => {
    for (const acceptProb of [1, 0.5]) {
      const seg = regbench.generate(params({ count: 200, acceptProb }), 3);
      const lang = seg.languages!;
      let delimiters = 0;
      for (let e = 0; e < seg.count; e++) {
        const d = languageAt(lang, e);
        expect(d.numStates).toBeGreaterThanOrEqual(1);
        expect(d.numStates).toBeLessThanOrEqual(12);
        // the full stream = inputs + the last label; strings before the last (cut) one end in an accepting state
        const stream = [...seg.inputs.subarray(e * 64, e * 64 + 64), seg.labels[e * 64 + 63]!];
        const lastDelim = stream.lastIndexOf(REGBENCH_DELIMITER);
        expect(walkAccepts(d, stream.slice(0, lastDelim + 1))).toBe(true);
        // the cut-off tail is a readable prefix: every symbol has an edge
        let s = 0;
        for (const tok of stream.slice(lastDelim + 1)) {
          s = d.next[s * d.numSymbols + tok - 1]!;
          expect(s).toBeGreaterThanOrEqual(0);
        }
        for (let t = 1; t < stream.length; t++) if (stream[t] === REGBENCH_DELIMITER) {
          expect(stream[t - 1]).not.toBe(REGBENCH_DELIMITER); // no empty string
          delimiters++;
        }
      }
      expect(delimiters / seg.count).toBeGreaterThan(acceptProb === 1 ? 10 : 4);
    }
  });

  it('the DFA family has the paper\'s ranges before minimisation: states 4–12, alphabet 4–18, 1–3 edges, no self-loops', () => {
    const rng = new Rng(11);
    const p = params();
    const seenStates = new Set<number>();
    const seenAlpha = new Set<number>();
    for (let i = 0; i < 3000; i++) {
      const d = sampleDfa(rng, p);
      seenStates.add(d.numStates);
      const used = new Set<number>();
      for (let s = 0; s < d.numStates; s++) {
        const targets = new Set<number>();
        let k = 0;
        for (let c = 0; c < 18; c++) {
          const t = d.next[s * 18 + c]!;
          if (t < 0) continue;
          k++;
          used.add(c);
          expect(t).not.toBe(s);
          targets.add(t);
        }
        expect(k).toBeGreaterThanOrEqual(1);
        expect(k).toBeLessThanOrEqual(3);
        expect(targets.size).toBe(k);
      }
      seenAlpha.add(used.size);
      expect(d.accepting).toBe((1 << d.numStates) - 1);
    }
    expect([...seenStates].sort((a, b) => a - b)).toEqual([4, 5, 6, 7, 8, 9, 10, 11, 12]);
    expect(Math.max(...seenAlpha)).toBeLessThanOrEqual(18);
  });
});

describe('regbench: held-out languages', () => {
  it('train, validation and test never share a language: canonical buckets 0–13 / 14 / 15, and disjoint sets of canonical DFAs', () => {
    const splits = buildSplits({ task: 'regbench', common: { seqLen: 32, acceptProb: 0.5 }, train: [{ count: 3000 }], test: [{ count: 300 }] }, 0);
    const keys = (segs: Segment[]) => {
      const out = new Set<string>();
      for (const seg of segs) for (let e = 0; e < seg.count; e++) out.add(canonKey(languageAt(seg.languages!, e)));
      return out;
    };
    const buckets = (segs: Segment[]) => new Set(segs.flatMap((seg) => Array.from({ length: seg.count }, (_, e) => languageBucket(languageAt(seg.languages!, e)))));
    expect(Math.max(...buckets(splits.train))).toBeLessThanOrEqual(13);
    expect([...buckets(splits.validation)]).toEqual([14]);
    expect([...buckets(splits.test)]).toEqual([15]);
    const train = keys(splits.train);
    const test = keys(splits.test);
    const validation = keys(splits.validation);
    expect([...test].filter((k) => train.has(k))).toEqual([]);
    expect([...validation].filter((k) => train.has(k) || test.has(k))).toEqual([]);
    // and the split does see many languages (not a handful repeated)
    expect(train.size).toBeGreaterThan(2000);
    expect(test.size).toBeGreaterThan(250);
    expect(languageSplit(languageAt(splits.test[0]!.languages!, 0))).toBe('test');
  });

  it('the canonical form is a language invariant: renamed states and duplicated equivalent states give the same table and hash', () => {
    // a ─0→ b ─1→ a, b ─2→ c (c accepting only); all accepting except c's twin structure
    const d1 = dfaOf(3, [{ 0: 1 }, { 1: 0, 2: 2 }, { 0: 1 }], [0, 1, 2]);
    // the same language with states renamed (start still 0) and an unreachable extra state
    const d2 = dfaOf(3, [{ 0: 2 }, { 0: 2 }, { 1: 0, 2: 1 }, { 1: 3 }], [0, 1, 2, 3]);
    // the same language with state c duplicated into two equivalent copies
    const d3 = dfaOf(3, [{ 0: 1 }, { 1: 0, 2: 3 }, { 0: 1 }, { 0: 1 }], [0, 1, 2, 3]);
    const c1 = canonicalDfa(d1);
    expect(c1.numStates).toBe(2); // a ≡ c (both: edge 0 → b, accepting)
    expect(canonKey(canonicalDfa(d2))).toBe(canonKey(c1));
    expect(canonKey(canonicalDfa(d3))).toBe(canonKey(c1));
    expect(languageHash(canonicalDfa(d3))).toBe(languageHash(c1));
    // a different language differs
    expect(canonKey(canonicalDfa(dfaOf(3, [{ 0: 1 }, { 1: 0 }], [0, 1])))).not.toBe(canonKey(c1));
    // a state that reaches no accepting state is dropped with its edges
    const dead = canonicalDfa(dfaOf(2, [{ 0: 1, 1: 2 }, { 0: 0 }, { 0: 2 }], [1]));
    expect(dead.numStates).toBe(2);
    expect(dead.next[0 * 2 + 1]).toBe(-1);
  });
});

describe('regbench: allowed sets', () => {
  it('match a brute-force search over completions on small random DFAs (some states rejecting, dead states)', () => {
    const rng = new Rng(5);
    const p = params({ minStates: 3, maxStates: 5, numSymbols: 3, minAlphabet: 2, maxAlphabet: 3, maxOutDegree: 2, acceptProb: 0.5 });
    const out = new Int32Array(4);
    let checked = 0;
    for (let trial = 0; trial < 40; trial++) {
      const raw = sampleDfa(rng, p);
      const c = canonicalDfa(raw);
      if (c.numStates === 0) continue;
      // random readable prefixes: walk the canonical DFA by its own allowed sets
      for (let w = 0; w < 4; w++) {
        const prefix = [REGBENCH_DELIMITER];
        let s = 0;
        let len = 0;
        const steps = rng.int(6);
        for (let i = 0; i < steps; i++) {
          const m = allowedTokens(c.next, 3, c.accepting, s, len, out);
          if (m === 0) break;
          const tok = out[rng.int(m)]!;
          prefix.push(tok);
          if (tok === REGBENCH_DELIMITER) [s, len] = [0, 0];
          else [s, len] = [c.next[s * 3 + tok - 1]!, len + 1];
        }
        const m = allowedTokens(c.next, 3, c.accepting, s, len, out);
        expect(Array.from(out.subarray(0, m)), `trial ${trial} prefix ${prefix.join(' ')}`).toEqual(bruteAllowed(raw, prefix, 6));
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(100);
  });
});

describe('regbench: validity and total variation', () => {
  it('on hand-built distributions: uniform over the allowed set → valid, TV 0; all mass on a forbidden token → invalid, TV 1', () => {
    const allowed = Int32Array.from([0, 2, 5]);
    const V = 6;
    const uniform = Float32Array.from([1 / 3, 0, 1 / 3, 0, 0, 1 / 3]);
    const u = scoreDistribution(uniform, 0, V, allowed, 3);
    expect(u.valid).toBe(true);
    expect(u.tv).toBeCloseTo(0, 6);
    const forbidden = Float32Array.from([0, 0, 0, 1, 0, 0]);
    const f = scoreDistribution(forbidden, 0, V, allowed, 3);
    expect(f.valid).toBe(false);
    expect(f.argmax).toBe(3);
    expect(f.tv).toBeCloseTo(1, 6);
    // all mass on one allowed token: valid, TV = ½(2/3 + 1/3 + 1/3) = 2/3
    const one = scoreDistribution(Float32Array.from([0, 0, 1, 0, 0, 0]), 0, V, allowed, 3);
    expect(one.valid).toBe(true);
    expect(one.tv).toBeCloseTo(2 / 3, 6);
    // half on an allowed token, half spread outside: argmax allowed, TV = ½(|.5−⅓| + ⅓ + ⅓ + .5) = 2/3
    const half = scoreDistribution(Float32Array.from([0.5, 0.25, 0, 0.25, 0, 0]), 0, V, allowed, 3);
    expect(half.valid).toBe(true);
    expect(half.tv).toBeCloseTo(0.5 * (1 / 6 + 2 / 3 + 0.5), 6);
  });

  it('the accumulator over a generated segment: the language\'s own law scores validity 1 and TV 0, a forbidden token 0 and 1; by strings seen and per position', () => {
    const seg = regbench.generate(params({ count: 6, acceptProb: 0.5 }), 9, 0, 'test');
    const V = 19;
    const L = seg.seqLen;
    const rows = Int32Array.from({ length: seg.count * L }, (_, i) => i);
    const law = new Float32Array(rows.length * V);
    const forbidden = new Float32Array(rows.length * V);
    const out = new Int32Array(V);
    let delimiterAllowed = 0;
    let strings = 0;
    for (let e = 0; e < seg.count; e++) {
      const d = languageAt(seg.languages!, e);
      let s = 0;
      let len = 0;
      for (let t = 0; t < L; t++) {
        const tok = seg.inputs[e * L + t]!;
        if (t > 0) {
          if (tok === REGBENCH_DELIMITER) [s, len, strings] = [0, 0, strings + 1];
          else [s, len] = [d.next[s * 18 + tok - 1]!, len + 1];
        }
        const m = allowedTokens(d.next, 18, d.accepting, s, len, out);
        const i = e * L + t;
        for (let j = 0; j < m; j++) law[i * V + out[j]!] = 1 / m;
        if (out[0] === REGBENCH_DELIMITER) delimiterAllowed++;
        const bad = Array.from({ length: V }, (_, v) => v).find((v) => !out.subarray(0, m).includes(v))!;
        forbidden[i * V + bad] = 1;
      }
    }
    const good = regbenchMetrics.start();
    const right = new Uint8Array(rows.length);
    const predicted = new Int32Array(rows.length);
    good.add(seg, 0, rows, law, V, right, predicted);
    const g = good.result();
    expect(g.validity).toBe(1);
    expect(g.tv).toBeLessThan(1e-6);
    expect(g.positions).toBe(seg.count * L);
    expect(right.every((x) => x === 1)).toBe(true);
    expect(g.delimiterValidity).toBeCloseTo(delimiterAllowed / rows.length, 12);
    expect(g.byPosition.positions).toEqual(Array.from({ length: L }, () => seg.count));
    expect(g.byStrings.positions.reduce((a, b) => a + b, 0)).toBe(seg.count * L);
    expect(g.byStrings.validity.every((v) => v === 1)).toBe(true);
    expect(g.byStrings.positions.length).toBeGreaterThan(3);
    const bad = regbenchMetrics.start();
    bad.add(seg, 0, rows, forbidden, V, right, predicted);
    const b = bad.result();
    expect(b.validity).toBe(0);
    expect(b.tv).toBeCloseTo(1, 6);
    expect(right.every((x) => x === 0)).toBe(true);
    expect(b.byPosition.validity.every((v) => v === 0)).toBe(true);
    // two batches (start offsets) accumulate to the same as one
    const split = regbenchMetrics.start();
    const half = 3 * L;
    split.add(seg, 0, rows.subarray(0, half), law.subarray(0, half * V), V, right, predicted);
    split.add(seg, 3, rows.subarray(0, half), law.subarray(half * V), V, right, predicted);
    expect(split.result()).toEqual(g);
  });

  it('invariants: token accuracy above validity, or validity/TV outside [0, 1], are violations; a consistent split passes', () => {
    const v = (validity: number, tv: number) => ({ validity, tv, positions: 100, byStrings: { validity: [], tv: [], positions: [] }, byPosition: { validity: [], tv: [], positions: [] } });
    // a model that knows the language: valid everywhere, matches the sampled label ~1/3 of the time, loss ln 3
    expect(splitViolations('test', { accuracy: 1, slices: { L64: 1 }, loss: Math.log(3), tokenAccuracy: 0.34, validity: v(1, 0.01) })).toEqual([]);
    expect(splitViolations('test', { accuracy: 0.5, slices: {}, loss: 1, tokenAccuracy: 0.6, validity: v(0.5, 0.3) }).join()).toMatch(/token accuracy 0\.6000 > validity 0\.5000/);
    expect(splitViolations('test', { accuracy: 0.5, slices: {}, loss: 1, tokenAccuracy: 0.3, validity: v(0.5, 1.2) }).join()).toMatch(/total variation 1\.2000 is not in \[0, 1\]/);
    // the loss bound still binds on the exact-label token accuracy: validity 1 does not excuse a loss of 0
    expect(splitViolations('test', { accuracy: 1, slices: {}, loss: 0.01, tokenAccuracy: 0.34, validity: v(1, 0) }).join()).toMatch(/loss 0\.0100 < \(1 − accuracy 0\.3400\)·ln 2/);
  });
});
