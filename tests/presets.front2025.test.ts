// The front-2025 preset (issue 15): based-fig2's data and axes with Mamba-2, Gated DeltaNet, RWKV-7, bounded-cache attention
// (three eviction policies), Scatterbrain and Monarch Mixer (M2) beside attention, Based, Mamba and DeltaNet. It must expand to exactly its grid, share
// based-fig2's data, training and search, and keep its axes at every --scale (the pattern of tests/presets.test.ts).
import { describe, expect, it } from 'vitest';
import { canonicalJson, type RunConfig } from '../runners/config.js';
import { expandPreset, listPresetNames, loadPreset } from '../runners/sweep.js';
import { scalePreset, trainingSteps } from '../runners/scale.js';
import { getTask } from '../tasks/index.js';

const sliceKeys = (c: RunConfig) => c.data.test.map((s) => getTask(c.data.task).sliceKey(s as never));
const lastParams = (c: RunConfig) => c.model.layers[c.model.layers.length - 1]!.params ?? {};
const mixers = (c: RunConfig) => c.model.layers.map((l) => l.mixer).join('+');
const variants = (configs: RunConfig[], label: string, key: (c: RunConfig) => unknown) => new Set(configs.filter((c) => c.label === label).map(key));

describe('front-2025 preset', () => {
  const configs = expandPreset(loadPreset('front-2025'));

  it('is listed and expands to 59 models × 4 lr = 236 runs', () => {
    expect(listPresetNames()).toContain('front-2025');
    expect(configs.length).toBe(236);
    const models: Record<string, number> = {};
    for (const c of configs) models[c.label] = (models[c.label] ?? 0) + 1;
    // per label: models × 4 lr
    expect(models).toEqual({ attention: 8, based: 36, mamba: 36, mamba2: 36, deltanet: 12, 'gated-deltanet': 12, rwkv7: 12, 'cache-recency': 16, 'cache-sink': 16, 'cache-h2o': 16, scatterbrain: 24, m2: 12 });
  });

  it("has based-fig2's data, training, lrs and search for every run", () => {
    const base = expandPreset(loadPreset('based-fig2'))[0]!;
    const fig2 = loadPreset('based-fig2');
    const mine = loadPreset('front-2025');
    expect(mine.search).toEqual(fig2.search);
    expect(mine.learningRates).toEqual(fig2.learningRates);
    for (const c of configs) {
      expect(canonicalJson(c.data)).toBe(canonicalJson(base.data));
      expect(sliceKeys(c)).toEqual(['L64-K4', 'L64-K8', 'L64-K16', 'L128-K32', 'L256-K64', 'L512-K128', 'L1024-K256']);
      expect({ ...c.train, lr: 0 }).toEqual({ ...base.train, lr: 0 });
      expect(c.model).toMatchObject({ nLayers: 2, mlp: false, positionEmbeddings: false, block: 'zoology' });
    }
  });

  it('architectures: the BASED recipe for attention-like mixers, recurrent mixers plain, and each grid', () => {
    const archs = new Set(configs.map((c) => `${c.label}=${mixers(c)}`));
    expect(archs).toEqual(
      new Set([
        'attention=baseconv+attention',
        'based=baseconv+based',
        'mamba=mamba',
        'mamba2=mamba2',
        'deltanet=deltanet',
        'gated-deltanet=gated-deltanet',
        'rwkv7=rwkv7',
        'm2=m2',
        'cache-recency=baseconv+bounded-cache',
        'cache-sink=baseconv+bounded-cache',
        'cache-h2o=baseconv+bounded-cache',
        'scatterbrain=baseconv+scatterbrain',
      ]),
    );
    for (const policy of ['recency', 'sink', 'h2o']) {
      expect(variants(configs, `cache-${policy}`, (c) => lastParams(c).policy)).toEqual(new Set([policy]));
      expect(variants(configs, `cache-${policy}`, (c) => `${c.model.dModel}/${lastParams(c).cacheSize}`)).toEqual(new Set(['128/8', '128/32', '128/128', '128/512']));
    }
    expect(variants(configs, 'scatterbrain', (c) => `${c.model.dModel}/${lastParams(c).windowSize}/${lastParams(c).featureDim}`)).toEqual(
      new Set(['128/16/32', '128/16/128', '128/64/32', '128/64/128', '128/256/32', '128/256/128']),
    );
    expect(variants(configs, 'scatterbrain', (c) => `${lastParams(c).numHeads}/${lastParams(c).dropout}`)).toEqual(new Set(['1/0.1']));
    expect(variants(configs, 'mamba2', (c) => `${c.model.dModel}/${lastParams(c).stateDim}`).size).toBe(9);
    expect(variants(configs, 'mamba', (c) => `${c.model.dModel}/${lastParams(c).stateDim}`).size).toBe(9);
    expect(variants(configs, 'based', (c) => `${c.model.dModel}/${lastParams(c).featureDim}`).size).toBe(9);
    expect(variants(configs, 'gated-deltanet', (c) => c.model.dModel)).toEqual(new Set([64, 128, 256]));
    expect(variants(configs, 'deltanet', (c) => c.model.dModel)).toEqual(new Set([64, 128, 256]));
    expect(variants(configs, 'rwkv7', (c) => c.model.dModel)).toEqual(new Set([64, 128, 256]));
    expect(variants(configs, 'm2', (c) => c.model.dModel)).toEqual(new Set([64, 128, 256]));
    expect(variants(configs, 'm2', (c) => `${lastParams(c).projection}/${lastParams(c).nblocks}/${lastParams(c).residualLongConv}`)).toEqual(new Set(['monarch/4/false']));
    expect(variants(configs, 'attention', (c) => c.model.dModel)).toEqual(new Set([64, 128]));
  });

  it('every scale keeps labels, slices, architectures and size endpoints, with fewer runs and steps', () => {
    const axes = (cs: RunConfig[]) => ({
      labels: [...new Set(cs.map((c) => c.label))].sort(),
      slices: [...new Set(cs.map((c) => sliceKeys(c).join(',')))],
      archs: [...new Set(cs.map((c) => `${c.label}=${mixers(c)}`))].sort(),
      ends: [...new Set(cs.map((c) => c.label))].sort().map((l) => {
        const ds = cs.filter((c) => c.label === l).map((c) => c.model.dModel);
        return `${l}:${Math.min(...ds)}-${Math.max(...ds)}`;
      }),
    });
    const full = axes(configs);
    const fullSteps = configs.reduce((n, c) => n + trainingSteps(c), 0);
    for (const s of [0.02, 0.1, 0.25, 0.5]) {
      const scaled = expandPreset(scalePreset(loadPreset('front-2025'), s));
      expect(axes(scaled), `@${s}`).toEqual(full);
      expect(scaled.length).toBeLessThanOrEqual(configs.length);
      expect(scaled.reduce((n, c) => n + trainingSteps(c), 0)).toBeLessThan(fullSteps);
    }
    // at 0.25 the cache sizes keep both ends (8 and 512)
    const quarter = expandPreset(scalePreset(loadPreset('front-2025'), 0.25));
    expect(variants(quarter, 'cache-h2o', (c) => lastParams(c).cacheSize)).toEqual(new Set([8, 512]));
  });
});
