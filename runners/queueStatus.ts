// `recallbench status --queue redis://HOST:PORT [--watch]`: how far the queued sweeps are — done, running,
// failed, waiting — with a progress bar, the runs in progress (which worker, for how long) and the failed runs
// with their reasons.
import cliProgress from 'cli-progress';
import type { Job, Queue } from 'bullmq';
import { openQueue, runLabel, type JobData, type JobResult, type QueueSettings } from './queue.js';

export interface QueueSnapshot {
  done: number;
  running: number;
  failed: number;
  /** Waiting for a worker (waiting, prioritized, delayed) ... */
  waiting: number;
  /** ... of which delayed: waiting out a retry's backoff. */
  retrying: number;
  total: number;
  active: Array<{ id: string; label: string; worker: string; seconds: number; attempt: number }>;
  failures: Array<{ id: string; label: string; reason: string; attempts: number }>;
}

export async function snapshot(queue: Queue<JobData, JobResult>, listLimit = 20): Promise<QueueSnapshot> {
  const c = await queue.getJobCounts('active', 'completed', 'delayed', 'failed', 'prioritized', 'waiting', 'waiting-children');
  const waiting = (c.waiting ?? 0) + (c.prioritized ?? 0) + (c.delayed ?? 0) + (c['waiting-children'] ?? 0);
  const done = c.completed ?? 0;
  const running = c.active ?? 0;
  const failed = c.failed ?? 0;
  const label = (j: Job<JobData, JobResult>) => (j.data?.config ? runLabel(j.data.config) : j.name);
  const now = Date.now();
  const active = (await queue.getActive(0, listLimit - 1)).filter(Boolean).map((j) => ({
    id: String(j.id),
    label: label(j),
    worker: j.processedBy ?? '?',
    seconds: j.processedOn ? (now - j.processedOn) / 1000 : 0,
    attempt: (j.attemptsMade ?? 0) + 1,
  }));
  const failures = (await queue.getFailed(0, listLimit - 1)).filter(Boolean).map((j) => ({
    id: String(j.id),
    label: label(j),
    reason: String(j.failedReason ?? '').split('\n')[0]!,
    attempts: j.attemptsMade ?? 0,
  }));
  return { done, running, failed, waiting, retrying: c.delayed ?? 0, total: done + running + failed + waiting, active, failures };
}

/** A text progress bar: [#######-------] 50%. */
function textBar(fraction: number, width = 30): string {
  const f = Math.max(0, Math.min(1, Number.isFinite(fraction) ? fraction : 0));
  const full = Math.round(f * width);
  return `[${'#'.repeat(full)}${'-'.repeat(width - full)}] ${Math.round(f * 100)}%`;
}

function summaryLine(s: QueueSnapshot): string {
  return `${s.done}/${s.total} done, ${s.running} running, ${s.failed} failed, ${s.waiting} waiting${s.retrying ? ` (${s.retrying} retrying after a failure)` : ''}`;
}

function minutes(seconds: number): string {
  const m = Math.floor(seconds / 60);
  return m > 0 ? `${m}m${String(Math.round(seconds % 60)).padStart(2, '0')}s` : `${seconds.toFixed(0)}s`;
}

function formatSnapshot(s: QueueSnapshot, where: string): string {
  const lines = [`queue ${where}`, `${textBar(s.total ? (s.done + s.failed) / s.total : 0)}  ${summaryLine(s)}`];
  if (s.total === 0) lines.push('(no jobs: enqueue a sweep with `recallbench sweep ... --queue URL`)');
  if (s.active.length) {
    lines.push('running:');
    for (const a of s.active) lines.push(`  ${a.id}  ${a.label.padEnd(34)} on ${a.worker}, ${minutes(a.seconds)}${a.attempt > 1 ? `, attempt ${a.attempt}` : ''}`);
  }
  if (s.failures.length) {
    lines.push('failed:');
    for (const f of s.failures) lines.push(`  ${f.id}  ${f.label.padEnd(34)} after ${f.attempts} attempt(s): ${f.reason}`);
    if (s.failed > s.failures.length) lines.push(`  ... and ${s.failed - s.failures.length} more`);
  }
  return lines.join('\n');
}

/** Print the queue's state once, or (watch) keep a progress bar up until nothing is waiting or running. */
export async function showStatus(settings: QueueSettings, opts: { watch?: boolean; intervalMs?: number } = {}): Promise<QueueSnapshot> {
  const queue = await openQueue(settings);
  const where = `'${settings.name ?? 'recallbench'}' at ${settings.url}`;
  try {
    let s = await snapshot(queue);
    if (!opts.watch) {
      process.stdout.write(`${formatSnapshot(s, where)}\n`);
      return s;
    }
    const tty = process.stderr.isTTY;
    const bar = tty ? new cliProgress.SingleBar({ format: 'queue [{bar}] {percentage}% | {summary}', stream: process.stderr, hideCursor: true }, cliProgress.Presets.shades_classic) : undefined;
    bar?.start(Math.max(1, s.total), s.done + s.failed, { summary: summaryLine(s) });
    let last = '';
    for (;;) {
      const line = summaryLine(s);
      if (bar) {
        bar.setTotal(Math.max(1, s.total));
        bar.update(s.done + s.failed, { summary: line });
      } else if (line !== last) {
        process.stderr.write(`${textBar(s.total ? (s.done + s.failed) / s.total : 0)}  ${line}\n`);
      }
      last = line;
      if (s.running + s.waiting === 0) break;
      await new Promise((r) => setTimeout(r, opts.intervalMs ?? 2000));
      s = await snapshot(queue);
    }
    bar?.stop();
    process.stdout.write(`${formatSnapshot(s, where)}\n`);
    return s;
  } finally {
    await queue.close();
  }
}
