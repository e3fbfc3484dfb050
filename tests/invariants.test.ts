// The invariants no working model can break (engine/invariants.ts) and `recallbench verify` (runners/verify.ts):
// the impossible numbers committed on 2026-11-23 are caught, sane numbers from a real CPU run are not.
import * as tf from '@tensorflow/tfjs';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../engine/backend.js';
import { epochViolations, lossFloor, NumericalFaultError, splitViolations } from '../engine/invariants.js';
import type { EpochRecord, SplitMetrics } from '../engine/train.js';
import { ResultsDir, type RunRecord } from '../runners/results.js';
import { resolveRunConfig } from '../runners/run.js';
import { runSweep } from '../runners/sweep.js';
import { recordViolations, setAsideInvalid, verifyFolder } from '../runners/verify.js';
import { FIXES } from '../runners/knownFaults.js';

const split = (accuracy: number, loss: number, extra: Partial<SplitMetrics> = {}): SplitMetrics => ({ accuracy, loss, slices: { 'L64-K4': accuracy }, ...extra });
const epoch = (trainLoss: number, validation: SplitMetrics, test: SplitMetrics): EpochRecord => ({ epoch: 1, lr: 1e-3, trainLoss, validation, test, trainSeconds: 1, seconds: 1, steps: 10 });

describe('loss floor (1 − accuracy)·ln 2', () => {
  it('is ln 2 at accuracy 0, 0 at accuracy 1, and the committed faults fall below it', () => {
    expect(lossFloor(1)).toBeCloseTo(Math.LN2, 2);
    expect(lossFloor(0)).toBeLessThanOrEqual(0);
    // the examples (based-fig2 6119d954…, fae646bf…, jrt-rnn 269c0fb4…, jrt-sd)
    expect(splitViolations('validation', split(0, -3.2e8))).toHaveLength(1);
    expect(splitViolations('test', split(0, 0))).toHaveLength(1);
    expect(splitViolations('test', split(0, 0.3))).toHaveLength(1);
    expect(epochViolations(epoch(0, split(0.5, 0.4), split(0.5, 0.4)))).toEqual([]); // train loss 0 alone is possible
  });

  it('accepts what a model can produce: exactly at the floor, above it, a perfect split with small loss', () => {
    expect(splitViolations('test', split(0, Math.LN2))).toEqual([]);
    expect(splitViolations('test', split(0.25, 0.75 * Math.LN2 + 1e-9))).toEqual([]);
    expect(splitViolations('test', split(1, 1e-4))).toEqual([]);
    expect(splitViolations('test', split(0.3, 5.2))).toEqual([]);
  });

  it('uses the token accuracy when recorded, else the smallest slice bound', () => {
    // 60% of examples right, but only 20% of tokens: the loss must be ≥ 0.8·ln 2
    expect(splitViolations('test', split(0.6, 0.5, { tokenAccuracy: 0.2 }))).toHaveLength(1);
    expect(splitViolations('test', split(0.6, 0.6, { tokenAccuracy: 0.2 }))).toEqual([]);
    // two slices, one solved and one not: without token counts only the solved slice's bound (0) is certain
    expect(splitViolations('test', { accuracy: 0.5, loss: 0.01, slices: { a: 1, b: 0 } })).toEqual([]);
    expect(splitViolations('test', { accuracy: 0.1, loss: 0.01, slices: { a: 0.2, b: 0 } })).toHaveLength(1);
  });

  it('flags accuracies outside [0, 1], NaN losses and negative training loss', () => {
    expect(splitViolations('test', split(1.2, 0.1)).join()).toMatch(/not in \[0, 1\]/);
    expect(splitViolations('test', split(0.5, NaN)).join()).toMatch(/loss is NaN/);
    expect(epochViolations(epoch(-0.5, split(0.5, 0.4), split(0.5, 0.4))).join()).toMatch(/train loss/);
    expect(new NumericalFaultError(['a', 'b', 'c', 'd']).message).toBe('numerical fault: a; b; c (+1 more)');
  });
});

describe('real runs on the CPU satisfy the invariants; verify lists only the corrupted ones', () => {
  let dir: string;
  let good: RunRecord;
  beforeAll(async () => {
    await initBackend('cpu');
    dir = mkdtempSync(join(tmpdir(), 'rb-verify-'));
    const config = resolveRunConfig({
      label: 'baseconv',
      data: { task: 'mqar', common: { vocabSize: 64 }, train: [{ count: 64, seqLen: 16, numKvPairs: 2 }], test: [{ count: 16, seqLen: 16, numKvPairs: 2 }, { count: 16, seqLen: 32, numKvPairs: 4 }], seed: 3 },
      model: { dModel: 16, nLayers: 2, layers: [{ mixer: 'baseconv' }] },
      train: { epochs: 2, batchSize: 16, evalBatchSize: 8, lr: 3e-3 },
    });
    [good] = await runSweep([config], { backend: { backend: 'cpu', device: 'cpu' }, results: new ResultsDir(dir), quiet: true, checkpoints: false });
  }, 120_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('stores token accuracies and provenance, and passes every invariant', () => {
    expect(good.status).toBe('done');
    const curve = JSON.parse(readFileSync(join(dir, 'curves', `${good.id}.json`), 'utf8')) as EpochRecord[];
    expect(curve).toHaveLength(2);
    for (const e of curve) {
      expect(e.test.tokenAccuracy).toBeGreaterThanOrEqual(0);
      expect(e.test.loss).toBeGreaterThanOrEqual((1 - e.test.tokenAccuracy!) * Math.LN2 * 0.999);
    }
    expect(recordViolations(good, curve)).toEqual([]);
    expect(good.provenance?.commit).toMatch(/^([0-9a-f]{40}|unknown)$/);
    expect(good.provenance?.fastPath).toBeUndefined(); // not on webgpu
    void tf;
  });

  it('verify: a webgpu run trained by code without a known fault\'s fix is invalid when the fault touched its model', () => {
    const curve = JSON.parse(readFileSync(join(dir, 'curves', `${good.id}.json`), 'utf8')) as EpochRecord[];
    expect(good.provenance?.fixes).toEqual(FIXES);
    expect(FIXES).toContain('webgpu-reverse-cumsum');
    const layers = (mixers: { mixer: string; params?: Record<string, unknown> }[]) => ({ ...good.config, model: { ...good.config.model, layers: mixers } });
    const onGpu = (mixers: { mixer: string; params?: Record<string, unknown> }[], fixes?: string[]) =>
      ({ ...good, backend: 'webgpu', config: layers(mixers), provenance: fixes ? { commit: 'x', fixes } : undefined }) as RunRecord;
    const based = [{ mixer: 'baseconv' }, { mixer: 'based' }];
    // old code (no provenance, or provenance without the fix): BASED, GLA, JRT-RNN, causal linear attention flagged
    expect(recordViolations(onGpu(based), curve).join()).toMatch(/before the reverse-cumsum fix/);
    expect(recordViolations(onGpu([{ mixer: 'gla' }], []), curve).join()).toMatch(/reverse-cumsum/);
    expect(recordViolations(onGpu([{ mixer: 'jrt-rnn' }]), curve).join()).toMatch(/reverse-cumsum/);
    expect(recordViolations(onGpu([{ mixer: 'linear-attention', params: { causal: true } }]), curve).join()).toMatch(/reverse-cumsum/);
    // untouched: no cumsum in the model, non-causal linear attention, another backend, or code with the fix
    expect(recordViolations(onGpu([{ mixer: 'attention' }]), curve)).toEqual([]);
    expect(recordViolations(onGpu([{ mixer: 'linear-attention', params: { causal: false } }]), curve)).toEqual([]);
    expect(recordViolations({ ...onGpu(based), backend: 'wasm' }, curve)).toEqual([]);
    expect(recordViolations(onGpu(based, [...FIXES]), curve)).toEqual([]);
    // a resumed run is judged by every process that trained it: finished by fixed code, begun by code without the fix
    const part = (fromEpoch: number, fixes: string[]) => ({ fromEpoch, backend: 'webgpu', device: 'gpu', provenance: { commit: fixes.length ? 'new' : 'old', fixes } });
    expect(recordViolations({ ...onGpu(based, [...FIXES]), parts: [part(0, []), part(2, [...FIXES])] }, curve).join()).toMatch(/reverse-cumsum/);
    expect(recordViolations({ ...onGpu(based, [...FIXES]), parts: [part(0, [...FIXES]), part(2, [...FIXES])] }, curve)).toEqual([]);
    expect(recordViolations({ ...onGpu(based, [...FIXES]), parts: [{ ...part(0, []), backend: 'wasm' }, part(2, [...FIXES])] }, curve)).toEqual([]);
  });

  it('verify: exit 0 on the sane folder; exit 1 naming the run whose curve was corrupted', () => {
    const cli = (d: string) => spawnSync(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'verify', d], { encoding: 'utf8', cwd: join(import.meta.dirname, '..') });
    const ok = cli(dir);
    expect(ok.status).toBe(0);
    expect(ok.stdout).toMatch(/1 runs, 0 invalid, 0 failed/);
    // a copy whose test loss was read back as 0 at accuracy 0 (the jrt-prompt failure)
    const bad = join(dir, 'corrupt');
    mkdirSync(join(bad, 'curves'), { recursive: true });
    writeFileSync(join(bad, 'runs.jsonl'), `${JSON.stringify(good)}\n`);
    const curve = JSON.parse(readFileSync(join(dir, 'curves', `${good.id}.json`), 'utf8')) as EpochRecord[];
    curve[0]!.test = { ...curve[0]!.test, accuracy: 0, tokenAccuracy: 0, loss: 0 };
    writeFileSync(join(bad, 'curves', `${good.id}.json`), JSON.stringify(curve));
    expect(verifyFolder(bad)[0]!.violations.join()).toMatch(/epoch 1: test loss 0\.0000 < \(1 − accuracy 0\.0000\)·ln 2/);
    const out = cli(bad);
    expect(out.status).toBe(1);
    expect(out.stdout).toContain(good.id);
    expect(out.stdout).toMatch(/1 runs, 1 invalid/);
    // --set-aside moves the run out of the results, keeping it as evidence; the folder then verifies clean
    expect(setAsideInvalid(bad)).toEqual([good.id]);
    expect(readFileSync(join(bad, 'runs.jsonl'), 'utf8')).toBe('');
    expect(JSON.parse(readFileSync(join(bad, 'invalid.jsonl'), 'utf8')).id).toBe(good.id);
    expect(JSON.parse(readFileSync(join(bad, 'curves-invalid', `${good.id}.json`), 'utf8'))).toHaveLength(2);
    expect(verifyFolder(bad)).toEqual([]);
    expect(cli(bad).status).toBe(0);
  }, 60_000);
});
