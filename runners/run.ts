// Train one run from a resolved config and turn its training history into a result record.
import * as tf from '@tensorflow/tfjs';
import { buildSplits, checkOverlap } from '../tasks/dataset.js';
import { getTask } from '../tasks/index.js';
import { TaskConfigError } from '../tasks/types.js';
import type { BackendInfo } from '../engine/backend.js';
import { zodErrorText } from '../core/zodText.js';
import { UserInputError } from '../engine/errors.js';
import { clearGpuFaults } from '../engine/gpuFaults.js';
import { LanguageModel } from '../engine/model.js';
import { getMixer, resolveMixerParams } from '../engine/registry.js';
import { train } from '../engine/loop.js';
import { createOptimizer, type EpochRecord, type TrainHooks } from '../engine/train.js';
import { loadCheckpoint, restoreCheckpoint, saveCheckpoint } from './checkpoint.js';
import { parseStrict, runConfigSchema, runId, type RunConfig, type RunConfigInput } from './config.js';
import { provenance, trainedPart, type TrainedPart } from './provenance.js';
import { summariseValidity, WORKER, type RunRecord } from './results.js';
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
        throw new UserInputError(`${what}: ${zodErrorText(parsed.error, { pathPrefix: `data.${split}[${i}].`, top: '(segment)' })}`);
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
function bestEpochOf(epochs: EpochRecord[]): EpochRecord | undefined {
  let best: EpochRecord | undefined;
  for (const e of epochs) if (!best || e.validation.accuracy > best.validation.accuracy) best = e;
  return best;
}

export interface RunOptions {
  backend: BackendInfo;
  preset?: string;
  hooks?: TrainHooks;
  /** Save a checkpoint here after every epoch, and resume from the one found here (runners/checkpoint.ts). */
  checkpointDir?: string;
  /** Told when the run resumes from a checkpoint (or ignores an unusable one). */
  log?(line: string): void;
  /**
   * Pause after this many epochs (a rung of successive halving, runners/search.ts): the epoch's checkpoint is
   * saved, and the outcome is `paused` with the record the run would have if stopped there. Needs checkpointDir.
   * A checkpoint already at or past it pauses at once. The lr schedule stays the full run's (config.train.epochs).
   */
  stopAfterEpoch?: number;
}

/** What runOne returns: the record and curve; `paused` when it stopped at `stopAfterEpoch` (not a final record). */
export interface RunOutcome {
  record: RunRecord;
  curve: EpochRecord[];
  paused?: boolean;
}

/** Thrown from the checkpoint hook once the checkpoint of the pause epoch is saved; caught in runOne. */
class PauseAtEpoch extends Error {
  constructor(readonly records: EpochRecord[], readonly step: number) {
    super('paused');
  }
}

/** A run's data and model (a stack of `runs` runs of this config's shapes: engine/stack.ts). */
export function prepareRun(config: RunConfig, runs = 1) {
  const splits = wrapTask(() => buildSplits({ task: config.data.task, common: config.data.common, train: config.data.train, validation: config.data.validation, test: config.data.test }, config.data.seed));
  // buildSplits refuses held-out examples equal to a train example; a test example equal to a validation one
  // would leak too (the best epoch and lr are picked on validation)
  const sharedHeldOut = checkOverlap(splits.validation, splits.test);
  if (sharedHeldOut > 0) throw new UserInputError(`${config.data.task}: ${sharedHeldOut} test examples equal a validation example; the task space is too small for these counts — enlarge vocabSize/seqLen or reduce the counts`);
  const allSegments = [...splits.train, ...splits.validation, ...splits.test];
  const maxSeqLen = Math.max(...allSegments.map((s) => s.seqLen));
  const task = getTask(config.data.task);
  const segmentParams = [...config.data.train, ...config.data.test, ...(config.data.validation ?? [])];
  const vocabSize = Math.max(...segmentParams.map((p) => task.vocabSize(p as never)));
  let model: LanguageModel;
  try {
    model = new LanguageModel({ ...config.model, vocabSize, maxSeqLen, seed: config.seed }, { runs });
  } catch (e) {
    // a mixer that cannot be built with these settings (e.g. d_model not divisible by numHeads) is a config error
    if (e instanceof UserInputError) throw e;
    throw new UserInputError(`${config.label}: the model cannot be built with d_model ${config.model.dModel}: ${String((e as Error)?.message ?? e).split('\n')[0]}`);
  }
  return { splits, task, model };
}

/** A run's record from its training result (one definition for runs alone and stacked). */
export function recordOf(
  config: RunConfig,
  model: LanguageModel,
  result: { epochs: EpochRecord[]; steps: number; status: RunRecord['status']; divergedAtStep?: number },
  extra: { backend: BackendInfo; preset?: string; resumedFromEpoch?: number; parts?: TrainedPart[]; wallSeconds: number; stack?: { size: number; index: number } },
): RunRecord {
  const best = bestEpochOf(result.epochs);
  const last = result.epochs[result.epochs.length - 1];
  const state = model.stateFloats();
  return {
    id: runId(config),
    label: config.label,
    preset: extra.preset,
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
    ...(best?.test.validity ? { testValidity: summariseValidity(best.test.validity) } : {}),
    epochs: result.epochs.length,
    steps: result.steps,
    status: result.status,
    ...(result.divergedAtStep !== undefined ? { divergedAtStep: result.divergedAtStep } : {}),
    ...(extra.resumedFromEpoch !== undefined ? { resumedFromEpoch: extra.resumedFromEpoch } : {}),
    // a resumed run lists the processes that trained it (this one last, if it trained): levers or code may differ
    ...(extra.resumedFromEpoch !== undefined && extra.parts ? { parts: extra.parts } : {}),
    ...(extra.stack ? { stack: extra.stack } : {}),
    wallSeconds: extra.wallSeconds,
    msPerStep: result.steps ? (result.epochs.reduce((s, e) => s + e.trainSeconds, 0) * 1000) / result.steps : 0,
    backend: extra.backend.backend,
    device: extra.backend.device,
    versions: versions(),
    provenance: provenance(extra.backend),
    worker: WORKER,
    finishedAt: new Date().toISOString(),
  };
}

export async function runOne(config: RunConfig, opts: RunOptions): Promise<RunOutcome> {
  if (opts.stopAfterEpoch !== undefined && !opts.checkpointDir) throw new Error('runOne: stopAfterEpoch needs a checkpointDir (a paused run resumes from it)');
  const started = performance.now();
  clearGpuFaults(); // an error reported before this run began is not this run's (a lost device stays lost)
  const { splits, task, model } = prepareRun(config);
  const id = runId(config);
  let resume: Parameters<typeof train>[4];
  let elapsedBefore = 0;
  let earlierParts: TrainedPart[] = [];
  // the optimizer is made here (a fresh run's too): a run paused at a rung leaves train() by an exception, and
  // what train() made itself would not be disposed then
  const optimizer = createOptimizer(model, config.train);
  try {
    if (opts.checkpointDir) {
      const { checkpoint, reason } = loadCheckpoint(opts.checkpointDir, id, model.variables);
      if (checkpoint) {
        restoreCheckpoint(checkpoint, model.variables, optimizer);
        resume = { epoch: checkpoint.header.epoch, optimizer, records: checkpoint.header.records };
        elapsedBefore = checkpoint.header.elapsedSeconds;
        earlierParts = checkpoint.header.parts ?? [];
        opts.log?.(`  resuming run ${id} from its checkpoint after epoch ${checkpoint.header.epoch} (step ${checkpoint.header.step})`);
      } else if (reason) {
        opts.log?.(`  ignoring the checkpoint of run ${id} (${reason}): training from scratch`);
      }
    }
    const checkpointDir = opts.checkpointDir;
    const stopAfter = opts.stopAfterEpoch;
    const parts = [...earlierParts, trainedPart(resume?.epoch ?? 0, opts.backend)];
    const hooks: TrainHooks = {
      ...opts.hooks,
      // set-valued targets (regbench): the task's own evaluation hook; undefined for the single-label recall tasks
      ...(task.evalMetrics ? { setTargets: task.evalMetrics } : {}),
      onCheckpoint: async (state) => {
        await opts.hooks?.onCheckpoint?.(state);
        if (checkpointDir) await saveCheckpoint(checkpointDir, { runId: id, ...state, elapsedSeconds: elapsedBefore + (performance.now() - started) / 1000, parts, variables: model.variables });
        if (stopAfter !== undefined && state.epoch >= stopAfter) throw new PauseAtEpoch(state.records, state.step);
      },
    };
    let result: { epochs: EpochRecord[]; steps: number; status: RunRecord['status']; divergedAtStep?: number };
    let paused = false;
    let recordParts = parts;
    if (stopAfter !== undefined && resume && resume.epoch >= stopAfter) {
      // its checkpoint is already at the pause epoch (a sweep killed after the pause, before it noted it): this
      // process trains nothing, so the parts are the processes that did (a checkpoint older than parts has none)
      paused = true;
      result = { epochs: resume.records ?? [], steps: optimizer.stepCount, status: 'stopped' };
      if (earlierParts.length > 0) recordParts = earlierParts;
    } else {
      try {
        result = await train(model, splits, { ...config.train, seed: config.seed }, hooks, resume ?? { epoch: 0, optimizer, records: [] });
      } catch (e) {
        if (!(e instanceof PauseAtEpoch)) throw e;
        paused = true;
        result = { epochs: e.records, steps: e.step, status: 'stopped' };
      }
    }
    const record = recordOf(config, model, result, { backend: opts.backend, preset: opts.preset, resumedFromEpoch: resume?.epoch, parts: recordParts, wallSeconds: elapsedBefore + (performance.now() - started) / 1000 });
    return { record, curve: result.epochs, ...(paused ? { paused } : {}) };
  } finally {
    optimizer.dispose();
    model.dispose();
  }
}
