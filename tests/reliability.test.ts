// Crash safety and concurrency of sweeps, through the real CLI in child processes:
//  1. a sweep SIGKILLed at ≥ 20 points of a seeded schedule (mid-epoch, mid-write of a checkpoint / runs.jsonl /
//     runs.csv, between runs) and resumed each time ends with every run exactly once in runs.jsonl and runs.csv,
//     with the same ids, configs and (cpu backend) metrics and curves as an uninterrupted sweep; interrupted runs
//     resume from their last epoch checkpoint, and no checkpoint or lock is left behind;
//  2. two sweep processes on one results folder train each run exactly once (a handoff forced through the
//     pause hook, so the per-run lock is certainly exercised, then a free race).
// The kills are real SIGKILLs that the process sends itself at a named point (RECALLBENCH_KILL_AT, see
// runners/faults.ts): deterministic placement, no timing, so the test is exact. Nothing waits on a clock either:
// a test waits for a line of a process's output, or for the process to end (then it fails at once). It starts
// some 30 processes, so it runs the CLI bundled into one file (tests/cliRunner.ts bundleCli: the same code,
// started in a third of the time), and the uninterrupted reference sweep trains beside the kill loop.
import { type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'csv-parse/sync';
import { beforeAll, describe, expect, it } from 'vitest';
import { bundleCli, spawnCli } from './cliRunner.js';

const work = mkdtempSync(join(tmpdir(), 'rb-reliability-'));
const presetFile = join(work, 'tiny.json');
// 8 runs × 3 epochs × 2 steps: attention, d 4/8 × 4 learning rates, L 16, 2 kv pairs, vocab 32, 16 train examples
// in batches of 8. The kill schedule depends only on that structure (runs, epochs, steps per epoch), never on the
// sizes: the examples and widths are as small as keeps it, since each of the ~20 processes trains on the cpu backend
// (batches of 32 and d 8/16 made every step ~3× as long, for the same kills and the same comparisons)
writeFileSync(
  presetFile,
  JSON.stringify({
    name: 'tiny',
    data: [{ task: 'mqar', common: { vocabSize: 32 }, train: [{ seqLen: 16, numKvPairs: 2, count: 16 }], test: [{ seqLen: 16, numKvPairs: 2, count: 8 }] }],
    architectures: [{ label: 'attention', layers: [{ mixer: 'attention' }] }],
    dModels: [4, 8],
    learningRates: [0.01, 0.003, 0.001, 0.0003],
    train: { epochs: 3, batchSize: 8, evalBatchSize: 8 },
  }),
);
// --verbose: each run's resolved config is printed as it starts (checked below); --no-report: no figures to draw
const sweepArgs = (out: string) => ['sweep', presetFile, '--backend', 'cpu', '--verbose', '--no-report', '--out', out];

interface Sweep {
  child: ChildProcess;
  stderr: () => string;
  /** Its end: exit code, or the signal that killed it. */
  exit: Promise<{ status: number | null; signal: NodeJS.Signals | null }>;
  /** Resolves once its stderr matches `line`; rejects if it ends first (no clock: the order of events decides). */
  reaches(line: RegExp): Promise<void>;
}

function spawnSweep(out: string, env: Record<string, string> = {}): Sweep {
  const child = spawnCli(sweepArgs(out), { env, bundled: true });
  let err = '';
  const watchers = new Set<() => void>();
  child.stderr!.on('data', (d) => {
    err += d;
    for (const w of [...watchers]) w();
  });
  child.stdout!.resume();
  const exit = new Promise<{ status: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('close', (status, signal) => resolve({ status, signal })));
  const reaches = (line: RegExp) =>
    new Promise<void>((resolve, reject) => {
      const check = () => {
        if (!line.test(err)) return;
        watchers.delete(check);
        resolve();
      };
      watchers.add(check);
      check();
      void exit.then(({ status, signal }) => {
        if (!watchers.has(check)) return;
        watchers.delete(check);
        reject(new Error(`the sweep ended (${signal ?? `exit ${status}`}) before printing ${line}:\n${err}`));
      });
    });
  return { child, stderr: () => err, exit, reaches };
}

/** A sweep to its end (or its kill): exit code, signal, stderr. */
async function runSweepProcess(out: string, env: Record<string, string> = {}) {
  const p = spawnSweep(out, env);
  const { status, signal } = await p.exit;
  return { status, signal, stderr: p.stderr() };
}

type Rec = Record<string, unknown> & { id: string; config: unknown; status: string; worker?: string };
/** Every line of runs.jsonl, each required to be a whole JSON record (no torn or foreign lines). */
function jsonlRecords(dir: string): Rec[] {
  const text = readFileSync(join(dir, 'runs.jsonl'), 'utf8');
  expect(text.endsWith('\n')).toBe(true);
  return text.trimEnd().split('\n').map((l) => JSON.parse(l) as Rec);
}
/** What must not depend on interruptions: everything but wall time, timestamps, the worker and resume marks. */
function stable(r: Rec): Record<string, unknown> {
  // provenance names the commit, which moves when someone commits while the test runs
  const { wallSeconds: _w, msPerStep: _m, finishedAt: _f, worker: _k, resumedFromEpoch: _r, provenance: _p, parts: _parts, ...rest } = r;
  return rest;
}
function stableCurve(dir: string, id: string): unknown[] {
  const curve = JSON.parse(readFileSync(join(dir, 'curves', `${id}.json`), 'utf8')) as Array<Record<string, unknown>>;
  return curve.map(({ trainSeconds: _t, seconds: _s, ...rest }) => rest);
}
function stableCsv(dir: string): Array<Record<string, string>> {
  const rows = parse(readFileSync(join(dir, 'runs.csv'), 'utf8'), { columns: true }) as Array<Record<string, string>>;
  return rows.map(({ wall_seconds: _w, ms_per_step: _m, ...rest }) => rest);
}
/** Same runs, same order, same configs and metrics, same curves and CSV rows as the reference. */
function expectSameAsReference(dir: string, reference: string): void {
  const got = jsonlRecords(dir);
  const want = jsonlRecords(reference);
  expect(got.map((r) => r.id).sort()).toEqual(want.map((r) => r.id).sort());
  expect(new Set(got.map((r) => r.id)).size).toBe(got.length); // each run exactly once
  const byId = new Map(got.map((r) => [r.id, r]));
  for (const w of want) {
    expect(stable(byId.get(w.id)!)).toEqual(stable(w));
    expect(stableCurve(dir, w.id)).toEqual(stableCurve(reference, w.id));
  }
  const csv = stableCsv(dir);
  expect(csv).toHaveLength(want.length);
  const csvById = new Map(csv.map((row) => [row.id, row]));
  for (const row of stableCsv(reference)) expect(csvById.get(row.id!)).toEqual(row);
  // nothing left behind: checkpoints of stored runs are removed, every lock released, and the emptied folders too
  expect(existsSync(join(dir, 'checkpoints'))).toBe(false);
  expect(existsSync(join(dir, 'locks'))).toBe(false);
}

/** mulberry32: the seeded kill schedule. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const reference = join(work, 'reference');
/** The uninterrupted sweep every other folder must equal: started in beforeAll, trained beside the kill loop. */
let referenceRun: Promise<string>;
const referenceLog = async (): Promise<string> => referenceRun;

describe('crash-safe, resumable, concurrent sweeps', () => {
  beforeAll(async () => {
    await bundleCli();
    referenceRun = runSweepProcess(reference).then((r) => {
      expect(r.status, r.stderr).toBe(0);
      expect(jsonlRecords(reference)).toHaveLength(8);
      return r.stderr;
    });
    referenceRun.catch(() => {}); // reported by the tests that await it
  });

  it('SIGKILL at ≥ 14 seeded points, resumed each time: every run exactly once, identical to an uninterrupted sweep', async () => {
    await killLoop();
  });

  it('each run\'s resolved config (every default filled in) is printed as it starts and stored in its record', async () => {
    const printed = [...(await referenceLog()).matchAll(/^ {2}config (\{.*\})$/gm)].map((m) => JSON.parse(m[1]!) as Record<string, unknown>);
    type Stored = { model: { layers: Array<{ params: Record<string, unknown> }> }; data: { train: Array<Record<string, unknown>> } };
    const stored = jsonlRecords(reference).map((r) => r.config as Stored);
    expect(printed).toEqual(stored);
    expect(stored).toHaveLength(8);
    // defaults the preset never wrote are filled in: the mixer's and the task's
    expect(stored[0]!.model.layers[0]!.params).toMatchObject({ numHeads: 1 });
    expect(stored[0]!.data.train[0]).toMatchObject({ seqLen: 16, numKvPairs: 2, vocabSize: 32, powerA: 0.01, passes: 1 });
  });

  async function killLoop(): Promise<void> {
    const out = join(work, 'killed');
    // Kill points (runners/faults.ts), in an order shuffled by a seeded generator: every kind of point, weighted
    // towards points that lose work (so that 16 kills fit in an 8-run grid before it completes; each is a process
    // start, a few seconds on a busy 2-core CI machine)
    const points: Array<[string, number]> = [
      ['step', 1], ['step', 2], ['step', 1], ['step', 2], ['epoch', 1],
      ['checkpoint-write', 1], ['checkpoint-write', 1], ['append', 1], ['append', 1],
      ['csv', 1], ['checkpoint-saved', 1], ['checkpoint-saved', 1], ['run-stored', 1], ['run-end', 1],
      ['run-start', 1], ['run-start', 1],
    ];
    const random = rng(20240607);
    for (let i = points.length - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1));
      [points[i], points[j]] = [points[j]!, points[i]!];
    }
    const killed: string[] = [];
    let resumedFromCheckpoint = 0;
    let tornLinesSeen = 0;
    for (const [event, n] of points) {
      const r = await runSweepProcess(out, { RECALLBENCH_KILL_AT: `${event}:${n}` });
      resumedFromCheckpoint += (r.stderr.match(/resuming run \w+ from its checkpoint/g) ?? []).length;
      if (r.signal === 'SIGKILL') {
        killed.push(`${event}:${n}`);
        const jsonl = join(out, 'runs.jsonl');
        if (event === 'append' && existsSync(jsonl) && !readFileSync(jsonl, 'utf8').endsWith('\n')) tornLinesSeen++;
      } else {
        expect(r.status, r.stderr).toBe(0); // the sweep finished before reaching that point
      }
    }
    // the final, uninterrupted resume
    const last = await runSweepProcess(out);
    expect(last.status, last.stderr).toBe(0);
    expect(last.stderr).not.toMatch(/failed/);

    expect(killed.length).toBeGreaterThanOrEqual(14);
    // every kind of point was hit: mid-epoch (step, epoch), mid-write (checkpoint-write, append, csv), between
    // runs (run-start, run-end) and right after a write (checkpoint-saved, run-stored)
    expect([...new Set(killed.map((k) => k.split(':')[0]))].sort()).toEqual(['append', 'checkpoint-saved', 'checkpoint-write', 'csv', 'epoch', 'run-end', 'run-start', 'run-stored', 'step']);
    expect(tornLinesSeen).toBeGreaterThan(0); // a half-written line really was left for the resume to handle
    expect(resumedFromCheckpoint).toBeGreaterThan(0); // interrupted runs continued from their checkpoints
    await referenceRun;
    expectSameAsReference(out, reference);
    // a resumed run says so in its record
    expect(jsonlRecords(out).some((r) => typeof r.resumedFromEpoch === 'number' && (r.resumedFromEpoch as number) > 0)).toBe(true);
  }

  it('two processes on one results folder: the run lock hands a run to exactly one of them', async () => {
    const out = join(work, 'handoff');
    const go = join(work, 'handoff-go');
    // A takes the first run's lock and pauses there; B must skip that run, train the others, then wait for A
    const a = spawnSweep(out, { RECALLBENCH_PAUSE_AT: `run-start:1:${go}` });
    let b: ReturnType<typeof spawnSweep> | undefined;
    try {
      await a.reaches(/paused at run-start/); // A holds its first run
      b = spawnSweep(out);
      await b.reaches(/waiting for 1 run\(s\) locked by another process/); // B trained the others and waits for it
    } catch (e) {
      a.child.kill('SIGKILL');
      b?.child.kill('SIGKILL');
      throw e;
    }
    writeFileSync(go, '');
    const [endA, endB] = await Promise.all([a.exit, b.exit]);
    expect(endA.status, a.stderr()).toBe(0);
    expect(endB.status, b.stderr()).toBe(0);
    await referenceRun;
    expectSameAsReference(out, reference);
    const pidOf = new Map(jsonlRecords(out).map((r) => [r.id, Number(String(r.worker).split(':').pop())]));
    const [first, ...others] = jsonlRecords(reference).map((r) => r.id); // the grid's order: cheapest first
    expect(pidOf.get(first!)).toBe(a.child.pid); // A trained the run it had locked...
    expect(others.map((id) => pidOf.get(id))).toEqual(others.map(() => b.child.pid)); // ...and B all the others
  });

  it('two processes racing on one results folder store each run exactly once', async () => {
    const out = join(work, 'race');
    const a = spawnSweep(out);
    const b = spawnSweep(out);
    const [endA, endB] = await Promise.all([a.exit, b.exit]);
    expect(endA.status, a.stderr()).toBe(0);
    expect(endB.status, b.stderr()).toBe(0);
    await referenceRun;
    expectSameAsReference(out, reference);
    const trainedBy = (p: { stderr: () => string }) => (p.stderr().match(/^ {2}(?:done|early-stop|diverged) /gm) ?? []).length;
    // every run trained exactly once between the two processes (the lock, not luck, decides who trains it)
    expect(trainedBy(a) + trainedBy(b)).toBe(8);
  });
});
