// The generic suite every mixer passes (architectures.md): causality, the recurrent step view reproduces the
// parallel forward, the state it holds has the declared (measured) size, gradients reach every parameter.
// The checks live in engine/mixerChecks.ts, which `recallbench check-plugin FILE` runs on a user's plugin too.
// A mixer listed in `testParams` is tested with those hyperparameters (small, fast); others with defaults.
import { beforeAll, describe, expect, it } from 'vitest';
import { builtinMixers } from '../architectures/index.js';
import { MIXER_CHECKS, runMixerCheck } from '../engine/mixerChecks.js';
import { useBackend } from './helpers.js';
import { loadPlugin } from '../engine/plugins.js';
import { initBackend } from '../engine/backend.js';

/** Small settings per mixer so the suite stays fast on 2 CPU cores. */
export const testParams: Record<string, Record<string, unknown>> = {
  attention: { numHeads: 2, dropout: 0 },
  'sliding-window': { windowSize: 3, numHeads: 2, dropout: 0 },
  'bounded-cache': { cacheSize: 4, policy: 'h2o', recentTokens: 1, numHeads: 2, dropout: 0 },
  scatterbrain: { windowSize: 3, featureDim: 4, numHeads: 2, dropout: 0 },
  'linear-attention': { featureMap: 'taylor', featureDim: 4, numHeads: 2 },
  based: { featureDim: 4, numHeads: 2 },
  'jrt-rnn': { featureDim: 4, numHeads: 2 },
  mamba: { stateDim: 4 },
  mamba2: { stateDim: 4, headDim: 8, chunkSize: 4 },
  deltanet: { numHeads: 2, chunkSize: 4 },
  'gated-deltanet': { numHeads: 2, chunkSize: 4 },
  gla: { numHeads: 2, chunkSize: 4, shortConv: true },
  rwkv: {},
  rwkv7: { numHeads: 2, chunkSize: 4 },
  baseconv: { convType: 'long', filter: 'implicit' },
  h3: { stateDim: 4, headDim: 2 },
  hyena: { filterOrder: 8 },
  m2: { filterOrder: 8 },
};

beforeAll(async () => {
  await useBackend('cpu');
});

// The shipped example plugin, loaded the way a user's is (`--plugin examples/retention.ts`), passes the same suite.
await initBackend('cpu');
const examplePlugins = [await loadPlugin('examples/retention.ts')];

describe.each([...builtinMixers, ...examplePlugins].map((m) => [m.name, m] as const))('mixer %s', (_name, def) => {
  it.each(MIXER_CHECKS.map((c) => [c.title, c.id] as const))('%s', (_title, id) => {
    const r = runMixerCheck(def, id, { params: testParams[def.name] ?? {}, batch: 2, seqLen: 8, dModel: 16 });
    expect(r.status, `${r.check}: ${r.detail}`).not.toBe('fail');
  });
});
