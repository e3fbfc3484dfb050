// Successive halving on real training (cpu backend, a tiny MQAR grid where lr 0.01 is clearly best after one
// epoch): the best lr survives, the others stop at the right rungs as 'stopped' records, the figure point is the
// survivor, `verify` passes, the compute saved is counted — and the decisions and records are the same when the
// sweep is interrupted at rungs and resumed, and in a parallel sweep (`--concurrency 2`, one process per pass).
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type { BackendInfo } from '../engine/backend.js';
import { analyseRuns } from '../runners/analysis.js';
import { presetSchema } from '../runners/config.js';
import { ResultsDir, type RunRecord } from '../runners/results.js';
import { searchSavings } from '../runners/search.js';
import { expandPreset, runSweep } from '../runners/sweep.js';
import { verifyFolder } from '../runners/verify.js';
import { bundleCli, runCliAsync } from './cliRunner.js';
import { useBackend } from './helpers.js';

/** 4 lrs × 4 epochs, rungs at epochs 1 and 2: 4 → 2 → 1 runs. */
const PRESET_INPUT = {
  name: 'halving-tiny',
  data: [{ task: 'mqar', common: { vocabSize: 32 }, train: [{ seqLen: 16, numKvPairs: 2, count: 256 }], test: [{ seqLen: 16, numKvPairs: 2, count: 64 }] }],
  architectures: [{ label: 'attention', layers: [{ mixer: 'attention' }] }],
  dModels: [16],
  learningRates: [1e-5, 1e-4, 1e-3, 1e-2],
  model: { nLayers: 2 },
  train: { epochs: 4, batchSize: 32, evalBatchSize: 64 },
  search: { kind: 'halving', eta: 2, rungs: [1, 2] },
};
const preset = presetSchema.parse(PRESET_INPUT);
const configs = expandPreset(preset);
const work = mkdtempSync(join(tmpdir(), 'rb-halving-'));
let backend: BackendInfo;

/** What must not depend on how the sweep was run (timing, process and resume fields left out). */
const FIELDS = ['id', 'status', 'search', 'epochs', 'bestEpoch', 'steps', 'params', 'validationAccuracy', 'testAccuracy', 'finalTestAccuracy', 'testSlices'] as const;
function comparable(records: RunRecord[]): Record<string, unknown> {
  return Object.fromEntries(records.map((r) => [r.id, Object.fromEntries(FIELDS.map((k) => [k, r[k]]))]));
}
function curves(dir: string): Record<string, unknown> {
  return Object.fromEntries(readdirSync(join(dir, 'curves')).map((f) => [f, JSON.parse(readFileSync(join(dir, 'curves', f), 'utf8')).map((e: { epoch: number; validation: unknown; test: unknown; trainLoss: number }) => [e.epoch, e.trainLoss, e.validation, e.test])]));
}
const byLr = (records: RunRecord[]) => new Map(records.map((r) => [r.config.train.lr, r]));

let reference: { records: RunRecord[]; dir: string };

beforeAll(async () => {
  await useBackend('cpu');
  backend = { backend: 'cpu', device: 'cpu' };
  await bundleCli(); // the parallel sweep's processes start from the bundled program (tests/cliRunner.ts)
});

describe('successive halving on a real grid', () => {
  it('the best lr survives; the others stop at their rungs as records; the point is the survivor; verify passes; the saving is counted', async () => {
    const dir = join(work, 'serial');
    const records = await runSweep(configs, { backend, results: new ResultsDir(dir), quiet: true, preset: 'halving-tiny', search: preset.search });
    reference = { records, dir };
    expect(records).toHaveLength(4);
    const at = byLr(records);
    const marker = { kind: 'halving', eta: 2, rungs: [1, 2] };
    // lr 1e-5 and 1e-4 learn nothing in one epoch (validation accuracy 0 both: the lower loss ranks 1e-4 above)
    expect(at.get(1e-5)).toMatchObject({ status: 'stopped', epochs: 1, search: { ...marker, stoppedAtRung: 1, rungEpoch: 1, rank: 4, of: 4 } });
    expect(at.get(1e-4)).toMatchObject({ status: 'stopped', epochs: 1, search: { ...marker, stoppedAtRung: 1, rungEpoch: 1, rank: 3, of: 4 } });
    expect(at.get(1e-3)).toMatchObject({ status: 'stopped', epochs: 2, search: { ...marker, stoppedAtRung: 2, rungEpoch: 2, rank: 2, of: 2 } });
    const best = at.get(1e-2)!;
    expect(best.status).toBe('done');
    expect(best.epochs).toBe(4);
    expect(best.search).toEqual(marker);
    expect(at.get(1e-5)!.validationAccuracy).toBe(0);
    expect(at.get(1e-4)!.validationAccuracy).toBe(0);
    expect(at.get(1e-3)!.validationAccuracy).toBeLessThan(0.05);
    expect(best.validationAccuracy).toBeGreaterThan(0.15);
    // the stopped runs keep their best-so-far numbers (not zeros of a failure): lr 1e-3's epoch-2 accuracy
    expect(at.get(1e-3)!.validationAccuracy).toBeGreaterThan(0);

    const { points, leftOut, runs } = analyseRuns(records);
    expect(leftOut).toEqual([]);
    expect(points).toHaveLength(1);
    expect(points[0]!.bestLr).toBe(1e-2);
    expect(points[0]!.test.mean).toBe(best.testAccuracy);
    expect(points[0]!.stopped).toBe(3);
    expect(runs.filter((a) => a.stopped).map((a) => [a.record.config.train.lr, a.stopped!.rung])).toEqual(expect.arrayContaining([[1e-5, 1], [1e-4, 1], [1e-3, 2]]));

    expect(verifyFolder(dir).map((v) => v.violations)).toEqual([[], [], [], []]);
    expect(searchSavings(records)).toEqual([{ preset: 'halving-tiny', runs: 4, stopped: 3, epochsTrained: 1 + 1 + 2 + 4, fullGridEpochs: 16 }]);
    // no checkpoint or rung file is left behind
    expect(existsSync(join(dir, 'checkpoints')) ? readdirSync(join(dir, 'checkpoints')) : []).toEqual([]);
  });

  it('interrupted at rungs (before a decision; after a checkpoint but before its rung note; mid-pass after a decision) and resumed: the same decisions, records and curves', async () => {
    const dir = join(work, 'resumed');
    const results = new ResultsDir(dir);
    let pauses = 0;
    /** A sweep that is interrupted at its n-th pause (a rung reached and noted), or runs to the end. */
    const sweep = (interruptAt?: number) => {
      let mine = 0;
      return runSweep(configs, {
        backend, results, quiet: true, preset: 'halving-tiny', search: preset.search,
        onRunPaused: () => {
          pauses++;
          if (++mine === interruptAt) throw new Error(`interrupted at pause ${mine}`);
        },
      });
    };
    await expect(sweep(2)).rejects.toThrow('interrupted at pause 2'); // rung 1's pass half done
    expect(existsSync(results.runsJsonl) ? readFileSync(results.runsJsonl, 'utf8') : '').toBe(''); // nothing decided yet
    // as if killed between the rung checkpoint and its note: the run pauses again from its checkpoint, untrained
    const paused = readdirSync(results.checkpointsDir).filter((id) => existsSync(join(results.checkpointDir(id), 'rung.json')));
    expect(paused).toHaveLength(2);
    rmSync(join(results.checkpointDir(paused[0]!), 'rung.json'));
    await expect(sweep(4)).rejects.toThrow('interrupted at pause 4'); // rung 1 decided, rung 2's pass begun
    const midway = results.records();
    expect(midway.map((r) => [r.config.train.lr, r.search?.stoppedAtRung]).sort((a, b) => a[0]! - b[0]!)).toEqual([[1e-5, 1], [1e-4, 1]]);
    const records = await sweep();
    expect(pauses).toBe(7); // 4 at rung 1 (one noted twice), 2 at rung 2
    expect(comparable(records)).toEqual(comparable(reference.records));
    expect(curves(dir)).toEqual(curves(reference.dir));
  });

  it('a parallel sweep (--concurrency 2, each pass in its own process) makes the same decisions and records', async () => {
    const file = join(work, 'preset.json');
    writeFileSync(file, JSON.stringify(PRESET_INPUT));
    const dir = join(work, 'parallel');
    const r = await runCliAsync(['sweep', file, '--backend', 'cpu', '--concurrency', '2', '--no-report', '--out', dir], { bundled: true });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/4 to train in 2 parallel processes/);
    expect(r.stderr.match(/ paused /g)).toHaveLength(6);
    expect(r.stdout).toContain('successive halving: 4 runs (3 stopped at rungs): 8 epochs trained, a full grid up to 16 (50% saved)');
    const records = new ResultsDir(dir).records();
    expect(comparable(records)).toEqual(comparable(reference.records));
    expect(curves(dir)).toEqual(curves(reference.dir));
  });
});
