// `recallbench worker --queue redis://HOST:PORT [--concurrency N] [--gpu INDEX ...]`: take runs from the queue
// and train them, each in its own child process (the pool of runners/pool.ts, as sweep --concurrency's) — the sandbox: a run that crashes
// fails its job (retried with backoff elsewhere or later), never this process, which keeps its BullMQ locks
// renewed because training never blocks its event loop. One worker per GPU, or one worker with several lanes
// (`--concurrency 2 --gpu 0 1`: lane k trains on GPU k).
//
// Each run is stored under <results root>/<results name>/ on this host (so a shared folder fills up as the runs
// finish) and returned as the job's value (so the submitting host can gather everything: runners/queue.ts).
// Before training, the child looks there: a run already stored — by a worker killed after storing it, or by
// another worker on the same folder — is returned, not trained again (runSweep's per-run lock and results lock).
//
// Stopping: SIGINT/SIGTERM lets the running jobs finish and takes no new ones; a second one stops at once (the
// jobs' locks then expire and other workers pick them up). --exit-when-empty: stop once the queue holds nothing
// waiting, delayed or running.
import { Worker, UnrecoverableError, type Job } from 'bullmq';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import type { BackendChoice } from '../engine/backend.js';
import { UserInputError } from '../engine/errors.js';
import { runId } from './config.js';
import { ChildPool, ChildRunError, probeInChild } from './pool.js';
import { checkResultsName, connectionOf, jobIdOf, openQueue, runLabel, type JobData, type JobResult, type QueueSettings } from './queue.js';
import { resolveRunConfig } from './run.js';

export interface WorkerOptions {
  queue: QueueSettings;
  backend: BackendChoice;
  /** GPUs of the lanes: lane k uses gpus[k % gpus.length]. */
  gpus?: number[];
  concurrency: number;
  plugins: string[];
  /** Results go to <resultsRoot>/<the job's results name>/ (default "results"). */
  resultsRoot: string;
  /** A job whose lock is not renewed for this long is stalled and given to another worker (default 30 s). */
  lockDurationMs?: number;
  /** How often this worker looks for stalled jobs (default 30 s). */
  stalledIntervalMs?: number;
  exitWhenEmpty?: boolean;
  quiet?: boolean;
}

/** Run a worker until it is stopped (or, with exitWhenEmpty, the queue is empty); resolves with an exit code. */
export async function runWorker(opts: WorkerOptions): Promise<number> {
  const say = (line: string) => {
    if (!opts.quiet) process.stderr.write(`${line}\n`);
  };
  const me = `${hostname()}:${process.pid}`;
  // the children ignore SIGINT: the worker's first Ctrl-C lets the running jobs finish
  const pool = new ChildPool({ lanes: opts.concurrency, backend: opts.backend, gpus: opts.gpus, plugins: opts.plugins, ignoreSigint: true, forward: !opts.quiet });
  const concurrency = pool.lanes;
  const queue = await openQueue(opts.queue);

  // check the backend (and GPU binding) once per distinct GPU before taking jobs: a worker that cannot train
  // must not take jobs and fail them all
  const gpusToProbe = [...new Set(Array.from({ length: concurrency }, (_, k) => pool.gpuOf(k)))];
  const devices = new Map<number | undefined, string>();
  if (opts.backend !== 'cpu' || opts.gpus?.length) {
    for (const gpu of gpusToProbe) {
      try {
        const backend = await probeInChild(opts.backend, gpu, opts.plugins);
        devices.set(gpu, `${backend.backend}: ${backend.device}`);
      } catch (e) {
        await queue.close();
        const err = e as ChildRunError;
        if (err.kind === 'user') throw new UserInputError(err.message);
        throw new Error(`worker cannot initialise --backend ${opts.backend}${gpu !== undefined ? ` on GPU ${gpu}` : ''}: ${err.message}`);
      }
    }
  } else {
    devices.set(undefined, 'cpu');
  }

  let consecutiveLost = 0;
  let stopReason: { code: number; message?: string } | undefined;

  const processor = (job: Job<JobData, JobResult>): Promise<JobResult> => pool.withLane(async (lane) => {
    const tag = pool.tagOf(lane);
    const started = Date.now();
    let name: string;
    let config;
    try {
      name = checkResultsName(job.data.results);
      config = resolveRunConfig(job.data.config, `job ${job.id}`);
    } catch (e) {
      const hint = /unknown architecture/i.test((e as Error).message) ? ' (start the worker with the same --plugin files as the sweep)' : '';
      throw new UnrecoverableError(`${(e as Error).message}${hint}`);
    }
    if (jobIdOf(runId(config)) !== job.id) {
      throw new UnrecoverableError(`job ${job.id}: its config resolves to run ${runId(config)} on this worker: the worker's recallbench differs from the submitter's (use one version everywhere)`);
    }
    say(`[${tag}] job ${job.id} ${runLabel(config)} → ${join(opts.resultsRoot, name)} (attempt ${job.attemptsMade + 1}/${job.opts.attempts ?? 1})`);
    let outcome;
    try {
      outcome = await pool.run(lane, { config, preset: job.data.preset, resultsDir: resolve(opts.resultsRoot, name) });
    } catch (e) {
      const err = e as ChildRunError;
      if (err.kind === 'user') throw new UnrecoverableError(err.message);
      if (err.kind === 'device-lost' && ++consecutiveLost >= 2 && !stopReason) {
        stopReason = { code: 1, message: `the GPU was lost in two runs in a row (${err.message}): this worker takes no more jobs` };
        void shutdown();
      }
      throw new Error(err.message);
    }
    const { record, curve } = outcome;
    if (!record) throw new Error('the run process returned no record');
    if (record.status === 'failed') throw new Error(record.error ?? 'the run failed');
    consecutiveLost = 0;
    say(`[${tag}] job ${job.id} ${record.status} in ${((Date.now() - started) / 1000).toFixed(1)} s: test acc ${record.testAccuracy.toFixed(3)}`);
    return { record, curve: curve ?? [] };
  });

  const worker = new Worker<JobData, JobResult>(opts.queue.name ?? 'recallbench', processor, {
    connection: connectionOf(opts.queue.url),
    concurrency,
    name: me,
    lockDuration: opts.lockDurationMs ?? 30_000,
    stalledInterval: opts.stalledIntervalMs ?? 30_000,
    maxStalledCount: 2,
    autorun: true,
  });
  worker.on('error', (e) => say(`worker: ${String(e?.message ?? e).split('\n')[0]}`));
  worker.on('failed', (job, e) => {
    if (!job) return;
    const attempts = job.opts.attempts ?? 1;
    const final = e instanceof UnrecoverableError || job.attemptsMade >= attempts;
    say(`job ${job.id} failed (attempt ${job.attemptsMade}/${attempts}${final ? ', final' : ', will retry'}): ${String(e?.message ?? e).split('\n')[0]}`);
  });
  const deviceList = [...devices.entries()].map(([gpu, d]) => (gpu !== undefined ? `GPU ${gpu} → ${d}` : d)).join('; ');
  say(`worker ${me}: ${concurrency} lane(s) on ${deviceList}; queue '${opts.queue.name ?? 'recallbench'}' at ${opts.queue.url}; results → ${resolve(opts.resultsRoot)}/<name>`);

  let closing: Promise<void> | undefined;
  const shutdown = (): Promise<void> => {
    closing ??= (async () => {
      await worker.close();
      await queue.close();
    })();
    return closing;
  };
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    signals++;
    if (signals === 1) {
      say(`worker: ${signal}: finishing ${pool.running} running job(s), taking no new ones (again to stop now)`);
      stopReason ??= { code: 0 };
      void shutdown();
    } else {
      pool.stop('SIGKILL');
      process.exit(130);
    }
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  let emptyTimer: NodeJS.Timeout | undefined;
  if (opts.exitWhenEmpty) {
    emptyTimer = setInterval(async () => {
      if (closing || pool.running > 0) return;
      try {
        const c = await queue.getJobCounts('waiting', 'delayed', 'prioritized', 'active', 'waiting-children');
        if (Object.values(c).every((n) => n === 0) && pool.running === 0) {
          say(`worker ${me}: the queue is empty: stopping`);
          stopReason ??= { code: 0 };
          void shutdown();
        }
      } catch {
        // Redis away for a moment: look again next time
      }
    }, 1000);
  }

  await new Promise<void>((resolveWait) => {
    const poll = setInterval(() => {
      if (closing) {
        clearInterval(poll);
        void closing.then(() => resolveWait());
      }
    }, 100);
  });
  if (emptyTimer) clearInterval(emptyTimer);
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
  if (stopReason?.message) process.stderr.write(`recallbench: ${stopReason.message}\n`);
  return stopReason?.code ?? 0;
}
