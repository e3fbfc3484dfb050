// Sweeps over many GPUs and hosts through a job queue: BullMQ on Redis.
//
//   sweep --queue redis://HOST:PORT ...   expand the grid, enqueue one job per run (job id = the run's content
//                                         hash, so enqueuing again adds nothing), and collect what is finished
//                                         into results/<name>/ (with --wait: until every run is done or failed)
//   worker --queue URL [--gpu i]          take jobs, train each in a child process (runners/worker.ts)
//   status --queue URL                    done / running / failed / waiting (runners/queueStatus.ts)
//
// A job carries the resolved run config, the preset name and the results folder name. Its return value is the
// stored record and curve, so the host that submitted a sweep gathers every result into the usual
// runs.jsonl / runs.csv / curves/ layout even when the workers share no disk with it; `plot` works unchanged.
// Failed jobs are retried with exponential backoff (3 attempts by default) and then stay in the queue as failed,
// with their reason; a job whose worker died is found by BullMQ's stalled-job check (its lock expires) and
// given to another worker.
import { Job, Queue, RedisConnection, createBunRedisClient, type ConnectionOptions, type JobsOptions } from 'bullmq';
import { UserInputError } from '../engine/errors.js';
import type { EpochRecord } from '../engine/train.js';
import { runId, type RunConfig } from './config.js';
import { createProgress } from './progress.js';
import { checkRedis, RespConnection } from './redisWire.js';
import type { ResultsDir, RunRecord } from './results.js';

export const DEFAULT_QUEUE_NAME = 'recallbench';

export interface JobData {
  config: RunConfig;
  preset?: string;
  /** Results folder name: workers store under <their results root>/<name>/, the submitter under its --out. */
  results: string;
}

export interface JobResult {
  record: RunRecord;
  curve: EpochRecord[];
}

export interface QueueSettings {
  url: string;
  name?: string;
}

let clientInstalled = false;

/**
 * BullMQ 6 has no Redis client of its own: give it ours (runners/redisWire.ts) through its Bun-client adapter.
 * Every Queue/Worker of this process then connects with `{ url }` connection options.
 */
export function installRedisClient(): void {
  if (clientInstalled) return;
  (RedisConnection as unknown as { clientFactory?: (opts: { url?: string }) => unknown }).clientFactory = (opts) => {
    if (!opts.url) throw new Error('recallbench: a queue connection needs a redis:// URL');
    return createBunRedisClient(new RespConnection(opts.url) as never, { lazyConnect: true } as never);
  };
  clientInstalled = true;
}

export function connectionOf(url: string): ConnectionOptions {
  return { url } as unknown as ConnectionOptions;
}

/**
 * The BullMQ job id of a run: its id, except that BullMQ refuses ids that read as integers (a hex hash of only
 * digits, about 1 in 2000): those get an 'r' in front.
 */
export function jobIdOf(id: string): string {
  return `${parseInt(id, 10)}` === id ? `r${id}` : id;
}

/** A results folder name from a job: one path segment, nothing that climbs out of the results root. */
export function checkResultsName(name: unknown): string {
  if (typeof name !== 'string' || !/^[\w.-]+$/.test(name) || name === '.' || name === '..') throw new UserInputError(`job names a bad results folder ${JSON.stringify(name)} (one folder name of letters, digits, '.', '_', '-')`);
  return name;
}

/** Open the queue after checking that Redis answers (a one-line user error if not: the CLI exits 2). */
export async function openQueue(settings: QueueSettings): Promise<Queue<JobData, JobResult>> {
  await checkRedis(settings.url);
  installRedisClient();
  const queue = new Queue<JobData, JobResult>(settings.name ?? DEFAULT_QUEUE_NAME, { connection: connectionOf(settings.url) });
  queue.on('error', () => {}); // connection hiccups are retried by the client; calls that fail reject on their own
  await queue.waitUntilReady();
  return queue;
}

export interface EnqueueOptions {
  preset?: string;
  results: string;
  attempts?: number;
  /** First retry delay (ms); it doubles at each further attempt. */
  backoffMs?: number;
  /** Put failed jobs of this grid back in the queue (with fresh attempts). */
  retryFailed?: boolean;
}

export interface EnqueueReport {
  added: number;
  alreadyQueued: number;
  retried: number;
}

export function jobOptions(id: string, opts: EnqueueOptions): JobsOptions {
  return {
    jobId: jobIdOf(id),
    attempts: opts.attempts ?? 3,
    backoff: { type: 'exponential', delay: opts.backoffMs ?? 10_000 },
    removeOnComplete: false, // the return value is the result: the submitter collects it
    removeOnFail: false, // stays visible as failed, with its reason
  };
}

async function inChunks<T, R>(items: T[], size: number, f: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = [];
  for (let i = 0; i < items.length; i += size) out.push(...(await Promise.all(items.slice(i, i + size).map(f))));
  return out;
}

/** One job per run; runs already in the queue (any state) are left alone, failed ones retried on request. */
export async function enqueueRuns(queue: Queue<JobData, JobResult>, configs: RunConfig[], opts: EnqueueOptions): Promise<EnqueueReport> {
  const report: EnqueueReport = { added: 0, alreadyQueued: 0, retried: 0 };
  const existing = await inChunks(configs, 200, async (c) => ({ config: c, job: await queue.getJob(jobIdOf(runId(c))) }));
  const fresh: RunConfig[] = [];
  for (const { config, job } of existing) {
    if (!job) {
      fresh.push(config);
      continue;
    }
    report.alreadyQueued++;
    if (opts.retryFailed && (await job.isFailed())) {
      await job.retry('failed', { resetAttemptsMade: true, resetAttemptsStarted: true });
      report.retried++;
    }
  }
  for (let i = 0; i < fresh.length; i += 500) {
    const batch = fresh.slice(i, i + 500);
    await queue.addBulk(batch.map((config) => ({ name: opts.results, data: { config, preset: opts.preset, results: opts.results }, opts: jobOptions(runId(config), opts) })));
  }
  report.added = fresh.length;
  return report;
}

export interface FailedRun {
  id: string;
  label: string;
  reason: string;
  attempts: number;
}

export interface CollectReport {
  /** Runs whose result is in the results folder now. */
  done: number;
  /** Newly stored by this call. */
  stored: number;
  running: number;
  failed: FailedRun[];
  /** Waiting, delayed for a retry, or not in the queue at all. */
  waiting: number;
  missing: number;
}

export function runLabel(config: RunConfig): string {
  return `${config.label} d${config.model.dModel} lr${config.train.lr} seed${config.seed}`;
}

/** Store the results of finished jobs of this grid into `results` (once each) and count the rest. */
export async function collectResults(queue: Queue<JobData, JobResult>, configs: RunConfig[], results: ResultsDir): Promise<CollectReport> {
  const have = results.finishedIds();
  const report: CollectReport = { done: 0, stored: 0, running: 0, failed: [], waiting: 0, missing: 0 };
  const todo = configs.filter((c) => {
    if (!have.has(runId(c))) return true;
    report.done++;
    return false;
  });
  const jobs = await inChunks(todo, 200, async (config) => {
    const job = await Job.fromId<JobData, JobResult>(queue, jobIdOf(runId(config)));
    return { config, job, state: job ? await job.getState() : undefined };
  });
  for (const { config, job, state } of jobs) {
    if (!job) {
      report.missing++;
    } else if (state === 'completed' && job.returnvalue?.record) {
      const { record, curve } = job.returnvalue;
      if (record.status === 'failed') {
        report.failed.push({ id: record.id, label: runLabel(config), reason: record.error ?? 'failed', attempts: job.attemptsMade });
        continue;
      }
      results.append(record, curve ?? []);
      report.stored++;
      report.done++;
    } else if (state === 'failed') {
      report.failed.push({ id: runId(config), label: runLabel(config), reason: job.failedReason ?? 'failed', attempts: job.attemptsMade });
    } else if (state === 'active') {
      report.running++;
    } else {
      report.waiting++;
    }
  }
  return report;
}

/** Collect until every run of the grid is done or failed, with a progress bar. */
export async function waitForRuns(queue: Queue<JobData, JobResult>, configs: RunConfig[], results: ResultsDir, opts: { pollMs?: number; quiet?: boolean } = {}): Promise<CollectReport> {
  const bar = createProgress('sweep', opts.quiet);
  for (;;) {
    const r = await collectResults(queue, configs, results);
    bar.update(r.done + r.failed.length, configs.length, `${r.done} done, ${r.running} running, ${r.failed.length} failed, ${r.waiting} waiting`);
    if (r.running + r.waiting + r.missing === 0) {
      bar.stop();
      return r;
    }
    if (r.missing > 0 && r.running + r.waiting === 0) {
      bar.stop();
      throw new UserInputError(`${r.missing} run(s) of this sweep are not in the queue (removed?): run the same sweep command again to enqueue them`);
    }
    await new Promise((res) => setTimeout(res, opts.pollMs ?? 1000));
  }
}

export interface SubmitOptions extends EnqueueOptions {
  wait?: boolean;
  pollMs?: number;
  quiet?: boolean;
}

/**
 * `sweep --queue URL`: gather what is already finished into the results folder, enqueue the runs that are
 * neither finished nor queued, and (wait) keep gathering until every run is done or failed. Idempotent: the
 * same command again adds nothing and collects whatever finished since.
 */
export async function submitSweep(settings: QueueSettings, configs: RunConfig[], results: ResultsDir, opts: SubmitOptions): Promise<CollectReport> {
  checkResultsName(opts.results);
  const queue = await openQueue(settings);
  const say = (line: string) => {
    if (!opts.quiet) process.stderr.write(`${line}\n`);
  };
  try {
    const before = await collectResults(queue, configs, results);
    const local = results.finishedIds();
    const toQueue = configs.filter((c) => !local.has(runId(c)));
    const e = await enqueueRuns(queue, toQueue, opts);
    const where = `queue '${settings.name ?? DEFAULT_QUEUE_NAME}' at ${settings.url}`;
    say(`sweep: ${configs.length} runs: ${before.done} finished (results in ${results.dir}), ${e.added} enqueued, ${e.alreadyQueued} already in the ${where}${e.retried ? ` (${e.retried} failed runs put back)` : ''}`);
    if (!opts.wait) {
      const r = await collectResults(queue, configs, results);
      say(`sweep: ${r.done} done, ${r.running} running, ${r.failed.length} failed, ${r.waiting + r.missing} waiting: start workers with \`recallbench worker --queue ${settings.url}\`; watch with \`recallbench status --queue ${settings.url}\`; run this command again (or with --wait) to gather results`);
      return r;
    }
    return await waitForRuns(queue, configs, results, { pollMs: opts.pollMs, quiet: opts.quiet });
  } finally {
    await queue.close();
  }
}
