// Scale-out on BullMQ/Redis through the real CLI: enqueue a tiny grid (twice: no duplicates), restart Redis
// between enqueue and work (nothing lost), three workers of which one is SIGKILLed mid-job (every run completes
// exactly once; the results equal a local sweep's), and one-line exit-2 errors for a bad URL or Redis down.
// Needs Debian's redis-server on PATH (each test starts and stops its own on a loopback port).
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bundleCli, cli as cliInProcess, spawnCli } from './cliRunner.js';
import { freePort, redisServerPath, TestRedis } from './queueRedis.js';
import { connectionOf, enqueueRuns, jobIdOf, openQueue } from '../runners/queue.js';
import { resolveRunConfig } from '../runners/run.js';
import { Queue } from 'bullmq';

const QUEUE = 'rbtest';
const GRID = ['--backend', 'cpu', '--arch', 'attention', '--d-model', '8', '--lr', '0.01', '0.003', '--seeds', '0', '1', '--setting', '16:2', '--vocab-size', '32', '--train-examples', '32', '--test-examples', '16', '--epochs', '1', '--batch-size', '16', '--name', 'qt'];

interface Done {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

function start(args: string[], env: Record<string, string> = {}): { proc: ChildProcess; done: Promise<Done>; onLine(f: (line: string) => void): void } {
  const proc = spawnCli(args, { env, bundled: true }); // the bundled program: workers start in a third of the time
  let stdout = '';
  let stderr = '';
  const listeners: Array<(line: string) => void> = [];
  let partial = '';
  proc.stdout!.on('data', (d) => (stdout += d));
  proc.stderr!.on('data', (d) => {
    stderr += d;
    const lines = (partial + d.toString()).split('\n');
    partial = lines.pop()!;
    for (const l of lines) for (const f of listeners) f(l);
  });
  const done = new Promise<Done>((resolve) => proc.on('close', (status, signal) => resolve({ status, signal, stdout, stderr })));
  return { proc, done, onLine: (f) => listeners.push(f) };
}

const cli = (args: string[]) => start(args).done;

interface Rec {
  id: string;
  status: string;
  config: unknown;
  params: number;
  steps: number;
  epochs: number;
  bestEpoch: number;
  testAccuracy: number;
  validationAccuracy: number;
  finalTestAccuracy: number;
  testSlices: Record<string, number>;
  stateFloats: unknown;
  worker?: string;
}

function lines(path: string): Rec[] {
  return existsSync(path) ? readFileSync(path, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Rec) : [];
}

/** What must be equal between two sweeps of one grid on the cpu backend: ids, configs and every metric. */
function comparable(r: Rec) {
  return { id: r.id, status: r.status, config: r.config, params: r.params, steps: r.steps, epochs: r.epochs, bestEpoch: r.bestEpoch, testAccuracy: r.testAccuracy, validationAccuracy: r.validationAccuracy, finalTestAccuracy: r.finalTestAccuracy, testSlices: r.testSlices, stateFloats: r.stateFloats };
}

function byId(recs: Rec[]) {
  return Object.fromEntries(recs.map((r) => [r.id, comparable(r)]));
}

async function queueCounts(url: string, name = QUEUE) {
  const q = new Queue(name, { connection: connectionOf(url) });
  q.on('error', () => {});
  try {
    return await q.getJobCounts('waiting', 'active', 'completed', 'failed', 'delayed', 'prioritized');
  } finally {
    await q.close();
  }
}

async function jobOf(url: string, id: string, name = QUEUE) {
  const q = new Queue(name, { connection: connectionOf(url) });
  q.on('error', () => {});
  try {
    const job = await q.getJob(jobIdOf(id));
    return job ? { processedBy: job.processedBy, attemptsStarted: job.attemptsStarted, attemptsMade: job.attemptsMade, failedReason: job.failedReason, state: await job.getState() } : undefined;
  } finally {
    await q.close();
  }
}

const haveRedis = redisServerPath() !== undefined;
if (!haveRedis) console.log('tests/queue.test.ts: redis-server is not on PATH (apt-get install -y redis-server): skipping the queue tests that need Redis');

describe.skipIf(!haveRedis)('queue: sweeps through BullMQ on Redis', () => {
  let redis: TestRedis;
  const dir = mkdtempSync(join(tmpdir(), 'rb-queue-'));
  const started: ChildProcess[] = [];
  let serial: Promise<Done>;

  beforeAll(async () => {
    redis = await TestRedis.start();
    await bundleCli();
    // the local sweep to compare with, trained meanwhile
    serial = cli(['sweep', ...GRID, '--quiet', '--out', join(dir, 'serial')]);
  });

  afterAll(async () => {
    for (const p of started) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
    await redis?.stop();
  });

  it('enqueuing the same grid twice adds nothing', async () => {
    const first = await cli(['sweep', ...GRID, '--queue', redis.url, '--queue-name', QUEUE, '--out', join(dir, 'collected')]);
    expect(first.status, first.stderr).toBe(0);
    expect(first.stderr).toMatch(/4 runs: 0 finished .* 4 enqueued, 0 already/);
    const second = await cli(['sweep', ...GRID, '--queue', redis.url, '--queue-name', QUEUE, '--out', join(dir, 'collected')]);
    expect(second.status, second.stderr).toBe(0);
    expect(second.stderr).toMatch(/0 enqueued, 4 already/);
    const c = await queueCounts(redis.url);
    expect(c.waiting + c.prioritized).toBe(4);
    expect(c.active + c.completed + c.failed + c.delayed).toBe(0);
  });

  it('a restart of Redis (append-only file) between enqueue and work loses no job', async () => {
    await redis.restart();
    const c = await queueCounts(redis.url);
    expect(c.waiting + c.prioritized).toBe(4);
  });

  it('three workers, one SIGKILLed mid-job: every run completes exactly once and equals a local sweep', async () => {
    const workerArgs = ['worker', '--backend', 'cpu', '--queue', redis.url, '--queue-name', QUEUE, '--results', join(dir, 'workers'), '--lock-duration', '3000', '--stalled-interval', '1000', '--exit-when-empty'];
    const workers = [0, 1, 2].map(() => start(workerArgs));
    started.push(...workers.map((w) => w.proc));
    // kill the first worker seen starting a job: it is mid-job (its run's process is starting or training)
    const killed = await new Promise<{ index: number; job: string }>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no worker started a job within 90 s')), 90_000);
      workers.forEach((w, index) =>
        w.onLine((line) => {
          const m = /\] job (\w+) .*\(attempt 1\/3\)/.exec(line);
          if (m && !w.proc.killed && started.every((p) => !p.killed)) {
            w.proc.kill('SIGKILL');
            clearTimeout(timer);
            resolve({ index, job: m[1]! });
          }
        }),
      );
    });
    const killedName = `${hostname()}:${workers[killed.index]!.proc.pid}`;
    const outcomes = await Promise.all(workers.map((w) => w.done));
    expect(outcomes[killed.index]!.signal).toBe('SIGKILL');
    for (const [i, o] of outcomes.entries()) if (i !== killed.index) expect(o.status, o.stderr).toBe(0);

    const c = await queueCounts(redis.url);
    expect(c).toMatchObject({ completed: 4, failed: 0, waiting: 0, active: 0, delayed: 0 });
    // the killed worker's job went to another worker (stalled-job recovery)
    const job = await jobOf(redis.url, killed.job);
    expect(job?.state).toBe('completed');
    expect(job?.processedBy).not.toBe(killedName);
    expect(job?.attemptsStarted).toBeGreaterThanOrEqual(2);

    // exactly once in the workers' results folder
    const stored = lines(join(dir, 'workers', 'qt', 'runs.jsonl'));
    expect(stored.map((r) => r.id).sort()).toEqual([...new Set(stored.map((r) => r.id))].sort());
    expect(stored).toHaveLength(4);
    expect(stored.every((r) => r.status === 'done' || r.status === 'early-stop')).toBe(true);

    // the submitter gathers the results into its own folder (no shared disk needed)
    const gathered = await cli(['sweep', ...GRID, '--queue', redis.url, '--queue-name', QUEUE, '--out', join(dir, 'collected'), '--wait']);
    expect(gathered.status, gathered.stderr).toBe(0);
    const collected = lines(join(dir, 'collected', 'runs.jsonl'));
    expect(collected).toHaveLength(4);
    expect(gathered.stdout).toMatch(/^attention d8\s+[\d.]+ KB\s+\d+\s/m); // the summary table, one row per model

    const local = await serial;
    expect(local.status, local.stderr).toBe(0);
    const reference = byId(lines(join(dir, 'serial', 'runs.jsonl')));
    expect(Object.keys(reference)).toHaveLength(4);
    expect(byId(stored)).toEqual(reference);
    expect(byId(collected)).toEqual(reference);
    // curves came along too
    for (const id of Object.keys(reference)) expect(existsSync(join(dir, 'collected', 'curves', `${id}.json`))).toBe(true);
  });

  it('a run whose process keeps crashing is retried 3 times with backoff, then stays failed with its reason', async () => {
    const q = ['--queue', redis.url, '--queue-name', 'crashing'];
    // enqueued from here (what `sweep --queue` does, without one more process start)
    const config = resolveRunConfig({ label: 'attention', data: { common: { vocabSize: 32 }, train: [{ seqLen: 16, numKvPairs: 2, count: 32 }], test: [{ seqLen: 16, numKvPairs: 2, count: 16 }] }, model: { dModel: 8, layers: [{ mixer: 'attention' }] }, train: { lr: 0.01, epochs: 1 } });
    const queue = await openQueue({ url: redis.url, name: 'crashing' });
    expect(await enqueueRuns(queue, [config], { results: 'crash', backoffMs: 200 })).toEqual({ added: 1, alreadyQueued: 0, retried: 0 });
    await queue.close();
    // every run process of this worker SIGKILLs itself as its run starts (runners/faults.ts)
    const w = start(['worker', '--backend', 'cpu', ...q, '--results', join(dir, 'crash-workers'), '--exit-when-empty'], { RECALLBENCH_KILL_AT: 'run-start:1' });
    started.push(w.proc);
    const out = await w.done;
    expect(out.status, out.stderr).toBe(0); // the worker itself survived all three crashes
    expect(out.stderr.match(/failed \(attempt \d\/3/g)).toHaveLength(3);
    const c = await queueCounts(redis.url, 'crashing');
    expect(c).toMatchObject({ completed: 0, failed: 1, waiting: 0, active: 0, delayed: 0 });
    expect(lines(join(dir, 'crash-workers', 'crash', 'runs.jsonl'))).toHaveLength(0); // nothing stored: each attempt died before training
    const status = await cli(['status', ...q]);
    expect(status.status, status.stderr).toBe(0);
    expect(status.stdout).toMatch(/\[#{30}\] 100%\s+0\/1 done, 0 running, 1 failed, 0 waiting/);
    expect(status.stdout).toMatch(/after 3 attempt\(s\): the run's process died \(signal SIGKILL\)/);
  });
});

// in this process (src/cli.ts main): one at a time, each captures this process's output
describe('queue: bad URL or Redis down exits 2 with one line', () => {
  it.each([
    ['sweep, not a URL', (port: number) => ['sweep', ...GRID, '--queue', 'localhost:6379', '--out', join(tmpdir(), `rb-q-${port}`)], /--queue: 'localhost:6379' is not a Redis URL/],
    ['status, Redis down', (port: number) => ['status', '--queue', `redis://127.0.0.1:${port}`], /cannot reach Redis: ECONNREFUSED/],
    ['worker, Redis down', (port: number) => ['worker', '--backend', 'cpu', '--queue', `redis://127.0.0.1:${port}`], /cannot reach Redis: ECONNREFUSED/],
  ] as Array<[string, (port: number) => string[], RegExp]>)('%s', async (_what, args, message) => {
    const port = await freePort(); // nothing listens there
    const r = await cliInProcess(args(port));
    expect(r.status, r.stderr).toBe(2);
    const errLines = r.stderr.trim().split('\n').filter((l) => !/nodedir|npm warn/.test(l));
    expect(errLines, r.stderr).toHaveLength(1);
    expect(errLines[0]).toMatch(/^recallbench: /);
    expect(errLines[0]).toMatch(message);
  });
});
