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
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DeviceLostError, initBackend, type BackendChoice, type BackendInfo } from '../engine/backend.js';
import { UserInputError } from '../engine/errors.js';
import { loadPlugin } from '../engine/plugins.js';
import type { EpochRecord } from '../engine/train.js';
import { runId, type RunConfig } from './config.js';
import { createProgress } from './progress.js';
import { ResultsDir, type RunRecord } from './results.js';
import { runSweep } from './sweep.js';

/** What the parent asks of a child. 'probe' only initialises the backend (a worker checks its GPU at start). */
export interface ChildJob {
  kind: 'run' | 'probe';
  config?: RunConfig;
  preset?: string;
  resultsDir?: string;
  backend: BackendChoice;
  gpu?: number;
  plugins: string[];
  /** Ignore SIGINT (a worker's first Ctrl-C lets running jobs finish). */
  ignoreSigint?: boolean;
}

export type ChildMessage =
  | { type: 'ready' }
  | { type: 'backend'; info: BackendInfo }
  | { type: 'result'; record: RunRecord; curve: EpochRecord[] }
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
  done: Promise<{ record?: RunRecord; curve?: EpochRecord[]; backend?: BackendInfo }>;
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
  let result: { record: RunRecord; curve: EpochRecord[] } | undefined;
  let backend: BackendInfo | undefined;
  let failure: ChildRunError | undefined;
  child.on('message', (m: ChildMessage) => {
    if (m.type === 'ready') child.send(job);
    else if (m.type === 'backend') {
      backend = m.info;
      opts.onBackend?.(m.info);
    } else if (m.type === 'result') result = { record: m.record, curve: m.curve };
    else if (m.type === 'error') failure = new ChildRunError(m.kind, m.message);
  });
  const done = new Promise<{ record?: RunRecord; curve?: EpochRecord[]; backend?: BackendInfo }>((resolvePromise, reject) => {
    child.on('error', (e) => reject(new ChildRunError('crash', `could not start the run's process: ${e.message}`)));
    child.on('close', (code, signal) => {
      if (failure) return reject(failure);
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

/** The curve stored beside a record (curves/<id>.json), [] when absent. */
export function readCurve(results: ResultsDir, id: string): EpochRecord[] {
  try {
    return JSON.parse(readFileSync(join(results.curvesDir, `${id}.json`), 'utf8')) as EpochRecord[];
  } catch {
    return [];
  }
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
    const backend = await initBackend(job.backend, job.gpu !== undefined ? { gpu: job.gpu } : {});
    for (const p of job.plugins) await loadPlugin(p);
    await sendToParent({ type: 'backend', info: backend });
    if (job.kind === 'probe') return;
    const config = job.config!;
    const results = new ResultsDir(job.resultsDir!);
    await runSweep([config], { backend, results, preset: job.preset, quiet: true });
    const id = runId(config);
    const record = results.records().find((r) => r.id === id);
    if (!record) throw new Error(`run ${id} left no record in ${results.runsJsonl}`);
    await sendToParent({ type: 'result', record, curve: readCurve(results, id) });
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
}

/** Train every run of the grid not yet in the results folder, `concurrency` at a time. Same records as runSweep. */
export async function runSweepParallel(configs: RunConfig[], opts: ParallelSweepOptions): Promise<RunRecord[]> {
  const { results } = opts;
  results.repair();
  const finished = results.finishedIds();
  const todo = configs.filter((c) => !finished.has(runId(c)));
  const lanes = Math.max(1, Math.min(opts.concurrency, todo.length));
  const log = createProgress('sweep', opts.quiet);
  const gpuNote = opts.gpus?.length ? `, GPUs ${opts.gpus.join(',')}` : '';
  if (!opts.quiet) log.log(`sweep: ${configs.length} runs, ${configs.length - todo.length} already finished, ${todo.length} to train in ${lanes} parallel processes on ${opts.backend}${gpuNote} → ${results.dir}`);
  let next = 0;
  let stored = 0;
  let stop: Error | undefined;
  const running = new Set<ChildProcess>();
  const lane = async (k: number) => {
    const gpu = opts.gpus?.length ? opts.gpus[k % opts.gpus.length] : undefined;
    while (!stop && next < todo.length) {
      const config = todo[next++]!;
      const label = `${config.label} d${config.model.dModel} lr${config.train.lr}`;
      const handle = startChild({ kind: 'run', config, preset: opts.preset, resultsDir: results.dir, backend: opts.backend, ...(gpu !== undefined ? { gpu } : {}), plugins: opts.plugins });
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
