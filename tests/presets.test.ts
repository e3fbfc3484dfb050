// The paper presets are data: each must expand into exactly its intended grid (experiments.md), and every
// --scale of it must keep its axes (labels, task settings, test slices, architectures, size endpoints).
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { canonicalJson, runId, type RunConfig } from '../runners/config.js';
import { expandPreset, listPresetNames, loadPreset, presetSchema, PRESETS_DIR, selectPreset, type Preset } from '../runners/sweep.js';
import { keepEndpoints, keepMiddle, scalePreset, trainingSteps } from '../runners/scale.js';
import { getTask } from '../tasks/index.js';
import { UserInputError } from '../engine/errors.js';
import { sweepStackSize } from '../runners/stack.js';

const PAPER_PRESETS = ['zoology-fig2', 'based-fig2', 'jrt-sd', 'jrt-prompt', 'jrt-rnn', 'quick'];
const SCALES = [0.02, 0.1, 0.25, 0.5];

const logspace = (a: number, b: number, n: number) => Array.from({ length: n }, (_, i) => 10 ** (a + ((b - a) * i) / (n - 1)));

function count<T>(xs: T[], key: (x: T) => string): Map<string, number> {
  const m = new Map<string, number>();
  for (const x of xs) m.set(key(x), (m.get(key(x)) ?? 0) + 1);
  return m;
}

const sliceKeys = (c: RunConfig) => c.data.test.map((s) => getTask(c.data.task).sliceKey(s as never));
const lastParams = (c: RunConfig) => c.model.layers[c.model.layers.length - 1]!.params ?? {};
const mixers = (c: RunConfig) => c.model.layers.map((l) => l.mixer).join('+');

/** The axes a figure needs: labels, task settings (test slices), and per label its sizes and parameter values. */
function axes(configs: RunConfig[]) {
  const labels = [...new Set(configs.map((c) => c.label))].sort();
  const settings = [...new Set(configs.map((c) => `${c.data.task}:${sliceKeys(c).join(',')}`))].sort();
  const archs = [...new Set(configs.map((c) => `${c.label}=${mixers(c)}`))].sort();
  const perLabel: Record<string, { dMin: number; dMax: number; settings: string[] }> = {};
  for (const l of labels) {
    const mine = configs.filter((c) => c.label === l);
    const ds = mine.map((c) => c.model.dModel);
    perLabel[l] = { dMin: Math.min(...ds), dMax: Math.max(...ds), settings: [...new Set(mine.map((c) => sliceKeys(c).join(',')))].sort() };
  }
  return { labels, settings, archs, perLabel };
}

describe('preset files', () => {
  it('every preset file parses and the paper presets are all there', () => {
    expect(listPresetNames()).toEqual(expect.arrayContaining(PAPER_PRESETS));
    for (const name of listPresetNames()) {
      const raw = JSON.parse(readFileSync(join(PRESETS_DIR, `${name}.json`), 'utf8'));
      expect(presetSchema.safeParse(raw).success, name).toBe(true);
      expect(loadPreset(name).name).toBe(name);
    }
  });

  it('zoology-fig2: 7 mixers × 4 d × 4 lr × 4 (L, K) settings = 448 runs, with the published settings', () => {
    const configs = expandPreset(loadPreset('zoology-fig2'));
    expect(configs.length).toBe(448);
    expect(new Set(configs.map(runId)).size).toBe(448);
    const a = axes(configs);
    expect(a.labels).toEqual(['attention', 'baseconv', 'based', 'h3', 'hyena', 'mamba', 'rwkv']);
    expect(a.settings).toEqual(['mqar:L128-K8', 'mqar:L256-K16', 'mqar:L512-K64', 'mqar:L64-K4']);
    for (const n of count(configs, (c) => c.label).values()) expect(n).toBe(64);
    expect([...new Set(configs.map((c) => c.model.dModel))].sort((x, y) => x - y)).toEqual([64, 128, 256, 512]);
    const lrs = [...new Set(configs.map((c) => c.train.lr))].sort((x, y) => x - y);
    lrs.forEach((lr, i) => expect(lr).toBeCloseTo(logspace(-4, -2, 4)[i]!, 12));
    for (const c of configs) {
      const seg = c.data.test[0]!;
      const L = seg.seqLen as number;
      expect(c.data.train[0]!.count).toBe(100_000);
      expect(seg.count).toBe(3_000);
      expect(seg.vocabSize).toBe(8192);
      expect(seg.randomNonQueries).toBe(false);
      expect(seg.powerA).toBe(0.01);
      expect(c.train.batchSize).toBe(L <= 128 ? 512 : L === 256 ? 256 : 128);
      expect(c.train.epochs).toBe(64);
      expect(c.model.nLayers).toBe(2);
      expect(c.model.mlp).toBe(false);
      expect(c.model.positionEmbeddings).toBe(c.label === 'attention');
      if (c.label === 'h3') expect(lastParams(c).stateDim).toBe(L); // N = L, per setting
      if (c.label === 'h3') expect(lastParams(c).headDim).toBe(2);
      if (c.label === 'based') expect(mixers(c)).toBe('baseconv+based');
      if (c.label === 'based') expect(lastParams(c).featureDim).toBe(8);
      if (c.label === 'baseconv') expect(c.model.layers.map((l) => l.params?.convType)).toEqual(['short', 'long']);
    }
    expect(loadPreset('zoology-fig2').description).toMatch(/2 layers|n_layers=2/);
  });

  it('based-fig2: the BASED mixture, 7 test slices, 34 models × 4 lr = 136 runs', () => {
    const configs = expandPreset(loadPreset('based-fig2'));
    expect(configs.length).toBe(136);
    const models = count(configs, (c) => c.label);
    expect(Object.fromEntries(models)).toEqual({ attention: 8, based: 36, 'sliding-window': 32, mamba: 36, hyena: 12, h3: 12 });
    for (const c of configs) {
      expect(sliceKeys(c)).toEqual(['L64-K4', 'L64-K8', 'L64-K16', 'L128-K32', 'L256-K64', 'L512-K128', 'L1024-K256']);
      expect(c.data.test.every((s) => s.count === 1000 && s.randomNonQueries === true && s.vocabSize === 8192)).toBe(true);
      expect(c.data.train.map((s) => [s.seqLen, s.numKvPairs, s.count])).toEqual([[64, 4, 100000], [128, 8, 20000], [256, 16, 20000], [256, 32, 20000], [256, 64, 20000]]);
      expect(c.train.epochs).toBe(32);
      expect(c.train.batchSize).toBe(256);
      expect(c.model.positionEmbeddings).toBe(false);
      if (['attention', 'based', 'sliding-window'].includes(c.label)) expect(c.model.layers[0]).toMatchObject({ mixer: 'baseconv', params: { convType: 'short', kernelSize: 3 } });
      if (['mamba', 'hyena', 'h3'].includes(c.label)) expect(c.model.layers.length).toBe(1);
      if (c.label === 'h3') expect(lastParams(c).stateDim).toBe(c.model.dModel / 4);
    }
    const lrs = [...new Set(configs.map((c) => c.train.lr))].sort((x, y) => x - y);
    lrs.forEach((lr, i) => expect(lr).toBeCloseTo(logspace(-3, -1.5, 4)[i]!, 12));
    const windows = [...new Set(configs.filter((c) => c.label === 'sliding-window').map((c) => lastParams(c).windowSize))];
    expect(windows).toEqual(expect.arrayContaining([8, 16, 32, 64, 128, 256, 512, 1024]));
    const basedVariants = new Set(configs.filter((c) => c.label === 'based').map((c) => `${c.model.dModel}/${lastParams(c).featureDim}`));
    expect(basedVariants.size).toBe(9);
  });

  it('jrt-sd: SD mixtures of tasks.md, causal vs non-causal 4-layer BaseConv/Taylor hybrids, 240 runs', () => {
    const configs = expandPreset(loadPreset('jrt-sd'));
    expect(configs.length).toBe(2 * 5 * 4 * 3 * 2);
    for (const c of configs) {
      expect(c.data.task).toBe('sd');
      expect(c.data.train.length).toBe(12);
      expect(c.data.test.length).toBe(20);
      expect(c.data.train.every((s) => s.count === 20000 && s.vocabSize === 2048)).toBe(true);
      const orders = count(c.data.test, (s) => ((s.sizeA as number) < (s.sizeB as number) ? 'small' : 'large'));
      expect(orders.get('small')).toBe(10);
      expect(orders.get('large')).toBe(10);
      expect(c.model.nLayers).toBe(4);
      expect(mixers(c)).toBe('baseconv+linear-attention');
      const causal = c.label === 'causal';
      expect(lastParams(c)).toMatchObject({ featureMap: 'taylor', numHeads: 2, causal });
      expect(c.model.layers[0]!.params).toMatchObject({ kernelSize: 3, causal });
      expect(c.train.epochs).toBe(48);
      expect(c.train.batchSize).toBe(128);
    }
    expect(new Set(configs.map((c) => c.seed))).toEqual(new Set([0, 1]));
    expect(new Set(configs.map((c) => c.train.lr))).toEqual(new Set([1e-4, 5e-4, 8e-4]));
    expect(new Set(configs.map((c) => c.model.dModel))).toEqual(new Set([36, 48, 64, 96, 128]));
    expect(new Set(configs.map((c) => lastParams(c).featureDim))).toEqual(new Set([4, 8, 16, 24]));
  });

  it('jrt-prompt: MQAR and SD with passes 1, 2, 3 for causal mixers only, labelled as ours', () => {
    const preset = loadPreset('jrt-prompt');
    expect(preset.description).toMatch(/own/);
    const configs = expandPreset(preset);
    expect(configs.length).toBe(14 * 6 * 4);
    const passes = count(configs, (c) => `${c.data.task}:P${c.data.test[0]!.passes}`);
    expect([...passes.keys()].sort()).toEqual(['mqar:P1', 'mqar:P2', 'mqar:P3', 'sd:P1', 'sd:P2', 'sd:P3']);
    expect(new Set(passes.values()).size).toBe(1); // the same models on every (task, p)
    expect(new Set(configs.map((c) => c.label))).toEqual(new Set(['attention', 'based', 'mamba']));
    for (const c of configs) {
      const P = c.data.test[0]!.passes;
      expect([...c.data.train, ...c.data.test].every((s) => s.passes === P)).toBe(true);
      expect(c.model.layers.every((l) => l.params?.causal !== false)).toBe(true);
    }
  });

  it('jrt-rnn: JRT-RNN vs BASED vs attention on one MQAR and one SD setting, labelled as ours', () => {
    const preset = loadPreset('jrt-rnn');
    expect(preset.description).toMatch(/own/);
    const configs = expandPreset(preset);
    expect(configs.length).toBe(20 * 2 * 4);
    expect(Object.fromEntries(count(configs, (c) => c.label))).toEqual({ 'jrt-rnn': 72, based: 72, attention: 16 });
    expect(new Set(configs.map((c) => c.data.task))).toEqual(new Set(['mqar', 'sd']));
    expect(configs.filter((c) => c.label === 'jrt-rnn').every((c) => mixers(c) === 'baseconv+jrt-rnn')).toBe(true);
  });

  it('quick: attention and a gated convolution on MQAR L 64, K 4, d 64, small vocabulary', () => {
    const configs = expandPreset(loadPreset('quick'));
    expect(new Set(configs.map((c) => c.label))).toEqual(new Set(['attention', 'baseconv']));
    for (const c of configs) {
      expect(sliceKeys(c)).toEqual(['L64-K4']);
      expect(c.model.dModel).toBe(64);
      expect(c.data.test[0]!.vocabSize as number).toBeLessThanOrEqual(256);
    }
  });

  it('front (the default job): six models spanning the state axis on an easy MQAR, pre-norm block, cheap enough for a laptop', () => {
    const configs = expandPreset(loadPreset('front'));
    expect(configs.map((c) => `${c.label}:${JSON.stringify(lastParams(c).featureDim ?? lastParams(c).windowSize ?? null)}`).sort()).toEqual(['attention:null', 'baseconv:null', 'based:2', 'based:8', 'sliding-window:24', 'sliding-window:8']);
    for (const c of configs) {
      expect(sliceKeys(c)).toEqual(['L32-K4']);
      expect(c.model.block).toBe('prenorm');
      expect(c.model.layers[0]).toMatchObject({ mixer: 'baseconv', params: { convType: 'short', kernelSize: 3 } });
      expect(c.model.dModel).toBe(64);
    }
    // 6 runs × at most 8 epochs × 32 steps: measured at 2 min 43 s on 2 busy cores (wasm) — keep it this small
    expect(configs.reduce((n, c) => n + trainingSteps(c), 0)).toBe(6 * 8 * 32);
  });

  it('runs come cheapest first', () => {
    const configs = expandPreset(loadPreset('zoology-fig2'));
    const first = configs[0]!;
    const last = configs[configs.length - 1]!;
    expect(first.model.dModel).toBe(64);
    expect(first.data.test[0]!.seqLen).toBe(64);
    expect(last.model.dModel).toBe(512);
    expect(last.data.test[0]!.seqLen).toBe(512);
  });

  it('dataLabels naming no data entry is a user error', () => {
    const p = structuredClone(loadPreset('quick')) as Preset;
    p.architectures[0]!.dataLabels = ['no-such-setting'];
    expect(() => expandPreset(p)).toThrow(UserInputError);
  });
});

describe('--scale', () => {
  it('keepEndpoints keeps both ends and spreads the rest; keepMiddle keeps the middle', () => {
    expect(keepEndpoints([8, 16, 32, 64, 128, 256, 512, 1024], 0.5)).toEqual([8, 32, 256, 1024]);
    expect(keepEndpoints([64, 128, 256, 512], 0.1)).toEqual([64, 512]);
    expect(keepEndpoints([36, 48, 64, 96, 128], 0.6)).toEqual([36, 64, 128]);
    expect(keepEndpoints([5], 0.01)).toEqual([5]);
    expect(keepEndpoints([1, 2, 3], 1)).toEqual([1, 2, 3]);
    expect(keepMiddle([1, 2, 3, 4], 0.5)).toEqual([2, 3]);
    expect(keepMiddle([1, 2, 3, 4], 0.1)).toEqual([3]);
    expect(keepMiddle([1, 2, 3], 0.1)).toEqual([2]);
  });

  it('rejects scales outside (0, 1]', () => {
    for (const s of [0, -0.5, 1.5, Number.NaN]) expect(() => scalePreset(loadPreset('quick'), s)).toThrow(UserInputError);
  });

  it('scale 1 is the identity', () => {
    for (const name of PAPER_PRESETS) {
      const full = expandPreset(loadPreset(name)).map(runId);
      expect(expandPreset(scalePreset(loadPreset(name), 1)).map(runId)).toEqual(full);
    }
  });

  for (const name of PAPER_PRESETS) {
    it(`${name}: every scale keeps labels, settings, slices, architectures and size endpoints, with fewer runs and steps`, () => {
      const fullConfigs = expandPreset(loadPreset(name));
      const full = axes(fullConfigs);
      const fullSteps = fullConfigs.reduce((n, c) => n + trainingSteps(c), 0);
      for (const s of SCALES) {
        const scaled = expandPreset(scalePreset(loadPreset(name), s));
        const a = axes(scaled);
        expect(a.labels, `${name} @${s}`).toEqual(full.labels);
        expect(a.settings, `${name} @${s}`).toEqual(full.settings);
        expect(a.archs, `${name} @${s}`).toEqual(full.archs);
        expect(a.perLabel, `${name} @${s}`).toEqual(full.perLabel);
        expect(scaled.length).toBeLessThanOrEqual(fullConfigs.length);
        const steps = scaled.reduce((n, c) => n + trainingSteps(c), 0);
        expect(steps).toBeLessThan(fullSteps);
        // the batch sizes and vocabularies stay; examples and epochs shrink
        for (const c of scaled) {
          const twin = fullConfigs.find((f) => f.label === c.label && canonicalJson(sliceKeys(f)) === canonicalJson(sliceKeys(c)));
          expect(c.train.batchSize).toBe(twin!.train.batchSize);
          expect(c.train.epochs).toBeLessThanOrEqual(twin!.train.epochs);
          c.data.train.forEach((seg, i) => expect(seg.count as number).toBeLessThanOrEqual(twin!.data.train[i]!.count as number));
        }
      }
    });
  }

  it('zoology-fig2 at 0.25: 7 mixers × 2 d × 4 lr (every lr: successive halving) × 4 settings, examples and epochs × 0.5', () => {
    const configs = expandPreset(scalePreset(loadPreset('zoology-fig2'), 0.25));
    expect(configs.length).toBe(7 * 2 * 4 * 4);
    expect(new Set(configs.map((c) => c.train.lr)).size).toBe(4);
    expect(new Set(configs.map((c) => c.model.dModel))).toEqual(new Set([64, 512]));
    for (const c of configs) {
      expect(c.train.epochs).toBe(32);
      expect(c.data.train[0]!.count).toBe(50_000);
      expect(c.data.test[0]!.count).toBe(1_500);
    }
  });

  it('based-fig2 at 0.25 keeps the smallest and largest H3 (N = d/4) and both ends of every grid', () => {
    const configs = expandPreset(scalePreset(loadPreset('based-fig2'), 0.25));
    const h3 = configs.filter((c) => c.label === 'h3').map((c) => `${c.model.dModel}/${lastParams(c).stateDim}`);
    expect(new Set(h3)).toEqual(new Set(['64/16', '256/64']));
    const windows = new Set(configs.filter((c) => c.label === 'sliding-window').map((c) => lastParams(c).windowSize));
    expect(windows).toEqual(new Set([8, 1024]));
    const f = new Set(configs.filter((c) => c.label === 'based').map((c) => lastParams(c).featureDim));
    expect(f).toEqual(new Set([8, 24]));
  });
});

describe('preset overrides', () => {
  it("an architecture's model override changes only the keys it names (zod's partial() would refill defaults)", () => {
    const preset = presetSchema.parse({
      name: 'overrides',
      data: [{ train: [{ count: 10, seqLen: 16, numKvPairs: 2, vocabSize: 64 }], test: [{ count: 4, seqLen: 16, numKvPairs: 2, vocabSize: 64 }] }],
      architectures: [
        { label: 'attention', layers: [{ mixer: 'attention' }], model: { positionEmbeddings: true } },
        { label: 'baseconv', layers: [{ mixer: 'baseconv' }] },
      ],
      dModels: [16],
      learningRates: [1e-3],
      model: { block: 'zoology', embeddingDropout: 0.2 },
      train: { epochs: 3 },
    });
    const [a, b] = expandPreset(preset).sort((x, y) => x.label.localeCompare(y.label));
    expect(a!.model).toMatchObject({ block: 'zoology', embeddingDropout: 0.2, positionEmbeddings: true });
    expect(b!.model).toMatchObject({ block: 'zoology', embeddingDropout: 0.2, positionEmbeddings: false });
    expect(a!.train).toMatchObject({ epochs: 3, batchSize: 64 });
    expect(() => presetSchema.parse({ ...preset, architectures: [{ label: 'x', layers: [{ mixer: 'attention' }], model: { blok: 'zoology' } }] })).toThrow();
  });

  it('--only / --only-data select a panel of the full grid: the same run ids, H3 only at the kept settings', () => {
    const zoo = loadPreset('zoology-fig2');
    const full = new Map(expandPreset(zoo).map((c) => [runId(c), c]));
    const panel = expandPreset(selectPreset(zoo, ['attention', 'h3'], ['L64-K4', 'L256-K16']));
    // attention 4 d × 4 lr × 2 settings, H3 (one entry per setting) 4 d × 4 lr × 2
    expect(panel).toHaveLength(64);
    expect(count(panel, (c) => c.label)).toEqual(new Map([['attention', 32], ['h3', 32]]));
    for (const c of panel) {
      expect(full.get(runId(c))).toEqual(c);
      expect([64, 256]).toContain(c.data.train[0]!.seqLen);
      if (c.label === 'h3') expect(lastParams(c).stateDim).toBe(c.data.train[0]!.seqLen);
    }
    expect(expandPreset(selectPreset(zoo, undefined, ['L512-K64']))).toHaveLength(7 * 16);
    expect(() => selectPreset(zoo, undefined, ['L64'])).toThrow(/--only-data: L64 is not a data label of zoology-fig2 \(labels: L64-K4, L128-K8/);
    expect(() => selectPreset(zoo, ['mamba2'])).toThrow(/--only: mamba2 is not an architecture label/);
    // H3 is listed per setting: asking for it where the preset has none of its entries leaves nothing to run
    const noH3 = { ...zoo, architectures: zoo.architectures.filter((a) => a.label !== 'h3' || !a.dataLabels?.includes('L64-K4')) };
    expect(() => selectPreset(noH3, ['h3'], ['L64-K4'])).toThrow(/no run of zoology-fig2 is left \(architectures h3 at settings L64-K4\)/);
  });

  it('--only-seeds selects one seed of every point: the full grid\'s ids of that seed, no other', () => {
    const sd = loadPreset('jrt-sd');
    const full = expandPreset(sd);
    const seed0 = expandPreset(selectPreset(sd, undefined, undefined, [0]));
    expect([full.length, seed0.length]).toEqual([240, 120]);
    expect(new Set(seed0.map(runId))).toEqual(new Set(full.filter((c) => c.seed === 0).map(runId)));
    expect(expandPreset(selectPreset(sd, ['causal'], undefined, [1])).map((c) => [c.label, c.seed])).toEqual(Array.from({ length: 60 }, () => ['causal', 1]));
    expect(() => selectPreset(sd, undefined, undefined, [NaN])).toThrow(/--only-seeds: seeds are whole numbers/); // yargs's reading of a word
    expect(() => selectPreset(sd, undefined, undefined, [2])).toThrow(/--only-seeds: 2 is not a seed of jrt-sd \(seeds: 0, 1\)/);
  });
});

describe("a preset's own stack size", () => {
  it('jrt-sd stacks its learning rates in 3s on webgpu (measured there); --stack overrides; other backends and presets train runs alone', () => {
    const jrt = loadPreset('jrt-sd');
    expect(jrt.stack).toBe(3);
    expect(sweepStackSize(undefined, jrt.stack, 'webgpu')).toBe(3);
    expect(sweepStackSize(1, jrt.stack, 'webgpu')).toBe(1);
    expect(sweepStackSize(5, jrt.stack, 'cpu')).toBe(5);
    // measured on a GPU only: the CPU backends keep each run alone unless asked
    for (const backend of ['cpu', 'wasm', 'tensorflow']) expect(sweepStackSize(undefined, jrt.stack, backend)).toBe(1);
    // the other paper presets set none
    for (const name of ['zoology-fig2', 'based-fig2', 'jrt-rnn', 'jrt-prompt']) expect(loadPreset(name).stack, name).toBeUndefined();
    expect(sweepStackSize(undefined, undefined, 'webgpu')).toBe(1);
    // a preset's stack is a whole number ≥ 1
    const base = JSON.parse(readFileSync(join(PRESETS_DIR, 'jrt-sd.json'), 'utf8')) as Record<string, unknown>;
    expect(presetSchema.safeParse({ ...base, stack: 0 }).success).toBe(false);
    expect(presetSchema.safeParse({ ...base, stack: 2.5 }).success).toBe(false);
  });
});
