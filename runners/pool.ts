// The child-process pool: both `sweep --concurrency N` (runners/concurrency.ts) and the queue worker
// (runners/worker.ts) train their runs through it, N lanes at a time, one fresh child process per run. A run that
// crashes (a native abort, out of memory, a lost GPU) takes its own process down, never the parent — which goes
// on scheduling and, in the worker, goes on renewing its BullMQ job locks: training never blocks the parent's
// event loop. A lane whose child died simply starts a new child for its next job; every run starts in a clean
// process (no mixer caches, buffer pool or GPU context left by an earlier run), and a record's `worker` names the
// process that trained it.
//
// A lane has a GPU (lane k: gpus[k % gpus.length]; none: the backend's default device) and a cap of its webgpu
// buffer pool (the lane's share of the GPU less the process overhead: runners/memory.ts, planConcurrency).
//
// The child re-executes this program's own entry with the hidden command `__run-job` (src/cli.ts):
//   dev (tsx)         node --import tsx src/cli.ts __run-job     (process.execArgv carries the loader)
//   installed bin     node bin/recallbench.js __run-job           (registers tsx itself)
//   GPU-host bundle   node .gpu/app.mjs __run-job                 (everything is in that one file)
// It says 'ready' over the IPC channel, receives its job {config, preset, resultsDir, backend, gpu, plugins},
// and trains the run with runSweep([config]) (a stack: runSweep([config, ...stackWith], {stack}), runners/stack.ts)
// — the very code of a serial sweep, with its per-run lock, epoch
// checkpoints, failure records and results lock — so the child appends its own record, the results equal a
// serial sweep's, and several children (or hosts sharing a folder) never train one run twice. It then sends
// the stored record and curve back, and exits.
//
// Stopping: if the parent dies, the child stops at once (IPC disconnect): its checkpoint and stale lock let
// whoever retries the run resume it. Ctrl-C reaches the children through the terminal's process group, except
// in a worker, whose children ignore SIGINT (its first Ctrl-C lets running jobs finish); stop() ends them all.
import * as tf from '@tensorflow/tfjs';
import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DeviceLostError, initBackend, NoAdapterError, type BackendChoice, type BackendInfo } from '../engine/backend.js';
import { UserInputError } from '../engine/errors.js';
import { loadPlugin } from '../engine/plugins.js';
import type { EpochRecord } from '../engine/train.js';
import { runId, type RunConfig, type Search } from './config.js';
import { estimateGridMemory, estimateOptions, runName, type MemoryEstimate } from './memory.js';
import { readCurve, ResultsDir, type RunRecord } from './results.js';
import { readRungState } from './search.js';
import { backendFaultPoint, pausePoint } from './faults.js';
import { runSweep } from './sweep.js';

/**
 * What the parent asks of a child. 'probe' only initialises the backend (a worker checks its GPU at start);
 * 'estimate' estimates the memory of `configs` on the cpu (runners/memory.ts) — in a process of its own because
 * the estimate's shape-only probe backend leaves garbage in the mixers' module-level caches (masks), which a
 * process that trains afterwards must never see.
 */
interface ChildJob {
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
  /** Runs trained with `config` as one stack (runners/stack.ts), each to the same end or rung. */
  stackWith?: RunConfig[];
}

type ChildMessage =
  | { type: 'ready' }
  | { type: 'backend'; info: BackendInfo }
  | { type: 'estimates'; estimates: MemoryEstimate[] }
  | { type: 'result'; record: RunRecord; curve: EpochRecord[] }
  | { type: 'paused'; record: RunRecord; epoch: number }
  | { type: 'error'; kind: 'user' | 'device-lost' | 'internal' | 'backend'; message: string };

/**
 * Why a child brought no result: bad settings, a lost GPU, an exception, a crash (died without a word), or its
 * backend would not start ('backend': ChildPool.run decides whether that is the machine's lack or a passing refusal).
 */
export class ChildRunError extends Error {
  constructor(readonly kind: 'user' | 'device-lost' | 'internal' | 'crash' | 'backend', message: string) {
    super(message);
    this.name = 'ChildRunError';
  }
}

/** One run's outcome: its stored record and curve, or (paused) the record it would have if stopped at its rung. */
export interface RunOutcomeMessage {
  record: RunRecord;
  curve: EpochRecord[];
  paused?: boolean;
}

/**
 * What a child sent back: the stored record and curve of a run (paused: stopped at its rung) — of the job's first
 * run, and in `runs` every run's of a stack in the job's order — a probe's backend, estimates.
 */
export interface ChildOutcome {
  record?: RunRecord;
  curve?: EpochRecord[];
  backend?: BackendInfo;
  estimates?: MemoryEstimate[];
  paused?: boolean;
  runs?: RunOutcomeMessage[];
  /** Seconds from the child's last reported outcome to its exit (its backend released: a GPU's teardown). */
  exitSeconds?: number;
}

// ---------------------------------------------------------------------------------------------------------
// How to start a copy of this program

let selfEntry: string | undefined;

/** The CLI records its entry file (process.argv[1]) so children re-execute the same program. */
export function setSelfEntry(entry: string): void {
  selfEntry = resolve(entry);
}

/** command + arguments that start `recallbench __run-job` the way this process was started. */
function childCommand(): { command: string; args: string[] } {
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

interface ChildOptions extends LaneHooks {
  /** Prefix for the child's output lines when forwarded to our stderr; undefined: keep them (for errors) only. */
  forwardPrefix?: string;
}

/** Start one child for one job: the child process, and its outcome (rejects with ChildRunError). */
function startChild(job: ChildJob, opts: ChildOptions = {}): { child: ChildProcess; done: Promise<ChildOutcome> } {
  const { command, args } = childCommand();
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe', 'ipc'], env: process.env });
  const tail: string[] = [];
  const keep = () => {
    let partial = '';
    return (chunk: Buffer) => {
      const lines = (partial + chunk.toString('utf8')).split('\n');
      partial = lines.pop()!;
      for (const line of lines) {
        if (!line.trim()) continue;
        tail.push(line);
        if (tail.length > 40) tail.shift();
        if (opts.forwardPrefix !== undefined) process.stderr.write(`${opts.forwardPrefix}${line}\n`);
      }
    };
  };
  child.stdout!.on('data', keep());
  child.stderr!.on('data', keep());
  const results: RunOutcomeMessage[] = [];
  let estimates: MemoryEstimate[] | undefined;
  let backend: BackendInfo | undefined;
  let failure: ChildRunError | undefined;
  let lastReportAt: number | undefined;
  // a hook that throws (the caller's logging) fails this job, as it did when the caller read the outcome after the
  // close — not the whole sweep, as an exception in this listener would
  let hookError: unknown;
  const hook = (f: () => void) => {
    try {
      f();
    } catch (e) {
      hookError ??= e;
    }
  };
  child.on('message', (m: ChildMessage) => {
    if (m.type === 'ready') child.send(job);
    else if (m.type === 'backend') {
      backend = m.info;
      if (opts.onBackend) hook(opts.onBackend);
    }
    else if (m.type === 'result' || m.type === 'paused') {
      const outcome: RunOutcomeMessage = m.type === 'result' ? { record: m.record, curve: m.curve } : { record: m.record, curve: [], paused: true };
      results.push(outcome);
      lastReportAt = performance.now();
      if (opts.onOutcome) hook(() => opts.onOutcome!(outcome));
    }
    else if (m.type === 'estimates') estimates = m.estimates;
    else if (m.type === 'error') failure = new ChildRunError(m.kind, m.message);
  });
  const done = new Promise<ChildOutcome>((resolvePromise, reject) => {
    child.on('error', (e) => reject(new ChildRunError('crash', `could not start the run's process: ${e.message}`)));
    child.on('close', (code, signal) => {
      if (failure) return reject(failure);
      if (hookError !== undefined) return reject(hookError);
      if (estimates) return resolvePromise({ estimates });
      // every run of the job reported (a stack's child that died after some of them is a crash: the sweep retries the rest)
      const expected = job.kind === 'run' ? 1 + (job.stackWith?.length ?? 0) : 0;
      const exitSeconds = lastReportAt !== undefined ? (performance.now() - lastReportAt) / 1000 : undefined;
      if ((results.length && results.length >= expected) || (job.kind === 'probe' && backend && code === 0)) return resolvePromise({ ...results[0], ...(results.length ? { runs: results } : {}), backend, ...(exitSeconds !== undefined ? { exitSeconds } : {}) });
      const last = [...tail].reverse().find((l) => /error|abort|killed|memory|fatal|lost/i.test(l)) ?? tail[tail.length - 1];
      const reported = results.length ? ` after ${results.length} of its ${expected} runs reported` : '';
      reject(new ChildRunError('crash', `the run's process died${reported} (${signal ? `signal ${signal}` : `exit code ${code}`})${last ? `: ${last.trim().slice(0, 300)}` : ''}`));
    });
  });
  return { child, done };
}

/** Initialise `backend` (on `gpu`) in a child process of its own, and say what it found: a worker checks its GPUs so. */
export function probeInChild(backend: BackendChoice, gpu: number | undefined, plugins: string[]): Promise<BackendInfo> {
  // a probe that cannot start the backend is the machine's answer: bad settings, as before
  return startChild({ kind: 'probe', backend, ...(gpu !== undefined ? { gpu } : {}), plugins }).done.then(
    (o) => o.backend!,
    (e: ChildRunError) => Promise.reject(e.kind === 'backend' ? new ChildRunError('user', e.message) : e),
  );
}

/** Estimate the memory of `configs` on the cpu in a child process of its own (see ChildJob: never in a training process). */
export function estimateInChildProcess(configs: RunConfig[], plugins: string[]): Promise<MemoryEstimate[]> {
  return startChild({ kind: 'estimate', configs, backend: 'cpu', plugins }).done.then((o) => o.estimates ?? []);
}

export interface PoolOptions {
  /** Runs at a time. */
  lanes: number;
  backend: BackendChoice;
  /** GPUs of the lanes: lane k uses gpus[k % gpus.length]; none: the backend's default device. */
  gpus?: number[];
  plugins: string[];
  /** Each lane's cap of the webgpu buffer pool (planConcurrency's poolLimitBytes). */
  poolLimitBytes?: number;
  /** The children ignore SIGINT (a worker: its first Ctrl-C lets the running jobs finish). */
  ignoreSigint?: boolean;
  /** Forward the children's output to our stderr, each line tagged with its lane ([gpu0] / [lane0]). */
  forward?: boolean;
}

/** What a lane trains: a run (or a stack of runs) into a results folder, to its end or (successive halving) to a rung. */
export interface LaneJob {
  config: RunConfig;
  /** Runs trained with `config` as one stack in the same child (runners/stack.ts); their outcomes come back in `runs`. */
  stackWith?: RunConfig[];
  resultsDir: string;
  preset?: string;
  search?: Search;
  pauseAt?: number;
  /** This job's cap of the webgpu buffer pool, over the pool's (a memory budget's reservation less the process context). */
  poolLimitBytes?: number;
}

/** What a lane's caller hears from its child as it goes (ChildPool.run). */
export interface LaneHooks {
  /** The child's backend is up: it builds the run's data and model next. */
  onBackend?: () => void;
  /** Each run's outcome as the child reports it — before the child exits, which can take a while (a GPU's teardown). */
  onOutcome?: (outcome: RunOutcomeMessage) => void;
}

/** How long a child whose backend would not start waits for another child of the pool to report its own (ms). */
const BACKEND_WITNESS_MS = 20_000;

/** `lanes` lanes of child processes, one child per job. */
export class ChildPool {
  readonly lanes: number;
  private readonly free: number[];
  private readonly children = new Set<ChildProcess>();
  /** Some child of this pool started its backend: a later child that cannot is refused in passing, not lacking a GPU. */
  private backendSeen = false;

  constructor(private readonly opts: PoolOptions) {
    this.lanes = Math.max(1, Math.floor(opts.lanes));
    this.free = Array.from({ length: this.lanes }, (_, k) => this.lanes - 1 - k);
  }

  /** The GPU of lane k, or undefined (the backend's default device). */
  gpuOf(lane: number): number | undefined {
    return this.opts.gpus?.length ? this.opts.gpus[lane % this.opts.gpus.length] : undefined;
  }

  /** How lane k is named in the log: gpu<i> or lane<k>. */
  tagOf(lane: number): string {
    const gpu = this.gpuOf(lane);
    return gpu !== undefined ? `gpu${gpu}` : `lane${lane}`;
  }

  /** Children running now. */
  get running(): number {
    return this.children.size;
  }

  /** Train one job on lane k in a fresh child process; rejects with ChildRunError. `hooks`: what the child reports as it goes. */
  async run(lane: number, job: LaneJob, hooks: LaneHooks = {}): Promise<ChildOutcome> {
    const { opts } = this;
    const gpu = this.gpuOf(lane);
    const handle = startChild(
      {
        kind: 'run', backend: opts.backend, plugins: opts.plugins,
        ...(gpu !== undefined ? { gpu } : {}), ...(opts.poolLimitBytes !== undefined ? { poolLimitBytes: opts.poolLimitBytes } : {}), ...(opts.ignoreSigint ? { ignoreSigint: true } : {}),
        ...job,
      },
      {
        ...hooks,
        ...(opts.forward ? { forwardPrefix: `[${this.tagOf(lane)}] ` } : {}),
        onBackend: () => {
          this.backendSeen = true;
          hooks.onBackend?.();
        },
      },
    );
    this.children.add(handle.child);
    try {
      return await handle.done;
    } catch (e) {
      throw (e as ChildRunError).kind === 'backend' ? await this.backendFailure(e as ChildRunError) : e;
    } finally {
      this.children.delete(handle.child);
    }
  }

  /**
   * A child's backend would not start. If another child of this pool started the same backend (now, or within
   * BACKEND_WITNESS_MS while others are still starting), the device refused this process in passing — several
   * processes starting at once on one GPU were seen to — and the run is a crash the next sweep retries; otherwise
   * the machine lacks it, which is bad settings and stops the sweep as before.
   */
  private async backendFailure(e: ChildRunError): Promise<ChildRunError> {
    const until = Date.now() + BACKEND_WITNESS_MS;
    while (!this.backendSeen && this.children.size > 1 && Date.now() < until) await new Promise((r) => setTimeout(r, 200));
    return this.backendSeen ? new ChildRunError('crash', `${e.message} (other processes of this sweep started it: taken as passing, the next sweep retries the run)`) : new ChildRunError('user', e.message);
  }

  /** Take a free lane (the lowest), run `task` on it, give it back: for callers that do not own their lanes (BullMQ's processor). */
  async withLane<T>(task: (lane: number) => Promise<T>): Promise<T> {
    const lane = this.free.pop() ?? 0;
    try {
      return await task(lane);
    } finally {
      this.free.push(lane);
    }
  }

  /** Stop every running child (SIGTERM: a sweep's lanes ending; SIGKILL: a worker's second Ctrl-C). */
  stop(signal: NodeJS.Signals = 'SIGTERM'): void {
    for (const child of this.children) child.kill(signal);
  }
}

// ---------------------------------------------------------------------------------------------------------
// Child side: `recallbench __run-job`

function firstLine(e: unknown): string {
  return String((e as Error)?.message ?? e).split('\n')[0]!;
}

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
      // the estimate is of a webgpu run (the sweep asks for one only with a GPU's memory known), whose fast path is
      // the environment's default (RECALLBENCH_FAST_PATH, inherited by the training processes)
      const { defaultFastPath } = await import('../accel/webgpu/index.js');
      await sendToParent({ type: 'estimates', estimates: await estimateGridMemory(job.configs ?? [], estimateOptions(defaultFastPath())) });
      return;
    }
    let backend: BackendInfo;
    try {
      backendFaultPoint(); // tests: RECALLBENCH_FAIL_BACKEND_ONCE (runners/faults.ts)
      backend = await initBackend(job.backend, job.gpu !== undefined ? { gpu: job.gpu } : {});
    } catch (e) {
      if (!(e instanceof NoAdapterError)) throw e;
      // the parent (ChildPool.run) tells a machine without a GPU from a device refusing one process in passing
      await sendToParent({ type: 'error', kind: 'backend', message: firstLine(e) });
      return;
    }
    for (const p of job.plugins) await loadPlugin(p);
    await sendToParent({ type: 'backend', info: backend });
    if (job.kind === 'probe') return;
    const configs = [job.config!, ...(job.stackWith ?? [])];
    const pool = backend.backend === 'webgpu' ? await import('../accel/webgpu/bufferPool.js') : undefined;
    const webgpu = pool ? tf.findBackend('webgpu') : undefined;
    // RECALLBENCH_POOL_LIMIT=0: tfjs's unbounded pool (to measure what the cap saves); peaks are tracked either way
    if (pool && webgpu) pool.setBufferPoolLimit(webgpu, process.env.RECALLBENCH_POOL_LIMIT === '0' ? undefined : job.poolLimitBytes);
    const results = new ResultsDir(job.resultsDir!);
    // whoever sent the job (a parallel sweep, a queue worker) already decided that it is to be tried
    const failedBefore = new Map(configs.map((c) => [runId(c), results.failedAttempts().get(runId(c)) ?? 0]));
    // a stack's runs train as one model, as a serial sweep with --stack trains them (their records are each run's alone)
    await runSweep(configs, { backend, results, preset: job.preset, quiet: true, maxAttempts: Number.POSITIVE_INFINITY, ...(job.search ? { search: job.search } : {}), trainTo: job.pauseAt ?? 'end', stack: configs.length });
    // RECALLBENCH_MEMORY_LOG=FILE: one line per job with its pid and pool peaks, to set beside nvidia-smi's per-process memory
    const memoryLog = process.env.RECALLBENCH_MEMORY_LOG;
    if (memoryLog) appendFileSync(memoryLog, `${JSON.stringify({ pid: process.pid, id: runId(configs[0]!), run: runName(configs[0]!), ...(configs.length > 1 ? { stack: configs.map(runId) } : {}), ...(pool && webgpu ? pool.bufferPoolStats(webgpu) : {}) })}\n`);
    const records = new Map(results.records().map((r) => [r.id, r]));
    const missing: string[] = [];
    for (const config of configs) {
      const id = runId(config);
      const record = records.get(id);
      // paused at its rung: no record (or only an earlier attempt's failure), its would-be record beside its checkpoint
      const failedNow = (results.failedAttempts().get(id) ?? 0) > failedBefore.get(id)!;
      const rung = job.pauseAt !== undefined && !failedNow && (!record || record.status === 'failed') ? readRungState(results, id) : undefined;
      if (rung && rung.epoch >= job.pauseAt!) await sendToParent({ type: 'paused', record: rung.record, epoch: rung.epoch });
      else if (record) await sendToParent({ type: 'result', record, curve: readCurve(results.dir, id) ?? [] });
      else missing.push(id);
    }
    if (missing.length) throw new Error(`run${missing.length > 1 ? 's' : ''} ${missing.join(', ')} left no record in ${results.runsJsonl}`);
    await pausePoint('reported'); // tests: a process slow to exit after reporting (a GPU's teardown)
  } catch (e) {
    const kind = e instanceof UserInputError ? 'user' : e instanceof DeviceLostError ? 'device-lost' : 'internal';
    await sendToParent({ type: 'error', kind, message: firstLine(e) });
  }
}
