// tasks/: the further recall tasks (MAD / zoology): noisy recall, fuzzy recall, selective copying, forgetting MQAR.
import { describe, expect, it } from 'vitest';
import {
  forgettingMqar,
  fuzzyRecall,
  IGNORE_INDEX,
  noisyRecall,
  numNoiseTokens,
  parseParams,
  selectiveCopying,
  TaskConfigError,
  type Segment,
} from '../tasks/index.js';

const row = (a: Int32Array, L: number, e: number): number[] => [...a.subarray(e * L, (e + 1) * L)];

/** Checks an MQAR-style query region [q0, L): K labelled keys at even offsets, each once, label = answer[key]. */
function queryRegionViolations(x: number[], y: number[], q0: number, answer: Map<number, number>): string[] {
  const bad: string[] = [];
  const seen = new Map<number, number>();
  for (let t = q0; t < x.length; t++) {
    if (y[t] === IGNORE_INDEX) {
      if (x[t] !== 0) bad.push(`non-blank ${x[t]} at ${t}`);
      continue;
    }
    if ((t - q0) % 2) bad.push(`query at odd offset ${t}`);
    if (!answer.has(x[t]!)) bad.push(`query token ${x[t]} is not a key`);
    else if (y[t] !== answer.get(x[t]!)) bad.push(`label ${y[t]} ≠ ${answer.get(x[t]!)} for key ${x[t]}`);
    seen.set(x[t]!, (seen.get(x[t]!) ?? 0) + 1);
    if (t + 1 < x.length && x[t + 1] !== 0) bad.push(`position after query ${t} not blank`);
  }
  for (const k of answer.keys()) if (seen.get(k) !== 1) bad.push(`key ${k} queried ${seen.get(k) ?? 0} times`);
  return bad;
}

function allViolations(seg: Segment, check: (x: number[], y: number[]) => string[]): string[] {
  const bad: string[] = [];
  for (let e = 0; e < seg.count; e++) bad.push(...check(row(seg.inputs, seg.seqLen, e), row(seg.labels, seg.seqLen, e)).map((m) => `#${e}: ${m}`));
  return bad.slice(0, 5);
}

describe('noisy-recall', () => {
  for (const raw of [
    { seqLen: 128, numKvPairs: 8 },
    { seqLen: 128, numKvPairs: 8, noiseFraction: 0.5, noiseVocabSize: 3, vocabSize: 64 },
    { seqLen: 64, numKvPairs: 8, noiseFraction: 0 },
  ]) {
    it(`structure: ${JSON.stringify(raw)}`, () => {
      const p = parseParams(noisyRecall, { count: 200, ...raw });
      const N = numNoiseTokens(p);
      const K = p.numKvPairs;
      const V = p.vocabSize;
      const half = Math.floor(V / 2);
      const seg = noisyRecall.generate(p, 3);
      expect(seg.prefixLength).toBe(2 * K + N);
      expect(noisyRecall.vocabSize(p)).toBe(V + p.noiseVocabSize);
      let noiseSeen = 0;
      const gapHistogram = new Array(K + 1).fill(0); // where noise lands relative to pairs
      const bad = allViolations(seg, (x, y) => {
        const b: string[] = [];
        const answer = new Map<number, number>();
        const values = new Set<number>();
        let t = 0;
        let pairs = 0;
        while (t < 2 * K + N) {
          if (x[t]! >= V) {
            if (x[t]! >= V + p.noiseVocabSize) b.push(`noise token ${x[t]} out of range`);
            if (y[t] !== IGNORE_INDEX) b.push('noise is labelled');
            gapHistogram[pairs]++;
            noiseSeen++;
            t++;
            continue;
          }
          const k = x[t]!;
          const v = x[t + 1]!;
          if (!(k >= 1 && k < half)) b.push(`key ${k} at ${t} out of range`);
          if (!(v >= half && v < V)) b.push(`value ${v} at ${t + 1} out of range (a pair was split?)`);
          if (answer.has(k)) b.push(`key ${k} repeated`);
          if (values.has(v)) b.push(`value ${v} repeated`);
          answer.set(k, v);
          values.add(v);
          pairs++;
          t += 2;
        }
        if (pairs !== K) b.push(`${pairs} pairs`);
        for (let s = 0; s < 2 * K + N; s++) if (y[s] !== IGNORE_INDEX) b.push(`label in context at ${s}`);
        b.push(...queryRegionViolations(x, y, 2 * K + N, answer));
        return b;
      });
      expect(bad).toEqual([]);
      expect(noiseSeen).toBe(200 * N);
      if (N > 0) {
        // a uniform interleaving puts N/(K+1) noise tokens in each gap (before, between, after the pairs) on average
        const mean = noiseSeen / (K + 1);
        for (const c of gapHistogram) expect(Math.abs(c - mean)).toBeLessThan(0.35 * mean);
      }
    });
  }

  it('rejects impossible settings', () => {
    expect(() => parseParams(noisyRecall, { count: 1, seqLen: 36, numKvPairs: 8 })).toThrow(
      /context 2·K \+ N = 2·8 \+ 5 = 21 plus 2·K = 16 query slots exceeds seqLen 36/,
    );
    expect(() => parseParams(noisyRecall, { count: 1, seqLen: 400, numKvPairs: 8, vocabSize: 16 })).toThrow(TaskConfigError);
    expect(() => parseParams(noisyRecall, { count: 1, seqLen: 128, numKvPairs: 8, noiseFraction: 1 })).toThrow(/noiseFraction/);
  });
});

describe('fuzzy-recall', () => {
  for (const raw of [
    { seqLen: 128, numKvPairs: 4 },
    { seqLen: 64, numKvPairs: 4, maxKeyLength: 2, maxValueLength: 4, vocabSize: 48 },
    { seqLen: 20, numKvPairs: 4, maxKeyLength: 1, maxValueLength: 1 }, // = plain MQAR-style single tokens, no spare blanks
  ]) {
    it(`structure: ${JSON.stringify(raw)}`, () => {
      const p = parseParams(fuzzyRecall, { count: 200, ...raw });
      const { numKvPairs: K, maxKeyLength: mk, maxValueLength: mv, vocabSize: V } = p;
      const half = Math.floor(V / 2);
      const C = K * (mk + mv);
      const seg = fuzzyRecall.generate(p, 5);
      expect(seg.prefixLength).toBe(C);
      const lengths = new Set<string>();
      const bad = allViolations(seg, (x, y) => {
        const b: string[] = [];
        const isKey = (t: number): boolean => t >= 1 && t < half;
        const isValue = (t: number): boolean => t >= half && t < V;
        // context: K (key run, value run) pairs, then blanks up to C
        const motifs = new Map<string, number[]>();
        let t = 0;
        for (let i = 0; i < K; i++) {
          const ks = t;
          while (isKey(x[t]!)) t++;
          const vs = t;
          while (isValue(x[t]!)) t++;
          const key = x.slice(ks, vs);
          const value = x.slice(vs, t);
          if (key.length < 1 || key.length > mk) b.push(`key motif length ${key.length}`);
          if (value.length < 1 || value.length > mv) b.push(`value motif length ${value.length}`);
          lengths.add(`${key.length},${value.length}`);
          motifs.set(key.join(' '), value);
        }
        if (motifs.size !== K) b.push(`${motifs.size} distinct key motifs`);
        const ctxTokens = x.slice(0, t);
        if (new Set(ctxTokens).size !== ctxTokens.length) b.push('a token repeats in the context');
        for (let s = t; s < C; s++) if (x[s] !== 0) b.push(`context padding not blank at ${s}`);
        for (let s = 0; s < C; s++) if (y[s] !== IGNORE_INDEX) b.push(`label in context at ${s}`);
        // query region: (key motif, value motif, 0) items among blanks
        const asked = new Set<string>();
        let expectedLabels = 0;
        t = C;
        while (t < x.length) {
          if (x[t] === 0) {
            if (y[t] !== IGNORE_INDEX) b.push(`label on blank ${t}`);
            t++;
            continue;
          }
          const ks = t;
          while (t < x.length && isKey(x[t]!)) t++;
          const vs = t;
          while (t < x.length && isValue(x[t]!)) t++;
          const key = x.slice(ks, vs).join(' ');
          const value = motifs.get(key);
          if (!value) {
            b.push(`query motif [${key}] is not a key`);
            break;
          }
          if (asked.has(key)) b.push(`key [${key}] asked twice`);
          asked.add(key);
          if (x.slice(vs, t).join(' ') !== value.join(' ')) b.push(`value after query [${key}] differs`);
          if (x[t] !== 0) b.push(`no blank after query at ${t}`);
          for (let s = ks; s < vs - 1; s++) if (y[s] !== IGNORE_INDEX) b.push(`label inside key motif at ${s}`);
          if (y[vs - 1] !== value[0]) b.push(`label at last key token ${y[vs - 1]} ≠ ${value[0]}`);
          for (let j = 0; j < value.length; j++) {
            const want = j + 1 < value.length ? value[j + 1] : IGNORE_INDEX;
            if (y[vs + j] !== want) b.push(`label at value token ${j}: ${y[vs + j]} ≠ ${want}`);
          }
          expectedLabels += value.length;
        }
        if (asked.size !== K) b.push(`${asked.size} keys asked`);
        if (y.filter((v) => v !== IGNORE_INDEX).length !== expectedLabels) b.push('stray labels');
        return b;
      });
      expect(bad).toEqual([]);
      // all motif-length combinations occur
      expect(lengths.size).toBe(mk * mv);
    });
  }

  it('rejects impossible settings', () => {
    expect(() => parseParams(fuzzyRecall, { count: 1, seqLen: 100, numKvPairs: 8 })).toThrow(
      /context K·\(mk \+ mv\) = 48 plus worst-case queries K·\(mk \+ mv \+ 1\) = 56 is 104, exceeds seqLen 100/,
    );
    expect(() => parseParams(fuzzyRecall, { count: 1, seqLen: 400, numKvPairs: 8, vocabSize: 40 })).toThrow(/24 distinct key motif tokens/);
    expect(() => parseParams(fuzzyRecall, { count: 1, seqLen: 400, numKvPairs: 8, maxKeyLength: 0 })).toThrow(TaskConfigError);
  });
});

describe('selective-copying', () => {
  for (const raw of [
    { seqLen: 64, numTokensToCopy: 8 },
    { seqLen: 16, numTokensToCopy: 8, vocabSize: 5 }, // data region exactly N: plain copying
    { seqLen: 100, numTokensToCopy: 1 },
  ]) {
    it(`structure: ${JSON.stringify(raw)}`, () => {
      const p = parseParams(selectiveCopying, { count: 300, ...raw });
      const { seqLen: L, numTokensToCopy: N, vocabSize: V } = p;
      const D = L - N;
      const seg = selectiveCopying.generate(p, 8);
      expect(seg.prefixLength).toBe(D);
      const firstPos = new Array(D).fill(0);
      const bad = allViolations(seg, (x, y) => {
        const b: string[] = [];
        const content = x.slice(0, D).filter((t) => t !== 0);
        if (content.length !== N) b.push(`${content.length} content tokens in the data region`);
        if (content.some((t) => t < 2 || t >= V)) b.push('content token out of range');
        firstPos[x.findIndex((t) => t !== 0)]++;
        if (x[D] !== 1) b.push('no marker');
        for (let t = 0; t < D; t++) if (y[t] !== IGNORE_INDEX) b.push(`label in data region at ${t}`);
        if (y.slice(D).join(' ') !== content.join(' ')) b.push('labels are not the content in order');
        if (x.slice(D + 1).join(' ') !== content.slice(0, N - 1).join(' ')) b.push('answer tokens are not teacher-forced');
        return b;
      });
      expect(bad).toEqual([]);
      if (D > N) expect(firstPos.filter((c) => c > 0).length).toBeGreaterThan(1); // positions vary
    });
  }

  it('rejects impossible settings', () => {
    expect(() => parseParams(selectiveCopying, { count: 1, seqLen: 15, numTokensToCopy: 8 })).toThrow(/2·8 = 16 exceeds seqLen 15/);
    expect(() => parseParams(selectiveCopying, { count: 1, seqLen: 64, numTokensToCopy: 8, vocabSize: 2 })).toThrow(/vocabSize must be ≥ 3/);
  });
});

describe('forgetting-mqar', () => {
  for (const raw of [
    { seqLen: 128, numKvPairs: 8, numReassigned: 4 },
    { seqLen: 64, numKvPairs: 8, numReassigned: 8, vocabSize: 80 },
    { seqLen: 64, numKvPairs: 8, numReassigned: 0 },
  ]) {
    it(`structure: ${JSON.stringify(raw)}`, () => {
      const p = parseParams(forgettingMqar, { count: 200, ...raw });
      const { numKvPairs: K, numReassigned: R, vocabSize: V } = p;
      const half = Math.floor(V / 2);
      const C = 2 * (K + R);
      const seg = forgettingMqar.generate(p, 6);
      expect(seg.prefixLength).toBe(C);
      let reassignedAnswers = 0;
      let adjacent = 0;
      const bad = allViolations(seg, (x, y) => {
        const b: string[] = [];
        const latest = new Map<number, number>();
        const firstAt = new Map<number, number>();
        const times = new Map<number, number>();
        const values = new Set<number>();
        for (let j = 0; j < K + R; j++) {
          const k = x[2 * j]!;
          const v = x[2 * j + 1]!;
          if (!(k >= 1 && k < half)) b.push(`key ${k} out of range`);
          if (!(v >= half && v < V)) b.push(`value ${v} out of range`);
          if (values.has(v)) b.push(`value ${v} repeated`);
          values.add(v);
          if (latest.has(k) && firstAt.get(k) === j - 1) adjacent++;
          if (!firstAt.has(k)) firstAt.set(k, j);
          latest.set(k, v);
          times.set(k, (times.get(k) ?? 0) + 1);
        }
        if (latest.size !== K) b.push(`${latest.size} distinct keys`);
        const twice = [...times.values()].filter((c) => c === 2).length;
        if (twice !== R || [...times.values()].some((c) => c > 2)) b.push(`${twice} keys reassigned, expected ${R}`);
        for (let s = 0; s < C; s++) if (y[s] !== IGNORE_INDEX) b.push(`label in context at ${s}`);
        b.push(...queryRegionViolations(x, y, C, latest));
        for (let t = C; t < x.length; t++) if (y[t] !== IGNORE_INDEX && times.get(x[t]!) === 2) reassignedAnswers++;
        return b;
      });
      expect(bad).toEqual([]);
      expect(reassignedAnswers).toBe(200 * R);
      if (R > 0 && R < K) expect(adjacent).toBeGreaterThan(0); // reassignments are interleaved, sometimes right after
    });
  }

  it('rejects impossible settings', () => {
    expect(() => parseParams(forgettingMqar, { count: 1, seqLen: 64, numKvPairs: 4, numReassigned: 5 })).toThrow(
      /numReassigned 5 exceeds numKvPairs 4/,
    );
    expect(() => parseParams(forgettingMqar, { count: 1, seqLen: 38, numKvPairs: 8, numReassigned: 4 })).toThrow(
      'forgetting-mqar: 2·(K + R) + 2·K = 2·(8 + 4) + 2·8 = 40 exceeds seqLen 38',
    );
    expect(() => parseParams(forgettingMqar, { count: 1, seqLen: 40, numKvPairs: 8, numReassigned: 4 })).not.toThrow();
    expect(() => parseParams(forgettingMqar, { count: 1, seqLen: 64, numKvPairs: 8 })).toThrow(/numReassigned/);
  });
});
