// `sweep --concurrency N`: N runs at a time on this machine, each in a child process of its own (the pool of
// runners/pool.ts, which the queue worker uses too), over one GPU or several (`--gpu 0 1`: lane k on GPU k); and
// how many runs share a GPU (`--concurrency auto`), refusing a grid with a run that cannot fit before any starts.
import { execFileSync } from 'node:child_process';
import { appendFileSync } from 'node:fs';
import { DeviceLostError, type BackendChoice } from '../engine/backend.js';
import { UserInputError } from '../engine/errors.js';
import { runId, type RunConfig, type Search } from './config.js';
import { describeEstimate, gib, PROCESS_OVERHEAD_BYTES, type MemoryEstimate } from './memory.js';
import { ChildPool, ChildRunError, estimateInChildProcess } from './pool.js';
import { createProgress } from './progress.js';
import { type ResultsDir, type RunRecord } from './results.js';
import { halvingOf, planSearch, storeStops, describeSearch, type WorkItem } from './search.js';
import { MAX_ATTEMPTS, stopLines } from './sweep.js';
import { runNamer } from './summary.js';

// ---------------------------------------------------------------------------------------------------------
// `sweep --concurrency N`: N runs at a time on this machine, one child process per run

export interface ParallelSweepOptions {
  concurrency: number;
  backend: BackendChoice;
  /** GPUs for the lanes: lane k uses gpus[k % gpus.length]; none: the backend's default device. */
  gpus?: number[];
  plugins: string[];
  results: ResultsDir;
  preset?: string;
  quiet?: boolean;
  /** Each run's cap of the webgpu buffer pool (planConcurrency's poolLimitBytes). */
  poolLimitBytes?: number;
  /** A run stored as failed this many times is not retried (default MAX_ATTEMPTS). */
  maxAttempts?: number;
  /** How the learning rates are searched (default: the full grid). */
  search?: Search;
}

type Log = ReturnType<typeof createProgress>;

/** One line for a run a lane brought back. */
function outcomeLine(r: RunRecord, label: string, gpu: number | undefined): string {
  return `  ${r.status.padEnd(10)} ${label.padEnd(36)} ${r.status === 'failed' ? r.error ?? '' : `test acc ${r.testAccuracy.toFixed(3)} (${r.epochs} epochs, ${r.wallSeconds.toFixed(1)} s, ${r.msPerStep.toFixed(1)} ms/step)`}${gpu !== undefined ? `  [gpu ${gpu}]` : ''}`;
}

/**
 * A run's process brought no result: bad settings or a lost GPU stop the sweep (the error to throw once the
 * lanes are done); anything else (an exception, a crash) is reported and left for the next sweep to retry.
 */
function laneFailure(e: unknown, config: RunConfig, label: string, log: Log): Error | undefined {
  const err = e as ChildRunError;
  if (err.kind === 'user') return new UserInputError(err.message);
  if (err.kind === 'device-lost') return new DeviceLostError(err.message.replace(/^the GPU device was lost \((.*)\).*$/, '$1'), runId(config));
  log.log(`  ${'crashed'.padEnd(10)} ${label.padEnd(36)} ${err.message} (re-run the sweep to retry it)`);
  return undefined;
}

/** Train every run of the grid not yet in the results folder, `concurrency` at a time. Same records as runSweep. */
export async function runSweepParallel(configs: RunConfig[], opts: ParallelSweepOptions): Promise<RunRecord[]> {
  const { results } = opts;
  results.repair();
  const finished = results.finishedIds();
  // a run stored as failed maxAttempts times is not retried (runners/sweep.ts MAX_ATTEMPTS): faults that persist stop
  const attempts = results.failedAttempts();
  const maxAttempts = opts.maxAttempts ?? MAX_ATTEMPTS;
  const givenUp = configs.filter((c) => !finished.has(runId(c)) && (attempts.get(runId(c)) ?? 0) >= maxAttempts);
  const todo = configs.filter((c) => !finished.has(runId(c)) && (attempts.get(runId(c)) ?? 0) < maxAttempts);
  const pool = new ChildPool({ lanes: Math.min(opts.concurrency, todo.length), backend: opts.backend, gpus: opts.gpus, plugins: opts.plugins, poolLimitBytes: opts.poolLimitBytes });
  const log = createProgress('sweep', opts.quiet);
  const gpuNote = opts.gpus?.length ? `, GPUs ${opts.gpus.join(',')}` : '';
  if (!opts.quiet) log.log(`sweep: ${configs.length} runs, ${configs.length - todo.length - givenUp.length} already finished, ${todo.length} to train in ${pool.lanes} parallel processes on ${opts.backend}${gpuNote} → ${results.dir}`);
  if (!opts.quiet && givenUp.length) log.log(`  not retrying ${givenUp.length} run(s) that failed ${maxAttempts} times: --max-attempts N to try again`);
  try {
    if (halvingOf(opts.search)) {
      if (!opts.quiet) log.log(`  ${describeSearch(configs, opts.search)}`);
      await halvingLanes(configs, opts, pool, log, maxAttempts);
    } else {
      await gridLanes(todo, opts, pool, log);
    }
  } finally {
    pool.stop('SIGTERM');
    log.stop();
  }
  // in grid order, as a serial sweep stores them (children finish in any order)
  const byId = new Map(results.records().map((r) => [r.id, r]));
  return configs.map((c) => byId.get(runId(c))).filter((r): r is RunRecord => r !== undefined);
}

/** The full grid: each lane takes the next run not yet taken and trains it to its end. */
async function gridLanes(todo: RunConfig[], opts: ParallelSweepOptions, pool: ChildPool, log: Log): Promise<void> {
  let next = 0;
  let stored = 0;
  let stop: Error | undefined;
  const lane = async (k: number) => {
    const gpu = pool.gpuOf(k);
    while (!stop && next < todo.length) {
      const config = todo[next++]!;
      const label = `${config.label} d${config.model.dModel} lr${config.train.lr}`;
      try {
        const { record } = await pool.run(k, { config, preset: opts.preset, resultsDir: opts.results.dir });
        log.log(outcomeLine(record!, label, gpu));
      } catch (e) {
        stop ??= laneFailure(e, config, label, log);
      }
      stored++;
      log.update(stored, todo.length, `${stored}/${todo.length} runs`);
    }
  };
  await Promise.all(Array.from({ length: pool.lanes }, (_, k) => lane(k)));
  if (stop) throw stop;
}

/**
 * Successive halving in the pool's lanes: each lane plans from the folder (runners/search.ts), stores the runs
 * the decisions stop, and trains the first run of the plan no lane has in hand — to its rung (the child pauses
 * it there) or to its end. The plan depends only on the folder's records, so the decisions equal a serial sweep's.
 * A lane with nothing to take waits for another lane's run to come back.
 */
async function halvingLanes(configs: RunConfig[], opts: ParallelSweepOptions, pool: ChildPool, log: Log, maxAttempts: number): Promise<void> {
  const { results } = opts;
  const halving = halvingOf(opts.search)!;
  const nameOf = runNamer(configs);
  const inHand = new Set<string>();
  const blocked = new Set<string>(); // failed or crashed in this sweep: the next sweep retries them
  let stop: Error | undefined;
  let waiters: Array<() => void> = [];
  const wake = () => {
    const w = waiters;
    waiters = [];
    for (const f of w) f();
  };
  let waitingNoted = false;
  const lane = async (k: number) => {
    const gpu = pool.gpuOf(k);
    while (!stop) {
      const plan = planSearch(configs, results, halving, { maxAttempts, blocked });
      const stopped = storeStops(plan.stops, results, halving);
      if (!opts.quiet) for (const line of stopLines(stopped, nameOf)) log.log(line);
      const item: WorkItem | undefined = plan.work.find((w) => !inHand.has(w.id));
      if (!item) {
        if (inHand.size === 0) {
          if (plan.waitingOnFailed && !opts.quiet && !waitingNoted) log.log(`  ${plan.waitingOnFailed} group(s) wait at a rung for a run that failed in this sweep: re-run the sweep to retry it and go on`);
          waitingNoted = true;
          wake();
          return;
        }
        await new Promise<void>((r) => waiters.push(r));
        continue;
      }
      inHand.add(item.id);
      const config = item.config;
      const label = `${nameOf(config)}${item.target !== undefined ? ` → epoch ${item.target}` : ''}`;
      try {
        const { record, paused } = await pool.run(k, { config, preset: opts.preset, resultsDir: results.dir, search: halving, ...(item.target !== undefined ? { pauseAt: item.target } : {}) });
        const r = record!;
        if (paused) log.log(`  ${'paused'.padEnd(10)} ${label.padEnd(36)} best val acc ${r.validationAccuracy.toFixed(3)} after ${r.epochs} epochs${gpu !== undefined ? `  [gpu ${gpu}]` : ''}`);
        else {
          if (r.status === 'failed') blocked.add(item.id);
          log.log(outcomeLine(r, label, gpu));
        }
      } catch (e) {
        blocked.add(item.id);
        stop ??= laneFailure(e, config, label, log);
      } finally {
        inHand.delete(item.id);
        wake();
      }
    }
  };
  await Promise.all(Array.from({ length: pool.lanes }, (_, k) => lane(k)));
  if (stop) throw stop;
}

// ---------------------------------------------------------------------------------------------------------
// How many runs share a GPU (`--concurrency auto`), and which runs cannot fit it (runners/memory.ts estimates)

/** At most this many runs per GPU: several processes time-slice one GPU (8 gave ~4.6x one; bench/RESULTS.md). */
export const MAX_RUNS_PER_GPU = 8;
/**
 * The fraction of a GPU's free memory that the runs are planned into; the rest absorbs the estimate's error,
 * Dawn's allocator granularity and other processes' growth.
 */
export const GPU_MEMORY_SAFETY = 0.9;

export type ConcurrencyRequest = 'auto' | number;

/** `--concurrency auto|N`, checked. */
export function parseConcurrency(value: unknown): ConcurrencyRequest {
  if (value === undefined || value === 'auto') return 'auto';
  const n = typeof value === 'number' ? value : /^\s*\d+\s*$/.test(String(value)) ? Number(value) : NaN;
  if (!Number.isInteger(n) || n < 1) throw new UserInputError(`--concurrency expects auto or a whole number ≥ 1, got ${String(value)}`);
  return n;
}

/** Free and total memory of the GPU the runs will use, and where the numbers come from. */
export interface GpuMemory {
  freeBytes: number;
  totalBytes: number;
  /** e.g. "GPU 0 (nvidia-smi)" or "--gpu-memory 80". */
  source: string;
}

const MIB = 2 ** 20;
const GIB = 2 ** 30;

/** `nvidia-smi --query-gpu=memory.free,memory.total --format=csv,noheader,nounits` (MiB) → bytes; undefined when unreadable. */
export function parseNvidiaSmiMemory(csv: string): { freeBytes: number; totalBytes: number } | undefined {
  const line = csv.split('\n').find((l) => l.trim());
  const m = line && /^\s*(\d+(?:\.\d+)?)\s*,\s*(\d+(?:\.\d+)?)\s*$/.exec(line);
  if (!m) return undefined;
  return { freeBytes: Number(m[1]) * MIB, totalBytes: Number(m[2]) * MIB };
}

function nvidiaSmiMemory(index: number): string | undefined {
  try {
    return execFileSync('nvidia-smi', ['--query-gpu=memory.free,memory.total', '--format=csv,noheader,nounits', '-i', String(index)], { encoding: 'utf8', timeout: 15_000, stdio: ['ignore', 'pipe', 'ignore'] });
  } catch {
    return undefined;
  }
}

export interface GpuMemoryOptions {
  backend: BackendChoice;
  /** --gpu indices (the runs' GPUs); none: GPU 0. */
  gpus?: number[];
  /** --gpu-memory GiB: the memory the runs may use on each GPU, instead of asking nvidia-smi. */
  gpuMemoryGiB?: number;
  /** nvidia-smi's memory line for a GPU (tests replace it). */
  query?: (index: number) => string | undefined;
}

/**
 * The memory the runs can plan on: --gpu-memory when given (any backend); else, for the GPU backends that share
 * a GPU between processes (webgpu, auto), the least free memory among the runs' GPUs from nvidia-smi; else
 * undefined (then `auto` means 1 run at a time and nothing is refused).
 */
export function resolveGpuMemory(opts: GpuMemoryOptions): GpuMemory | undefined {
  if (opts.gpuMemoryGiB !== undefined) {
    if (!(Number.isFinite(opts.gpuMemoryGiB) && opts.gpuMemoryGiB > 0)) throw new UserInputError(`--gpu-memory expects the GiB the runs may use per GPU (a number > 0), got ${opts.gpuMemoryGiB}`);
    const bytes = opts.gpuMemoryGiB * GIB;
    return { freeBytes: bytes, totalBytes: bytes, source: `--gpu-memory ${opts.gpuMemoryGiB}` };
  }
  if (opts.backend !== 'webgpu' && opts.backend !== 'auto') return undefined;
  const query = opts.query ?? nvidiaSmiMemory;
  let least: GpuMemory | undefined;
  for (const index of opts.gpus?.length ? [...new Set(opts.gpus)] : [0]) {
    const parsed = parseNvidiaSmiMemory(query(index) ?? '');
    if (!parsed) return undefined;
    if (!least || parsed.freeBytes < least.freeBytes) least = { ...parsed, source: `GPU ${index} (nvidia-smi)` };
  }
  return least;
}

/** How a grid shares its GPUs. */
export interface ConcurrencyPlan {
  /** Runs at a time in all (over every GPU). */
  lanes: number;
  perGpu: number;
  /** Memory each run may use (usable free memory / runs per GPU); undefined when the GPU's memory is unknown. */
  shareBytes?: number;
  /** Cap of each run's webgpu buffer pool: its share less the process overhead. */
  poolLimitBytes?: number;
  /** The largest estimated run of the grid. */
  largest?: MemoryEstimate;
  /** One line for the sweep's log. */
  note: string;
}

/**
 * Choose runs per GPU from the GPU's free memory and the grid's largest estimate, or check an explicit N; refuse
 * (UserInputError, before any run starts) a grid with a run that cannot fit the GPU or its lane's share.
 */
export function planConcurrency(request: ConcurrencyRequest, estimates: MemoryEstimate[], memory: GpuMemory | undefined, gpuCount = 1): ConcurrencyPlan {
  const gpus = Math.max(1, gpuCount);
  if (!memory || estimates.length === 0) {
    const lanes = request === 'auto' ? 1 : request;
    return { lanes, perGpu: Math.ceil(lanes / gpus), note: request === 'auto' ? 'concurrency auto: the GPU memory is unknown (no nvidia-smi; give --gpu-memory GiB): 1 run at a time' : `${lanes} runs at a time` };
  }
  const usable = memory.freeBytes * GPU_MEMORY_SAFETY;
  const largest = estimates.reduce((a, b) => (b.total > a.total ? b : a));
  const free = `${memory.source} has ${gib(memory.freeBytes)} free of ${gib(memory.totalBytes)} (${gib(usable)} usable)`;
  if (largest.total > usable) {
    const more = estimates.filter((e) => e.total > usable).length;
    throw new UserInputError(`run ${largest.run} (${largest.id}) needs an estimated ${describeEstimate(largest)} of GPU memory, but ${free}${more > 1 ? `; ${more - 1} other run(s) of the grid do not fit either` : ''}: lower its batchSize/evalBatchSize or d_model, or free the GPU`);
  }
  const fits = Math.min(MAX_RUNS_PER_GPU, Math.max(1, Math.floor(usable / largest.total)));
  const perGpu = request === 'auto' ? fits : Math.ceil(request / gpus);
  const lanes = request === 'auto' ? fits * gpus : request;
  const shareBytes = usable / perGpu;
  if (largest.total > shareBytes) {
    throw new UserInputError(`--concurrency ${request}: run ${largest.run} (${largest.id}) needs an estimated ${describeEstimate(largest)} of GPU memory, but each of the ${perGpu} runs sharing a GPU gets ${gib(shareBytes)} (${free}): use --concurrency auto (${fits} per GPU) or fewer`);
  }
  return {
    lanes,
    perGpu,
    shareBytes,
    poolLimitBytes: Math.max(0, shareBytes - PROCESS_OVERHEAD_BYTES),
    largest,
    note: `memory: largest run ${largest.run} ≈ ${gib(largest.total)} (${largest.method}); ${free} → ${perGpu} run(s) per GPU${request === 'auto' ? ` (auto, at most ${MAX_RUNS_PER_GPU})` : ''}, ${gib(shareBytes)} each`,
  };
}

/** Estimates of a grid's runs, computed in a child process (runners/pool.ts: the probe must not share a training process). */
async function estimateInChild(configs: RunConfig[], plugins: string[] = []): Promise<MemoryEstimate[]> {
  try {
    return await estimateInChildProcess(configs, plugins);
  } catch (e) {
    const err = e as ChildRunError;
    throw err.kind === 'user' ? new UserInputError(err.message) : new Error(`estimating the runs' memory failed: ${err.message}`);
  }
}

/** Estimate every run of a grid (when the GPU's memory is known) and plan its concurrency: the sweep's entry point. */
export async function planSweepConcurrency(configs: RunConfig[], request: ConcurrencyRequest, memory: GpuMemory | undefined, gpuCount = 1, plugins: string[] = []): Promise<ConcurrencyPlan> {
  const estimates = memory ? await estimateInChild(configs, plugins) : [];
  const memoryLog = process.env.RECALLBENCH_MEMORY_LOG;
  if (memoryLog) for (const e of estimates) appendFileSync(memoryLog, `${JSON.stringify({ estimate: true, ...e })}\n`);
  return planConcurrency(request, estimates, memory, gpuCount);
}
