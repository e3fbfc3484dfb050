// SYNTHETIC run records for the analysis / plot / report tests. Every number here is made up by the test (a
// smooth made-up function of state size), never a measurement; these records are written only to temporary
// folders, never under results/.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RunConfig } from '../runners/config.js';
import type { RunRecord } from '../runners/results.js';
import type { EpochRecord } from '../engine/train.js';

export interface SyntheticRun {
  label: string;
  dModel: number;
  lr: number;
  seed?: number;
  task?: 'mqar' | 'sd';
  /** MQAR test slices [L, K]; SD slices [sizeA, sizeB]. */
  slices: [number, number][];
  passes?: number;
  vocabSize?: number;
  layers?: RunConfig['model']['layers'];
  state: number;
  paperState?: number;
  validation: number;
  test: number;
  /** Test accuracy per slice (default: `test` for every slice). */
  sliceAccuracy?: number[];
  status?: RunRecord['status'];
  /** Epochs of the training config (default 4). */
  epochs?: number;
  /** Epochs the run evaluated (default: all of them; 0 for a run that failed or diverged in its first epoch). */
  epochsRun?: number;
  /** Why a 'failed' run failed. */
  error?: string;
  divergedAtStep?: number;
  provenance?: RunRecord['provenance'];
}

export function sliceKey(task: 'mqar' | 'sd', a: number, b: number, passes: number): string {
  return task === 'mqar' ? `L${a}-K${b}${passes > 1 ? `-P${passes}` : ''}` : `A${a}-B${b}${passes > 1 ? `-P${passes}` : ''}`;
}

export function syntheticRecord(s: SyntheticRun): RunRecord {
  const task = s.task ?? 'mqar';
  const passes = s.passes ?? 1;
  const vocabSize = s.vocabSize ?? (task === 'mqar' ? 8192 : 2048);
  const segment = ([a, b]: [number, number], count: number) =>
    task === 'mqar'
      ? { count, seqLen: a, numKvPairs: b, vocabSize, powerA: 0.01, randomNonQueries: false, passes }
      : { count, sizeA: a, sizeB: b, vocabSize, passes };
  const config: RunConfig = {
    label: s.label,
    data: { task, common: {}, train: s.slices.map((x) => segment(x, 1000)), test: s.slices.map((x) => segment(x, 100)), seed: 0 },
    model: {
      dModel: s.dModel,
      nLayers: 2,
      layers: s.layers ?? [{ mixer: s.label, params: {} }],
      block: 'prenorm',
      positionEmbeddings: false,
      mlp: false,
      embeddingDropout: 0.1,
      residualDropout: 0,
    },
    train: { epochs: s.epochs ?? 4, batchSize: 64, evalBatchSize: 64, lr: s.lr, weightDecay: 0.1, earlyStopAccuracy: 0.99, shuffle: true },
    seed: s.seed ?? 0,
  };
  const failed = s.status === 'failed';
  const testSlices: Record<string, number> = {};
  s.slices.forEach(([a, b], i) => (testSlices[sliceKey(task, a, b, passes)] = s.sliceAccuracy?.[i] ?? s.test));
  const id = `syn${[s.label, s.dModel, s.lr, s.seed ?? 0, task, passes, JSON.stringify(s.slices), JSON.stringify(s.layers ?? null)].join('|').split('').reduce((h, c) => (h * 31 + c.charCodeAt(0)) >>> 0, 7).toString(16)}`;
  return {
    id,
    label: s.label,
    preset: 'synthetic',
    config,
    seed: s.seed ?? 0,
    params: failed ? 0 : s.dModel * s.dModel * 10,
    // a failed run's record holds no measurements: zeros, as runners/sweep.ts stores it
    stateFloats: failed ? { measured: 0, paper: 0 } : { measured: s.state / 4, paper: (s.paperState ?? s.state) / 4 },
    stateBytes: failed ? { measured: 0, paper: 0 } : { measured: s.state, paper: s.paperState ?? s.state },
    // the curve (syntheticCurve) climbs to the record's accuracies at its last epoch: that is the best one
    bestEpoch: s.epochsRun ?? s.epochs ?? 4,
    validationAccuracy: s.validation,
    testAccuracy: s.test,
    finalTestAccuracy: s.test,
    testSlices,
    epochs: s.epochsRun ?? s.epochs ?? 4,
    steps: 40,
    status: s.status ?? 'done',
    ...(s.error !== undefined ? { error: s.error } : {}),
    ...(s.divergedAtStep !== undefined ? { divergedAtStep: s.divergedAtStep } : {}),
    ...(s.provenance ? { provenance: s.provenance } : {}),
    wallSeconds: 1,
    msPerStep: 25,
    backend: 'synthetic',
    device: 'none (synthetic test record)',
    versions: { recallbench: '0.0.0-synthetic', node: process.version, tfjs: 'n/a' },
    finishedAt: '2000-01-01T00:00:00.000Z',
  };
}

/**
 * A made-up learning curve ending at the record's accuracies (its best epoch), with losses a working model could
 * have (each split's loss is (1 − its accuracy), above the (1 − accuracy)·ln 2 floor): it passes `recallbench
 * verify`'s checks, so the plots take the run as a result.
 */
export function syntheticCurve(r: RunRecord): EpochRecord[] {
  return Array.from({ length: r.epochs }, (_, i) => {
    const t = (i + 1) / r.epochs;
    const acc = r.validationAccuracy * t;
    return {
      epoch: i + 1,
      lr: r.config.train.lr * (1 - t),
      trainLoss: 5 * (1 - t) + 0.1,
      validation: { accuracy: acc, slices: {}, loss: 1 - acc },
      test: { accuracy: r.testAccuracy * t, slices: {}, loss: 1 - r.testAccuracy * t },
      trainSeconds: 0.1,
      seconds: 0.2,
      steps: 10,
    } as EpochRecord;
  });
}

export function writeSyntheticResults(dir: string, records: RunRecord[], withCurves = true): void {
  mkdirSync(join(dir, 'curves'), { recursive: true });
  writeFileSync(join(dir, 'runs.jsonl'), records.map((r) => `${JSON.stringify(r)}\n`).join(''));
  if (withCurves) for (const r of records) writeFileSync(join(dir, 'curves', `${r.id}.json`), JSON.stringify(syntheticCurve(r)));
}

/** Made-up accuracy: a logistic in log2(state) around `mid` (so fronts and orderings are known). */
export function madeUpAccuracy(stateBytes: number, mid: number): number {
  return 1 / (1 + Math.exp(-(Math.log2(stateBytes) - mid)));
}

/** A synthetic results set touching every figure: a zoology-style width sweep, a BASED-style front, SD order, JRT passes. */
export function syntheticSuite(): RunRecord[] {
  const out: RunRecord[] = [];
  const lrs = [1e-3, 1e-2];
  // zoology-style: 2 (L, K) settings × 2 widths × 2 lrs × 2 mixers (separate settings)
  for (const [L, K] of [[64, 4], [256, 16]] as [number, number][])
    for (const [label, mid] of [['attention', 10], ['hyena', 16]] as const)
      for (const d of [64, 128])
        for (const lr of lrs) {
          const state = label === 'attention' ? 2 * d * L * 4 * 2 : d * L * 4 * 2;
          const acc = madeUpAccuracy(state, mid + Math.log2(L / 64)) * (lr === 1e-3 ? 1 : 0.8);
          out.push(syntheticRecord({ label, dModel: d, lr, slices: [[L, K]], state, validation: acc, test: acc * 0.99 }));
        }
  // BASED-style mixture with a variant axis (f) and 2 seeds
  for (const f of [8, 16])
    for (const d of [64, 128])
      for (const seed of [0, 1]) {
        const state = (d + 1) * (1 + f + (f * (f + 1)) / 2) * 4 * 2;
        const acc = madeUpAccuracy(state, 15) - 0.01 * seed;
        out.push(syntheticRecord({ label: 'based', dModel: d, lr: 3e-3, seed, slices: [[64, 4], [256, 64], [1024, 256]], layers: [{ mixer: 'baseconv', params: {} }, { mixer: 'based', params: { featureDim: f } }], state, validation: acc, test: acc, sliceAccuracy: [acc, acc * 0.9, acc * 0.8] }));
      }
  // SD: causal vs non-causal, small-first better for causal
  for (const label of ['causal', 'non-causal'])
    for (const d of [36, 64]) {
      const state = d * 100 * 4;
      const base = madeUpAccuracy(state, 14);
      const small = label === 'causal' ? Math.min(1, base + 0.2) : base;
      const large = base;
      out.push(syntheticRecord({ label, task: 'sd', dModel: d, lr: 5e-4, slices: [[4, 32], [32, 4], [16, 256], [256, 16]], state, validation: (small + large) / 2, test: (small + large) / 2, sliceAccuracy: [small, large, small, large] }));
    }
  // JRT prompting: passes 1..3 on one MQAR setting
  for (const passes of [1, 2, 3])
    for (const d of [64, 128]) {
      const state = d * 64 * 4;
      const acc = madeUpAccuracy(state * passes, 16);
      out.push(syntheticRecord({ label: 'mamba', dModel: d, lr: 1e-3, passes, slices: [[256, 16]], state, validation: acc, test: acc }));
    }
  return out;
}
