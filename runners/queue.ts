// Sweeps over many GPUs and hosts through a job queue: BullMQ on Redis, through ioredis (BullMQ's usual client).
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
import { Job, Queue, type JobsOptions, type RedisOptions } from 'bullmq';
import { Redis, ReplyError } from 'ioredis';
import { UserInputError } from '../engine/errors.js';
import type { EpochRecord } from '../engine/train.js';
import { runId, type RunConfig } from './config.js';
import { createProgress } from './progress.js';
import type { ResultsDir, RunRecord } from './results.js';

const DEFAULT_QUEUE_NAME = 'recallbench';

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

/** How long BullMQ's connections wait for Redis to accept one (ioredis's own default is 10 s). */
export const CONNECT_TIMEOUT_MS = 5000;

/**
 * redis://[user:password@]host[:port][/db], or rediss://... for TLS; anything else is a one-line user error.
 * ioredis itself is lenient: it takes a bare word as a host name and ignores a path that is not a number (so
 * 'redis://h/x' would silently use database 0).
 */
export function checkRedisUrl(url: string): void {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new UserInputError(`--queue: '${url}' is not a Redis URL (expected redis://HOST:PORT)`);
  }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') throw new UserInputError(`--queue: '${url}' is not a Redis URL (expected redis://HOST:PORT, or rediss:// for TLS)`);
  if (!u.hostname) throw new UserInputError(`--queue: '${url}' names no host (expected redis://HOST:PORT)`);
  const dbText = u.pathname.replace(/^\//, '');
  if (dbText && !/^\d+$/.test(dbText)) throw new UserInputError(`--queue: '${url}': the path must be a database number, got '/${dbText}'`);
}

/**
 * Connection options for a Queue/Worker. BullMQ builds its ioredis clients from them itself (the URL's host,
 * port, credentials, database and TLS win over its defaults; it adds its endless reconnect backoff).
 */
export function connectionOf(url: string): RedisOptions {
  return { url, connectTimeout: CONNECT_TIMEOUT_MS };
}

/** The first line of an error's message, for one-line reports (a Lua error carries its script's trace). */
const firstLine = (e: unknown) => String((e as Error)?.message ?? e).split('\n')[0]!;

/**
 * Connect, PING, disconnect, each bounded by `timeoutMs`: a one-line user error when Redis cannot be reached
 * or refuses us (so the CLI exits 2 at once, instead of BullMQ reconnecting forever in the background).
 */
export async function checkRedis(url: string, timeoutMs = 3000): Promise<void> {
  checkRedisUrl(url);
  // No retries and no offline queue: the first failure is the answer. No ready check (INFO) and no CLIENT
  // SETINFO: PING is the one command whose reply we wait for, so a server that accepts connections but never
  // answers fails after timeoutMs, not after ioredis's own multi-second grace periods.
  const client = new Redis(url, {
    lazyConnect: true,
    connectTimeout: timeoutMs,
    commandTimeout: timeoutMs,
    retryStrategy: () => null,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    enableReadyCheck: false,
    disableClientInfo: true,
  });
  // ioredis tells why a connection failed only through 'error' events (connect() and pending commands then
  // reject with "Connection is closed."), and prints unhandled ones to the console: keep the first one. A
  // failed SELECT (database out of range) is only such an event: the connection then carries on in database 0.
  let cause: (Error & { code?: string }) | undefined;
  client.on('error', (e: Error) => (cause ??= e));
  const describe = (e: Error & { code?: string }): string => {
    if (/timed out/i.test(e.message)) return `no reply to PING within ${timeoutMs} ms`;
    if (e.code === 'ETIMEDOUT') return `cannot reach Redis: no connection within ${timeoutMs} ms (ETIMEDOUT)`;
    if (e.code) return `cannot reach Redis: ${e.code}`; // a socket error: ECONNREFUSED, ENOTFOUND, ...
    if (e instanceof ReplyError) return `Redis refused the connection: ${firstLine(e)}`; // its reply to AUTH, SELECT or PING
    return `no Redis answers there: ${firstLine(e)}`; // something else does (ioredis: "Protocol error, got ...")
  };
  try {
    let pong: string;
    try {
      await client.connect();
      pong = await client.ping();
    } catch (e) {
      throw new Error(describe(cause ?? (e as Error)));
    }
    if (cause) throw new Error(describe(cause));
    if (pong !== 'PONG') throw new Error(`unexpected reply to PING: ${JSON.stringify(pong)}`);
  } catch (e) {
    throw new UserInputError(`--queue ${url}: ${(e as Error).message}`);
  } finally {
    client.disconnect();
  }
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

function jobOptions(id: string, opts: EnqueueOptions): JobsOptions {
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
async function collectResults(queue: Queue<JobData, JobResult>, configs: RunConfig[], results: ResultsDir): Promise<CollectReport> {
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
async function waitForRuns(queue: Queue<JobData, JobResult>, configs: RunConfig[], results: ResultsDir, opts: { pollMs?: number; quiet?: boolean } = {}): Promise<CollectReport> {
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
