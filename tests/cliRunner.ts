// The CLI for tests, two ways:
//   cli(args)                   in this process (src/cli.ts main): the exit code and everything written to stdout
//                               and stderr, by the command and by the modules below it — for messages and exit codes
//   runCli / runCliAsync / spawnCli  the real program in a child process (node --import tsx src/cli.ts), the one spawn
//                               helper: for what needs a process of its own (signals, kills, environment
//                               variables read at start, the exit code of the binary itself). { bundled: true }:
//                               the program bundled into one file with esbuild, as the GPU-host bundle is (built
//                               once per test process): the same code, started in a third of the time (no tsx
//                               loader, no CommonJS export scan of tfjs) — for tests that start dozens of processes
import { build } from 'esbuild';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { renameSync, rmSync } from 'node:fs';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const CLI = join(ROOT, 'src', 'cli.ts');

export interface CliResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Run one command in this process (the working directory is the repository root, as for runCli). Whatever is
 * written to process.stdout/stderr meanwhile (a sweep's progress lines) is captured too, so "exactly one line on
 * stderr" means what it means for the program.
 */
export async function cli(args: string[]): Promise<CliResult> {
  const { main } = await import('../src/cli.js');
  let stdout = '';
  let stderr = '';
  const sink = (add: (text: string) => void) => new Writable({ write(chunk, _encoding, done) { add(String(chunk)); done(); } });
  const out = sink((t) => (stdout += t));
  const err = sink((t) => (stderr += t));
  const realOut = process.stdout.write;
  const realErr = process.stderr.write;
  process.stdout.write = ((chunk: unknown) => ((stdout += String(chunk)), true)) as typeof process.stdout.write;
  process.stderr.write = ((chunk: unknown) => ((stderr += String(chunk)), true)) as typeof process.stderr.write;
  // captured output is a pipe's, as runCli's is: plain progress lines, never a terminal's progress bar
  const ownTty = Object.prototype.hasOwnProperty.call(process.stderr, 'isTTY');
  const tty = process.stderr.isTTY;
  Object.defineProperty(process.stderr, 'isTTY', { value: false, configurable: true, writable: true });
  try {
    const status = await main(args, { stdout: out, stderr: err });
    return { status, stdout, stderr };
  } finally {
    process.stdout.write = realOut;
    process.stderr.write = realErr;
    if (ownTty) process.stderr.isTTY = tty;
    else delete (process.stderr as { isTTY?: boolean }).isTTY;
  }
}

let bundle: string | undefined;

/**
 * Bundle src/cli.ts into node_modules/.cache/recallbench-tests/cli.mjs (packages resolve from node_modules; the
 * native and drawing packages stay outside, as in the GPU-host bundle); once per test process, built beside it
 * and renamed into place, so test processes bundling at once never see half a file.
 */
export async function bundleCli(): Promise<void> {
  if (bundle) return;
  const dir = join(ROOT, 'node_modules', '.cache', 'recallbench-tests');
  const building = join(dir, `build-${process.pid}`, 'cli.mjs');
  await build({
    entryPoints: [CLI],
    outfile: building,
    bundle: true,
    platform: 'node',
    format: 'esm',
    external: ['webgpu', '@resvg/resvg-js', 'vega', 'vega-lite'],
    banner: { js: "import { createRequire as __rbRequire } from 'node:module'; const require = __rbRequire(import.meta.url);" },
    logLevel: 'error',
  });
  bundle = join(dir, 'cli.mjs');
  renameSync(building, bundle);
  rmSync(dirname(building), { recursive: true, force: true });
}

function cliArgs(args: string[], bundled = false): string[] {
  if (!bundled) return ['--import', 'tsx', CLI, ...args];
  if (!bundle) throw new Error('bundled: await bundleCli() first (in beforeAll)');
  return [bundle, ...args];
}

interface SpawnOptions {
  cwd?: string;
  env?: Record<string, string>;
  /** The esbuild bundle of the program (bundleCli) instead of src/cli.ts through tsx. */
  bundled?: boolean;
}

/** The program in a child process, to its end. */
export function runCli(args: string[], opts: SpawnOptions & { timeoutMs?: number } = {}): CliResult & { signal: NodeJS.Signals | null } {
  const r = spawnSync(process.execPath, cliArgs(args, opts.bundled), {
    cwd: opts.cwd ?? ROOT,
    encoding: 'utf8',
    timeout: opts.timeoutMs ?? 120_000,
    env: { ...process.env, ...opts.env },
  });
  return { status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

/** The program in a child process, running (detached: in a process group of its own, as a terminal starts it). */
export function spawnCli(args: string[], opts: SpawnOptions & { detached?: boolean } = {}): ChildProcess {
  return spawn(process.execPath, cliArgs(args, opts.bundled), { cwd: opts.cwd ?? ROOT, env: { ...process.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'], detached: opts.detached ?? false });
}

/** The program in a child process, to its end, without blocking this one (several at once, or beside other work). */
export function runCliAsync(args: string[], opts: SpawnOptions = {}): Promise<CliResult & { signal: NodeJS.Signals | null }> {
  return new Promise((resolve) => {
    const p = spawnCli(args, opts);
    let stdout = '';
    let stderr = '';
    p.stdout!.on('data', (d) => (stdout += d));
    p.stderr!.on('data', (d) => (stderr += d));
    p.on('close', (status, signal) => resolve({ status, signal, stdout, stderr }));
  });
}
