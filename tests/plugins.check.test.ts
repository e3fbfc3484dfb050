// `recallbench check-plugin FILE`: the generic mixer checks (engine/mixerChecks.ts, the ones tests/mixers.test.ts
// runs) on a user's plugin file. The example plugin passes; plugins broken in one way each fail the check that
// names it; a bad file is one line (exit 2); the plugin factory gets { tf, z, defineMixer, nn, dropout }.
import * as tf from '@tensorflow/tfjs';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../engine/backend.js';
import { UserInputError } from '../engine/errors.js';
import { checkPlugin, runMixerCheck } from '../engine/mixerChecks.js';
import { getMixer } from '../engine/registry.js';
import type { MixerContext, MixerDefinition } from '../architectures/mixer.js';
import type { ParamFactory } from '../core/types.js';
import { importPlugin, pluginApi } from '../engine/plugins.js';
import * as nn from '../architectures/nn.js';
import { dropout } from '../ops/dropout/index.js';
import { cli } from './cliRunner.js';

const dir = mkdtempSync(join(tmpdir(), 'rb-check-plugin-'));
const plugin = (name: string, source: string) => {
  const path = join(dir, name);
  writeFileSync(path, source);
  return path;
};

/** A small causal mixer (short conv + SiLU + linear) with one fault switched in by `fault`. */
const convMixer = (name: string, fault: { stateFloats?: string; forward?: string; unusedParam?: boolean } = {}) => `
export default ({ tf, z, defineMixer, nn }) => defineMixer({
  name: '${name}', description: 'test plugin', params: z.object({ kernel: z.number().int().min(2).default(3) }).strict(),
  create(p, ctx, make) {
    const d = ctx.dModel;
    const w = make.param('conv.weight', [p.kernel, d], 0.3);
    const out = make.linear('out', d, d);
    ${fault.unusedParam ? "make.param('unused', [d], 'ones');" : ''}
    return {
      forward: (x) => tf.tidy(() => ${fault.forward ?? 'out.apply(nn.silu(nn.shortConv(x, w)))'}),
      initState: (B) => ({ window: tf.zeros([B, p.kernel - 1, d]) }),
      step: (s, x) => tf.tidy(() => { const c = nn.shortConvStep(s.window, x, w); return { y: out.apply(nn.silu(c.y)), state: { window: c.window } }; }),
    };
  },
  stateFloats: (p, ctx) => ({ measured: ${fault.stateFloats ?? '(p.kernel - 1) * ctx.dModel'}, paper: (p.kernel - 1) * ctx.dModel }),
});
`;

const good = plugin('good.mjs', convMixer('good-conv'));
const wrongState = plugin('wrong-state.mjs', convMixer('wrong-state', { stateFloats: 'p.kernel * ctx.dModel' }));
// reads the whole sequence: a reversed cumulative sum adds every later token to each output
const peeks = plugin('peeks.mjs', convMixer('peeks', { forward: 'out.apply(tf.add(nn.silu(nn.shortConv(x, w)), tf.mul(0.1, tf.cumsum(x, 1, false, true))))' }));
const unused = plugin('unused.mjs', convMixer('unused', { unusedParam: true }));
const wrongShape = plugin('wrong-shape.mjs', convMixer('wrong-shape', { forward: 'out.apply(nn.silu(nn.shortConv(x, w))).slice([0, 0, 0], [-1, x.shape[1] - 1, -1])' }));
const nonCausal = plugin('non-causal.mjs', convMixer('non-causal', { forward: 'out.apply(tf.add(nn.silu(nn.shortConv(x, w)), tf.mul(0.1, tf.cumsum(x, 1, false, true))))' }).replace("create(p, ctx, make) {", 'isCausal: () => false,\n  create(p, ctx, make) {'));
const oldCausalFalse = plugin('old-causal.mjs', convMixer('old-causal').replace("create(p, ctx, make) {", 'causal: false,\n  create(p, ctx, make) {'));

/** check → status, from the report lines ("PASS  shape      ..."). */
function statuses(lines: string[]): Record<string, string> {
  return Object.fromEntries(lines.slice(1, -1).map((l) => { const [status, check] = l.split(/\s+/); return [check!, status!]; }));
}

beforeAll(async () => {
  await initBackend('cpu');
});

describe('check-plugin', () => {
  it('the example plugin (examples/retention.ts) passes every check, with its numbers', async () => {
    const r = await checkPlugin('examples/retention.ts');
    expect(r.ok).toBe(true);
    expect(statuses(r.lines)).toEqual({ shape: 'PASS', causal: 'PASS', step: 'PASS', state: 'PASS', gradients: 'PASS', aux: 'SKIP' });
    expect(r.lines[0]).toContain('retention from examples/retention.ts');
    expect(r.lines.find((l) => l.includes(' step '))).toMatch(/max rel err [\d.e+-]+ \(< 2e-4\)/);
    expect(r.lines.find((l) => l.includes(' state '))).toContain('initState(1) holds 128 floats, stateFloats().measured 128');
    expect(r.lines.at(-1)).toBe('all 5 checks pass (aux skipped)');
  });

  it('a plugin of its own passes at non-default hyperparameters and sizes', async () => {
    const r = await checkPlugin(good, { params: { kernel: 4 }, dModel: 8, seqLen: 6 });
    expect(r.ok, r.lines.join('\n')).toBe(true);
    expect(r.lines.find((l) => l.includes(' state '))).toContain('holds 24 floats');
  });

  it.each([
    ['a wrong stateFloats', wrongState, { state: 'FAIL' }, 'initState(1) holds 32 floats, stateFloats().measured 48'],
    ['a forward that reads later tokens', peeks, { causal: 'FAIL', step: 'FAIL' }, 'moved an earlier output'],
    ['a parameter the forward never uses', unused, { gradients: 'FAIL' }, 't.unused.unused'],
    ['a forward that drops a position', wrongShape, { shape: 'FAIL' }, 'forward [2, 8, 16] → [2, 7, 16]'],
  ])('%s fails the check that names it, and only that one', async (_what, file, failing, detail) => {
    const r = await checkPlugin(file);
    expect(r.ok).toBe(false);
    const expected = { shape: 'PASS', causal: 'PASS', step: 'PASS', state: 'PASS', gradients: 'PASS', aux: 'SKIP', ...failing };
    // a wrong output shape breaks everything that reads the output
    if ('shape' in failing) expect(statuses(r.lines).shape).toBe('FAIL');
    else expect(statuses(r.lines)).toEqual(expected);
    expect(r.lines.join('\n')).toContain(detail);
    expect(r.lines.at(-1)).toMatch(new RegExp(`^\\d of 6 checks failed: .*${Object.keys(failing)[0]}`));
  });

  it('a mixer declared non-causal (isCausal) skips causality and the step view', async () => {
    const r = await checkPlugin(nonCausal);
    expect(r.ok).toBe(true);
    expect(statuses(r.lines)).toEqual({ shape: 'PASS', causal: 'SKIP', step: 'SKIP', state: 'PASS', gradients: 'PASS', aux: 'SKIP' });
    expect(r.lines.at(-1)).toBe('all 3 checks pass (causal, step, aux skipped)');
  });

  it('the auxiliary-objective check: Hedgehog\'s distillation passes with a finite loss; an objective whose loss is NaN fails', () => {
    const linearAttention = getMixer('linear-attention');
    const hedgehog = { featureMap: 'hedgehog', featureDim: 4, numHeads: 2, distillWeight: 0.5 };
    const r = runMixerCheck(linearAttention, 'aux', { params: hedgehog, batch: 2, seqLen: 8, dModel: 16 });
    expect(r.status, r.detail).toBe('pass');
    const loss = Number(/auxiliary loss ([\d.e+-]+)/.exec(r.detail)?.[1]);
    expect(loss).toBeGreaterThan(0);
    // off by its hyperparameter: declared, none this batch
    expect(runMixerCheck(linearAttention, 'aux', { params: { ...hedgehog, distillWeight: 0 } }).status).toBe('skip');
    // an objective that gives NaN fails the check
    const broken = { ...linearAttention, create: (p: Record<string, unknown>, ctx: MixerContext, make: ParamFactory) => ({ ...linearAttention.create(p, ctx, make), auxObjective: () => ({ loss: () => tf.scalar(NaN) }) }) } as MixerDefinition;
    const bad = runMixerCheck(broken, 'aux', { params: { featureMap: 'taylor', featureDim: 4, numHeads: 2 } });
    expect(bad.status).toBe('fail');
    expect(bad.detail).toContain('the loss is not finite');
  });

  it('bad files and inputs are one-line user errors', async () => {
    await expect(checkPlugin(join(dir, 'missing.mjs'))).rejects.toThrow(UserInputError);
    await expect(checkPlugin(plugin('nothing.mjs', 'export const x = 1;\n'))).rejects.toThrow(/no default export/);
    await expect(checkPlugin(oldCausalFalse)).rejects.toThrow(/'causal: false' is no longer read: declare causality once as isCausal/);
    await expect(checkPlugin(good, { params: { kernel: 1 } })).rejects.toThrow(/good-conv: bad parameter kernel/);
    await expect(checkPlugin(good, { seqLen: 1 })).rejects.toThrow('--seq-len expects a whole number ≥ 2, got 1');
  });

  it('the factory receives { tf, z, defineMixer, nn, dropout }: the project modules themselves', async () => {
    expect(pluginApi.tf).toBe(tf);
    expect(pluginApi.nn).toBe(nn);
    expect(pluginApi.dropout).toBe(dropout);
    const seen = plugin('sees.mjs', `export default (api) => {
  globalThis.__rbPluginApi = api;
  return api.defineMixer({
    name: 'sees', description: 'keeps what it was given', params: api.z.object({}).strict(),
    create(p, ctx, make) {
      const w = make.linear('W', ctx.dModel, ctx.dModel);
      return { forward: (x) => w.apply(x), initState: () => ({}), step: (s, x) => ({ y: w.apply(x), state: s }) };
    },
    stateFloats: () => ({ measured: 0, paper: 0 }),
  });
};
`);
    const def = await importPlugin(seen);
    expect(def.name).toBe('sees');
    expect(Object.keys((globalThis as { __rbPluginApi?: object }).__rbPluginApi!).sort()).toEqual(['defineMixer', 'dropout', 'nn', 'tf', 'z']);
  });

  it('the command: exit 1 naming the failed check; exit 2 and one line for a bad file', async () => {
    const failed = await cli(['check-plugin', wrongState]);
    expect(failed.status, failed.stderr).toBe(1);
    expect(failed.stdout).toMatch(/^FAIL  state +initState\(1\) holds 32 floats/m);
    expect(failed.stdout).toContain('1 of 6 checks failed: state');
    const bad = await cli(['check-plugin', join(dir, 'missing.mjs')]);
    expect(bad.status).toBe(2);
    expect(bad.stderr.trim().split('\n')).toEqual([`recallbench: plugin ${join(dir, 'missing.mjs')}: file not found`]);
  });
});
