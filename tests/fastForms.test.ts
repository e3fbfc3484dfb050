// The one fast-form registry (core/fastForms.ts): an op gets its fast form only while the form's lever is on, an
// override is installed and uninstalled with its lever; and the CPU backends' entries (accel/wasm) against their
// references. The WebGPU entries (every lever of accel/webgpu) are checked in tests/webgpu-kernels.test.ts.
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { fastForm, fastForms, fastOp, leverOn, registerFastForm, setLever } from '../core/fastForms.js';
import { channelMatMul } from '../ops/longConv/index.js';
import { unsortedSegmentSumValues } from '../ops/segmentSum/index.js';
import { randn, useBackend } from './helpers.js';
import { defaultFastPath, LEVERS, OFF_BY_DEFAULT } from '../accel/webgpu/index.js';

describe('fast-form registry', () => {
  it('an op gets its fast form only on its backend and while its lever is on', () => {
    const op = fastOp<(x: number) => number>('test.double');
    registerFastForm({ op, backend: 'test-backend', lever: 'test.lever', impl: (x) => 2 * x });
    expect(fastForm(op, 'test-backend')).toBeUndefined(); // levers start off
    setLever('test.lever', true);
    expect(leverOn('test.lever')).toBe(true);
    expect(fastForm(op, 'test-backend')?.(21)).toBe(42);
    expect(fastForm(op, 'other-backend')).toBeUndefined();
    setLever('test.lever', false);
    expect(fastForm(op, 'test-backend')).toBeUndefined();
    expect(fastForms()).toContainEqual({ op: 'test.double', backend: 'test-backend', lever: 'test.lever', kind: 'impl' });
    expect(() => registerFastForm({ op, backend: 'test-backend', impl: (x: number) => x })).toThrow(/registered twice/);
  });

  it('an override is installed while its lever is on (at once when registered after), and always when it has no lever', () => {
    const log: string[] = [];
    registerFastForm({ op: 'TestKernel', backend: 'test-backend', lever: 'test.override', install: () => log.push('in'), uninstall: () => log.push('out') });
    expect(log).toEqual([]);
    setLever('test.override', true);
    setLever('test.override', false);
    expect(log).toEqual(['in', 'out']);
    setLever('test.late', true);
    registerFastForm({ op: 'TestKernel2', backend: 'test-backend', lever: 'test.late', install: () => log.push('late'), uninstall: () => log.push('late out') });
    registerFastForm({ op: 'TestFix', backend: 'test-backend', install: () => log.push('fix') });
    expect(log).toEqual(['in', 'out', 'late', 'fix']);
    expect(fastForms().filter((e) => e.backend === 'test-backend' && e.kind === 'override').map((e) => e.lever)).toEqual(['test.override', 'test.late', undefined]);
  });
});

describe('CPU backends: every entry of accel/wasm against its reference', () => {
  /** tf.unsortedSegmentSum through the backend's registered kernel against the plain loop of ops/segmentSum. */
  async function expectSegmentSum(): Promise<void> {
    const ids = Int32Array.from({ length: 50 }, (_, i) => (i % 4 === 0 ? (i * 7) % 9 : i % 7 === 0 ? -1 : 0));
    const x = randn([50, 3], 1);
    const out = tf.unsortedSegmentSum(x, tf.tensor1d(ids, 'int32'), 9);
    const expected = new Float32Array(9 * 3);
    unsortedSegmentSumValues((await x.data()) as Float32Array, ids, 9, 3, expected);
    expect(Array.from(await out.data())).toEqual(Array.from(expected));
  }

  it('cpu: UnsortedSegmentSum equals the plain loop', async () => {
    await useBackend('cpu');
    expect(fastForms().filter((e) => e.backend === 'cpu')).toEqual([{ op: 'UnsortedSegmentSum', backend: 'cpu', lever: undefined, kind: 'override' }]);
    await expectSegmentSum();
  });

  it('wasm: UnsortedSegmentSum, BatchMatMul with transposed operands and channelMatMul equal their references', async () => {
    // the references on the cpu backend first: tfjs's own matmul
    await useBackend('cpu');
    const shapes = (tA: boolean, tB: boolean) => [tA ? [3, 5, 4] : [3, 4, 5], tB ? [3, 6, 5] : [3, 5, 6]] as const;
    const cases = [[false, false], [true, false], [false, true], [true, true]] as const;
    const expected = await Promise.all(cases.map(async ([tA, tB], i) => {
      const [sa, sb] = shapes(tA, tB);
      return (await tf.matMul(randn([...sa], 10 + i), randn([...sb], 20 + i), tA, tB).data()) as Float32Array;
    }));
    await useBackend('wasm');
    try {
      expect(fastForms().filter((e) => e.backend === 'wasm').map((e) => [e.op, e.lever, e.kind])).toEqual([
        ['UnsortedSegmentSum', undefined, 'override'],
        ['BatchMatMul (transposed operands)', undefined, 'override'],
        ['channelMatMul', undefined, 'impl'],
      ]);
      await expectSegmentSum();
      for (const [i, [tA, tB]] of cases.entries()) {
        const [sa, sb] = shapes(tA, tB);
        const a = randn([...sa], 10 + i) as tf.Tensor3D;
        const b = randn([...sb], 20 + i) as tf.Tensor3D;
        for (const product of [tf.matMul(a, b, tA, tB), channelMatMul(a, b, tA, tB)]) {
          const got = await product.data();
          got.forEach((v, j) => expect(Math.abs(v - expected[i]![j]!)).toBeLessThan(1e-5 * (1 + Math.abs(expected[i]![j]!))));
        }
      }
    } finally {
      await useBackend('cpu');
    }
  });
});

describe('which WebGPU levers are on by default', () => {
  const withEnv = <T>(value: string | undefined, f: () => T): T => {
    const before = process.env.RECALLBENCH_FAST_PATH;
    if (value === undefined) delete process.env.RECALLBENCH_FAST_PATH;
    else process.env.RECALLBENCH_FAST_PATH = value;
    try {
      return f();
    } finally {
      if (before === undefined) delete process.env.RECALLBENCH_FAST_PATH;
      else process.env.RECALLBENCH_FAST_PATH = before;
    }
  };
  const on = (p: Record<string, boolean>) => Object.keys(p).filter((l) => p[l]).sort();

  it('levers off by default (unchecked or slower on a GPU) stay off unless asked for; every other lever is on', () => {
    expect(Object.keys(OFF_BY_DEFAULT).length).toBeGreaterThan(0);
    for (const value of [undefined, '', '1', 'default']) expect(withEnv(value, () => on(defaultFastPath()))).toEqual(LEVERS.filter((l) => !(l in OFF_BY_DEFAULT)).sort());
    expect(withEnv('all', () => on(defaultFastPath()))).toEqual([...LEVERS].sort());
    expect(withEnv('0', () => on(defaultFastPath()))).toEqual([]);
    expect(withEnv('scan,delta', () => on(defaultFastPath()))).toEqual(['delta', 'scan']);
    expect(() => withEnv('scan,nope', () => defaultFastPath())).toThrow(/unknown lever 'nope'/);
    // the default edited: a pending lever added, a default one removed; 'all' less one
    const defaults = LEVERS.filter((l) => !(l in OFF_BY_DEFAULT));
    const pending = LEVERS.find((l) => l in OFF_BY_DEFAULT)!;
    expect(withEnv(`default+${pending}-${defaults[0]}`, () => on(defaultFastPath()))).toEqual([...defaults.slice(1), pending].sort());
    expect(withEnv(`all-${pending}`, () => on(defaultFastPath()))).toEqual(LEVERS.filter((l) => l !== pending).sort());
    expect(() => withEnv('default+nope', () => defaultFastPath())).toThrow(/unknown lever 'nope'/);
    expect(() => withEnv('default+', () => defaultFastPath())).toThrow(/neither a lever list nor/);
    expect(() => withEnv('default+scan,delta', () => defaultFastPath())).toThrow(/neither a lever list nor/);
    // the same syntax from another source (bench/gpuEquiv.ts: RECALLBENCH_EQUIV_FAST_PATH), named in its errors
    expect(on(defaultFastPath('all-attention', 'RECALLBENCH_EQUIV_FAST_PATH'))).toEqual(LEVERS.filter((l) => l !== 'attention').sort());
    expect(() => defaultFastPath('all-atention', 'RECALLBENCH_EQUIV_FAST_PATH')).toThrow(/^RECALLBENCH_EQUIV_FAST_PATH: unknown lever 'atention'/);
    // lever names with digits edit the default too (matmulVec4)
    expect(defaultFastPath('default-matmulVec4').matmulVec4).toBe(false);
    expect(defaultFastPath('all-matmulVec4-attention').matmulVec4).toBe(false);
  });

  it('the default follows the H200 checks in bench/RESULTS.md: cleared levers on, those slower off', () => {
    const path = withEnv(undefined, () => defaultFastPath());
    // cleared 2026-11-30: GPU ≡ CPU PASS and faster at the shapes timed
    for (const lever of ['longConvBlocks', 'headProduct', 'matmulPrefetch', 'gla', 'taylorMap', 'scaledSin', 'uniformSkip', 'tokenShift', 'sinBias'] as const) expect(path[lever], lever).toBe(true);
    // cleared 2026-12-01: GPU ≡ CPU PASS, and with 8 warm-up steps the warm round faster in every pair
    for (const lever of ['performerFeatures', 'stridedHeads', 'h2oWorkgroup'] as const) {
      expect(path[lever], lever).toBe(true);
      expect(OFF_BY_DEFAULT[lever], lever).toBeUndefined();
    }
    // cleared 2026-12-01 (built that day without a GPU): splitConcat bit for bit in the repro check, GPU ≡ CPU PASS,
    // each timed step faster (zoology-fig2 L 512 d 256)
    for (const lever of ['splitConcat', 'causalSoftmax'] as const) {
      expect(path[lever], lever).toBe(true);
      expect(OFF_BY_DEFAULT[lever], lever).toBeUndefined();
    }
    // cleared 2026-12-01 23:42 (built that day without a GPU): GPU ≡ CPU PASS, and each step faster than the same
    // round's default in at least two of three alternated rounds at B64 and B256
    for (const lever of ['scatterbrainCombine', 'causalNormalisers', 'bandSoftmax'] as const) {
      expect(path[lever], lever).toBe(true);
      expect(OFF_BY_DEFAULT[lever], lever).toBeUndefined();
    }
    // cleared 2026-12-02 (built that day without a GPU): GPU ≡ CPU PASS, a mixture preset's records equal with it and
    // without, its pools smaller and within their estimates, the median step within 10 %
    expect(path.poolBestFit).toBe(true);
    expect(OFF_BY_DEFAULT.poolBestFit).toBeUndefined();
    // cleared 2026-12-02 07:00 (its kernels rewritten coalesced): GPU ≡ CPU PASS, RWKV-7 faster in 3 of 3 rounds at
    // B64 and B256
    expect(path.rwkv7Token).toBe(true);
    expect(OFF_BY_DEFAULT.rwkv7Token).toBeUndefined();
    // cleared 2026-12-02 13:00: GPU ≡ CPU PASS, faster alone at B256 and as 8 processes sharing the GPU at B64 in 3 of
    // 3 rounds (the rule asked 2)
    expect(path.deltaSplit).toBe(true);
    expect(OFF_BY_DEFAULT.deltaSplit).toBeUndefined();
    // cleared on an H200 2026-12-02 18:45 (bench/RESULTS.md "linearAttentionWide on by default")
    expect(path.linearAttentionWide).toBe(true);
    expect(OFF_BY_DEFAULT.linearAttentionWide).toBeUndefined();
    // cleared on an H200 2026-12-03 06:07 (bench/RESULTS.md "linearAttentionColumns on by default")
    expect(path.linearAttentionColumns).toBe(true);
    expect(OFF_BY_DEFAULT.linearAttentionColumns).toBeUndefined();
    // GPU ≡ CPU on an H200 but not faster (2026-12-02): savedViews at attention's step, then at RWKV-7's
    expect(path.savedViews).toBe(false);
    expect(OFF_BY_DEFAULT.savedViews).toMatch(/not faster where it acts alone on host time.*nor at RWKV-7's step/);
    // GPU ≡ CPU on an H200 but not faster at every mixer it acts on (Based's and JRT-RNN's B64 steps)
    expect(path.fusedProjections).toBe(false);
    expect(OFF_BY_DEFAULT.fusedProjections).toMatch(/not at B64 for Based/);
    // slower on an H200 (attention at B256, ssd at N 128, shortFilter at based-fig2's H3)
    for (const lever of ['attention', 'ssd', 'shortFilter'] as const) expect(path[lever], lever).toBe(false);
    expect(OFF_BY_DEFAULT.shortFilter).toMatch(/slower at all four/);
  });
});

