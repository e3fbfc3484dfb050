// What a person reads while runs train: one line per run start and finish and one per epoch (written by the
// callers through log()), and between them a progress indication with an ETA —
//   - on a terminal: a cli-progress bar under the lines;
//   - otherwise (CI logs, pipes, `| tee`): a plain progress line whenever PROGRESS_EVERY_MS passed without any
//     output, so a log never goes quiet for longer than that while something trains.
// Ctrl-C: announceInterrupts (below).
import { spawn } from 'node:child_process';
import cliProgress from 'cli-progress';

export interface Progress {
  update(done: number, total: number, label?: string): void;
  log(line: string): void;
  stop(): void;
}

/** Without a terminal: the longest a log stays quiet while something trains. */
const PROGRESS_EVERY_MS = 20_000;

/** "0.4 s", "95 s", "3.2 min", "1.5 h" */
export function formatSeconds(s: number): string {
  if (!Number.isFinite(s)) return '?';
  if (s < 10) return `${s.toFixed(1)} s`;
  if (s < 100) return `${s.toFixed(0)} s`;
  if (s < 100 * 60) return `${(s / 60).toFixed(1)} min`;
  return `${(s / 3600).toFixed(1)} h`;
}

export interface ProgressOptions {
  quiet?: boolean;
  /** Force the plain-line mode (tests); default: plain lines unless stderr is a terminal. */
  tty?: boolean;
  /** Where lines go (default process.stderr). */
  write?: (text: string) => void;
  /** Quiet time after which the plain mode prints a progress line (default PROGRESS_EVERY_MS). */
  everyMs?: number;
  /** Clock (tests). */
  now?: () => number;
}

export function createProgress(title: string, quietOrOptions: boolean | ProgressOptions = false): Progress {
  const opts: ProgressOptions = typeof quietOrOptions === 'boolean' ? { quiet: quietOrOptions } : quietOrOptions;
  if (opts.quiet) return { update() {}, log() {}, stop() {} };
  const write = opts.write ?? ((text: string) => void process.stderr.write(text));
  const now = opts.now ?? (() => performance.now());
  if (opts.tty ?? process.stderr.isTTY) {
    const bar = new cliProgress.SingleBar(
      { format: `${title} [{bar}] {percentage}% | {value}/{total} steps | ETA {eta_formatted} | {label}`, stream: process.stderr, hideCursor: true, etaBuffer: 50 },
      cliProgress.Presets.shades_classic,
    );
    let started = false;
    const p: Progress = {
      update(done, total, label = '') {
        if (!started) {
          bar.start(total, done, { label });
          started = true;
        } else {
          bar.setTotal(total);
          bar.update(done, { label });
        }
      },
      log(line) {
        if (started) bar.stop();
        started = false;
        write(`${line}\n`);
      },
      stop() {
        if (started) bar.stop();
        started = false;
      },
    };
    return p;
  }
  const everyMs = opts.everyMs ?? PROGRESS_EVERY_MS;
  const t0 = now();
  let lastOutput = t0;
  let last: { done: number; total: number; label: string } | undefined;
  const line = () => {
    if (!last) return;
    const elapsed = (now() - t0) / 1000;
    // steps are an upper bound (early stopping ends runs sooner): so is the ETA
    const eta = last.done > 0 ? (elapsed * (last.total - last.done)) / last.done : NaN;
    write(`${title}: ${last.done}/${last.total} steps (${Math.floor((100 * last.done) / Math.max(1, last.total))}%)${last.label ? ` ${last.label}` : ''}, ${formatSeconds(elapsed)} elapsed${Number.isFinite(eta) ? `, at most ${formatSeconds(eta)} left` : ''}\n`);
    lastOutput = now();
  };
  // a step or an evaluation can be long: a ticker covers the gaps between updates (unref: never keeps node alive)
  let ticker: ReturnType<typeof setInterval> | undefined;
  const p: Progress = {
    update(done, total, label = '') {
      last = { done, total, label };
      if (!ticker && opts.now === undefined) {
        ticker = setInterval(() => {
          if (now() - lastOutput >= everyMs) line();
        }, Math.min(everyMs, 5_000));
        ticker.unref();
      }
      if (now() - lastOutput >= everyMs) line();
    },
    log(text) {
      write(`${text}\n`);
      lastOutput = now();
    },
    stop() {
      if (ticker) clearInterval(ticker);
      ticker = undefined;
    },
  };
  return p;
}

const INTERRUPTED_LINE = 'interrupted — re-run the same command to resume (finished runs are kept; the run in progress resumes from its last epoch)';

let guarded = false;

/**
 * Ctrl-C during train/sweep. Training on cpu/wasm runs a whole epoch synchronously, so a SIGINT handler in this
 * process could not run before the epoch ends (and would keep a second Ctrl-C from killing it). So this process
 * keeps the default action — it stops at once, which the results folder is built for (crash-safe at any instant:
 * finished runs are stored, the run in progress resumes from its last epoch checkpoint) — and a small guard
 * process in the same process group, which the terminal's Ctrl-C reaches too, prints the one line saying so
 * (restoring the cursor a progress bar hid). The guard leaves when this process exits, however it exits.
 */
export function announceInterrupts(): void {
  // one guard per process (a test that runs several commands in-process starts one)
  if (guarded) return;
  guarded = true;
  // the parent's pid is passed in, not read as process.ppid at the guard's start: a parent killed before the guard's
  // first line ran (a loaded machine) would leave it reparented already, and a guard that took its new parent (init)
  // for ours would never leave — holding our stderr open, so whoever reads it to its end waits forever
  const script = `
    const parent = ${process.pid};
    if (process.ppid !== parent) process.exit(0);
    process.on('SIGINT', () => {
      process.stderr.write((process.stderr.isTTY ? '\\x1b[?25h' : '') + '\\n' + ${JSON.stringify(INTERRUPTED_LINE)} + '\\n');
      process.exit(0);
    });
    process.on('SIGTERM', () => process.exit(0));
    setInterval(() => { if (process.ppid !== parent) process.exit(0); }, 500);
  `;
  try {
    const guard = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'ignore', 'inherit'], env: {} });
    guard.unref();
    guard.on('error', () => {});
    process.on('exit', () => {
      try {
        guard.kill('SIGTERM');
      } catch {
        // already gone
      }
    });
  } catch {
    // no guard: Ctrl-C still stops the run at once, only without the line
  }
}
