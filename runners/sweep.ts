// A sweep = a grid of runs expanded from a preset (a data file) or from flags:
//   architectures × d_model × learning rate × task settings × seeds  (+ per-architecture parameter grids).
// Runs go cheapest first; finished runs (by content-hash id) are skipped, so re-running resumes.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { UserInputError } from '../engine/errors.js';
import { canonicalJson, parseStrict, presetSchema, runId, type Preset, type RunConfig } from './config.js';
import { LanguageModel } from '../engine/model.js';
import { getTask } from '../tasks/index.js';
import { DeviceLostError, type BackendInfo } from '../engine/backend.js';
import { GpuFaultError, gpuLost, releaseGpuBufferPool } from '../engine/gpuFaults.js';
import { NumericalFaultError } from '../engine/invariants.js';
import { provenance } from './provenance.js';
import { removeCheckpoint } from './checkpoint.js';
import { faultPoint, pausePoint } from './faults.js';
import { lockOwner } from './lock.js';
import { createProgress, formatSeconds } from './progress.js';
import { runNamer } from './summary.js';
import { ResultsDir, WORKER, type RunRecord } from './results.js';
import { resolveRunConfig, runOne, versions } from './run.js';

export { presetSchema, type Preset, type PresetInput } from './config.js';

export const PRESETS_DIR = join(dirname(fileURLToPath(import.meta.url)), 'presets');

/** A preset by name (runners/presets/NAME.json) or by path to a JSON file. */
export function loadPreset(nameOrPath: string): Preset {
  const path = existsSync(nameOrPath) ? resolve(nameOrPath) : join(PRESETS_DIR, `${nameOrPath}.json`);
  if (!existsSync(path)) throw new UserInputError(`unknown preset '${nameOrPath}' (not a file, and not one of: ${listPresetNames().join(', ')})`);
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new UserInputError(`preset ${path} is not valid JSON: ${(e as Error).message.split('\n')[0]}`);
  }
  return parseStrict(presetSchema, raw, `preset ${path}`);
}

export function listPresetNames(): string[] {
  if (!existsSync(PRESETS_DIR)) return [];
  return readdirSync(PRESETS_DIR).filter((f) => f.endsWith('.json')).map((f) => f.replace(/\.json$/, '')).sort();
}

/** Estimated relative cost of a run (for cheapest-first ordering): d² · training tokens · epochs. */
export function runCost(config: RunConfig): number {
  const tokens = config.data.train.reduce((n, s) => n + Number(s.count ?? 0) * Number(s.seqLen ?? (Number(s.sizeA ?? 0) + Number(s.sizeB ?? 0))), 0);
  return config.model.dModel * config.model.dModel * config.model.nLayers * tokens * config.train.epochs;
}

function cartesian(axes: Record<string, unknown[]>): Record<string, unknown>[] {
  let out: Record<string, unknown>[] = [{}];
  for (const [key, values] of Object.entries(axes)) out = out.flatMap((o) => values.map((v) => ({ ...o, [key]: v })));
  return out;
}

/** Every run of a preset, resolved, deduplicated by id, cheapest first. */
export function expandPreset(preset: Preset): RunConfig[] {
  const configs = new Map<string, RunConfig>();
  const dataLabels = new Set(preset.data.map((d) => d.label).filter((l): l is string => !!l));
  for (const arch of preset.architectures) {
    for (const l of arch.dataLabels ?? []) {
      if (!dataLabels.has(l)) throw new UserInputError(`preset ${preset.name}: architecture ${arch.label}: dataLabels names '${l}', which is not the label of any data entry`);
    }
    const paramLayer = arch.paramLayer ?? arch.layers.length - 1;
    if (paramLayer >= arch.layers.length) throw new UserInputError(`preset ${preset.name}: architecture ${arch.label}: paramLayer ${paramLayer} out of range`);
    for (const variant of cartesian(arch.paramGrid ?? {})) {
      const layers = arch.layers.map((l, i) => (i === paramLayer ? { ...l, params: { ...(l.params ?? {}), ...variant } } : l));
      for (const data of preset.data) {
        if (arch.dataLabels && !arch.dataLabels.includes(data.label ?? '')) continue;
        for (const dModel of arch.dModels ?? preset.dModels)
          for (const lr of arch.learningRates ?? preset.learningRates)
            for (const seed of preset.seeds) {
              const { label: _dataLabel, trainOverrides, ...dataConfig } = data;
              const config = resolveRunConfig(
                {
                  label: arch.label,
                  data: dataConfig,
                  model: { ...preset.model, ...(arch.model ?? {}), dModel, layers },
                  train: { ...preset.train, ...(trainOverrides ?? {}), lr },
                  seed,
                },
                `preset ${preset.name} (${arch.label})`,
              );
              configs.set(runId(config), config);
            }
      }
    }
  }
  return [...configs.values()].map((c, i) => ({ c, i, cost: runCost(c) })).sort((a, b) => a.cost - b.cost || a.i - b.i).map((x) => x.c);
}

export interface SweepOptions {
  backend: BackendInfo;
  results: ResultsDir;
  preset?: string;
  quiet?: boolean;
  /** Also print each run's resolved config as it starts (it is always stored in the run's record). */
  verbose?: boolean;
  /** The word the lines start with: 'sweep' (default) or 'train'. */
  title?: string;
  /** Called after each run is stored (tests use it to kill a sweep midway). */
  onRunStored?(record: RunRecord): void;
  /** Save a checkpoint of each run after every epoch and resume from it (default true). */
  checkpoints?: boolean;
  /** How often to look whether runs locked by another process are done (ms). */
  lockPollMs?: number;
  /** A run stored as failed this many times is not tried again (default MAX_ATTEMPTS; Infinity: always retry). */
  maxAttempts?: number;
}

/** Attempts a failing run gets across resumes: a transient fault (memory pressure) passes, a deterministic one stops. */
export const MAX_ATTEMPTS = 3;

function firstLine(e: unknown): string {
  return String((e as Error)?.message ?? e).split('\n')[0]!;
}

/** Why the device was lost, when this error (or a loss reported just after it) says it was. */
async function deviceLossOf(e: unknown, backend: BackendInfo): Promise<string | undefined> {
  if (e instanceof DeviceLostError) return e.reason;
  if (e instanceof GpuFaultError) return e.lost ? e.reason : undefined;
  // Dawn resolves device.lost asynchronously: give it a moment to arrive after the failing call
  if (backend.backend === 'webgpu' && !gpuLost()) await new Promise((r) => setTimeout(r, 100));
  if (gpuLost()) return gpuLost();
  return /device (?:was |is |has been )?lost|lost device/i.test(firstLine(e)) ? firstLine(e) : undefined;
}

/** The record of a run that threw: stored so the failure is visible; resume retries it. */
function failedRecord(config: RunConfig, id: string, error: string, opts: SweepOptions, started: number): RunRecord {
  return {
    id, label: config.label, preset: opts.preset, config, seed: config.seed, params: 0,
    stateFloats: { measured: 0, paper: 0 }, stateBytes: { measured: 0, paper: 0 },
    bestEpoch: 0, validationAccuracy: 0, testAccuracy: 0, finalTestAccuracy: 0, testSlices: {}, epochs: 0, steps: 0,
    status: 'failed', error, wallSeconds: (performance.now() - started) / 1000, msPerStep: 0,
    backend: opts.backend.backend, device: opts.backend.device, versions: versions(), provenance: provenance(opts.backend), worker: WORKER, finishedAt: new Date().toISOString(),
  };
}

/**
 * Build each distinct model of the runs once (on a 4-token vocabulary: the mixers are what can fail), so that an
 * impossible setting (e.g. d_model not divisible by numHeads) stops the sweep before anything trains.
 */
export function checkModelsBuild(configs: RunConfig[]): void {
  const seen = new Set<string>();
  for (const config of configs) {
    const task = getTask(config.data.task);
    const segments = [...config.data.train, ...config.data.test, ...(config.data.validation ?? [])];
    const maxSeqLen = Math.max(...segments.map((p) => task.generate({ ...p, count: 1 } as never, 0).seqLen));
    const key = canonicalJson({ model: config.model, maxSeqLen, seed: config.seed });
    if (seen.has(key)) continue;
    seen.add(key);
    let model: LanguageModel;
    try {
      model = new LanguageModel({ ...config.model, vocabSize: 4, maxSeqLen, seed: config.seed });
    } catch (e) {
      if (e instanceof UserInputError) throw e;
      throw new UserInputError(`${config.label}: the model cannot be built with d_model ${config.model.dModel}: ${firstLine(e)}`);
    }
    model.dispose();
  }
}

/**
 * Train every run not already in the results folder; returns the records of the whole grid. Safe to kill at any
 * moment and to run in several processes on one folder at once:
 *   - a run is trained only under its lock (locks/<id>.lock): runs another live process holds are skipped, then
 *     waited for (and taken over if that process dies);
 *   - each epoch is checkpointed, so an interrupted run resumes from its last epoch;
 *   - a run that diverges is a result (status 'diverged'); one that throws is stored as 'failed' with its reason
 *     and the sweep goes on (resume retries it), except when the GPU device is lost: then the sweep stops with a
 *     DeviceLostError; bad settings (UserInputError) stop it too.
 */
export async function runSweep(configs: RunConfig[], opts: SweepOptions): Promise<RunRecord[]> {
  const { results } = opts;
  results.repair();
  const title = opts.title ?? 'sweep';
  const log = createProgress(title, opts.quiet);
  const nameOf = runNamer(configs);
  const finishedAtStart = results.finishedIds();
  const attempts = results.failedAttempts();
  const maxAttempts = opts.maxAttempts ?? MAX_ATTEMPTS;
  const givenUp = configs.filter((c) => !finishedAtStart.has(runId(c)) && (attempts.get(runId(c)) ?? 0) >= maxAttempts);
  let queue = configs.filter((c) => !finishedAtStart.has(runId(c)) && (attempts.get(runId(c)) ?? 0) < maxAttempts);
  checkModelsBuild(queue);
  const toTrain = queue.length;
  const already = configs.length - toTrain - givenUp.length;
  if (!opts.quiet) log.log(`${title}: ${configs.length} run${configs.length === 1 ? '' : 's'}${already ? `, ${already} already finished` : ''}, ${toTrain} to train on ${opts.backend.backend} (${opts.backend.device}) → ${results.dir}`);
  if (!opts.quiet && givenUp.length) log.log(`  not retrying ${givenUp.length} run(s) that failed ${maxAttempts} times (${givenUp.slice(0, 3).map(runId).join(', ')}${givenUp.length > 3 ? ', ...' : ''}): --max-attempts N to try again`);
  let started = 0;
  while (queue.length > 0) {
    const lockedElsewhere: RunConfig[] = [];
    for (const config of queue) {
      const id = runId(config);
      if (results.finishedIds().has(id)) continue; // stored by another process meanwhile
      const lock = results.tryLockRun(id);
      if (!lock) {
        lockedElsewhere.push(config);
        continue;
      }
      try {
        if (results.finishedIds().has(id)) continue; // stored between our look and our lock
        const i = started++;
        const label = nameOf(config);
        if (!opts.quiet) log.log(`run ${i + 1}/${toTrain}: ${label} (${config.train.epochs} epochs at most, id ${id})${opts.verbose ? `\n  config ${JSON.stringify(config)}` : ''}`);
        faultPoint('run-start');
        await pausePoint('run-start');
        const checkpointDir = opts.checkpoints === false ? undefined : results.checkpointDir(id);
        const runStarted = performance.now();
        let outcome: Awaited<ReturnType<typeof runOne>> | undefined;
        let failure: unknown;
        try {
          outcome = await runOne(config, {
            backend: opts.backend,
            preset: opts.preset,
            checkpointDir,
            log: (line) => log.log(line),
            hooks: {
              onEpoch: (e) => {
                if (!opts.quiet) log.log(`  epoch ${String(e.epoch).padStart(String(config.train.epochs).length)}/${config.train.epochs}  loss ${e.trainLoss.toFixed(3)}  val acc ${e.validation.accuracy.toFixed(3)}  ${formatSeconds(e.seconds)}`);
              },
              onStep: (step, total) => {
                if (gpuLost()) throw new DeviceLostError(gpuLost()!, id);
                log.update(Math.min(i, toTrain - 1) * total + step, toTrain * total, `run ${i + 1}/${toTrain} ${label}`);
                faultPoint('step');
              },
              onCheckpoint: () => {
                if (gpuLost()) throw new DeviceLostError(gpuLost()!, id); // never checkpoint a lost device's numbers
                faultPoint('epoch');
              },
            },
          });
          if (gpuLost()) failure = new DeviceLostError(gpuLost()!, id); // its numbers cannot be trusted
        } catch (e) {
          if (e instanceof UserInputError) throw e;
          failure = e;
        }
        if (failure !== undefined || !outcome) {
          const lost = await deviceLossOf(failure, opts.backend);
          const reason = lost ? `GPU device lost: ${lost}` : firstLine(failure);
          results.append(failedRecord(config, id, reason, opts, runStarted), []);
          // impossible numbers may have been brewing before they showed: the retry starts from scratch. (A GPU fault
          // keeps the checkpoint: it was written after its epoch passed the device's checks.)
          if (failure instanceof NumericalFaultError && checkpointDir) removeCheckpoint(checkpointDir);
          // the pool may hold buffers whose allocation failed: the next run must not get them
          await releaseGpuBufferPool();
          log.log(`  ${'failed'.padEnd(10)} ${label}: ${reason}`);
          if (lost) {
            log.stop();
            throw new DeviceLostError(lost, id);
          }
          continue;
        }
        const { record, curve } = outcome;
        results.append(record, curve);
        // the next run has other shapes: what this one pooled would only pile up (webgpu; a no-op elsewhere)
        await releaseGpuBufferPool();
        faultPoint('run-stored');
        if (checkpointDir) removeCheckpoint(checkpointDir);
        log.log(`  ${record.status.padEnd(10)} ${label}: test acc ${record.testAccuracy.toFixed(3)} (best epoch ${record.bestEpoch} of ${record.epochs}, ${formatSeconds(record.wallSeconds)}, ${record.msPerStep.toFixed(1)} ms/step)${record.status === 'diverged' ? ` — loss NaN/Inf at step ${record.divergedAtStep}` : ''}`);
        opts.onRunStored?.(record);
      } finally {
        lock.release();
      }
      faultPoint('run-end');
    }
    if (lockedElsewhere.length === 0) break;
    // runs another process is training: wait for their locks, then take over whatever that process left
    if (!opts.quiet) log.log(`  waiting for ${lockedElsewhere.length} run(s) locked by another process`);
    while (lockedElsewhere.some((c) => lockOwner(results.runLockPath(runId(c))))) await new Promise((r) => setTimeout(r, opts.lockPollMs ?? 250));
    queue = lockedElsewhere;
  }
  log.stop();
  const ids = new Set(configs.map(runId));
  return results.records().filter((r) => ids.has(r.id));
}

