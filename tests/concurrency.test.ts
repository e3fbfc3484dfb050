// `sweep --concurrency N`: N runs at a time, one child process per run. The results equal a serial sweep's
// (ids, configs, metrics on the cpu backend), no run is trained twice, and a run whose process crashes does not
// take the sweep down: it is reported, left out, and the next sweep trains it.
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { laneTimes } from '../bench/lane_times.js';
import { bundleCli, runCliAsync, spawnCli } from './cliRunner.js';

const GRID = ['sweep', '--backend', 'cpu', '--arch', 'attention', '--d-model', '8', '--lr', '0.01', '0.003', '--seeds', '0', '1', '--setting', '16:2', '--vocab-size', '32', '--train-examples', '32', '--test-examples', '16', '--epochs', '1', '--batch-size', '16'];

// the program bundled into one file (tests/cliRunner.ts): it and its run processes start in a third of the time
const cli = (args: string[], env: Record<string, string> = {}) => runCliAsync(args, { env, bundled: true });
beforeAll(() => bundleCli());

interface Rec {
  id: string;
  worker: string;
  [k: string]: unknown;
}

function records(dir: string): Rec[] {
  const path = join(dir, 'runs.jsonl');
  return existsSync(path) ? readFileSync(path, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Rec) : [];
}

const METRICS = ['id', 'status', 'config', 'params', 'steps', 'epochs', 'bestEpoch', 'testAccuracy', 'validationAccuracy', 'finalTestAccuracy', 'testSlices', 'stateFloats'];
function comparable(recs: Rec[]) {
  return Object.fromEntries(recs.map((r) => [r.id, Object.fromEntries(METRICS.map((k) => [k, r[k]]))]));
}

describe('sweep --concurrency', () => {
  it('2 at a time equals a serial sweep; a crashing run process is reported and retried by the next sweep', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rb-conc-'));
    const serialDir = join(dir, 'serial');
    const parallelDir = join(dir, 'parallel');
    const serial = cli([...GRID, '--quiet', '--out', serialDir]);

    // half the grid (lr 0.01), where every run process SIGKILLs itself as its run starts (runners/faults.ts): the
    // sweep survives and stores nothing
    const half = GRID.map((a) => (a === '0.003' ? '0.01' : a));
    const crashing = await cli([...half, '--concurrency', '2', '--out', parallelDir], { RECALLBENCH_KILL_AT: 'run-start:1' });
    expect(crashing.status, crashing.stderr).toBe(0);
    expect(crashing.stderr.match(/crashed .*signal SIGKILL/g)).toHaveLength(2);
    expect(records(parallelDir)).toHaveLength(0);

    // the whole grid then trains all four, those two included (the dead processes' run locks are stale, not held)
    const parallel = await cli([...GRID, '--concurrency', '2', '--out', parallelDir]);
    expect(parallel.status, parallel.stderr).toBe(0);
    expect(parallel.stderr).toMatch(/4 to train in 2 parallel processes/);
    const par = records(parallelDir);
    expect(par).toHaveLength(4); // no run twice
    expect(new Set(par.map((r) => r.id)).size).toBe(4);
    expect(new Set(par.map((r) => r.worker)).size).toBe(4); // one process per run

    const ser = await serial;
    expect(ser.status, ser.stderr).toBe(0);
    expect(comparable(par)).toEqual(comparable(records(serialDir)));
    // the printed summary is the serial sweep's too (records in grid order)
    expect(parallel.stdout.split('\n').slice(0, 5)).toEqual(ser.stdout.split('\n').slice(0, 5));
  });

  it("--stack 2 with 2 processes: each seed's two lrs train as one stack in one process; records equal a serial sweep without stacks", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rb-conc-stack-'));
    const [serial, stacked] = await Promise.all([cli([...GRID, '--quiet', '--out', join(dir, 'serial')]), cli([...GRID, '--concurrency', '2', '--stack', '2', '--out', join(dir, 'stacked')])]);
    expect(serial.status, serial.stderr).toBe(0);
    expect(stacked.status, stacked.stderr).toBe(0);
    const recs = records(join(dir, 'stacked')) as Array<Rec & { stack?: { size: number; index: number }; config: { seed: number } }>;
    expect(recs).toHaveLength(4);
    expect(recs.map((r) => r.stack?.size)).toEqual([2, 2, 2, 2]);
    // two processes, one per stack, each holding one seed's two runs
    const bySeed = new Map<number, Set<string>>();
    for (const r of recs) bySeed.set(r.config.seed, (bySeed.get(r.config.seed) ?? new Set()).add(r.worker));
    expect([...bySeed.values()].map((w) => w.size)).toEqual([1, 1]);
    expect(new Set(recs.map((r) => r.worker)).size).toBe(2);
    expect(comparable(recs)).toEqual(comparable(records(join(dir, 'serial'))));
  });

  it('a stack whose process crashes: the line names every run of it, none is stored, the next sweep trains them', async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'rb-conc-stack-crash-')), 'out');
    const crashing = await cli([...GRID, '--concurrency', '2', '--stack', '2', '--out', dir], { RECALLBENCH_KILL_AT: 'run-start:1' });
    expect(crashing.status, crashing.stderr).toBe(0);
    expect(crashing.stderr.match(/crashed +attention d8 lr0\.01 \(stacked with lr0\.003\) .*signal SIGKILL/g)).toHaveLength(2);
    expect(records(dir)).toHaveLength(0);
    const again = await cli([...GRID, '--concurrency', '2', '--stack', '2', '--out', dir]);
    expect(again.status, again.stderr).toBe(0);
    expect(records(dir).map((r) => r.status)).toEqual(['done', 'done', 'done', 'done']);
  });

  it("a stack's lines come as its process reports them, before it exits; a process slow to exit after reporting gets a line", async () => {
    // the campaign's case: a stack stored and reported, its process still tearing its GPU down when the stretch's
    // SIGINT came — the log had no line for it (it printed a process's outcomes when the process closed)
    const root = mkdtempSync(join(tmpdir(), 'rb-conc-report-'));
    const release = join(root, 'release');
    const oneSeed = GRID.filter((a, i) => !(a === '1' && GRID[i - 1] === '0'));
    const child = spawnCli([...oneSeed, '--concurrency', '2', '--stack', '2', '--out', join(root, 'out')], { env: { RECALLBENCH_PAUSE_AT: `reported:1:${release}`, RECALLBENCH_LANE_TIMES: '1' }, bundled: true });
    let stderr = '';
    const closed = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    const doneLines = () => stderr.match(/^ {2}done +attention d8 lr0\.0(1|03) +test acc/gm)?.length ?? 0;
    const bothReported = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), 150_000);
      child.stderr!.on('data', (d: Buffer) => {
        stderr += d.toString();
        if (doneLines() === 2) {
          clearTimeout(timer);
          resolve(true);
        }
      });
      child.on('close', () => resolve(false));
    });
    // its run process still held at 'reported': neither closed nor exited yet, though both runs' lines are out
    const pausedThen = !/: closed$/m.test(stderr) && !/^ {2}exited /m.test(stderr);
    await new Promise((r) => setTimeout(r, 5_500));
    writeFileSync(release, '');
    expect(await closed, stderr).toBe(0);
    expect(bothReported, stderr).toBe(true);
    expect(pausedThen).toBe(true);
    expect(records(join(root, 'out')).map((r) => r.status)).toEqual(['done', 'done']);
    const exited = stderr.match(/^ {2}exited +attention d8 lr0\.0\d+ \(stacked with lr0\.0\d+\) +(\d+\.\d) s after its runs reported/m);
    expect(exited, stderr).not.toBeNull();
    expect(Number(exited![1])).toBeGreaterThanOrEqual(5);
    // the lane lines (RECALLBENCH_LANE_TIMES=1): the stack's lane starts it, hears its backend and both reports, sees
    // its process close; the other lane finds nothing left to take and ends — and bench/lane_times.ts sums them
    const events = (lane: number) => [...stderr.matchAll(new RegExp(`^ {2}lane ${lane} at \\d+\\.\\d s: (\\w+)`, 'gm'))].map((m) => m[1]);
    const busy = events(0).length > 2 ? 0 : 1;
    expect(events(busy)).toEqual(['start', 'backend', 'reported', 'reported', 'closed', 'done']);
    expect(events(1 - busy)).toEqual(['done']);
    const times = laneTimes(stderr)!;
    expect(times.jobs).toBe(1);
    expect(times.exiting).toHaveLength(1);
    expect(times.exiting[0]).toBeGreaterThanOrEqual(5);
    expect(times.seconds['in a run']).toBeGreaterThan(0);
  });

  it('a run process the GPU refuses while another starts: a crash the next sweep retries; a lone refused process stops the sweep', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rb-conc-refused-'));
    const token = join(dir, 'refuse-one');
    writeFileSync(token, '');
    const refused = await cli([...GRID, '--concurrency', '2', '--out', join(dir, 'out')], { RECALLBENCH_FAIL_BACKEND_ONCE: token });
    expect(refused.status, refused.stderr).toBe(0);
    expect(refused.stderr.match(/crashed .*no WebGPU adapter found.*other processes of this sweep started it/g)).toHaveLength(1);
    expect(records(join(dir, 'out'))).toHaveLength(3);
    expect((await cli([...GRID, '--concurrency', '2', '--out', join(dir, 'out')])).status).toBe(0);
    expect(records(join(dir, 'out'))).toHaveLength(4);
    // one run, so one process: nobody started the backend — the machine lacks it, one line and exit 2 as before
    writeFileSync(token, '');
    const one = [...GRID.slice(0, GRID.indexOf('--lr')), '--lr', '0.01', '--seeds', '0', ...GRID.slice(GRID.indexOf('--setting'))];
    const alone = await cli([...one, '--concurrency', '2', '--out', join(dir, 'alone')], { RECALLBENCH_FAIL_BACKEND_ONCE: token });
    expect(alone.status).toBe(2);
    expect(alone.stderr.trim().split('\n').filter((l) => l.startsWith('recallbench:'))).toEqual([expect.stringMatching(/^recallbench: --backend: no WebGPU adapter found/)]);
  });

  it('--stack 2 with 2 processes under successive halving: the same decisions and records as a serial sweep without stacks', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rb-conc-halving-'));
    const halving = ['sweep', '--backend', 'cpu', '--arch', 'attention', '--d-model', '8', '--lr', '0.03', '0.01', '0.003', '0.001', '--seeds', '0', '--setting', '16:2', '--vocab-size', '32', '--train-examples', '32', '--test-examples', '16', '--epochs', '4', '--batch-size', '16', '--search', 'halving'];
    const [serial, stacked] = await Promise.all([cli([...halving, '--quiet', '--out', join(dir, 'serial')]), cli([...halving, '--concurrency', '2', '--stack', '2', '--out', join(dir, 'stacked')], { RECALLBENCH_LANE_TIMES: '1' })]);
    expect(serial.status, serial.stderr).toBe(0);
    expect(stacked.status, stacked.stderr).toBe(0);
    const recs = records(join(dir, 'stacked'));
    expect(recs.map((r) => r.status).sort()).toEqual(records(join(dir, 'serial')).map((r) => r.status).sort());
    expect(recs.some((r) => r.status === 'stopped')).toBe(true); // the halving decided something
    expect(recs.some((r) => (r as { stack?: unknown }).stack)).toBe(true); // and some pass trained a stack
    expect(comparable(recs)).toEqual(comparable(records(join(dir, 'serial'))));
    const searchOf = (rs: Rec[]) => Object.fromEntries(rs.map((r) => [r.id, r.search]));
    expect(searchOf(recs)).toEqual(searchOf(records(join(dir, 'serial'))));
    // the lane lines: each lane's jobs open with start and close with closed, and each lane ends with done, once
    for (const lane of [0, 1]) {
      const events = [...stacked.stderr.matchAll(new RegExp(`^ {2}lane ${lane} at \\d+\\.\\d s: (\\w+)`, 'gm'))].map((m) => m[1]);
      expect(events.at(-1), stacked.stderr).toBe('done');
      expect(events.filter((e) => e === 'done')).toHaveLength(1);
      expect(events.filter((e) => e === 'start').length).toBe(events.filter((e) => e === 'closed').length);
    }
    expect(laneTimes(stacked.stderr)!.jobs).toBeGreaterThan(1);
  });
});
