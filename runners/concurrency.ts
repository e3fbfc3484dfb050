// Runs in child processes, one child per run: `sweep --concurrency N` (N lanes on one machine) and the queue
// worker (runners/worker.ts), whose sandbox this is. A run that crashes (a native abort, out of memory, a lost
// GPU) takes its own process down, never the parent — which goes on scheduling and, in the worker, goes on
// renewing its BullMQ job locks: training never blocks the parent's event loop.
//
// The child re-executes this program's own entry with the hidden command `__run-job` (src/cli.ts):
//   dev (tsx)         node --import tsx src/cli.ts __run-job     (process.execArgv carries the loader)
//   installed bin     node bin/recallbench.js __run-job           (registers tsx itself)
//   GPU-host bundle   node .gpu/app.mjs __run-job                 (everything is in that one file)
// It says 'ready' over the IPC channel, receives its job {config, preset, resultsDir, backend, gpu, plugins},
// and trains the run with runSweep([config]) — the very code of a serial sweep, with its per-run lock, epoch
// checkpoints, failure records and results lock — so the child appends its own record, the results equal a
// serial sweep's, and several children (or hosts sharing a folder) never train one run twice. It then sends
// the stored record and curve back, and exits. If the parent dies, the child stops at once (IPC disconnect):
// its checkpoint and stale lock let whoever retries the run resume it.
import * as tf from '@tensorflow/tfjs';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DeviceLostError, initBackend, type BackendChoice, type BackendInfo } from '../engine/backend.js';
import { UserInputError } from '../engine/errors.js';
import { loadPlugin } from '../engine/plugins.js';
import type { EpochRecord } from '../engine/train.js';
import { runId, type RunConfig, type Search } from './config.js';
import { describeEstimate, estimateGridMemory, gib, PROCESS_OVERHEAD_BYTES, runName, type MemoryEstimate } from './memory.js';
import { createProgress } from './progress.js';
import { readCurve, ResultsDir, type RunRecord } from './results.js';
import { halvingOf, planSearch, readRungState, storeStops, describeSearch, type WorkItem } from './search.js';
import { MAX_ATTEMPTS, runSweep, stopLines } from './sweep.js';
import { runNamer } from './summary.js';

/**
 * What the parent asks of a child. 'probe' only initialises the backend (a worker checks its GPU at start);
 * 'estimate' estimates the memory of `configs` on the cpu (runners/memory.ts) — in a process of its own because
 * the estimate's shape-only probe backend leaves garbage in the mixers' module-level caches (masks), which a
 * process that trains afterwards must never see.
 */
export interface ChildJob {
  kind: 'run' | 'probe' | 'estimate';
  config?: RunConfig;
  configs?: RunConfig[];
  preset?: string;
  resultsDir?: string;
  backend: BackendChoice;
  gpu?: number;
  plugins: string[];
  /** Ignore SIGINT (a worker's first Ctrl-C lets running jobs finish). */
  ignoreSigint?: boolean;
  /** Cap of the webgpu buffer pool (accel/webgpu/bufferPool.ts): the lane's share of the GPU less the process overhead. */
  poolLimitBytes?: number;
  /** The sweep's learning-rate search (halving: the record says so). */
  search?: Search;
  /** Successive halving: train the run only to this epoch (a rung) and pause there. */
  pauseAt?: number;
}

export type ChildMessage =
  | { type: 'ready' }
  | { type: 'backend'; info: BackendInfo }
  | { type: 'estimates'; estimates: MemoryEstimate[] }
  | { type: 'result'; record: RunRecord; curve: EpochRecord[] }
  | { type: 'paused'; record: RunRecord; epoch: number }
  | { type: 'error'; kind: 'user' | 'device-lost' | 'internal'; message: string };

/** Why a child brought no result: bad settings, a lost GPU, an exception, or a crash (died without a word). */
export class ChildRunError extends Error {
  constructor(readonly kind: 'user' | 'device-lost' | 'internal' | 'crash', message: string) {
    super(message);
    this.name = 'ChildRunError';
  }
}

// ---------------------------------------------------------------------------------------------------------
// How to start a copy of this program

let selfEntry: string | undefined;

/** The CLI records its entry file (process.argv[1]) so children re-execute the same program. */
export function setSelfEntry(entry: string): void {
  selfEntry = resolve(entry);
}

/** command + arguments that start `recallbench __run-job` the way this process was started. */
export function childCommand(): { command: string; args: string[] } {
  const execArgv = process.execArgv.filter((a) => !/^--inspect|^--debug-port/.test(a));
  if (selfEntry) return { command: process.execPath, args: [...execArgv, selfEntry, '__run-job'] };
  // used as a library (no CLI main): the CLI source beside this file, through tsx; or, bundled, this very file
  const here = fileURLToPath(import.meta.url);
  const cliSource = join(dirname(here), '..', 'src', 'cli.ts');
  if (existsSync(cliSource)) {
    const hasLoader = execArgv.some((a) => /tsx/.test(a));
    let tsx = 'tsx';
    try {
      tsx = import.meta.resolve('tsx');
    } catch {
      // resolved from the working directory then
    }
    return { command: process.execPath, args: [...(hasLoader ? execArgv : [...execArgv, '--import', tsx]), cliSource, '__run-job'] };
  }
  return { command: process.execPath, args: [...execArgv, here, '__run-job'] };
}

// ---------------------------------------------------------------------------------------------------------
// Parent side

export interface ChildHandle {
  child: ChildProcess;
  /** The stored record and curve; rejects with ChildRunError. */
  done: Promise<{ record?: RunRecord; curve?: EpochRecord[]; backend?: BackendInfo; estimates?: MemoryEstimate[]; paused?: boolean }>;
}

export interface ChildOptions {
  /** Prefix for the child's output lines when forwarded to our stderr; undefined: keep them (for errors) only. */
  forwardPrefix?: string;
  onBackend?(info: BackendInfo): void;
  env?: NodeJS.ProcessEnv;
}

/** Start one child for one job. */
export function startChild(job: ChildJob, opts: ChildOptions = {}): ChildHandle {
  const { command, args } = childCommand();
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe', 'ipc'], env: opts.env ?? process.env });
  const tail: string[] = [];
  const keep = (prefix: string) => {
    let partial = '';
    return (chunk: Buffer) => {
      const lines = (partial + chunk.toString('utf8')).split('\n');
      partial = lines.pop()!;
      for (const line of lines) {
        if (!line.trim()) continue;
        tail.push(line);
        if (tail.length > 40) tail.shift();
        if (opts.forwardPrefix !== undefined) process.stderr.write(`${opts.forwardPrefix}${prefix}${line}\n`);
      }
    };
  };
  child.stdout!.on('data', keep(''));
  child.stderr!.on('data', keep(''));
  let result: { record: RunRecord; curve: EpochRecord[]; paused?: boolean } | undefined;
  let estimates: MemoryEstimate[] | undefined;
  let backend: BackendInfo | undefined;
  let failure: ChildRunError | undefined;
  child.on('message', (m: ChildMessage) => {
    if (m.type === 'ready') child.send(job);
    else if (m.type === 'backend') {
      backend = m.info;
      opts.onBackend?.(m.info);
    } else if (m.type === 'result') result = { record: m.record, curve: m.curve };
    else if (m.type === 'paused') result = { record: m.record, curve: [], paused: true };
    else if (m.type === 'estimates') estimates = m.estimates;
    else if (m.type === 'error') failure = new ChildRunError(m.kind, m.message);
  });
  const done = new Promise<{ record?: RunRecord; curve?: EpochRecord[]; backend?: BackendInfo; estimates?: MemoryEstimate[]; paused?: boolean }>((resolvePromise, reject) => {
    child.on('error', (e) => reject(new ChildRunError('crash', `could not start the run's process: ${e.message}`)));
    child.on('close', (code, signal) => {
      if (failure) return reject(failure);
      if (estimates) return resolvePromise({ estimates });
      if (result || (job.kind === 'probe' && backend && code === 0)) return resolvePromise({ ...result, backend });
      const last = [...tail].reverse().find((l) => /error|abort|killed|memory|fatal|lost/i.test(l)) ?? tail[tail.length - 1];
      reject(new ChildRunError('crash', `the run's process died (${signal ? `signal ${signal}` : `exit code ${code}`})${last ? `: ${last.trim().slice(0, 300)}` : ''}`));
    });
  });
  return { child, done };
}

function firstLine(e: unknown): string {
  return String((e as Error)?.message ?? e).split('\n')[0]!;
}


// ---------------------------------------------------------------------------------------------------------
// Child side: `recallbench __run-job`

function sendToParent(message: ChildMessage): Promise<void> {
  return new Promise((resolvePromise) => {
    if (!process.send || !process.connected) return resolvePromise();
    process.send(message, undefined, {}, () => resolvePromise());
  });
}

/** Serve one job from the parent (the hidden `__run-job` command). */
export async function serveChildJob(): Promise<void> {
  if (!process.send) throw new UserInputError('__run-job is internal: `sweep --concurrency N` and `worker` start it');
  // the parent is gone (killed): stop now; the run's checkpoint and (stale) lock let a retry resume it
  process.on('disconnect', () => process.exit(70));
  const job = await new Promise<ChildJob>((resolvePromise) => {
    process.once('message', (m) => resolvePromise(m as ChildJob));
    void sendToParent({ type: 'ready' });
  });
  if (job.ignoreSigint) process.on('SIGINT', () => {});
  try {
    if (job.kind === 'estimate') {
      await initBackend('cpu'); // never the GPU: the estimate needs none, and a context would take GPU memory
      for (const p of job.plugins) await loadPlugin(p);
      await sendToParent({ type: 'estimates', estimates: await estimateGridMemory(job.configs ?? []) });
      return;
    }
    const backend = await initBackend(job.backend, job.gpu !== undefined ? { gpu: job.gpu } : {});
    for (const p of job.plugins) await loadPlugin(p);
    await sendToParent({ type: 'backend', info: backend });
    if (job.kind === 'probe') return;
    const config = job.config!;
    const pool = backend.backend === 'webgpu' ? await import('../accel/webgpu/bufferPool.js') : undefined;
    const webgpu = pool ? tf.findBackend('webgpu') : undefined;
    // RECALLBENCH_POOL_LIMIT=0: tfjs's unbounded pool (to measure what the cap saves); peaks are tracked either way
    if (pool && webgpu) pool.setBufferPoolLimit(webgpu, process.env.RECALLBENCH_POOL_LIMIT === '0' ? undefined : job.poolLimitBytes);
    const results = new ResultsDir(job.resultsDir!);
    // whoever sent the job (a parallel sweep, a queue worker) already decided that it is to be tried
    const failedBefore = results.failedAttempts().get(runId(config)) ?? 0;
    await runSweep([config], { backend, results, preset: job.preset, quiet: true, maxAttempts: Number.POSITIVE_INFINITY, ...(job.search ? { search: job.search } : {}), trainTo: job.pauseAt ?? 'end' });
    // RECALLBENCH_MEMORY_LOG=FILE: one line per run with its pid and pool peaks, to set beside nvidia-smi's per-process memory
    const memoryLog = process.env.RECALLBENCH_MEMORY_LOG;
    if (memoryLog) appendFileSync(memoryLog, `${JSON.stringify({ pid: process.pid, id: runId(config), run: runName(config), ...(pool && webgpu ? pool.bufferPoolStats(webgpu) : {}) })}\n`);
    const id = runId(config);
    const record = results.records().find((r) => r.id === id);
    // paused at its rung: no record (or only an earlier attempt's failure), its would-be record beside its checkpoint
    const failedNow = (results.failedAttempts().get(id) ?? 0) > failedBefore;
    const rung = job.pauseAt !== undefined && !failedNow && (!record || record.status === 'failed') ? readRungState(results, id) : undefined;
    if (rung && rung.epoch >= job.pauseAt!) {
      await sendToParent({ type: 'paused', record: rung.record, epoch: rung.epoch });
      return;
    }
    if (!record) throw new Error(`run ${id} left no record in ${results.runsJsonl}`);
    await sendToParent({ type: 'result', record, curve: readCurve(results.dir, id) ?? [] });
  } catch (e) {
    const kind = e instanceof UserInputError ? 'user' : e instanceof DeviceLostError ? 'device-lost' : 'internal';
    await sendToParent({ type: 'error', kind, message: firstLine(e) });
  }
}

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
  const lanes = Math.max(1, Math.min(opts.concurrency, todo.length));
  const log = createProgress('sweep', opts.quiet);
  const gpuNote = opts.gpus?.length ? `, GPUs ${opts.gpus.join(',')}` : '';
  if (!opts.quiet) log.log(`sweep: ${configs.length} runs, ${configs.length - todo.length - givenUp.length} already finished, ${todo.length} to train in ${lanes} parallel processes on ${opts.backend}${gpuNote} → ${results.dir}`);
  if (!opts.quiet && givenUp.length) log.log(`  not retrying ${givenUp.length} run(s) that failed ${maxAttempts} times: --max-attempts N to try again`);
  if (halvingOf(opts.search)) {
    if (!opts.quiet) log.log(`  ${describeSearch(configs, opts.search)}`);
    await halvingLanes(configs, opts, lanes, log, maxAttempts);
    const byId = new Map(results.records().map((r) => [r.id, r]));
    return configs.map((c) => byId.get(runId(c))).filter((r): r is RunRecord => r !== undefined);
  }
  let next = 0;
  let stored = 0;
  let stop: Error | undefined;
  const running = new Set<ChildProcess>();
  const lane = async (k: number) => {
    const gpu = opts.gpus?.length ? opts.gpus[k % opts.gpus.length] : undefined;
    while (!stop && next < todo.length) {
      const config = todo[next++]!;
      const label = `${config.label} d${config.model.dModel} lr${config.train.lr}`;
      const handle = startChild({ kind: 'run', config, preset: opts.preset, resultsDir: results.dir, backend: opts.backend, ...(gpu !== undefined ? { gpu } : {}), plugins: opts.plugins, ...(opts.poolLimitBytes !== undefined ? { poolLimitBytes: opts.poolLimitBytes } : {}) });
      running.add(handle.child);
      try {
        const { record } = await handle.done;
        const r = record!;
        log.log(`  ${r.status.padEnd(10)} ${label.padEnd(36)} ${r.status === 'failed' ? r.error ?? '' : `test acc ${r.testAccuracy.toFixed(3)} (${r.epochs} epochs, ${r.wallSeconds.toFixed(1)} s, ${r.msPerStep.toFixed(1)} ms/step)`}${gpu !== undefined ? `  [gpu ${gpu}]` : ''}`);
      } catch (e) {
        const err = e as ChildRunError;
        if (err.kind === 'user') stop ??= new UserInputError(err.message);
        else if (err.kind === 'device-lost') stop ??= new DeviceLostError(err.message.replace(/^the GPU device was lost \((.*)\).*$/, '$1'), runId(config));
        else log.log(`  ${'crashed'.padEnd(10)} ${label.padEnd(36)} ${err.message} (re-run the sweep to retry it)`);
      } finally {
        running.delete(handle.child);
      }
      stored++;
      log.update(stored, todo.length, `${stored}/${todo.length} runs`);
    }
  };
  try {
    await Promise.all(Array.from({ length: lanes }, (_, k) => lane(k)));
  } finally {
    for (const child of running) child.kill('SIGTERM');
    log.stop();
  }
  if (stop) throw stop;
  // in grid order, as a serial sweep stores them (children finish in any order)
  const byId = new Map(results.records().map((r) => [r.id, r]));
  return configs.map((c) => byId.get(runId(c))).filter((r): r is RunRecord => r !== undefined);
}

/**
 * Successive halving in `lanes` child processes: each lane plans from the folder (runners/search.ts), stores the
 * runs the decisions stop, and trains the first run of the plan no lane has in hand — to its rung (the child pauses
 * it there) or to its end. The plan depends only on the folder's records, so the decisions equal a serial sweep's.
 * A lane with nothing to take waits for another lane's run to come back.
 */
async function halvingLanes(configs: RunConfig[], opts: ParallelSweepOptions, lanes: number, log: ReturnType<typeof createProgress>, maxAttempts: number): Promise<void> {
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
  const running = new Set<ChildProcess>();
  let waitingNoted = false;
  const lane = async (k: number) => {
    const gpu = opts.gpus?.length ? opts.gpus[k % opts.gpus.length] : undefined;
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
      const handle = startChild({ kind: 'run', config, preset: opts.preset, resultsDir: results.dir, backend: opts.backend, ...(gpu !== undefined ? { gpu } : {}), plugins: opts.plugins, ...(opts.poolLimitBytes !== undefined ? { poolLimitBytes: opts.poolLimitBytes } : {}), search: halving, ...(item.target !== undefined ? { pauseAt: item.target } : {}) });
      running.add(handle.child);
      try {
        const { record, paused } = await handle.done;
        const r = record!;
        if (paused) log.log(`  ${'paused'.padEnd(10)} ${label.padEnd(36)} best val acc ${r.validationAccuracy.toFixed(3)} after ${r.epochs} epochs${gpu !== undefined ? `  [gpu ${gpu}]` : ''}`);
        else {
          if (r.status === 'failed') blocked.add(item.id);
          log.log(`  ${r.status.padEnd(10)} ${label.padEnd(36)} ${r.status === 'failed' ? r.error ?? '' : `test acc ${r.testAccuracy.toFixed(3)} (${r.epochs} epochs, ${r.wallSeconds.toFixed(1)} s, ${r.msPerStep.toFixed(1)} ms/step)`}${gpu !== undefined ? `  [gpu ${gpu}]` : ''}`);
        }
      } catch (e) {
        const err = e as ChildRunError;
        blocked.add(item.id);
        if (err.kind === 'user') stop ??= new UserInputError(err.message);
        else if (err.kind === 'device-lost') stop ??= new DeviceLostError(err.message.replace(/^the GPU device was lost \((.*)\).*$/, '$1'), runId(config));
        else log.log(`  ${'crashed'.padEnd(10)} ${label.padEnd(36)} ${err.message} (re-run the sweep to retry it)`);
      } finally {
        running.delete(handle.child);
        inHand.delete(item.id);
        wake();
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: lanes }, (_, k) => lane(k)));
  } finally {
    for (const child of running) child.kill('SIGTERM');
    log.stop();
  }
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

/** Estimates of a grid's runs, computed in a child process (see ChildJob: the probe must not share a training process). */
export async function estimateInChild(configs: RunConfig[], plugins: string[] = []): Promise<MemoryEstimate[]> {
  try {
    const { estimates } = await startChild({ kind: 'estimate', configs, backend: 'cpu', plugins }).done;
    return estimates ?? [];
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
