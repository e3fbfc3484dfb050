// The model's block option (engine/model.ts): 'zoology' computes zoology's TransformerBlock / MambaBlock formula
// (checked against a forward written out here from the model's own variables), 'prenorm' stays x += mixer(LN(x)),
// zoology's init rules hold, and the option is validated and set by the paper presets.
import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { LanguageModel, geluExact, rmsNorm, type LayerSpec, type ModelBlock } from '../engine/model.js';
import { layerNorm } from '../ops/layerNorm/index.js';
import { linearApply } from '../ops/linear/index.js';
import { parseStrict, runConfigSchema } from '../runners/config.js';
import { expandPreset, loadPreset } from '../runners/sweep.js';
import { UserInputError } from '../engine/errors.js';
import { relativeError, useBackend } from './helpers.js';

beforeAll(() => useBackend('cpu'));

const VOCAB = 13;
const T = 6;
const TOKENS = [
  [1, 4, 2, 7, 3, 12],
  [5, 0, 9, 9, 11, 2],
];

function build(layers: LayerSpec[], block: ModelBlock, opts: { d?: number; nLayers?: number; mlp?: boolean; positions?: boolean; seed?: number } = {}): LanguageModel {
  return new LanguageModel({
    vocabSize: VOCAB,
    dModel: opts.d ?? 8,
    nLayers: opts.nLayers ?? 2,
    maxSeqLen: T,
    layers,
    positionEmbeddings: opts.positions ?? false,
    mlp: opts.mlp ?? false,
    embeddingDropout: 0.1,
    residualDropout: 0,
    block,
    seed: opts.seed ?? 3,
  });
}

/** Build a model, read something from it, dispose it (tfjs variable names are global: one model at a time). */
async function withModel<R>(layers: LayerSpec[], block: ModelBlock, opts: Parameters<typeof build>[2], read: (m: LanguageModel) => R | Promise<R>): Promise<R> {
  const m = build(layers, block, opts);
  try {
    return await read(m);
  } finally {
    m.dispose();
  }
}

/** Give every norm non-trivial weights, so that a missing or swapped norm changes the output. */
function randomiseNorms(model: LanguageModel): void {
  let seed = 100;
  for (const v of model.variables) {
    if (/(gamma|beta|rms_norm\.weight)_\d+$/.test(v.name)) v.assign(tf.randomUniform(v.shape, 0.5, 1.5, 'float32', seed++));
  }
}

function variable(model: LanguageModel, name: string): tf.Variable {
  const v = model.variables.find((x) => x.name.replace(/_\d+$/, '') === name);
  if (!v) throw new Error(`no variable ${name}: ${model.variables.map((x) => x.name).join(', ')}`);
  return v;
}

const tokens = () => tf.tensor2d(TOKENS, [2, T], 'int32');
const embed = (m: LanguageModel) => {
  const e = tf.gather(m.embedding, tokens());
  return m.positions ? tf.add(e, m.positions.slice([0, 0], [T, m.config.dModel])) : e;
};
const mix = (m: LanguageModel, i: number, x: tf.Tensor) => m.blocks[i]!.mixer.forward(x as tf.Tensor3D, { training: false });
const ln = (x: tf.Tensor, n: { gamma: tf.Tensor; beta: tf.Tensor }) => layerNorm(x, n.gamma, n.beta);

/** zoology's LMBackbone.forward with TransformerBlocks, written out (model.py at dbcb60d). */
function zoologyTransformerReference(m: LanguageModel): tf.Tensor {
  let hidden = embed(m);
  let residual: tf.Tensor | undefined;
  m.blocks.forEach((b, i) => {
    residual = residual ? tf.add(hidden, residual) : hidden; // dropout1 is off in eval
    residual = tf.add(mix(m, i, ln(residual, b.norm)), residual);
    const normed = ln(residual, b.norm2!);
    hidden = b.mlp ? linearApply(geluExact(linearApply(normed, b.mlp.fc.w, b.mlp.fc.b)), b.mlp.proj.w, b.mlp.proj.b) : normed;
  });
  return ln(tf.add(hidden, residual!), m.finalNorm);
}

/** x += mixer(LN(x)); final LN. */
function prenormReference(m: LanguageModel): tf.Tensor {
  let x = embed(m);
  m.blocks.forEach((b, i) => {
    x = tf.add(x, mix(m, i, ln(x, b.norm)));
  });
  return ln(x, m.finalNorm);
}

const ATTENTION: LayerSpec[] = [{ mixer: 'attention', params: { numHeads: 1, dropout: 0.1 } }];

describe('block: zoology', () => {
  it('computes zoology TransformerBlock formula (identity state mixer), not the prenorm one', async () => {
    const m = build(ATTENTION, 'zoology', { positions: true });
    randomiseNorms(m);
    const out = m.forward(tokens(), { training: false });
    expect(await relativeError(out, zoologyTransformerReference(m))).toBeLessThan(1e-6);
    // the LN'd copies the identity state mixer adds back make it a different function from prenorm
    expect(await relativeError(out, prenormReference(m))).toBeGreaterThan(1e-2);
    m.dispose();
  });

  it('with the MLP state mixer: fc2(GELU_erf(fc1(norm2(residual)))) is the hidden state', async () => {
    const m = build([{ mixer: 'baseconv', params: { convType: 'short', kernelSize: 3 } }, ATTENTION[0]!], 'zoology', { mlp: true });
    randomiseNorms(m);
    expect(m.blocks[0]!.mlp!.norm).toBeUndefined(); // the MLP reads norm2; no norm of its own
    const out = m.forward(tokens(), { training: false });
    expect(await relativeError(out, zoologyTransformerReference(m))).toBeLessThan(1e-6);
    m.dispose();
  });

  it('MambaBlock: r = h + r; h = mixer(RMSNorm(r)); no second norm, no embedding dropout', async () => {
    const m = build([{ mixer: 'mamba', params: { stateDim: 4 } }], 'zoology');
    randomiseNorms(m);
    expect(m.blocks.every((b) => b.rmsWeight && !b.norm2)).toBe(true);
    let hidden = embed(m);
    let residual: tf.Tensor | undefined;
    m.blocks.forEach((b, i) => {
      residual = residual ? tf.add(hidden, residual) : hidden;
      hidden = mix(m, i, rmsNorm(residual, b.rmsWeight!));
    });
    const expected = ln(tf.add(hidden, residual!), m.finalNorm);
    const out = m.forward(tokens(), { training: false });
    expect(await relativeError(out, expected)).toBeLessThan(1e-6);
    // zoology's MambaBlock has no dropout: a training forward equals the eval one
    expect(await relativeError(m.forward(tokens(), { training: true, dropoutSeed: 5 }), out)).toBe(0);
    m.dispose();
  });

  it('RMSNorm is x / sqrt(mean(x^2) + 1e-5) * w', async () => {
    const x = tf.tensor2d([[1, -2, 3, 0.5]]);
    const w = tf.tensor1d([1, 2, 0.5, -1]);
    const r = 1 / Math.sqrt((1 + 4 + 9 + 0.25) / 4 + 1e-5);
    expect(await relativeError(rmsNorm(x, w), tf.tensor2d([[r, -4 * r, 1.5 * r, -0.5 * r]]))).toBeLessThan(1e-6);
  });

  it('embedding dropout is applied in layer 0 of a TransformerBlock model (training differs from eval)', async () => {
    const m = build(ATTENTION, 'zoology');
    const train = m.forward(tokens(), { training: true, dropoutSeed: 9 });
    expect(await relativeError(train, m.forward(tokens(), { training: false }))).toBeGreaterThan(1e-3);
    m.dispose();
  });
});

describe('block: prenorm', () => {
  it('is unchanged: x += mixer(LN(x)), final LN, and has no norm2', async () => {
    const m = build(ATTENTION, 'prenorm', { positions: true });
    randomiseNorms(m);
    expect(m.blocks.some((b) => b.norm2 || b.rmsWeight)).toBe(false);
    expect(await relativeError(m.forward(tokens(), { training: false }), prenormReference(m))).toBeLessThan(1e-6);
    m.dispose();
  });

  it('is the default when the option is absent', async () => {
    const m = new LanguageModel({ vocabSize: VOCAB, dModel: 8, nLayers: 2, maxSeqLen: T, layers: ATTENTION, positionEmbeddings: false, mlp: false, embeddingDropout: 0, residualDropout: 0, seed: 3 });
    expect(await relativeError(m.forward(tokens(), { training: false }), prenormReference(m))).toBeLessThan(1e-6);
    m.dispose();
  });
});

describe('zoology init (_init_weights)', () => {
  const std = async (v: tf.Tensor) => Math.sqrt((await tf.moments(v).variance.data())[0]!);
  const maxAbs = async (v: tf.Tensor) => (await tf.max(tf.abs(v)).data())[0]!;
  const D = 64;
  const LAYERS = 2;

  it('out_proj / fc2 at 0.02/sqrt(2 n_layers); other linears at 0.02', async () => {
    const m = build(ATTENTION, 'zoology', { d: D, nLayers: LAYERS, mlp: true });
    const rescaled = 0.02 / Math.sqrt(2 * LAYERS);
    expect(await std(variable(m, 'layer1.attention.out_proj.weight'))).toBeCloseTo(rescaled, 3);
    expect(await std(variable(m, 'layer1.mlp.proj.weight'))).toBeCloseTo(rescaled, 3);
    expect(await std(variable(m, 'layer1.attention.Wqkv.weight'))).toBeCloseTo(0.02, 3);
    expect(await std(variable(m, 'layer1.mlp.fc.weight'))).toBeCloseTo(0.02, 3);
    expect(await std(m.embedding)).toBeCloseTo(0.02, 3);
    m.dispose();
  });

  it("modules zoology does not name out_proj keep 0.02: Based's proj_o, RWKV's output", async () => {
    const based: LayerSpec[] = [{ mixer: 'based', params: { featureDim: 4 } }];
    expect(await withModel(based, 'zoology', { d: D }, (m) => std(variable(m, 'layer0.based.proj_o.weight')))).toBeCloseTo(0.02, 3);
    expect(await withModel(based, 'prenorm', { d: D }, (m) => std(variable(m, 'layer0.based.proj_o.weight')))).toBeCloseTo(0.01, 3);
    const rwkv = build([{ mixer: 'rwkv' }], 'zoology', { d: D });
    expect(await std(variable(rwkv, 'layer0.rwkv.output.weight'))).toBeCloseTo(0.02, 3);
    // RWKVTimeMixer's fancy init with zoology's n_layer = 12, not the model's 2: layer 1 has ratio 1/11
    const decay = await variable(rwkv, 'layer1.rwkv.time_decay').data();
    expect(decay[D - 1]).toBeCloseTo(3, 5);
    expect(decay[32]).toBeCloseTo(-5 + 8 * (32 / (D - 1)) ** (0.7 + 1.3 / 11), 4);
    rwkv.dispose();
  });

  it("Mamba's rules: torch default U(±1/sqrt(fan_in)) linears, out_proj U(±1/sqrt(E·n_layers))", async () => {
    const m = build([{ mixer: 'mamba', params: { stateDim: 4 } }], 'zoology', { d: D, nLayers: LAYERS });
    const E = 2 * D;
    const uniformStd = (bound: number) => bound / Math.sqrt(3);
    const out = variable(m, 'layer0.mamba.out_proj.weight');
    expect(await maxAbs(out)).toBeLessThanOrEqual(1 / Math.sqrt(E * LAYERS));
    expect(await std(out)).toBeCloseTo(uniformStd(1 / Math.sqrt(E * LAYERS)), 3);
    expect(await std(variable(m, 'layer0.mamba.in_proj.weight'))).toBeCloseTo(uniformStd(1 / Math.sqrt(D)), 3);
    expect(await maxAbs(variable(m, 'layer0.mamba.x_proj.weight'))).toBeLessThanOrEqual(1 / Math.sqrt(E));
    expect(await maxAbs(variable(m, 'layer0.mamba.dt_proj.weight'))).toBeLessThanOrEqual(1 / Math.sqrt(Math.ceil(D / 16)));
    expect(await std(variable(m, 'layer0.mamba.in_proj.weight'))).toBeGreaterThan(0.05); // not N(0, 0.02)
    m.dispose();
  });

  it("zoology's module parameters: Hyena's PosEmb is trained, BaseConv's long conv has no bias", async () => {
    const h = build([{ mixer: 'hyena' }], 'zoology');
    const z = variable(h, 'layer0.hyena.filter.pos_emb.z');
    expect(z.shape).toEqual([T, 3]);
    const grads = tf.variableGrads(() => tf.sum(tf.square(h.forward(tokens(), { training: false }))) as tf.Scalar, [z]);
    expect(await maxAbs(grads.grads[z.name]!)).toBeGreaterThan(0);
    h.dispose();
    const names = (layers: LayerSpec[], block: ModelBlock) => withModel(layers, block, {}, (m) => m.variables.map((v) => v.name));
    expect((await names([{ mixer: 'hyena' }], 'prenorm')).some((n) => n.includes('pos_emb'))).toBe(false);
    const long: LayerSpec[] = [{ mixer: 'baseconv', params: { convType: 'long' } }];
    expect((await names(long, 'zoology')).some((n) => n.startsWith('layer0.baseconv.conv.bias'))).toBe(false);
    expect((await names(long, 'prenorm')).some((n) => n.startsWith('layer0.baseconv.conv.bias'))).toBe(true);
  });
});

describe('config and presets', () => {
  const base = {
    label: 'a',
    data: { train: [{ seqLen: 8, numKvPairs: 2, count: 4 }], test: [{ seqLen: 8, numKvPairs: 2, count: 4 }] },
    model: { dModel: 8, layers: ATTENTION },
    train: { lr: 1e-3 },
  };

  it("defaults to 'prenorm' and accepts 'zoology'", () => {
    expect(parseStrict(runConfigSchema, base, 'config').model.block).toBe('prenorm');
    expect(parseStrict(runConfigSchema, { ...base, model: { ...base.model, block: 'zoology' } }, 'config').model.block).toBe('zoology');
  });

  it('a bad value is a one-line UserInputError naming model.block', () => {
    let error: unknown;
    try {
      parseStrict(runConfigSchema, { ...base, model: { ...base.model, block: 'postnorm' } }, 'config');
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(UserInputError);
    const message = (error as Error).message;
    expect(message).toContain('model.block');
    expect(message.split('\n')).toHaveLength(1);
  });

  it('the zoology-derived presets use the zoology block; quick keeps prenorm', () => {
    for (const name of ['zoology-fig2', 'based-fig2', 'jrt-sd', 'jrt-rnn', 'jrt-prompt']) {
      const blocks = new Set(expandPreset(loadPreset(name)).map((c) => c.model.block));
      expect([name, [...blocks]]).toEqual([name, ['zoology']]);
    }
    expect(new Set(expandPreset(loadPreset('quick')).map((c) => c.model.block))).toEqual(new Set(['prenorm']));
  });
});

describe('a model that cannot be built', () => {
  // layer 1's mixer refuses its settings after the embedding and layer 0 exist: those parameters go with the throw,
  // so the next model's (same names) register — before, every later model of the process failed "already registered"
  it('leaves no parameter behind, and the next model builds', async () => {
    const before = tf.memory().numTensors;
    const refused: LayerSpec[] = [{ mixer: 'attention' }, { mixer: 'deltanet', params: { numHeads: 3 } }];
    expect(() => build(refused, 'zoology')).toThrow(/divisible by numHeads 3/);
    expect(tf.memory().numTensors).toBe(before);
    const sums = await withModel([{ mixer: 'attention' }, { mixer: 'deltanet', params: { numHeads: 2 } }], 'zoology', {}, (m) => m.variables.length);
    expect(sums).toBeGreaterThan(0);
    expect(tf.memory().numTensors).toBe(before);
  });
});
