// Runs trained as stacks (engine/stack.ts; docs/stacked-runs.md): which runs may share a stack, how a sweep groups
// them, and runStack — runOne for a stack: one data build, one model with a run axis, and for each run the record,
// curve and epoch checkpoints it would have alone (a run resumes alone or in any stack from them).
import { clearGpuFaults } from '../engine/gpuFaults.js';
import { unstackableLayer } from '../engine/model.js';
import type { NumericalFaultError } from '../engine/invariants.js';
import { createOptimizer, type EpochRecord, type TrainResult } from '../engine/train.js';
import { trainStack, type StackRunResult } from '../engine/loop.js';
import { getTask } from '../tasks/index.js';
import type { BackendInfo } from '../engine/backend.js';
import { loadCheckpoint, restoreStackCheckpoints, saveStackCheckpoints, type Checkpoint } from './checkpoint.js';
import { canonicalJson, runId, type RunConfig } from './config.js';
import { trainedPart, type TrainedPart } from './provenance.js';
import { prepareRun, recordOf, type RunOutcome } from './run.js';

/**
 * The stack size a sweep uses: `--stack N` when given, else the preset's own (measured on a GPU, so on webgpu only),
 * else 1 (each run alone).
 */
export function sweepStackSize(flag: number | undefined, presetStack: number | undefined, backend: string): number {
  return flag ?? (backend === 'webgpu' ? presetStack : undefined) ?? 1;
}

/** What must be equal for runs to share a stack: everything but the learning rate (and so the run id). */
export function stackKey(config: RunConfig): string {
  const { lr: _lr, ...train } = config.train;
  return canonicalJson({ ...config, train });
}

/** Why a run cannot train in a stack, or undefined when it can. */
export function unstackable(config: RunConfig): string | undefined {
  const refused = unstackableLayer(config.model.layers, config.model.nLayers);
  if (refused) return `mixer ${refused.def.name} cannot be stacked${refused.def.stackable ? ' with these settings' : ''}`;
  if (getTask(config.data.task).evalMetrics) return `task ${config.data.task} scores set-valued targets (not in a stack yet)`;
  return undefined;
}

/**
 * The most runs a stack may hold: one number for every run, or each run's own (runners/concurrency.ts stackSizeFor:
 * by its memory estimate — runs of one stackKey share their shapes, so they get the same size).
 */
export type StackSize = number | ((config: RunConfig) => number);
const sizeOf = (stack: StackSize | undefined, config: RunConfig) => (stack === undefined ? 1 : typeof stack === 'number' ? stack : stack(config));

/**
 * The runs in stacks of at most `maxSize`, in the order of their first run: runs of one key (stackKey, and `also`:
 * e.g. the epoch of a run's checkpoint) together, the unstackable alone. A stack of one is a run trained alone.
 * With `first`: only the stack that holds it (it leads; the others join in their order).
 */
export function stackGroups(configs: RunConfig[], maxSize: StackSize | undefined, also: (config: RunConfig) => string = () => '', first?: RunConfig): RunConfig[][] {
  if (first) {
    const size = sizeOf(maxSize, first);
    if (size <= 1 || unstackable(first)) return [[first]];
    const key = stackKey(first) + also(first);
    return [[first, ...configs.filter((c) => c !== first && !unstackable(c) && stackKey(c) + also(c) === key)].slice(0, size)];
  }
  const groups: RunConfig[][] = [];
  // an open stack keeps the size its first run gave it (runs of one key get one size; this holds it if not)
  const open = new Map<string, { runs: RunConfig[]; size: number }>();
  for (const config of configs) {
    const size = sizeOf(maxSize, config);
    if (size <= 1 || unstackable(config)) {
      groups.push([config]);
      continue;
    }
    const key = stackKey(config) + also(config);
    let group = open.get(key);
    if (!group || group.runs.length >= group.size) {
      group = { runs: [], size };
      open.set(key, group);
      groups.push(group.runs);
    }
    group.runs.push(config);
  }
  return groups;
}

/**
 * Under successive halving, the stack `item` trains in for its pass: the work's other items for the same pass (the
 * same target epoch and rung) that stackGroups puts with it (`also`: e.g. checkpoint epochs), `item` first.
 */
export function passStack<W extends { config: RunConfig; target?: number; rung?: number }>(work: W[], item: W, maxSize: StackSize | undefined, also: (config: RunConfig) => string): W[] {
  const samePass = work.filter((w) => w === item || (w.target === item.target && w.rung === item.rung));
  const byConfig = new Map(samePass.map((w) => [w.config, w]));
  return stackGroups(samePass.map((w) => w.config), maxSize, also, item.config)[0]!.map((c) => byConfig.get(c)!);
}

export interface StackOptions {
  backend: BackendInfo;
  preset?: string;
  /** Each run's checkpoint folder, in the order of the configs: saved after every epoch, resumed from. */
  checkpointDirs?: string[];
  /** Pause every run still training after this epoch (runOne's stopAfterEpoch, for a stack). */
  stopAfterEpoch?: number;
  log?(line: string): void;
  hooks?: {
    onStep?(step: number, totalSteps: number): void;
    onEpoch?(run: number, record: EpochRecord): void | Promise<void>;
    /** After each epoch when more follow, before the checkpoints are written. */
    onCheckpoint?(): void | Promise<void>;
    /** A run's final outcome, as soon as it ended (before the stack's end, or at it). */
    onRunEnd?(run: number, outcome: RunOutcome): void | Promise<void>;
    /** A run broke an invariant and left the stack (store it as failed); the others train on. */
    onRunFault?(run: number, error: NumericalFaultError): void | Promise<void>;
  };
}

/**
 * Train runs that may share a stack (stackKey equal, none unstackable) as one: each run's outcome is the one runOne
 * gives the run alone (its record marked `stack`), reported through onRunEnd as soon as it is final. With
 * checkpoints, the stack resumes when every run has one after the same epoch (a sweep groups runs so); none: fresh.
 */
export async function runStack(configs: RunConfig[], opts: StackOptions): Promise<RunOutcome[]> {
  const first = configs[0];
  if (!first) return [];
  const refusal = configs.map(unstackable).find(Boolean) ?? (configs.some((c) => stackKey(c) !== stackKey(first)) ? 'the runs differ in more than the learning rate' : undefined);
  if (refusal) throw new Error(`runStack: ${refusal}`);
  const started = performance.now();
  clearGpuFaults();
  const R = configs.length;
  const ids = configs.map(runId);
  const { splits, model } = prepareRun(first, R);
  const optimizer = createOptimizer(model, first.train);
  try {
    const dirs = opts.checkpointDirs;
    let resume: { epoch: number; optimizer: typeof optimizer; records: EpochRecord[][] } | undefined;
    let elapsedBefore = configs.map(() => 0);
    let earlierParts: TrainedPart[][] = configs.map(() => []);
    if (dirs) {
      const found = ids.map((id, r) => loadCheckpoint(dirs[r]!, id, model.variables, R));
      found.forEach((f, r) => f.reason && opts.log?.(`  ignoring the checkpoint of run ${ids[r]} (${f.reason}): training from scratch`));
      const checkpoints = found.map((f) => f.checkpoint);
      if (checkpoints.every((c): c is Checkpoint => c !== undefined)) {
        restoreStackCheckpoints(checkpoints, model.variables, optimizer);
        resume = { epoch: checkpoints[0]!.header.epoch, optimizer, records: checkpoints.map((c) => c.header.records) };
        elapsedBefore = checkpoints.map((c) => c.header.elapsedSeconds);
        earlierParts = checkpoints.map((c) => c.header.parts ?? []);
        opts.log?.(`  resuming ${R} stacked runs from their checkpoints after epoch ${resume.epoch} (step ${optimizer.stepCount})`);
      } else if (checkpoints.some((c) => c !== undefined)) {
        // some runs have no usable checkpoint (none, damaged, another layout; the sweep groups runs by checkpoint
        // epoch, so only an unusable file gets here): the stack starts afresh, as each of those runs alone would
        opts.log?.(`  ${checkpoints.filter((c) => !c).length} of ${R} stacked runs have no usable checkpoint: the stack trains from scratch`);
      }
    }
    const parts = earlierParts.map((earlier) => [...earlier, trainedPart(resume?.epoch ?? 0, opts.backend)]);
    // already at the pause epoch (a sweep killed after the pause, before it noted it): this process trains nothing,
    // so each record's parts are the processes that did (a checkpoint older than parts has none)
    const pausedAlready = opts.stopAfterEpoch !== undefined && resume !== undefined && resume.epoch >= opts.stopAfterEpoch;
    const recordParts = parts.map((p, r) => (pausedAlready && earlierParts[r]!.length > 0 ? earlierParts[r]! : p));
    const outcomeOf = (r: number, result: StackRunResult | TrainResult): RunOutcome => ({
      record: recordOf(configs[r]!, model, result, {
        backend: opts.backend, preset: opts.preset, resumedFromEpoch: resume?.epoch, parts: recordParts[r], wallSeconds: elapsedBefore[r]! + (performance.now() - started) / 1000, stack: { size: R, index: r },
      }),
      curve: result.epochs,
      ...('paused' in result && result.paused ? { paused: true } : {}),
    });
    const outcomes: Array<RunOutcome | undefined> = configs.map(() => undefined);
    const results: StackRunResult[] =
      pausedAlready
        ? // reported below as paused
          configs.map((_, r) => ({ epochs: resume!.records[r]!, steps: optimizer.stepCount, status: 'stopped', seconds: 0, paused: true }))
        : await trainStack(
      model,
      splits,
      configs.map((c) => ({ ...c.train, seed: c.seed })),
      {
        onStep: opts.hooks?.onStep,
        onEpoch: opts.hooks?.onEpoch,
        onRunEnd: async (r, result) => {
          outcomes[r] = outcomeOf(r, result);
          await opts.hooks?.onRunEnd?.(r, outcomes[r]!);
        },
        ...(opts.hooks?.onRunFault ? { onRunFault: opts.hooks.onRunFault } : {}),
        onCheckpoint: async (state) => {
          await opts.hooks?.onCheckpoint?.();
          if (!dirs) return;
          const elapsed = (performance.now() - started) / 1000;
          const active = state.active.flatMap((on, r) => (on ? [{ run: r, dir: dirs[r]!, runId: ids[r]!, records: state.records[r]!, elapsedSeconds: elapsedBefore[r]! + elapsed, parts: parts[r]! }] : []));
          await saveStackCheckpoints(active, { epoch: state.epoch, step: state.step, variables: model.variables, optimizer: state.optimizer, stackSize: R });
        },
      },
      { resume: resume ?? { epoch: 0, optimizer, records: configs.map(() => []) }, stopAfterEpoch: opts.stopAfterEpoch },
    );
    const final: RunOutcome[] = [];
    for (const [r, result] of results.entries()) {
      if (result.faulted) continue; // stored as failed through onRunFault
      if (!outcomes[r]) {
        outcomes[r] = outcomeOf(r, result);
        await opts.hooks?.onRunEnd?.(r, outcomes[r]!);
      }
      final.push(outcomes[r]!);
    }
    return final;
  } finally {
    optimizer.dispose();
    model.dispose();
  }
}
