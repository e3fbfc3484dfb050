// A results folder, shared safely by several sweep processes and crash-safe under SIGKILL:
//   runs.jsonl        one line per stored run, appended with one write(2) (O_APPEND) under the results lock
//   runs.csv          rewritten from runs.jsonl through a temporary file + rename, under the same lock
//   curves/<id>.json  per-epoch metrics (temporary file + rename)
//   checkpoints/<id>/ the last epoch checkpoint of a run in progress (runners/checkpoint.ts), removed once stored
//   locks/<id>.lock   held by the process training that run (runners/lock.ts); locks/results.lock for appends
// curves/, checkpoints/ and locks/ are made when first needed (tryLock and saveCheckpoint make their folders), and
// tidy() removes checkpoints/ and locks/ again once empty, so a finished sweep leaves no empty folders behind.
// A half-written line (a kill mid-write) is never read as a result: only complete lines that parse count, and
// the next writer cuts the torn tail off before appending, so it cannot glue itself to the next record.
import { closeSync, constants, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, rmdirSync, statSync, ftruncateSync, unlinkSync, writeSync, readdirSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'csv-stringify/sync';
import { z } from 'zod';
import { UserInputError } from '../engine/errors.js';
import type { EpochRecord } from '../engine/train.js';
import type { ValidityMetrics } from '../engine/records.js';
import type { RunConfig } from './config.js';
import { faultPoint } from './faults.js';
import { removeDeadTempFiles, removeStaleLocks, tryLock, withLock, type FileLock } from './lock.js';

/** A stored JSON number: NaN and ±Inf are written as null by JSON.stringify; read them back as NaN (never as 0). */
const stored = z.union([z.number(), z.null()]).transform((v) => v ?? NaN);
const bothConventions = z.object({ measured: stored, paper: stored });
/** runners/provenance.ts Provenance: the code, fast-path levers and driver that trained a run (or a part of it). */
const provenanceSchema = z.object({ commit: z.string(), dirty: z.boolean().optional(), fastPath: z.record(z.string(), z.boolean()).optional(), dawnToggles: z.array(z.string()).optional(), driver: z.string().optional(), fixes: z.array(z.string()).optional() });

/**
 * One stored run: the single schema every reader (results, sweep, plot, report, analysis, verify) parses
 * runs.jsonl with. Unknown keys pass through (records written by a newer version stay readable); the config is
 * checked only for shape here — it was resolved by runConfigSchema when the run was made, and re-parsing it would
 * fill defaults that did not exist then.
 */
const runRecordSchema = z
  .object({
    id: z.string().min(1),
    label: z.string(),
    preset: z.string().optional(),
    config: z.custom<RunConfig>((v) => !!v && typeof v === 'object' && 'model' in v && 'data' in v && 'train' in v, 'a run config'),
    seed: z.number(),
    params: stored,
    stateFloats: bothConventions,
    stateBytes: bothConventions,
    /** Epoch (1-based) with the best validation accuracy; its test accuracy is the run's result. */
    bestEpoch: z.number(),
    validationAccuracy: stored,
    testAccuracy: stored,
    finalTestAccuracy: stored,
    /** Test accuracy per slice at the best epoch. */
    testSlices: z.record(z.string(), stored),
    /**
     * Set-valued targets (regbench) at the best epoch's test split: validity and total variation averaged and by
     * the number of complete in-context strings seen (the curve per position stays in curves/<id>.json). Absent
     * for the single-label tasks and in records made before it existed.
     */
    testValidity: z
      .object({
        validity: stored,
        tv: stored,
        positions: z.number(),
        delimiterValidity: z.number().optional(),
        byStrings: z.object({ validity: z.array(z.number().nullable()), tv: z.array(z.number().nullable()), positions: z.array(z.number()) }),
      })
      .optional(),
    epochs: z.number(),
    steps: z.number(),
    /** 'stopped': successive halving stopped it at a rung (`search` says which); its metrics are its best so far. */
    status: z.enum(['done', 'early-stop', 'diverged', 'failed', 'stopped']),
    /** The first optimisation step (1-based) whose loss was NaN or ±Inf. */
    divergedAtStep: z.number().optional(),
    /** Why a 'failed' run failed (one line). */
    error: z.string().optional(),
    /** Epochs restored from a checkpoint (the run was interrupted and resumed), if any. */
    resumedFromEpoch: z.number().optional(),
    /**
     * Trained in a stack (engine/stack.ts: runs that differ only in learning rate, as one model): its size and this
     * run's place in it. Its numbers are the run's own; its wall time and ms/step are the stack's.
     */
    stack: z.object({ size: z.number(), index: z.number() }).optional(),
    wallSeconds: stored,
    msPerStep: stored,
    backend: z.string(),
    device: z.string(),
    versions: z.record(z.string(), z.string()),
    /** The code, fast-path levers and driver that produced it (absent in records made before 2026-11-28). */
    provenance: provenanceSchema.optional(),
    /**
     * A resumed run's processes in order, the finishing one last (runners/provenance.ts TrainedPart): the epochs
     * from each `fromEpoch` were trained by that code, those levers, that device (absent before 2026-11-30).
     */
    parts: z.array(z.object({ fromEpoch: z.number(), backend: z.string(), device: z.string(), provenance: provenanceSchema })).optional(),
    /**
     * Trained under successive halving (runners/search.ts): its eta and rungs (the rung epochs below this run's
     * epochs); a stopped run also says at which rung (1-based) and epoch it stopped, and its rank there (1 = best) of
     * how many runs.
     */
    search: z
      .object({
        kind: z.literal('halving'),
        eta: z.number(),
        rungs: z.array(z.number()),
        /** The tie margin of its decisions (absent: strict halving). */
        keepWithin: z.number().optional(),
        /** Its decisions stopped a solved group's other runs (absent: they did not). */
        stopOnSolved: z.boolean().optional(),
        stoppedAtRung: z.number().optional(),
        rungEpoch: z.number().optional(),
        rank: z.number().optional(),
        of: z.number().optional(),
      })
      .optional(),
    /** host:pid of the process that trained it. */
    worker: z.string().optional(),
    finishedAt: z.string(),
  })
  .passthrough();

export type RunRecord = z.output<typeof runRecordSchema>;

/** What a run record keeps of a split's set-valued metrics: all but the per-position curve. */
export function summariseValidity(v: ValidityMetrics): NonNullable<RunRecord['testValidity']> {
  return { validity: v.validity, tv: v.tv, positions: v.positions, ...(v.delimiterValidity !== undefined ? { delimiterValidity: v.delimiterValidity } : {}), byStrings: v.byStrings };
}

/** A parsed record, or undefined for a line that is not one (a foreign line, or a record of another shape). */
export function parseRunRecord(value: unknown): RunRecord | undefined {
  const parsed = runRecordSchema.safeParse(value);
  return parsed.success ? parsed.data : undefined;
}

/** The records of a results folder's runs.jsonl, one per run id (dedupeRecords). */
export function readRecords(dir: string): RunRecord[] {
  return dedupeRecords(readJsonl<unknown>(join(dir, 'runs.jsonl')).map(parseRunRecord).filter((r): r is RunRecord => r !== undefined));
}

/** Training curve of a run (curves/<id>.json), or undefined when absent or unreadable. */
export function readCurve(dir: string, id: string): EpochRecord[] | undefined {
  const path = join(dir, 'curves', `${id}.json`);
  if (!existsSync(path)) return undefined;
  try {
    const parsed = JSON.parse(readFileSync(path, 'utf8')) as unknown;
    return Array.isArray(parsed) ? (parsed as EpochRecord[]) : undefined;
  } catch {
    return undefined;
  }
}

export const WORKER = `${hostname()}:${process.pid}`;

/** Write a file whole or not at all: a temporary file (fsync'd) renamed over the target. */
export function atomicWrite(path: string, text: string | Uint8Array, beforeRename?: () => void): void {
  const tmp = `${path}.tmp-${process.pid}`;
  const fd = openSync(tmp, 'w');
  try {
    writeSync(fd, typeof text === 'string' ? Buffer.from(text) : text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  beforeRename?.();
  renameSync(tmp, path);
}

/** Complete, parseable lines of a JSONL file (a torn last line is ignored). */
export function readJsonl<T>(path: string): T[] {
  if (!existsSync(path)) return [];
  const text = readFileSync(path, 'utf8');
  const lines = text.split('\n');
  if (!text.endsWith('\n')) lines.pop(); // an unterminated last line was cut by a kill
  const out: T[] = [];
  for (const line of lines) {
    if (!line.trim()) continue;
    try {
      out.push(JSON.parse(line) as T);
    } catch {
      // torn or foreign line: not a result
    }
  }
  return out;
}

/**
 * One record per run id, in the order they were stored: the first successful record of an id (two records of
 * one id can only come from a foreign writer), else its latest failure (a failed run is retried by resume).
 */
/** One record per run id: the first success, else the last failure (a retried run's success wins). */
export function dedupeRecords(all: RunRecord[]): RunRecord[] {
  const chosen = new Map<string, { record: RunRecord; at: number }>();
  all.forEach((record, at) => {
    const prev = chosen.get(record.id);
    if (!prev || (prev.record.status === 'failed' && (record.status !== 'failed' || at > prev.at))) chosen.set(record.id, { record, at });
  });
  return [...chosen.values()].sort((a, b) => a.at - b.at).map((c) => c.record);
}

export class ResultsDir {
  readonly runsJsonl: string;
  readonly runsCsv: string;
  readonly curvesDir: string;
  readonly checkpointsDir: string;
  readonly locksDir: string;
  private readonly resultsLock: string;

  constructor(readonly dir: string) {
    this.runsJsonl = join(dir, 'runs.jsonl');
    this.runsCsv = join(dir, 'runs.csv');
    this.curvesDir = join(dir, 'curves');
    this.checkpointsDir = join(dir, 'checkpoints');
    this.locksDir = join(dir, 'locks');
    this.resultsLock = join(this.locksDir, 'results.lock');
    const probe = join(dir, `.write-probe-${process.pid}`);
    try {
      mkdirSync(dir, { recursive: true });
      // access(W_OK) says yes to root on a read-only mount: write something to be sure
      closeSync(openSync(probe, constants.O_CREAT | constants.O_WRONLY));
      unlinkSync(probe);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code ?? 'error';
      throw new UserInputError(`results folder ${dir} is not writable (${code}): pass --out a folder you can write to`);
    }
  }

  /** All stored records, one per id (see dedupeRecords). */
  records(): RunRecord[] {
    return readRecords(this.dir);
  }

  /** Ids of runs that need no more training (done, early-stop, diverged, stopped; not failed: those are retried). */
  finishedIds(): Set<string> {
    return new Set(this.records().filter((r) => r.status !== 'failed').map((r) => r.id));
  }

  /** How many times each run id was stored as failed (every attempt's line stays in runs.jsonl). */
  failedAttempts(): Map<string, number> {
    const counts = new Map<string, number>();
    for (const r of readJsonl<unknown>(this.runsJsonl).map(parseRunRecord)) if (r?.status === 'failed') counts.set(r.id, (counts.get(r.id) ?? 0) + 1);
    return counts;
  }

  /**
   * Remove checkpoints/ and locks/ when they are empty (a sweep that finished). A folder another process is using
   * is not empty and stays; one emptied under a process about to lock is made again (withResultsLock, tryLock).
   */
  tidy(): void {
    for (const d of [this.checkpointsDir, this.locksDir]) {
      try {
        rmdirSync(d);
      } catch {
        // absent, or in use: not ours to remove
      }
    }
  }

  /**
   * withLock on the results lock, making locks/ first; should another process's tidy() remove the empty folder
   * between that and taking the lock, take it again (only a failure to take the lock is retried, never `fn`).
   */
  private withResultsLock<T>(fn: () => T): T {
    for (let attempt = 0; ; attempt++) {
      mkdirSync(this.locksDir, { recursive: true });
      let entered = false;
      try {
        return withLock(this.resultsLock, () => {
          entered = true;
          return fn();
        });
      } catch (e) {
        if (entered || (e as NodeJS.ErrnoException).code !== 'ENOENT' || attempt >= 4) throw e;
      }
    }
  }

  checkpointDir(id: string): string {
    return join(this.checkpointsDir, id);
  }

  /** The lock of one run, or undefined when a live process is training it. */
  tryLockRun(id: string): FileLock | undefined {
    for (let attempt = 0; ; attempt++) {
      try {
        return tryLock(join(this.locksDir, `${id}.lock`));
      } catch (e) {
        // locks/ removed by another process's tidy() between tryLock's mkdir and its write: once more
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT' || attempt >= 4) throw e;
      }
    }
  }

  runLockPath(id: string): string {
    return join(this.locksDir, `${id}.lock`);
  }

  /**
   * Store a run: its curve, one line in runs.jsonl, runs.csv rewritten — all under the results lock. A
   * successful record of a run already stored is not appended again (returns false).
   */
  append(record: RunRecord, curve: EpochRecord[]): boolean {
    return this.withResultsLock(() => {
      this.cutTornTail();
      if (record.status !== 'failed' && this.finishedIds().has(record.id)) return false;
      mkdirSync(this.curvesDir, { recursive: true });
      atomicWrite(join(this.curvesDir, `${record.id}.json`), JSON.stringify(curve));
      const line = `${JSON.stringify(record)}\n`;
      faultPoint('append', () => {
        // the crash this simulates: the process dies with half of the line written
        const fd = openSync(this.runsJsonl, 'a');
        writeSync(fd, line.slice(0, Math.floor(line.length / 2)));
        closeSync(fd);
      });
      const fd = openSync(this.runsJsonl, 'a');
      try {
        // one write(2) with O_APPEND (a regular file takes it whole); should the kernel take less, the rest
        // follows at once — still under the results lock, so nothing can come between
        const bytes = Buffer.from(line);
        for (let at = 0; at < bytes.length; ) at += writeSync(fd, bytes, at);
      } finally {
        closeSync(fd);
      }
      this.writeCsvUnlocked(() => faultPoint('csv'));
      return true;
    });
  }

  /**
   * Bring the folder back to a consistent state after a crash: cut a torn last line of runs.jsonl, delete
   * temporary files of dead writers, remove checkpoints of stored runs, and rewrite runs.csv from runs.jsonl.
   */
  repair(): void {
    this.withResultsLock(() => {
      this.cutTornTail();
      for (const d of [this.dir, this.curvesDir, this.locksDir]) removeDeadTempFiles(d);
      removeStaleLocks(this.locksDir);
      const finished = this.finishedIds();
      for (const id of existsSync(this.checkpointsDir) ? readdirSync(this.checkpointsDir) : []) {
        if (finished.has(id)) rmSync(this.checkpointDir(id), { recursive: true, force: true });
        else removeDeadTempFiles(this.checkpointDir(id));
      }
      this.writeCsvUnlocked();
    });
  }

  writeCsv(): void {
    this.withResultsLock(() => this.writeCsvUnlocked());
  }

  private writeCsvUnlocked(beforeRename?: () => void): void {
    atomicWrite(this.runsCsv, recordsToCsv(this.records()), beforeRename);
  }

  /** Truncate runs.jsonl after its last newline (a line cut by a kill); call with the results lock held. */
  private cutTornTail(): void {
    if (!existsSync(this.runsJsonl)) return;
    const size = statSync(this.runsJsonl).size;
    if (size === 0) return;
    const text = readFileSync(this.runsJsonl);
    if (text[text.length - 1] === 0x0a) return;
    const keep = text.lastIndexOf(0x0a) + 1;
    const fd = openSync(this.runsJsonl, 'r+');
    try {
      ftruncateSync(fd, keep);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  }
}

function recordsToCsv(records: RunRecord[]): string {
  const sliceKeys = [...new Set(records.flatMap((r) => Object.keys(r.testSlices ?? {})))].sort();
  // set-valued targets (regbench): validity and total variation, only in folders that have them
  const withValidity = records.some((r) => r.testValidity);
  const header = [
    'id', 'label', 'task', 'd_model', 'n_layers', 'mixers', 'lr', 'seed', 'params',
    'state_floats_measured', 'state_floats_paper', 'state_bytes_measured', 'state_bytes_paper',
    'validation_accuracy', 'test_accuracy', 'final_test_accuracy', 'best_epoch', 'epochs', 'steps', 'status',
    'diverged_at_step', 'stopped_at_rung', 'error', 'wall_seconds', 'ms_per_step', 'backend', 'device', ...sliceKeys.map((k) => `test:${k}`),
    ...(withValidity ? ['test_validity', 'test_tv'] : []),
  ];
  const rows = records.map((r) => [
    r.id, r.label, r.config.data.task, r.config.model.dModel, r.config.model.nLayers,
    r.config.model.layers.map((l) => l.mixer).join('+'), r.config.train.lr, r.seed, r.params,
    r.stateFloats.measured, r.stateFloats.paper, r.stateBytes.measured, r.stateBytes.paper,
    r.validationAccuracy, r.testAccuracy, r.finalTestAccuracy, r.bestEpoch, r.epochs, r.steps, r.status,
    r.divergedAtStep ?? '', r.search?.stoppedAtRung ?? '', r.error ?? '', r.wallSeconds, r.msPerStep, r.backend, r.device, ...sliceKeys.map((k) => r.testSlices?.[k] ?? ''),
    ...(withValidity ? [r.testValidity?.validity ?? '', r.testValidity?.tv ?? ''] : []),
  ]);
  return stringify([header, ...rows]);
}
