// Sweeps with --stack (runners/stack.ts, runners/sweep.ts): runs that differ only in learning rate train as stacks,
// and the results folder ends as it does without stacking — same records (ids, statuses, epochs, accuracies, halving
// decisions), same curves — under successive halving, with an unstackable mixer in the grid (trained alone), and
// when a stacked sweep is interrupted after an epoch and resumed, stacked or each run alone (checkpoints per run).
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type { BackendInfo } from '../engine/backend.js';
import { presetSchema } from '../runners/config.js';
import { ResultsDir, type RunRecord } from '../runners/results.js';
import { stackGroups, stackKey, unstackable } from '../runners/stack.js';
import { RUNG_FILE } from '../runners/search.js';
import { expandPreset, runSweep } from '../runners/sweep.js';
import { useBackend } from './helpers.js';

const work = mkdtempSync(join(tmpdir(), 'rb-stack-sweep-'));
let backend: BackendInfo;
beforeAll(async () => {
  await useBackend('cpu');
  backend = { backend: 'cpu', device: 'cpu' };
});

const FIELDS = ['id', 'status', 'search', 'epochs', 'bestEpoch', 'steps', 'params', 'validationAccuracy', 'testAccuracy', 'finalTestAccuracy', 'testSlices', 'stateFloats'] as const;
const comparable = (records: RunRecord[]) => Object.fromEntries(records.map((r) => [r.id, Object.fromEntries(FIELDS.map((k) => [k, r[k]]))]));
/** Curves with losses to 5 decimals (a stack sums a step's losses in another order than the run alone). */
function curves(dir: string): Record<string, unknown> {
  const round = (x: number) => Math.round(x * 1e5) / 1e5;
  return Object.fromEntries(
    readdirSync(join(dir, 'curves')).map((f) => [
      f,
      (JSON.parse(readFileSync(join(dir, 'curves', f), 'utf8')) as Array<{ epoch: number; lr: number; trainLoss: number; validation: { accuracy: number; loss: number }; test: { accuracy: number; loss: number; slices: unknown } }>).map((e) => [
        e.epoch, e.lr, round(e.trainLoss), e.validation.accuracy, round(e.validation.loss), e.test.accuracy, round(e.test.loss), e.test.slices,
      ]),
    ]),
  );
}

const data = [{ task: 'mqar', common: { vocabSize: 32 }, train: [{ seqLen: 16, numKvPairs: 2, count: 64 }], test: [{ seqLen: 16, numKvPairs: 2, count: 16 }] }];

describe('sweeps with stacked runs', () => {
  it('groups runs by everything but lr; unstackable mixers alone', () => {
    const configs = expandPreset(presetSchema.parse({
      name: 'groups', data,
      architectures: [{ label: 'attention', layers: [{ mixer: 'attention' }] }, { label: 'deltanet', layers: [{ mixer: 'deltanet' }] }],
      dModels: [8, 16], learningRates: [1e-3, 1e-2, 3e-2], train: { epochs: 1, batchSize: 32 },
    }));
    expect(unstackable(configs.find((c) => c.label === 'deltanet')!)).toBe('mixer deltanet cannot be stacked');
    const groups = stackGroups(configs, 2);
    // attention d8: 3 lrs → stacks of 2 and 1; d16 the same; deltanet: 6 alone
    expect(groups.map((g) => g.length).sort()).toEqual([1, 1, 1, 1, 1, 1, 1, 1, 2, 2]);
    for (const g of groups) expect(new Set(g.map(stackKey)).size).toBe(1);
    expect(stackGroups(configs, 1).every((g) => g.length === 1)).toBe(true);
  });

  it('successive halving, stacked: the same records, decisions and curves as the sweep without stacks', async () => {
    const preset = presetSchema.parse({
      name: 'halving-stack', data, architectures: [{ label: 'attention', layers: [{ mixer: 'attention' }] }], dModels: [16],
      learningRates: [1e-4, 1e-3, 1e-2, 3e-2], model: { nLayers: 2 }, train: { epochs: 3, batchSize: 32, evalBatchSize: 16 },
      search: { kind: 'halving', eta: 2, rungs: [1] },
    });
    const configs = expandPreset(preset);
    const alone = await runSweep(configs, { backend, results: new ResultsDir(join(work, 'halving-alone')), quiet: true, search: preset.search });
    const stacked = await runSweep(configs, { backend, results: new ResultsDir(join(work, 'halving-stacked')), quiet: true, search: preset.search, stack: 4 });
    expect(alone.filter((r) => r.status === 'stopped')).toHaveLength(2); // the halving really decided
    expect(comparable(stacked)).toEqual(comparable(alone));
    expect(curves(join(work, 'halving-stacked'))).toEqual(curves(join(work, 'halving-alone')));
    // the rung pass trained all four as one stack, the survivors' pass two
    expect(stacked.filter((r) => r.status === 'stopped').every((r) => r.stack?.size === 4)).toBe(true);
    expect(stacked.filter((r) => r.status !== 'stopped').map((r) => r.stack?.size)).toEqual([2, 2]);
  }, 120_000);

  it('a mixed grid interrupted after epoch 1 and resumed — stacked, or each run alone from the stack\'s checkpoints — ends as the sweep without stacks', async () => {
    const preset = presetSchema.parse({
      name: 'mixed-stack', data,
      architectures: [{ label: 'attention', layers: [{ mixer: 'attention' }, { mixer: 'sliding-window', params: { windowSize: 4 } }] }, { label: 'baseconv-long', layers: [{ mixer: 'baseconv', params: { convType: 'long' } }] }],
      dModels: [8], learningRates: [1e-3, 1e-2], model: { nLayers: 2 }, train: { epochs: 2, batchSize: 32, evalBatchSize: 16 },
    });
    const configs = expandPreset(preset);
    const alone = await runSweep(configs, { backend, results: new ResultsDir(join(work, 'mixed-alone')), quiet: true });
    for (const [name, resumeStack] of [['mixed-resumed-stacked', 2], ['mixed-resumed-alone', 1]] as const) {
      const dir = join(work, name);
      // the first sweep stops every run after epoch 1 (its checkpoint saved), as a kill after that epoch would
      const paused: string[] = [];
      await runSweep(configs, { backend, results: new ResultsDir(dir), quiet: true, stack: 2, trainTo: 1, onRunPaused: (r) => paused.push(r.id) });
      expect(readdirSync(join(dir, 'checkpoints'))).toHaveLength(4);
      expect(paused).toHaveLength(4);
      if (resumeStack === 2) {
        // killed after the rung's checkpoints, before the pauses were noted: a second pass to the same epoch notes them
        for (const id of readdirSync(join(dir, 'checkpoints'))) rmSync(join(dir, 'checkpoints', id, RUNG_FILE));
        paused.length = 0;
        await runSweep(configs, { backend, results: new ResultsDir(dir), quiet: true, stack: 2, trainTo: 1, onRunPaused: (r) => paused.push(r.id) });
        expect(paused).toHaveLength(4);
        for (const id of readdirSync(join(dir, 'checkpoints'))) expect(existsSync(join(dir, 'checkpoints', id, RUNG_FILE))).toBe(true);
      }
      const resumed = await runSweep(configs, { backend, results: new ResultsDir(dir), quiet: true, stack: resumeStack });
      expect(comparable(resumed), name).toEqual(comparable(alone));
      expect(curves(dir), name).toEqual(curves(join(work, 'mixed-alone')));
      expect(resumed.every((r) => r.resumedFromEpoch === 1), name).toBe(true);
      // each record lists the two processes' parts, stacked or alone: epoch 1 from the first sweep, epoch 2 from this
      expect(resumed.every((r) => JSON.stringify(r.parts?.map((p) => p.fromEpoch)) === '[0,1]'), name).toBe(true);
      expect(resumed.filter((r) => r.label === 'attention').map((r) => r.stack?.size), name).toEqual(resumeStack === 2 ? [2, 2] : [undefined, undefined]);
    }
  }, 120_000);
});
