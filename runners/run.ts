// Train one run from a resolved config and turn its training history into a result record.
import * as tf from '@tensorflow/tfjs';
import { buildSplits } from '../tasks/dataset.js';
import { getTask } from '../tasks/index.js';
import { TaskConfigError } from '../tasks/types.js';
import type { BackendInfo } from '../engine/backend.js';
import { UserInputError } from '../engine/errors.js';
import { LanguageModel } from '../engine/model.js';
import { getMixer, resolveMixerParams } from '../engine/registry.js';
import { train, type EpochRecord, type TrainHooks } from '../engine/train.js';
import { parseStrict, runConfigSchema, runId, type RunConfig, type RunConfigInput } from './config.js';
import type { RunRecord } from './results.js';
import pkg from '../package.json' with { type: 'json' };

/**
 * Fill every default (mixer hyperparameters, task segment parameters with `common` merged in) so that the
 * stored config is complete and two spellings of the same run get the same id.
 */
export function resolveRunConfig(input: RunConfigInput | unknown, what = 'config'): RunConfig {
  const config = parseStrict(runConfigSchema, input, what);
  const layers = config.model.layers.map((l) => ({ mixer: l.mixer, params: resolveMixerParams(getMixer(l.mixer), l.params) }));
  const task = wrapTask(() => getTask(config.data.task));
  const resolveSegments = (segments: Record<string, unknown>[], split: string) =>
    segments.map((s, i) => {
      const parsed = task.segmentSchema.safeParse({ ...config.data.common, ...s });
      if (!parsed.success) {
        const issue = parsed.error.issues[0]!;
        throw new UserInputError(`${what}: data.${split}[${i}].${issue.path.join('.') || '(segment)'}: ${issue.message}`);
      }
      wrapTask(() => task.validate(parsed.data));
      return parsed.data as Record<string, unknown>;
    });
  const data = {
    ...config.data,
    common: {},
    train: resolveSegments(config.data.train, 'train'),
    test: resolveSegments(config.data.test, 'test'),
    ...(config.data.validation ? { validation: resolveSegments(config.data.validation, 'validation') } : {}),
  };
  return { ...config, data, model: { ...config.model, layers } };
}

function wrapTask<T>(f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof TaskConfigError) throw new UserInputError(e.message);
    throw e;
  }
}

export function versions(): Record<string, string> {
  return { recallbench: pkg.version, node: process.version, tfjs: tf.version.tfjs };
}

/** The best epoch = highest validation accuracy (first on ties); its test accuracy is the run's result. */
export function bestEpochOf(epochs: EpochRecord[]): EpochRecord | undefined {
  let best: EpochRecord | undefined;
  for (const e of epochs) if (!best || e.validation.accuracy > best.validation.accuracy) best = e;
  return best;
}

export interface RunOptions {
  backend: BackendInfo;
  preset?: string;
  hooks?: TrainHooks;
}

export async function runOne(config: RunConfig, opts: RunOptions): Promise<{ record: RunRecord; curve: EpochRecord[] }> {
  const started = performance.now();
  const splits = wrapTask(() => buildSplits({ task: config.data.task, common: config.data.common, train: config.data.train, validation: config.data.validation, test: config.data.test }, config.data.seed));
  const allSegments = [...splits.train, ...splits.validation, ...splits.test];
  const maxSeqLen = Math.max(...allSegments.map((s) => s.seqLen));
  const task = getTask(config.data.task);
  const segmentParams = [...config.data.train, ...config.data.test, ...(config.data.validation ?? [])];
  const vocabSize = Math.max(...segmentParams.map((p) => task.vocabSize(p as never)));
  const model = new LanguageModel({ ...config.model, vocabSize, maxSeqLen, seed: config.seed });
  try {
    const result = await train(model, splits, { ...config.train, seed: config.seed }, opts.hooks);
    const best = bestEpochOf(result.epochs);
    const last = result.epochs[result.epochs.length - 1];
    const state = model.stateFloats();
    const record: RunRecord = {
      id: runId(config),
      label: config.label,
      preset: opts.preset,
      config,
      seed: config.seed,
      params: model.parameterCount,
      stateFloats: state,
      stateBytes: { measured: state.measured * 4, paper: state.paper * 4 },
      bestEpoch: best?.epoch ?? 0,
      validationAccuracy: best?.validation.accuracy ?? 0,
      testAccuracy: best?.test.accuracy ?? 0,
      finalTestAccuracy: last?.test.accuracy ?? 0,
      testSlices: best?.test.slices ?? {},
      epochs: result.epochs.length,
      steps: result.steps,
      status: result.status,
      ...(result.divergedAtStep !== undefined ? { divergedAtStep: result.divergedAtStep } : {}),
      wallSeconds: (performance.now() - started) / 1000,
      msPerStep: result.steps ? (result.epochs.reduce((s, e) => s + e.trainSeconds, 0) * 1000) / result.steps : 0,
      backend: opts.backend.backend,
      device: opts.backend.device,
      versions: versions(),
      finishedAt: new Date().toISOString(),
    };
    return { record, curve: result.epochs };
  } finally {
    model.dispose();
  }
}
