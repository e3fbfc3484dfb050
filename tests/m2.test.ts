// Monarch Mixer (architectures/m2.ts): the generic checks for the variants the generic suite does not build (dense
// projections as the reference, the residual long conv, 2 Monarch blocks), the Monarch-projected mixer equals the
// dense-projected one whose weights are the Monarch pairs' dense equivalents, the Monarch linear's init matches a
// dense N(0, std) layer's output scale, and the state sizes.
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import m2 from '../architectures/m2.js';
import { MIXER_CHECKS, runMixerCheck } from '../engine/mixerChecks.js';
import { ParamStore } from '../engine/params.js';
import { monarch, monarchDense } from '../ops/monarch/index.js';
import { randn, relativeError, useBackend } from './helpers.js';

beforeAll(async () => {
  await useBackend('cpu');
});

const VARIANTS: [string, Record<string, unknown>][] = [
  ['dense projections (the reference module)', { filterOrder: 8, projection: 'dense' }],
  ['residual long conv of the input', { filterOrder: 8, residualLongConv: true }],
  ['2 Monarch blocks, emb 5, 1 inner MLP', { filterOrder: 8, nblocks: 2, embDim: 5, innerMlps: 1 }],
];

describe('m2 variants pass the generic checks', () => {
  const cases = VARIANTS.flatMap(([label, params]) => MIXER_CHECKS.map((c) => [label, c.title, c.id, params] as const));
  it.each(cases)('%s: %s', (_label, _title, id, params) => {
    const r = runMixerCheck(m2, id, { params, batch: 2, seqLen: 8, dModel: 16 });
    expect(r.status, `${r.check}: ${r.detail}`).not.toBe('fail');
  });
});

/** Resolved hyperparameters (the schema's defaults filled in). */
const P = (raw: Record<string, unknown>) => m2.params.parse(raw);
const baseName = (v: tf.Variable) => v.name.replace(/_\d+$/, '');

describe('m2', () => {
  it('with Monarch projections equals the dense-projected mixer carrying their dense equivalents (forward, T 9, d 16)', async () => {
    const ctx = { dModel: 16, maxSeqLen: 9, layerIndex: 0, nLayers: 2 };
    const mStore = new ParamStore(3, 2);
    const dStore = new ParamStore(4, 2);
    const mon = m2.create(P({ filterOrder: 8, residualLongConv: true }), ctx, mStore.scope('m'));
    const den = m2.create(P({ filterOrder: 8, residualLongConv: true, projection: 'dense' }), ctx, dStore.scope('m'));
    const byName = new Map(mStore.variables.map((v) => [baseName(v), v]));
    for (const v of dStore.variables) {
      const name = baseName(v);
      const proj = /^m\.(in_linear|out_linear)\.weight$/.exec(name);
      if (proj) v.assign(monarchDense(byName.get(`m.${proj[1]}.blkdiag1`) as tf.Tensor3D, byName.get(`m.${proj[1]}.blkdiag2`) as tf.Tensor3D));
      else v.assign(byName.get(name)!);
    }
    // make the biases nonzero so they are compared too
    for (const v of mStore.variables) if (/linear\.bias/.test(v.name)) v.assign(randn(v.shape, 21, 0.1));
    for (const v of dStore.variables) if (/linear\.bias/.test(v.name)) v.assign(byName.get(baseName(v))!);
    const x = randn([2, 9, 16], 22) as tf.Tensor3D;
    const a = mon.forward(x, { training: false });
    const b = den.forward(x, { training: false });
    expect(await relativeError(a, b)).toBeLessThan(1e-5);
    expect((await a.abs().max().data())[0]).toBeGreaterThan(0);
    mStore.dispose();
    dStore.dispose();
  });

  it('a Monarch linear (d 128 → 384, 4 blocks) is initialised to the output scale of a dense N(0, 0.02) layer', async () => {
    const store = new ParamStore(5, 2);
    m2.create(P({}), { dModel: 128, maxSeqLen: 16, layerIndex: 0, nLayers: 2 }, store.scope('m'));
    const get = (n: string) => store.variables.find((v) => baseName(v) === `m.${n}`)! as tf.Tensor3D;
    expect(get('in_linear.blkdiag1').shape).toEqual([4, 32, 32]);
    expect(get('in_linear.blkdiag2').shape).toEqual([4, 96, 32]);
    expect(get('out_linear.blkdiag1').shape).toEqual([4, 32, 32]);
    expect(get('out_linear.blkdiag2').shape).toEqual([4, 32, 32]);
    const x = randn([512, 128], 6);
    const std = (await tf.moments(monarch(x, get('in_linear.blkdiag1'), get('in_linear.blkdiag2'))).variance.sqrt().data())[0]!;
    const target = 0.02 * Math.sqrt(128); // a dense N(0, 0.02) layer on unit inputs
    expect(Math.abs(std / target - 1)).toBeLessThan(0.1);
    // parameters: 4 · 32 · 32 + 4 · 96 · 32 = 16384 (+ bias) against 128 · 384 = 49152 dense
    expect(get('in_linear.blkdiag1').size + get('in_linear.blkdiag2').size).toBe(16384);
    store.dispose();
  });

  it('rejects nblocks that do not divide d', () => {
    expect(() => runMixerCheck(m2, 'shape', { params: { nblocks: 3 }, dModel: 16 })).not.toThrow();
    expect(runMixerCheck(m2, 'shape', { params: { nblocks: 3 }, dModel: 16 }).status).toBe('fail');
  });

  it('state sizes at d 128, L_s 1024: measured 6d + d·L_s = 131840, paper d·L_s = 131072; residual long conv doubles the d·L_s term', () => {
    const ctx = { dModel: 128, maxSeqLen: 1024, layerIndex: 0, nLayers: 2 };
    expect(m2.stateFloats(P({}), ctx)).toEqual({ measured: 131840, paper: 131072 });
    expect(m2.stateFloats(P({ residualLongConv: true }), ctx)).toEqual({ measured: 6 * 128 + 2 * 131072, paper: 2 * 131072 });
  });
});
