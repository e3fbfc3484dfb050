// A GPU fault is never a result: real device errors, caused mid-epoch on a WebGPU adapter (Mesa lavapipe in CI:
// `eval "$(bash .ci/setup-webgpu.sh)"`), must fail the run with their reason, and the sweep must go on. Without
// an adapter the suite is skipped, saying why. Models are tiny: software rendering is slow.
import * as tf from '@tensorflow/tfjs';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend, releaseGpu, type BackendInfo } from '../engine/backend.js';
import { checkedOnGpu, clearGpuFaults, GpuFaultError, injectGpuFault, uncapturedGpuError } from '../engine/gpuFaults.js';
import { armGpuFault } from '../runners/faults.js';
import { ResultsDir } from '../runners/results.js';
import { resolveRunConfig } from '../runners/run.js';
import { runSweep } from '../runners/sweep.js';
import { recordViolations } from '../runners/verify.js';
import { readCurve } from '../runners/results.js';

let backend: BackendInfo | undefined;
try {
  backend = await initBackend('webgpu', { allowSoftwareAdapter: true });
} catch {
  backend = undefined;
}
if (!backend) console.warn('gpu-faults: SKIPPED — no WebGPU adapter (run `eval "$(bash .ci/setup-webgpu.sh)"` first for Mesa lavapipe)');

/** A two-epoch MQAR run small enough for a software adapter (16 steps per epoch at batch 8). */
function tinyRun(seed: number) {
  return resolveRunConfig({
    label: 'attention',
    data: { task: 'mqar', common: { vocabSize: 32 }, train: [{ count: 128, seqLen: 16, numKvPairs: 2 }], test: [{ count: 32, seqLen: 16, numKvPairs: 2 }], seed: 1 },
    model: { dModel: 16, nLayers: 2, layers: [{ mixer: 'attention' }] },
    train: { epochs: 2, batchSize: 8, evalBatchSize: 16, lr: 3e-3 },
    seed,
  });
}

describe.skipIf(!backend)('GPU faults on WebGPU', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'rb-gpufault-'));
  });
  afterAll(() => {
    armGpuFault(undefined);
    rmSync(dir, { recursive: true, force: true });
    releaseGpu();
  });

  it('an error outside every scope is caught by the uncapturederror watch and voids the next check', async () => {
    clearGpuFaults();
    injectGpuFault('validation');
    // Dawn delivers uncaptured errors asynchronously: let a read-back pump its event loop
    const t = tf.scalar(1).add(1);
    await t.data();
    t.dispose();
    await new Promise((r) => setTimeout(r, 50));
    expect(uncapturedGpuError()).toMatch(/Validation/i);
    await expect(checkedOnGpu(async () => 42)).rejects.toBeInstanceOf(GpuFaultError);
    clearGpuFaults();
    await expect(checkedOnGpu(async () => 42)).resolves.toBe(42);
  });

  it('an error inside a checked unit of work throws with its kind, even when the work itself succeeded', async () => {
    clearGpuFaults();
    const error = await checkedOnGpu(async () => {
      injectGpuFault('validation');
      return 'finished';
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(GpuFaultError);
    expect((error as GpuFaultError).message).toMatch(/^GPU fault: .*validation/i);
  });

  for (const kind of ['destroyed-buffer', 'validation'] as const) {
    it(`a ${kind} fault at step 5 fails the run with its reason, stores no numbers, and a resumed sweep retrains it`, async () => {
      const results = new ResultsDir(join(dir, kind));
      const faulty = tinyRun(7);
      const healthy = tinyRun(8);
      armGpuFault(`step:5:${kind}`);
      const first = await runSweep([faulty, healthy], { backend: backend!, results, quiet: true, checkpoints: false });
      armGpuFault(undefined);
      const byLabelSeed = (rs: typeof first, seed: number) => rs.find((r) => r.seed === seed)!;
      const failed = byLabelSeed(first, 7);
      expect(failed.status).toBe('failed');
      expect(failed.error).toMatch(/^GPU fault: /);
      expect(failed.error).toMatch(kind === 'validation' ? /validation/i : /destroy|invalid|validation/i);
      expect(failed.testAccuracy).toBe(0);
      expect(failed.epochs).toBe(0);
      // the sweep went on: the next run trained on the same device and its numbers pass every invariant
      const next = byLabelSeed(first, 8);
      expect(next.error).toBeUndefined();
      expect(['done', 'early-stop']).toContain(next.status);
      expect(recordViolations(next, readCurve(results.dir, next.id))).toEqual([]);
      // resume retries the failed run (bounded: one failure recorded so far)
      expect(results.failedAttempts().get(failed.id)).toBe(1);
      const second = await runSweep([faulty, healthy], { backend: backend!, results, quiet: true, checkpoints: false });
      const retried = byLabelSeed(second, 7);
      expect(['done', 'early-stop']).toContain(retried.status);
      expect(retried.epochs).toBeGreaterThan(0);
      expect(recordViolations(retried, readCurve(results.dir, retried.id))).toEqual([]);
      expect(retried.provenance?.fastPath).toBeDefined();
    }, 240_000);
  }

  it('a run that failed MAX_ATTEMPTS times is not tried again unless asked', async () => {
    const results = new ResultsDir(join(dir, 'bounded'));
    const run = tinyRun(9);
    for (let attempt = 0; attempt < 2; attempt++) {
      armGpuFault('step:2:validation');
      const [r] = await runSweep([run], { backend: backend!, results, quiet: true, checkpoints: false, maxAttempts: 2 });
      expect(r!.status).toBe('failed');
    }
    armGpuFault(undefined);
    const [skipped] = await runSweep([run], { backend: backend!, results, quiet: true, checkpoints: false, maxAttempts: 2 });
    expect(skipped!.status).toBe('failed'); // not retrained: still the stored failure
    expect(results.failedAttempts().get(skipped!.id)).toBe(2);
  }, 240_000);
});
