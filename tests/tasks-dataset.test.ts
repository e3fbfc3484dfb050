// tasks/: registry, dataset splits (disjoint seed streams, validation default, overlap check), example export.
import { describe, expect, it } from 'vitest';
import {
  buildSplits,
  checkOverlap,
  exampleAt,
  exampleToJson,
  exampleToJsonLine,
  exportExamples,
  getTask,
  hashSeeds,
  listTasks,
  mqar,
  parseParams,
  resolveSplitSpec,
  segmentSeed,
  TaskConfigError,
  type Segment,
  type SplitSpec,
} from '../tasks/index.js';

const same = (a: Int32Array, b: Int32Array): boolean => a.length === b.length && a.every((v, i) => v === b[i]);

const spec: SplitSpec = {
  task: 'mqar',
  common: { vocabSize: 512 },
  train: [
    { seqLen: 64, numKvPairs: 4, count: 300 },
    { seqLen: 128, numKvPairs: 8, count: 200 },
  ],
  test: [
    { seqLen: 64, numKvPairs: 4, count: 50 },
    { seqLen: 256, numKvPairs: 16, count: 40 },
  ],
};

describe('registry', () => {
  it('lists every task and finds them by name', () => {
    const names = listTasks().map((t) => t.name);
    expect(names).toEqual(['mqar', 'sd', 'noisy-recall', 'fuzzy-recall', 'selective-copying', 'forgetting-mqar', 'regbench']);
    for (const n of names) expect(getTask(n).name).toBe(n);
    for (const t of listTasks()) expect(t.description.length).toBeGreaterThan(20);
  });

  it('an unknown name is a TaskConfigError listing the known ones', () => {
    expect(() => getTask('mqr')).toThrow(TaskConfigError);
    expect(() => getTask('mqr')).toThrow("unknown task 'mqr'; known tasks: mqar, sd, noisy-recall, fuzzy-recall, selective-copying, forgetting-mqar, regbench");
  });
});

describe('buildSplits', () => {
  const splits = buildSplits(spec, 7);

  it('builds every segment with common params merged, segment keys winning', () => {
    expect(splits.train.map((s) => [s.key, s.count])).toEqual([
      ['L64-K4', 300],
      ['L128-K8', 200],
    ]);
    expect(splits.test.map((s) => [s.key, s.count])).toEqual([
      ['L64-K4', 50],
      ['L256-K16', 40],
    ]);
    expect(Math.max(...splits.train[0]!.inputs)).toBeLessThan(512);
    const withOverride = resolveSplitSpec({ ...spec, train: [{ seqLen: 64, numKvPairs: 4, count: 1, vocabSize: 1024 }] });
    expect((withOverride.params.train[0] as Record<string, unknown>).vocabSize).toBe(1024);
    expect((withOverride.params.test[0] as Record<string, unknown>).vocabSize).toBe(512);
  });

  it('validation defaults to the test slices and counts, from its own seed stream', () => {
    expect(splits.validation.map((s) => [s.key, s.count, s.seqLen])).toEqual(splits.test.map((s) => [s.key, s.count, s.seqLen]));
    expect(same(splits.validation[0]!.inputs, splits.test[0]!.inputs)).toBe(false);
    const explicit = buildSplits({ ...spec, validation: [{ seqLen: 64, numKvPairs: 4, count: 30 }] }, 7);
    expect(explicit.validation.map((s) => [s.key, s.count])).toEqual([['L64-K4', 30]]);
  });

  it('uses disjoint seed streams hashSeeds(dataSeed, split, i) and is reproducible', () => {
    const seeds = (['train', 'validation', 'test'] as const).flatMap((s) => [0, 1].map((i) => segmentSeed(7, s, i)));
    expect(new Set(seeds).size).toBe(6);
    expect(segmentSeed(7, 'test', 1)).toBe(hashSeeds(7, 'test', 1));
    // the test segment is exactly mqar.generate with that seed
    const p = parseParams(mqar, { vocabSize: 512, seqLen: 64, numKvPairs: 4, count: 50 });
    expect(same(mqar.generate(p, hashSeeds(7, 'test', 0)).inputs, splits.test[0]!.inputs)).toBe(true);
    // same L/K in train and test: different streams give different examples
    expect(checkOverlap(splits.train, splits.test)).toBe(0);
    const again = buildSplits(spec, 7);
    expect(same(again.train[1]!.inputs, splits.train[1]!.inputs)).toBe(true);
    const other = buildSplits(spec, 8);
    expect(same(other.train[1]!.inputs, splits.train[1]!.inputs)).toBe(false);
  });

  it('checkOverlap detects a planted duplicate (and only real equality)', () => {
    const test: Segment = { ...splits.test[0]!, inputs: splits.test[0]!.inputs.slice() };
    expect(checkOverlap(splits.train, [test])).toBe(0);
    const L = 64;
    test.inputs.set(splits.train[0]!.inputs.subarray(17 * L, 18 * L), 3 * L); // copy train example 17 into test example 3
    expect(checkOverlap(splits.train, [test])).toBe(1);
    test.inputs.set(splits.train[0]!.inputs.subarray(200 * L, 201 * L), 40 * L);
    expect(checkOverlap(splits.train, [test, splits.test[1]!])).toBe(2);
    // a near-duplicate (one token changed) is not an overlap
    test.inputs[40 * L + 63] ^= 1;
    expect(checkOverlap(splits.train, [test])).toBe(1);
  });

  it('throws when held-out examples equal train examples', () => {
    // selective copying with L=4, N=2, V=3: only 6 distinct examples exist
    const tiny: SplitSpec = {
      task: 'selective-copying',
      common: { seqLen: 4, numTokensToCopy: 2, vocabSize: 3 },
      train: [{ count: 50 }],
      test: [{ count: 20 }],
    };
    expect(() => buildSplits(tiny, 1)).toThrow(TaskConfigError);
    expect(() => buildSplits(tiny, 1)).toThrow(/held-out examples equal a train example \(validation 20 of 20, test 20 of 20\)/);
    expect(buildSplits(tiny, 1, { checkOverlap: false }).test[0]!.count).toBe(20);
  });

  it('reports bad segments as one-line TaskConfigErrors naming the segment', () => {
    expect(() => buildSplits({ ...spec, train: [{ seqLen: 64, numKvPairs: 4, count: 10, kvPairs: 3 }] }, 1)).toThrow(
      /^mqar train segment 0: invalid params: .*kvPairs/,
    );
    expect(() => buildSplits({ ...spec, test: [{ seqLen: 63, numKvPairs: 4, count: 10 }] }, 1)).toThrow(
      'test segment 0: mqar: seqLen must be even, got 63',
    );
    expect(() => buildSplits({ ...spec, test: [spec.test[0]!, { seqLen: 64, numKvPairs: 4 }] }, 1)).toThrow(/test segment 1: invalid params: count/);
    expect(() => buildSplits({ ...spec, task: 'nope' }, 1)).toThrow(/known tasks: mqar/);
    expect(() => buildSplits({ ...spec, train: undefined as never }, 1)).toThrow(/'train' must be an array/);
  });
});

describe('export', () => {
  it('exports [0, n) in chunks, equal to one generate call, as JSON', () => {
    const params = { seqLen: 64, numKvPairs: 4, count: 999 /* ignored: n decides */ };
    const list = [...exportExamples('mqar', params, 25, 3, { chunkSize: 7 })];
    expect(list).toHaveLength(25);
    const seg = mqar.generate(parseParams(mqar, { ...params, count: 25 }), 3);
    list.forEach((e, i) => {
      expect(same(e.inputs, exampleAt(seg, i).inputs)).toBe(true);
      expect(same(e.labels, exampleAt(seg, i).labels)).toBe(true);
    });
    const j = exampleToJson(list[0]!);
    expect(j.inputs).toEqual([...seg.inputs.subarray(0, 64)]);
    expect(j.labels).toEqual([...seg.labels.subarray(0, 64)]);
    expect(j.slices).toEqual({ task: 'mqar', seqLen: 64, numKvPairs: 4, passes: 1 });
    expect(JSON.parse(exampleToJsonLine(list[0]!))).toEqual(j);
    expect([...exportExamples('mqar', params, 0, 3)]).toEqual([]);
  });

  it('with split/segmentIndex reproduces what buildSplits generated', () => {
    const splits = buildSplits(spec, 7);
    const ex = [...exportExamples('mqar', { vocabSize: 512, seqLen: 256, numKvPairs: 16 }, 5, 7, { split: 'test', segmentIndex: 1, start: 10 })];
    ex.forEach((e, i) => expect(same(e.inputs, exampleAt(splits.test[1]!, 10 + i).inputs)).toBe(true));
  });

  it('validates eagerly', () => {
    expect(() => exportExamples('mqar', { seqLen: 63, numKvPairs: 4 }, 5, 1)).toThrow('mqar: seqLen must be even, got 63');
    expect(() => exportExamples('mqar', { seqLen: 64, numKvPairs: 4 }, -1, 1)).toThrow(TaskConfigError);
    expect(() => exportExamples('zzz', {}, 1, 1)).toThrow(/unknown task/);
    expect(() => exportExamples('sd', { sizeA: 4, sizeB: 8, bad: 1 }, 1, 1)).toThrow(/bad/);
  });
});
