// Progress with ETA: a cli-progress bar on a terminal, plain lines (one per ~10%) otherwise (CI logs, pipes).
import cliProgress from 'cli-progress';

export interface Progress {
  update(done: number, total: number, label?: string): void;
  log(line: string): void;
  stop(): void;
}

export function createProgress(title: string, quiet = false): Progress {
  if (quiet) return { update() {}, log() {}, stop() {} };
  if (process.stderr.isTTY) {
    const bar = new cliProgress.SingleBar(
      { format: `${title} [{bar}] {percentage}% | {value}/{total} | ETA {eta_formatted} | {label}`, stream: process.stderr, hideCursor: true, etaBuffer: 50 },
      cliProgress.Presets.shades_classic,
    );
    let started = false;
    return {
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
        process.stderr.write(`${line}\n`);
      },
      stop() {
        if (started) bar.stop();
        started = false;
      },
    };
  }
  const t0 = performance.now();
  let lastDecile = -1;
  return {
    update(done, total, label = '') {
      const decile = Math.floor((10 * done) / Math.max(1, total));
      if (decile === lastDecile) return;
      lastDecile = decile;
      const elapsed = (performance.now() - t0) / 1000;
      const eta = done > 0 ? (elapsed * (total - done)) / done : NaN;
      process.stderr.write(`${title} ${done}/${total} (${Math.round((100 * done) / Math.max(1, total))}%) ${label} elapsed ${elapsed.toFixed(0)}s${Number.isFinite(eta) ? ` eta ${eta.toFixed(0)}s` : ''}\n`);
    },
    log(line) {
      process.stderr.write(`${line}\n`);
    },
    stop() {},
  };
}
