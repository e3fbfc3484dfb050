// `sweep --concurrency N`: N runs at a time on this machine, each in a child process of its own (the pool of
// runners/pool.ts, which the queue worker uses too), over one GPU or several (`--gpu 0 1`: lane k on GPU k); and
// how many runs share a GPU (`--concurrency auto`: packed by their memory estimates, runs larger than a GPU left out
// by name; an explicit N: equal shares, or packed by the estimates as auto's when some run is larger than a share; a
// run larger than a GPU refuses the grid before any starts).
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
import { checkpointEpochOf, MAX_ATTEMPTS, stopLines } from './sweep.js';
import { passStack, stackGroups, type StackSize } from './stack.js';
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
  /** Pack runs on each GPU by their estimates (planConcurrency's budget: --concurrency auto, or N with a run larger than a share). */
  budget?: ConcurrencyPlan['budget'];
  /** A run stored as failed this many times is not retried (default MAX_ATTEMPTS). */
  maxAttempts?: number;
  /** How the learning rates are searched (default: the full grid). */
  search?: Search;
  /**
   * Train runs that differ only in learning rate as stacks of up to this many, each stack in one child process
   * (runners/stack.ts; default 1: each run alone), or each run's own most (StackSize). Records are each run's alone.
   */
  stack?: StackSize;
}

type Log = ReturnType<typeof createProgress>;

/** What a lane's label adds for the other runs of its stack: a crash names every run it took down. */
const stackedWith = (others: RunConfig[]) => (others.length ? ` (stacked with ${others.map((c) => `lr${c.train.lr}`).join(', ')})` : '');

/** One line for a run a lane brought back. */
function outcomeLine(r: RunRecord, label: string, gpu: number | undefined): string {
  return `  ${r.status.padEnd(10)} ${label.padEnd(36)} ${r.status === 'failed' ? r.error ?? '' : `test acc ${r.testAccuracy.toFixed(3)} (${r.epochs} epochs, ${r.wallSeconds.toFixed(1)} s, ${r.msPerStep.toFixed(1)} ms/step)`}${gpu !== undefined ? `  [gpu ${gpu}]` : ''}`;
}

/**
 * A process whose exit takes longer than this after its runs reported gets a line: the lane waits for it (a GPU
 * backend's teardown), so the line says where a sweep's lane time goes between its runs.
 */
const SLOW_EXIT_S = 5;

/**
 * RECALLBENCH_LANE_TIMES=1 (bench/campaign_stretch.sh sets it): a line per lane event with the seconds since this
 * process started — `start` (a job handed to a new process), `backend` (its backend up: it builds data and model, then
 * trains), `reported` (a run's outcome back), `closed` (the process gone), `waiting` (nothing this lane may take now),
 * `done` (the lane ends); a lane woken with still nothing to take says `waiting` once. bench/lane_times.ts reads them
 * back from a sweep log: where the lanes' time went.
 */
function laneClock(log: Log): (lane: number, event: string) => void {
  if (process.env.RECALLBENCH_LANE_TIMES !== '1') return () => {};
  const last = new Map<number, string>();
  return (lane, event) => {
    if (event === 'waiting' && last.get(lane) === 'waiting') return;
    last.set(lane, event);
    log.log(`  lane ${lane} at ${(performance.now() / 1000).toFixed(1)} s: ${event}`);
  };
}

/** The line for a process slow to exit after reporting, or undefined. */
function slowExitLine(exitSeconds: number | undefined, label: string, gpu: number | undefined): string | undefined {
  if (exitSeconds === undefined || exitSeconds < SLOW_EXIT_S) return undefined;
  return `  ${'exited'.padEnd(10)} ${label.padEnd(36)} ${exitSeconds.toFixed(1)} s after its runs reported (the lane waited for the process's teardown)${gpu !== undefined ? `  [gpu ${gpu}]` : ''}`;
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

/** Lanes with nothing they may take now wait here until a run comes back (memory freed, or a rung decided). */
class LaneWaiters {
  private waiting: Array<() => void> = [];
  wait(): Promise<void> {
    return new Promise<void>((r) => this.waiting.push(r));
  }
  wake(): void {
    const w = this.waiting;
    this.waiting = [];
    for (const f of w) f();
  }
}

/**
 * A lane's pick under a memory budget: the first candidate that fits its GPU now. One that does not lets later ones
 * start ahead of it, but only `limit` times (the lanes): then nothing past it is taken until it fits — else a large
 * run could wait for the grid's last small one.
 */
class FirstFitting<K> {
  private readonly passedOver = new Map<K, number>();
  constructor(private readonly limit: number) {}
  /** Candidates as [key, candidate], in order (a generator: each built only when reached). */
  pick<C>(candidates: Iterable<[K, C]>, fits: (c: C) => boolean): C | undefined {
    const skipped: K[] = [];
    for (const [key, c] of candidates) {
      if (fits(c)) {
        for (const s of skipped) this.passedOver.set(s, (this.passedOver.get(s) ?? 0) + 1);
        return c;
      }
      if ((this.passedOver.get(key) ?? 0) >= this.limit) return undefined; // it waits for room
      skipped.push(key);
    }
    return undefined;
  }
}

/** What the lanes need of the pool (ChildPool; a stand-in in tests/concurrency.budget.test.ts). */
export type Lanes = Pick<ChildPool, 'lanes' | 'gpuOf' | 'run'>;

/** The memory key of lane k's GPU (no --gpu: the one default device). */
const gpuKey = (pool: Lanes, lane: number) => pool.gpuOf(lane) ?? 0;

/**
 * The full grid: each lane takes the first run not yet taken — under a memory budget, the first that fits its
 * GPU now (a larger run waits for memory while smaller ones go ahead, but only as many as there are lanes: then the
 * lanes take nothing past it until it fits, or it could wait for the grid's last small run) — and trains it to its end.
 */
export async function gridLanes(todo: RunConfig[], opts: ParallelSweepOptions, pool: Lanes, log: Log): Promise<void> {
  const budget = opts.budget ? new MemoryBudget(opts.budget) : undefined;
  // with --stack, runs that differ only in lr (at the same checkpoint epoch) go to one lane as one stack
  const units = stackGroups(todo, opts.stack, checkpointEpochOf(opts.results));
  const taken = new Set<number>();
  const picker = new FirstFitting<number>(pool.lanes);
  const waiters = new LaneWaiters();
  let stored = 0;
  let stop: Error | undefined;
  const clock = laneClock(log);
  const lane = async (k: number) => {
    const gpu = pool.gpuOf(k);
    const key = gpuKey(pool, k);
    while (!stop && taken.size < units.length) {
      const untaken = function* (): Generator<[number, number]> {
        for (let j = 0; j < units.length; j++) if (!taken.has(j)) yield [j, j];
      };
      const next = picker.pick(untaken(), (j) => !budget || budget.fits(key, units[j]!.map(runId)));
      if (next === undefined) {
        clock(k, 'waiting');
        await waiters.wait();
        continue;
      }
      taken.add(next);
      const [config, ...stackWith] = units[next]!;
      const ids = units[next]!.map(runId);
      budget?.reserve(key, ids);
      const labelOf = (c: RunConfig) => `${c.label} d${c.model.dModel} lr${c.train.lr}`;
      const label = `${labelOf(config!)}${stackedWith(stackWith)}`;
      clock(k, `start ${label}`);
      try {
        // each run's line as its process reports it, not when the process exits: a stack stored and reported before
        // a stop (SIGINT) that comes during its process's teardown is in the log too
        const { exitSeconds } = await pool.run(k, { config: config!, ...(stackWith.length ? { stackWith } : {}), preset: opts.preset, resultsDir: opts.results.dir, ...(budget ? { poolLimitBytes: budget.poolLimit(ids) } : {}) }, {
          onBackend: () => clock(k, 'backend'),
          onOutcome: (r) => {
            clock(k, `reported ${labelOf(r.record.config)}`);
            log.log(outcomeLine(r.record, labelOf(r.record.config), gpu));
          },
        });
        const slow = slowExitLine(exitSeconds, label, gpu);
        if (slow) log.log(slow);
      } catch (e) {
        stop ??= laneFailure(e, config!, label, log);
      } finally {
        clock(k, 'closed');
        budget?.release(key, ids);
        waiters.wake();
      }
      stored += ids.length;
      log.update(stored, todo.length, `${stored}/${todo.length} runs`);
    }
    clock(k, 'done');
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
  const picker = new FirstFitting<string>(pool.lanes);
  const blocked = new Set<string>(); // failed or crashed in this sweep: the next sweep retries them
  const budget = opts.budget ? new MemoryBudget(opts.budget) : undefined;
  let stop: Error | undefined;
  const waiters = new LaneWaiters();
  let waitingNoted = false;
  const clock = laneClock(log);
  const lane = async (k: number) => {
    const gpu = pool.gpuOf(k);
    const key = gpuKey(pool, k);
    while (!stop) {
      const plan = planSearch(configs, results, halving, { maxAttempts, blocked });
      const stopped = storeStops(plan.stops, results, halving);
      if (!opts.quiet) for (const line of stopLines(stopped, nameOf)) log.log(line);
      // the plan's first run no lane has in hand — with --stack, and the plan's other runs of its group for the same
      // pass (same target, same checkpoint epoch) as one stack — that fits this lane's GPU now (an empty GPU fits any);
      // a run that does not fit lets later ones go ahead as many times as there are lanes, then waits for room (FirstFitting)
      const free = plan.work.filter((w) => !inHand.has(w.id));
      const epochOf = checkpointEpochOf(results);
      const stacks = function* (): Generator<[string, WorkItem[]]> {
        for (const w of free) yield [w.id, passStack(free, w, opts.stack, epochOf)]; // built only until one fits
      };
      const unit = picker.pick(stacks(), (candidate) => !budget || budget.fits(key, candidate.map((c) => c.id)));
      if (!unit) {
        if (inHand.size === 0) {
          if (plan.waitingOnFailed && !opts.quiet && !waitingNoted) log.log(`  ${plan.waitingOnFailed} group(s) wait at a rung for a run that failed in this sweep: re-run the sweep to retry it and go on`);
          waitingNoted = true;
          waiters.wake();
          break;
        }
        clock(k, 'waiting');
        await waiters.wait();
        continue;
      }
      const item = unit[0]!;
      const ids = unit.map((w) => w.id);
      for (const id of ids) inHand.add(id);
      budget?.reserve(key, ids);
      const config = item.config;
      const labelOf = (c: RunConfig) => `${nameOf(c)}${item.target !== undefined ? ` → epoch ${item.target}` : ''}`;
      const label = `${labelOf(config)}${stackedWith(unit.slice(1).map((w) => w.config))}`;
      clock(k, `start ${label}`);
      try {
        // each run's line as its process reports it (see gridLanes)
        const { exitSeconds } = await pool.run(k, {
          config, ...(unit.length > 1 ? { stackWith: unit.slice(1).map((w) => w.config) } : {}), preset: opts.preset, resultsDir: results.dir, search: halving,
          ...(item.target !== undefined ? { pauseAt: item.target } : {}), ...(budget ? { poolLimitBytes: budget.poolLimit(ids) } : {}),
        }, { onBackend: () => clock(k, 'backend'), onOutcome: ({ record: r, paused: p }) => {
          clock(k, `reported ${labelOf(r.config)}`);
          if (p) log.log(`  ${'paused'.padEnd(10)} ${labelOf(r.config).padEnd(36)} best val acc ${r.validationAccuracy.toFixed(3)} after ${r.epochs} epochs${gpu !== undefined ? `  [gpu ${gpu}]` : ''}`);
          else {
            if (r.status === 'failed') blocked.add(r.id);
            log.log(outcomeLine(r, labelOf(r.config), gpu));
          }
        } });
        const slow = slowExitLine(exitSeconds, label, gpu);
        if (slow) log.log(slow);
      } catch (e) {
        for (const id of ids) blocked.add(id);
        stop ??= laneFailure(e, config, label, log);
      } finally {
        clock(k, 'closed');
        for (const id of ids) inHand.delete(id);
        budget?.release(key, ids);
        waiters.wake();
      }
    }
    clock(k, 'done'); // nothing left, or another lane's stop
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

/** The problem nvidiaSmiMemory reports on a host without nvidia-smi (where a sweep has nothing to say about it). */
export const NO_NVIDIA_SMI = 'no nvidia-smi';
const HUNG = 'no answer in 15 s';
/** A failure that asking again would not mend: no nvidia-smi, or one that hung for its whole 15 s. */
const lasting = (problem: string) => problem === NO_NVIDIA_SMI || problem.includes(HUNG);

/** nvidia-smi's memory line for a GPU, or why there is none (its error, or NO_NVIDIA_SMI). */
function nvidiaSmiMemory(index: number): string | { problem: string } {
  try {
    return execFileSync('nvidia-smi', ['--query-gpu=memory.free,memory.total', '--format=csv,noheader,nounits', '-i', String(index)], { encoding: 'utf8', timeout: 15_000, stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    const err = e as NodeJS.ErrnoException & { stdout?: string; stderr?: string };
    if (err.code === 'ENOENT') return { problem: NO_NVIDIA_SMI };
    const said = `${err.stdout ?? ''} ${err.stderr ?? ''}`.replace(/\s+/g, ' ').trim();
    return { problem: `nvidia-smi -i ${index} failed (${err.code === 'ETIMEDOUT' ? HUNG : `exit ${(err as { status?: number }).status ?? err.code}`}${said ? `: ${said.slice(0, 200)}` : ''})` };
  }
}

const sleepSync = (ms: number) => { if (ms > 0) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms); };

export interface GpuMemoryOptions {
  backend: BackendChoice;
  /** --gpu indices (the runs' GPUs); none: GPU 0. */
  gpus?: number[];
  /** --gpu-memory GiB: the memory the runs may use on each GPU, instead of asking nvidia-smi. */
  gpuMemoryGiB?: number;
  /** nvidia-smi's memory line for a GPU, or why there is none (tests replace it). */
  query?: (index: number) => string | { problem: string } | undefined;
  /** Asks per GPU before giving up (default 3), and the wait between them (default 3 s): nvidia-smi can fail for
   * a moment — a campaign stretch on 2026-11-29 (stretch 9) got no memory line from it right after the last call's
   * processes were killed, and its sweep then trained one run at a time for a whole device call. */
  attempts?: number;
  retryWaitMs?: number;
  /** Filled with why the memory is unknown, when it is (the sweep prints it beside its 1-run-at-a-time line). */
  problems?: string[];
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
  const attempts = Math.max(1, opts.attempts ?? 3);
  let least: GpuMemory | undefined;
  for (const index of opts.gpus?.length ? [...new Set(opts.gpus)] : [0]) {
    let parsed: ReturnType<typeof parseNvidiaSmiMemory>;
    let problem = '';
    let asked = 0;
    while (!parsed && asked < attempts && !(asked > 0 && lasting(problem))) {
      if (asked > 0) sleepSync(opts.retryWaitMs ?? 3000);
      asked++;
      const answer = query(index);
      parsed = typeof answer === 'string' ? parseNvidiaSmiMemory(answer) : undefined;
      if (!parsed) problem = typeof answer === 'object' ? answer.problem : `nvidia-smi -i ${index} said ${JSON.stringify((answer ?? '').trim().slice(0, 120))}`;
    }
    if (!parsed) {
      opts.problems?.push(`${problem}${asked > 1 ? ` (asked ${asked} times)` : ''}`);
      return undefined;
    }
    if (!least || parsed.freeBytes < least.freeBytes) least = { ...parsed, source: `GPU ${index} (nvidia-smi)` };
  }
  return least;
}

/** How a grid shares its GPUs. */
export interface ConcurrencyPlan {
  /** Runs at a time in all (over every GPU): at most; under `budget`, fewer when the runs in hand fill a GPU. */
  lanes: number;
  perGpu: number;
  /** Memory each run may use (usable free memory / runs per GPU); undefined when the GPU's memory is unknown or under `budget`. */
  shareBytes?: number;
  /** Cap of each run's webgpu buffer pool: its share less the process overhead (under `budget`: per run, MemoryBudget.poolLimit). */
  poolLimitBytes?: number;
  /**
   * `--concurrency auto` with a known GPU memory (or an explicit N where some run is larger than an equal share, with
   * at most N at a time): each run reserves max(its estimate, an equal share) — the estimate
   * holds its whole buffer pool (runners/memory.ts) —, and a lane
   * starts a run only while its GPU's reservations, this one included, stay within `bytesPerGpu` — instead of
   * giving every lane the largest run's share. A grid of 2 GiB runs with one 50 GiB run on 125 GiB then runs 8 at a
   * time while the large run is not in hand and about 5 while it is, not 1 throughout.
   */
  budget?: { bytesPerGpu: number; bytesOf: ReadonlyMap<string, number> };
  /** Runs whose estimate exceeds the usable memory of a GPU (auto only: left out of the sweep, each named; N: refused). */
  tooLarge: MemoryEstimate[];
  /** The largest estimated run of the grid. */
  largest?: MemoryEstimate;
  /** Every run's estimate (those that fit a GPU), for sizing each run's stack by its own (stackSizeFor). */
  estimates?: MemoryEstimate[];
  /** One line for the sweep's log. */
  note: string;
}

/**
 * Choose runs per GPU from the GPU's free memory and the runs' estimates, or check an explicit N. `auto` packs runs
 * by their own estimates (`budget`) and leaves out, by name, runs that cannot fit a GPU at all (refusing the grid
 * only when none fits); an explicit N gives each of the N runs per GPU an equal share — or, when some run is larger
 * than a share, packs them by their estimates as auto does, at most N at a time — and refuses (UserInputError, before
 * any run starts) a grid with a run larger than a GPU.
 */
export function planConcurrency(request: ConcurrencyRequest, estimates: MemoryEstimate[], memory: GpuMemory | undefined, gpuCount = 1): ConcurrencyPlan {
  const gpus = Math.max(1, gpuCount);
  if (!memory || estimates.length === 0) {
    const lanes = request === 'auto' ? 1 : request;
    return { lanes, perGpu: Math.ceil(lanes / gpus), tooLarge: [], note: request === 'auto' ? 'concurrency auto: the GPU memory is unknown (give --gpu-memory GiB): 1 run at a time' : `${lanes} runs at a time` };
  }
  // whole bytes: the budget adds and compares reservations, and p float shares of usable/p can sum one ulp above it
  const usable = Math.floor(memory.freeBytes * GPU_MEMORY_SAFETY);
  const largest = estimates.reduce((a, b) => (b.total > a.total ? b : a));
  const free = `${memory.source} has ${gib(memory.freeBytes)} free of ${gib(memory.totalBytes)} (${gib(usable)} usable)`;
  const tooLarge = estimates.filter((e) => e.total > usable);
  const refuse = (e: MemoryEstimate, more: number) =>
    new UserInputError(`run ${e.run} (${e.id}) needs an estimated ${describeEstimate(e)} of GPU memory, but ${free}${more > 0 ? `; ${more} other run(s) of the grid do not fit either` : ''}: lower its batchSize/evalBatchSize or d_model, or free the GPU`);
  if (request === 'auto') {
    const fitting = estimates.filter((e) => e.total <= usable);
    if (fitting.length === 0) throw refuse(largest, tooLarge.length - 1);
    const smallest = fitting.reduce((a, b) => (b.total < a.total ? b : a));
    const biggest = fitting.reduce((a, b) => (b.total > a.total ? b : a));
    const perGpu = Math.min(MAX_RUNS_PER_GPU, Math.max(1, Math.floor(usable / smallest.total)));
    const left = tooLarge.length ? `; ${tooLarge.length} run(s) larger than a GPU left out` : '';
    return {
      lanes: perGpu * gpus,
      perGpu,
      // a run reserves its estimate, but never less than an equal share of the GPU (usable / perGpu): its buffer pool
      // is capped at its reservation, and a pool held to a small run's bare estimate would free and re-create
      // buffers every step; small runs still share a GPU with a large one, as many as the memory holds
      budget: { bytesPerGpu: usable, bytesOf: new Map(fitting.map((e) => [e.id, Math.max(Math.ceil(e.total), Math.floor(usable / perGpu))])) },
      tooLarge,
      largest,
      estimates: fitting,
      note: `memory: runs ≈ ${gib(smallest.total)}–${gib(biggest.total)} (${biggest.method}); ${free} → up to ${perGpu} run(s) per GPU (auto, at most ${MAX_RUNS_PER_GPU}), packed by each run's estimate${left}`,
    };
  }
  if (largest.total > usable) throw refuse(largest, tooLarge.length - 1);
  const perGpu = Math.ceil(request / gpus);
  const shareBytes = usable / perGpu;
  if (largest.total > shareBytes) {
    // Some run is larger than an equal share: pack by the estimates (auto's budget), at most N at a time, each run
    // reserving max(its estimate, an equal share) — the small runs go N at a time, a large run with fewer beside it.
    // Refusing the grid (as before 2026-12-01) sent the campaign's stretches to one run at a time for a whole device
    // call: one RWKV d 512 run of 85.5 GiB among L 64–128 runs of ≤ 8 GiB (stretches 28–30).
    const equalShare = Math.floor(usable / perGpu);
    const larger = estimates.filter((e) => e.total > equalShare).length;
    return {
      lanes: request,
      perGpu,
      budget: { bytesPerGpu: usable, bytesOf: new Map(estimates.map((e) => [e.id, Math.max(Math.ceil(e.total), equalShare)])) },
      tooLarge: [],
      largest,
      estimates,
      note: `memory: largest run ${largest.run} ≈ ${gib(largest.total)} (${largest.method}); ${free} → up to ${perGpu} run(s) per GPU, packed by each run's estimate: ${larger} run(s) larger than an equal share (${gib(equalShare)}) run with fewer beside them`,
    };
  }
  return {
    lanes: request,
    perGpu,
    shareBytes,
    poolLimitBytes: Math.max(0, shareBytes - PROCESS_OVERHEAD_BYTES),
    tooLarge: [],
    largest,
    estimates,
    note: `memory: largest run ${largest.run} ≈ ${gib(largest.total)} (${largest.method}); ${free} → ${perGpu} run(s) per GPU, ${gib(shareBytes)} each`,
  };
}

/**
 * The largest stack of runs (runners/stack.ts), at most `requested`, that fits a run's share of the GPU: a stack of R
 * holds R runs' live peaks with their pool overhead, and one process context. With the grid's estimates, each run's
 * stack is sized by its own estimate (runs of one stack share their shapes, so their estimates are equal): jrt-sd's
 * d 36 runs (≈ 1.9 GiB a run of a stack) stack 3 to a 15.73 GiB share where its largest run (13.83 GiB) trains alone —
 * capping every stack at the largest run's kept the whole grid unstacked (jrt-sd stretches 1–2, 2026-12-02). `size` is
 * then the largest stack of any run, `sizeOf` each run's (present only when they differ). Unknown memory: the request.
 */
export function stackSizeFor(requested: number, plan: Pick<ConcurrencyPlan, 'shareBytes' | 'largest' | 'budget' | 'estimates'>): { size: number; sizeOf?: (config: RunConfig) => number; note?: string } {
  const largest = plan.largest;
  // an equal share (an explicit --concurrency N), or under auto's budget a whole GPU (a stack reserves its sum)
  const room = plan.shareBytes ?? plan.budget?.bytesPerGpu;
  if (requested <= 1 || room === undefined || !largest) return { size: requested };
  const perRunOf = (e: MemoryEstimate) => e.livePeak + e.poolOverhead;
  const fitsOf = (e: MemoryEstimate) => Math.min(requested, Math.max(1, Math.floor((room - e.processOverhead) / perRunOf(e))));
  const capped = (fits: number) => `--stack ${requested} capped at ${fits}: the largest run (${largest.run}) needs an estimated ${gib(perRunOf(largest))} per run of a stack, ${gib(room)} usable`;
  const estimates = plan.estimates ?? [];
  if (estimates.length === 0) {
    const fits = fitsOf(largest);
    return fits >= requested ? { size: requested } : { size: fits, note: capped(fits) };
  }
  const sizes = new Map(estimates.map((e) => [e.id, fitsOf(e)]));
  const counts = new Map<number, number>();
  for (const n of sizes.values()) counts.set(n, (counts.get(n) ?? 0) + 1);
  const size = Math.max(...counts.keys());
  if (counts.size === 1) return size >= requested ? { size } : { size, note: capped(size) };
  const byRun = [...counts].sort((a, b) => b[0] - a[0]).map(([n, runs]) => `${runs} run(s) in stacks of ${n === 1 ? '1 (alone)' : `≤ ${n}`}`).join(', ');
  return {
    size,
    sizeOf: (config) => sizes.get(runId(config)) ?? fitsOf(largest),
    note: `--stack ${requested} sized by each run's estimate: ${byRun}, by memory (unstackable mixers train alone) (the largest run, ${largest.run}, needs an estimated ${gib(perRunOf(largest))} per run of a stack, ${gib(room)} usable)`,
  };
}

/** How a run left out for memory is named (the sweep's and the dry run's line). */
export const leftOutLine = (e: MemoryEstimate) => `left out ${e.run} (${e.id}): needs an estimated ${describeEstimate(e)}, more than a GPU's usable memory`;

/**
 * The memory of each GPU that the runs in hand have reserved, by their estimates (ConcurrencyPlan.budget). A lane
 * takes a run only if `fits`, `reserve`s it before starting and `release`s it when the run's process has ended
 * (closed: its GPU memory is gone before the lane's next run reserves). A reservation is the run's estimate, which
 * holds the whole buffer pool tfjs will keep (runners/memory.ts simulatePool, with its margin) and the process
 * context; each pool is also capped at its reservation less the context (`poolLimit`), a guard that should not
 * bind. It is the estimate that keeps the processes within the budget, not the cap: a cap below a run's pool makes
 * it evict buffers whose memory Dawn returns only once the GPU has caught up, and four Mamba d256 runs capped so
 * held 45–51 GiB each against 30.5 GiB caps (runners/memory.ts).
 */
export class MemoryBudget {
  private readonly used = new Map<number, number>();
  constructor(private readonly budget: NonNullable<ConcurrencyPlan['budget']>) {}
  /**
   * The reservation of a run (its estimate; a run without one, not estimated, reserves a whole GPU) or of a stack of
   * runs in one process (their estimates less all but one process context, at most a whole GPU: stackSizeFor sized
   * the stack to fit one).
   */
  bytesOf(ids: string | readonly string[]): number {
    const one = (id: string) => this.budget.bytesOf.get(id) ?? this.budget.bytesPerGpu;
    if (typeof ids === 'string') return one(ids);
    const sum = ids.reduce((n, id) => n + one(id), 0) - Math.max(0, ids.length - 1) * PROCESS_OVERHEAD_BYTES;
    return Math.min(this.budget.bytesPerGpu, sum);
  }
  fits(gpu: number, ids: string | readonly string[]): boolean {
    return (this.used.get(gpu) ?? 0) + this.bytesOf(ids) <= this.budget.bytesPerGpu;
  }
  reserve(gpu: number, ids: string | readonly string[]): void {
    this.used.set(gpu, (this.used.get(gpu) ?? 0) + this.bytesOf(ids));
  }
  release(gpu: number, ids: string | readonly string[]): void {
    this.used.set(gpu, Math.max(0, (this.used.get(gpu) ?? 0) - this.bytesOf(ids)));
  }
  poolLimit(ids: string | readonly string[]): number {
    return Math.max(0, this.bytesOf(ids) - PROCESS_OVERHEAD_BYTES);
  }
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
