// A sweep = a grid of runs expanded from a preset (a data file) or from flags:
//   architectures × d_model × learning rate × task settings × seeds  (+ per-architecture parameter grids).
// Runs go cheapest first; finished runs (by content-hash id) are skipped, so re-running resumes.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { UserInputError } from '../engine/errors.js';
import { canonicalJson, parseStrict, presetSchema, runId, type Preset, type RunConfig, type Search } from './config.js';
import { LanguageModel } from '../engine/model.js';
import type { EpochRecord } from '../engine/records.js';
import { getTask } from '../tasks/index.js';
import { DeviceLostError, type BackendInfo } from '../engine/backend.js';
import { GpuFaultError, gpuLost, releaseGpuBufferPool } from '../engine/gpuFaults.js';
import { NumericalFaultError } from '../engine/invariants.js';
import { provenance } from './provenance.js';
import { checkpointEpoch, removeCheckpoint } from './checkpoint.js';
import { faultPoint, pausePoint } from './faults.js';
import { lockOwner } from './lock.js';
import { createProgress, formatSeconds } from './progress.js';
import { runNamer } from './summary.js';
import { ResultsDir, WORKER, type RunRecord } from './results.js';
import { resolveRunConfig, runOne, versions, type RunOutcome } from './run.js';
import { passStack, runStack, stackGroups, type StackSize } from './stack.js';
import { describeSearch, halvingOf, planSearch, searchMarker, storeStops, writeRungState, type Halving, type WorkItem } from './search.js';

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

/**
 * A preset restricted to some architecture labels (`--only`), some task settings (`--only-data`, data-entry labels)
 * and/or some of its seeds (`--only-seeds`), e.g. one stretch of a campaign that completes one panel of a figure, or
 * one seed of every point first. Run ids stay the full grid's (an id is the hash of the resolved run config, which no
 * filter changes); an architecture listed per setting (`dataLabels`, e.g. H3 with N = L) keeps only the entries of the
 * settings kept.
 */
export function selectPreset(preset: Preset, only?: string[], onlyData?: string[], onlySeeds?: number[]): Preset {
  let out = preset;
  if (onlySeeds?.length) {
    if (!onlySeeds.every(Number.isInteger)) throw new UserInputError('--only-seeds: seeds are whole numbers (e.g. --only-seeds 0)');
    const unknown = onlySeeds.filter((s) => !preset.seeds.includes(s));
    if (unknown.length) throw new UserInputError(`--only-seeds: ${unknown.join(', ')} ${unknown.length > 1 ? 'are not seeds' : 'is not a seed'} of ${preset.name} (seeds: ${preset.seeds.join(', ')})`);
    out = { ...out, seeds: preset.seeds.filter((s) => onlySeeds.includes(s)) };
  }
  if (only?.length) {
    const labels = new Set(preset.architectures.map((a) => a.label));
    const unknown = only.filter((l) => !labels.has(l));
    if (unknown.length) throw new UserInputError(`--only: ${unknown.join(', ')} is not an architecture label of ${preset.name} (labels: ${[...labels].join(', ')})`);
    out = { ...out, architectures: out.architectures.filter((a) => only.includes(a.label)) };
  }
  if (onlyData?.length) {
    const labels = new Set(preset.data.map((d) => d.label).filter((l): l is string => !!l));
    const unknown = onlyData.filter((l) => !labels.has(l));
    if (unknown.length) throw new UserInputError(`--only-data: ${unknown.join(', ')} is not a data label of ${preset.name} (${labels.size ? `labels: ${[...labels].join(', ')}` : 'its data entries have no labels'})`);
    out = {
      ...out,
      data: out.data.filter((d) => onlyData.includes(d.label ?? '')),
      architectures: out.architectures
        .filter((a) => !a.dataLabels || a.dataLabels.some((l) => onlyData.includes(l)))
        .map((a) => (a.dataLabels ? { ...a, dataLabels: a.dataLabels.filter((l) => onlyData.includes(l)) } : a)),
    };
  }
  if (out.architectures.length === 0 || out.data.length === 0)
    throw new UserInputError(`--only${onlyData?.length ? ' / --only-data' : ''}: no run of ${preset.name} is left (${[only?.length ? `architectures ${only.join(', ')}` : '', onlyData?.length ? `settings ${onlyData.join(', ')}` : ''].filter(Boolean).join(' at ')})`);
  return out;
}

/** Estimated relative cost of a run (for cheapest-first ordering): d² · training tokens · epochs. */
function runCost(config: RunConfig): number {
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
  /** Called when a run pauses at a rung of successive halving, with the record it would have if stopped there. */
  onRunPaused?(record: RunRecord, epoch: number): void;
  /** How the learning rates are searched (default: the full grid). Halving needs checkpoints. */
  search?: Search;
  /**
   * Train the runs only this far, without planning (a parallel sweep's child: its parent planned the halving):
   * an epoch to pause at, or 'end'.
   */
  trainTo?: number | 'end';
  /** Save a checkpoint of each run after every epoch and resume from it (default true). */
  checkpoints?: boolean;
  /** How often to look whether runs locked by another process are done (ms). */
  lockPollMs?: number;
  /** A run stored as failed this many times is not tried again (default MAX_ATTEMPTS; Infinity: always retry). */
  maxAttempts?: number;
  /**
   * Train runs that differ only in learning rate as stacks of up to this many (runners/stack.ts; default 1: each
   * alone), or each run's own most (StackSize: sized by its memory estimate). Runs whose mixers are not stackable
   * train alone; each run's record is the one it would have alone.
   */
  stack?: StackSize;
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
function checkModelsBuild(configs: RunConfig[]): void {
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

/** What a sweep shares with each run it trains. */
interface SweepContext {
  log: ReturnType<typeof createProgress>;
  nameOf: (config: RunConfig) => string;
  /** Runs started so far (for "run i/n"). */
  started: number;
  toTrain: number;
  halving?: Halving;
}

type TrainOutcome = 'locked' | 'skipped' | 'stored' | 'paused' | 'failed';

/**
 * Train one run under its lock, to its end or (target) to a rung epoch where it pauses: its checkpoint stays and
 * its would-be record goes beside it (runners/search.ts). 'locked': another live process holds it; 'skipped':
 * stored meanwhile. A lost device or bad settings throw.
 */
async function trainRun(config: RunConfig, opts: SweepOptions, ctx: SweepContext, target?: { epoch: number; rung?: number }): Promise<TrainOutcome> {
  const { results } = opts;
  const { log } = ctx;
  const id = runId(config);
  if (results.finishedIds().has(id)) return 'skipped'; // stored by another process meanwhile
  const lock = results.tryLockRun(id);
  if (!lock) return 'locked';
  try {
    if (results.finishedIds().has(id)) return 'skipped'; // stored between our look and our lock
    const i = ctx.started++;
    const label = ctx.nameOf(config);
    const toTrain = Math.max(ctx.toTrain, i + 1);
    const reach = target ? `to epoch ${target.epoch} of ${config.train.epochs}${target.rung ? ` (rung ${target.rung})` : ''}` : `${config.train.epochs} epochs at most`;
    if (!opts.quiet) log.log(`${ctx.halving ? 'pass' : 'run'} ${i + 1}${ctx.halving ? '' : `/${toTrain}`}: ${label} (${reach}, id ${id})${opts.verbose ? `\n  config ${JSON.stringify(config)}` : ''}`);
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
        ...(target ? { stopAfterEpoch: target.epoch } : {}),
        log: (line) => log.log(line),
        hooks: {
          onEpoch: (e) => {
            if (!opts.quiet) log.log(epochLine(config, e));
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
    if (failure !== undefined || !outcome) return await storeFailure([config], failure, opts, ctx, runStarted);
    await releaseGpuBufferPool();
    if (storeOutcome(config, outcome, opts, ctx, target) === 'paused') return 'paused';
  } finally {
    lock.release();
  }
  faultPoint('run-end');
  return 'stored';
}

/** A run's line after each epoch; a stack's runs name themselves (their epochs interleave). */
function epochLine(config: RunConfig, e: EpochRecord, name?: string): string {
  return `  epoch ${String(e.epoch).padStart(String(config.train.epochs).length)}/${config.train.epochs}  ${name ? `${name}  ` : ''}loss ${e.trainLoss.toFixed(3)}  val acc ${e.validation.accuracy.toFixed(3)}  ${formatSeconds(e.seconds)}`;
}

/**
 * What stacks are grouped by beside the runs' settings: the epoch of each run's checkpoint (a stack resumes
 * together). Each run's checkpoint header is read once per function made: make one per plan.
 */
export function checkpointEpochOf(results: ResultsDir): (config: RunConfig) => string {
  const read = new Map<string, string>();
  return (config) => {
    const id = runId(config);
    if (!read.has(id)) read.set(id, String(checkpointEpoch(results.checkpointDir(id)) ?? 'none'));
    return read.get(id)!;
  };
}

/**
 * Runs that threw (alone, or the whole stack they trained in): each stored as failed with the reason, so resume
 * retries it; a lost device stops the sweep (DeviceLostError), bad settings too (the caller rethrows those).
 */
async function storeFailure(configs: RunConfig[], failure: unknown, opts: SweepOptions, ctx: SweepContext, started: number): Promise<'failed'> {
  const { results } = opts;
  const lost = await deviceLossOf(failure, opts.backend);
  const reason = lost ? `GPU device lost: ${lost}` : firstLine(failure);
  for (const config of configs) {
    const id = runId(config);
    results.append(failedRecord(config, id, reason, opts, started), []);
    // impossible numbers may have been brewing before they showed: the retry starts from scratch. (A GPU fault
    // keeps the checkpoint: it was written after its epoch passed the device's checks.)
    if (failure instanceof NumericalFaultError && opts.checkpoints !== false) removeCheckpoint(results.checkpointDir(id));
    ctx.log.log(`  ${'failed'.padEnd(10)} ${ctx.nameOf(config)}: ${reason}`);
  }
  // the pool may hold buffers whose allocation failed: the next run must not get them
  await releaseGpuBufferPool();
  if (lost) {
    ctx.log.stop();
    throw new DeviceLostError(lost, runId(configs[0]!));
  }
  return 'failed';
}

/** A run's outcome into the folder: paused at a rung (its rung state beside its checkpoint), or its record and curve. */
function storeOutcome(config: RunConfig, outcome: RunOutcome, opts: SweepOptions, ctx: SweepContext, target?: { epoch: number; rung?: number }): 'stored' | 'paused' {
  const { results } = opts;
  const { log } = ctx;
  const id = runId(config);
  const label = ctx.nameOf(config);
  const { record, curve } = outcome;
  if (outcome.paused) {
    // the checkpoint of the rung epoch is saved; what the decision reads goes beside it
    writeRungState(results, { runId: id, epoch: record.epochs, record, curve });
    if (!opts.quiet) log.log(`  ${'paused'.padEnd(10)} ${label}: at epoch ${record.epochs}${target?.rung ? ` (rung ${target.rung})` : ''}, best val acc ${record.validationAccuracy.toFixed(3)} so far`);
    opts.onRunPaused?.(record, record.epochs);
    return 'paused';
  }
  const stored = ctx.halving ? { ...record, search: searchMarker(ctx.halving, config) } : record;
  results.append(stored, curve);
  faultPoint('run-stored');
  if (opts.checkpoints !== false) removeCheckpoint(results.checkpointDir(id));
  log.log(`  ${stored.status.padEnd(10)} ${label}: test acc ${stored.testAccuracy.toFixed(3)} (best epoch ${stored.bestEpoch} of ${stored.epochs}, ${formatSeconds(stored.wallSeconds)}, ${stored.msPerStep.toFixed(1)} ms/step${stored.stack ? `, stacked ${stored.stack.index + 1} of ${stored.stack.size}` : ''})${stored.status === 'diverged' ? ` — loss NaN/Inf at step ${stored.divergedAtStep}` : ''}`);
  opts.onRunStored?.(stored);
  return 'stored';
}

/**
 * Train runs that may share a stack (runners/stack.ts) under their locks, as one stack, each to its end or to the
 * rung epoch `target`: what each run stores is what trainRun would store for it. Returns the runs locked by another
 * process (left for later); the others are trained, or were stored meanwhile. Runs alone go to trainRun.
 */
async function trainStackedRuns(configs: RunConfig[], opts: SweepOptions, ctx: SweepContext, target?: { epoch: number; rung?: number }): Promise<{ locked: RunConfig[]; trained: RunConfig[]; failed: RunConfig[] }> {
  const { results } = opts;
  const finished = results.finishedIds();
  const locked: RunConfig[] = [];
  const held: Array<{ config: RunConfig; lock: NonNullable<ReturnType<ResultsDir['tryLockRun']>> }> = [];
  let outcome: { locked: RunConfig[]; trained: RunConfig[]; failed: RunConfig[] };
  for (const config of configs) {
    if (finished.has(runId(config))) continue;
    const lock = results.tryLockRun(runId(config));
    if (lock) held.push({ config, lock });
    else locked.push(config);
  }
  try {
    const mine = held.filter(({ config }) => !results.finishedIds().has(runId(config))).map((h) => h.config);
    if (mine.length === 0) return { locked, trained: [], failed: [] };
    const first = ctx.started + 1;
    ctx.started += mine.length;
    const toTrain = Math.max(ctx.toTrain, ctx.started);
    const reach = target ? `to epoch ${target.epoch} of ${mine[0]!.train.epochs}${target.rung ? ` (rung ${target.rung})` : ''}` : `${mine[0]!.train.epochs} epochs at most`;
    if (!opts.quiet) {
      ctx.log.log(`${ctx.halving ? 'pass' : 'runs'} ${first}–${ctx.started}${ctx.halving ? '' : `/${toTrain}`}: a stack of ${mine.length} (${reach})`);
      for (const config of mine) ctx.log.log(`  ${ctx.nameOf(config)} (id ${runId(config)})${opts.verbose ? `\n  config ${JSON.stringify(config)}` : ''}`);
    }
    faultPoint('run-start');
    await pausePoint('run-start');
    const started = performance.now();
    const stored = new Set<number>();
    const failedRuns = new Set<number>();
    try {
      await runStack(mine, {
        backend: opts.backend,
        preset: opts.preset,
        ...(opts.checkpoints === false ? {} : { checkpointDirs: mine.map((c) => results.checkpointDir(runId(c))) }),
        ...(target ? { stopAfterEpoch: target.epoch } : {}),
        log: (line) => ctx.log.log(line),
        hooks: {
          onEpoch: (r, e) => {
            if (!opts.quiet) ctx.log.log(epochLine(mine[r]!, e, ctx.nameOf(mine[r]!)));
          },
          onStep: (step, total) => {
            if (gpuLost()) throw new DeviceLostError(gpuLost()!, runId(mine[0]!));
            ctx.log.update(step, total, `a stack of ${mine.length}`);
            faultPoint('step');
          },
          onCheckpoint: () => {
            if (gpuLost()) throw new DeviceLostError(gpuLost()!, runId(mine[0]!));
            faultPoint('epoch');
          },
          // a run is stored as soon as it ends, the others training on: a kill later loses none that finished
          onRunEnd: (r, outcome) => {
            if (gpuLost()) throw new DeviceLostError(gpuLost()!, runId(mine[r]!));
            storeOutcome(mine[r]!, outcome, opts, ctx, target);
            stored.add(r);
          },
          // a run that broke an invariant fails alone (as it would alone); the others train on
          onRunFault: async (r, error) => {
            await storeFailure([mine[r]!], error, opts, ctx, started);
            stored.add(r);
            failedRuns.add(r);
          },
        },
      });
    } catch (e) {
      if (e instanceof UserInputError) throw e;
      const unstored = mine.filter((_, r) => !stored.has(r));
      if (unstored.length) await storeFailure(unstored, e, opts, ctx, started);
      return { locked, trained: mine.filter((_, r) => stored.has(r) && !failedRuns.has(r)), failed: [...unstored, ...mine.filter((_, r) => failedRuns.has(r))] };
    }
    await releaseGpuBufferPool();
    outcome = { locked, trained: mine.filter((_, r) => !failedRuns.has(r)), failed: mine.filter((_, r) => failedRuns.has(r)) };
  } finally {
    for (const { lock } of held) lock.release();
  }
  // as trainRun: between runs, once the stack's runs are stored and their locks released
  faultPoint('run-end');
  return outcome;
}

/** Wait until none of these runs is locked by a live process. */
async function waitForLocks(results: ResultsDir, ids: string[], pollMs: number): Promise<void> {
  while (ids.some((id) => lockOwner(results.runLockPath(id)))) await new Promise((r) => setTimeout(r, pollMs));
}

/** One line per run a decision stopped. */
export function stopLines(stopped: RunRecord[], nameOf: (c: RunConfig) => string): string[] {
  return stopped.map((r) => `  ${'stopped'.padEnd(10)} ${nameOf(r.config)}: at rung ${r.search?.stoppedAtRung} (epoch ${r.search?.rungEpoch}), rank ${r.search?.rank} of ${r.search?.of}, best val acc ${r.validationAccuracy.toFixed(3)}`);
}

/**
 * The rung passes of successive halving (runners/search.ts), one run at a time: plan from the folder, store the
 * runs the decisions stop, train the first run the plan names (the cheapest group first) to its target, plan again.
 */
async function runHalving(configs: RunConfig[], opts: SweepOptions, ctx: SweepContext, halving: Halving, maxAttempts: number): Promise<void> {
  const { results } = opts;
  const blocked = new Set<string>(); // failed in this sweep: retried by the next
  const done = new Set<string>(); // (id, target) passes this sweep made: a plan naming one again is a bug
  for (;;) {
    const plan = planSearch(configs, results, halving, { maxAttempts, blocked });
    const stopped = storeStops(plan.stops, results, halving);
    if (!opts.quiet) for (const line of stopLines(stopped, ctx.nameOf)) ctx.log.log(line);
    let progressed = stopped.length > 0;
    const lockedElsewhere: WorkItem[] = [];
    const passOf = (w: WorkItem) => `${w.id}@${w.target ?? 'end'}`;
    const epochOf = checkpointEpochOf(results);
    for (const item of plan.work) {
      const pass = passOf(item);
      if (done.has(pass)) throw new Error(`successive halving: run ${item.id} was to be trained ${item.target ? `to epoch ${item.target}` : 'to its end'} twice`);
      const target = item.target !== undefined ? { epoch: item.target, rung: item.rung } : undefined;
      // with --stack: the plan's other runs of this group for the same pass, at the same checkpoint epoch, train with it
      const group = passStack(plan.work.filter((w) => w === item || !done.has(passOf(w))), item, opts.stack, epochOf);
      if (group.length > 1) {
        const { locked, trained, failed } = await trainStackedRuns(group.map((w) => w.config), opts, ctx, target);
        const byId = new Map(group.map((w) => [w.id, w]));
        for (const c of locked) lockedElsewhere.push(byId.get(runId(c))!);
        for (const c of trained) done.add(passOf(byId.get(runId(c))!));
        for (const c of failed) blocked.add(runId(c));
        if (trained.length + failed.length === 0) continue;
        progressed = true;
        break; // decisions may be due now: plan again
      }
      const outcome = await trainRun(item.config, opts, ctx, target);
      if (outcome === 'locked') {
        lockedElsewhere.push(item);
        continue;
      }
      if (outcome === 'failed') blocked.add(item.id);
      else done.add(pass);
      progressed = true;
      break; // a decision may be due now: plan again
    }
    if (progressed) continue;
    if (lockedElsewhere.length === 0) {
      if (plan.waitingOnFailed && !opts.quiet) ctx.log.log(`  ${plan.waitingOnFailed} group(s) wait at a rung for a run that failed in this sweep: re-run the sweep to retry it and go on`);
      return;
    }
    if (!opts.quiet) ctx.log.log(`  waiting for ${lockedElsewhere.length} run(s) locked by another process`);
    await waitForLocks(results, lockedElsewhere.map((w) => w.id), opts.lockPollMs ?? 250);
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
 *     DeviceLostError; bad settings (UserInputError) stop it too;
 *   - with `search: {kind: 'halving'}`, the learning rates of each group are searched by successive halving in
 *     rung passes (runHalving; runners/search.ts): runs the decisions stop are stored as 'stopped'.
 */
export async function runSweep(configs: RunConfig[], opts: SweepOptions): Promise<RunRecord[]> {
  const { results } = opts;
  results.repair();
  const title = opts.title ?? 'sweep';
  const log = createProgress(title, opts.quiet);
  const halving = halvingOf(opts.search);
  if (halving && opts.checkpoints === false) throw new Error('successive halving needs checkpoints (a run paused at a rung resumes from its checkpoint)');
  const finishedAtStart = results.finishedIds();
  const attempts = results.failedAttempts();
  const maxAttempts = opts.maxAttempts ?? MAX_ATTEMPTS;
  const givenUp = configs.filter((c) => !finishedAtStart.has(runId(c)) && (attempts.get(runId(c)) ?? 0) >= maxAttempts);
  const queue = configs.filter((c) => !finishedAtStart.has(runId(c)) && (attempts.get(runId(c)) ?? 0) < maxAttempts);
  checkModelsBuild(queue);
  const toTrain = queue.length;
  const already = configs.length - toTrain - givenUp.length;
  const ctx: SweepContext = { log, nameOf: runNamer(configs), started: 0, toTrain, ...(halving ? { halving } : {}) };
  if (!opts.quiet) log.log(`${title}: ${configs.length} run${configs.length === 1 ? '' : 's'}${already ? `, ${already} already finished` : ''}, ${toTrain} to train on ${opts.backend.backend} (${opts.backend.device}) → ${results.dir}`);
  if (!opts.quiet && halving && opts.trainTo === undefined) log.log(`  ${describeSearch(configs, halving)}`);
  if (!opts.quiet && givenUp.length) log.log(`  not retrying ${givenUp.length} run(s) that failed ${maxAttempts} times (${givenUp.slice(0, 3).map(runId).join(', ')}${givenUp.length > 3 ? ', ...' : ''}): --max-attempts N to try again`);
  if (halving && opts.trainTo === undefined) {
    await runHalving(configs, opts, ctx, halving, maxAttempts);
  } else {
    const target = typeof opts.trainTo === 'number' ? { epoch: opts.trainTo } : undefined;
    let pending = queue;
    while (pending.length > 0) {
      const lockedElsewhere: RunConfig[] = [];
      // with --stack, runs that differ only in lr (and are at the same checkpoint epoch) train as one stack
      for (const group of stackGroups(pending, opts.stack, checkpointEpochOf(results))) {
        if (group.length > 1) lockedElsewhere.push(...(await trainStackedRuns(group, opts, ctx, target)).locked);
        else if ((await trainRun(group[0]!, opts, ctx, target)) === 'locked') lockedElsewhere.push(group[0]!);
      }
      if (lockedElsewhere.length === 0) break;
      // runs another process is training: wait for their locks, then take over whatever that process left
      if (!opts.quiet) log.log(`  waiting for ${lockedElsewhere.length} run(s) locked by another process`);
      await waitForLocks(results, lockedElsewhere.map(runId), opts.lockPollMs ?? 250);
      pending = lockedElsewhere;
    }
  }
  log.stop();
  const ids = new Set(configs.map(runId));
  return results.records().filter((r) => ids.has(r.id));
}
