// When a run goes wrong, the sweep records it and goes on (or stops cleanly), and resume picks it up:
//   - a NaN/Inf loss is a result: status 'diverged' with the exact step, earlier epochs kept, sweep goes on,
//     and resume does not retrain it (also through the CLI with an lr so large it diverges);
//   - a run that throws is stored as 'failed' with its reason, the sweep goes on, resume retries it from its
//     last checkpoint and ends exactly where an uninterrupted run ends;
//   - a lost GPU device fails that run and stops the sweep (DeviceLostError; the CLI exits 3 with one line),
//     and a re-run resumes it;
//   - the pieces: lock files (live / dead / reused pid / other host), torn lines of runs.jsonl, repair of a
//     crashed folder, checkpoints that do not fit or are damaged.
// cpu backend, tiny runs (a per-token linear "faulty" mixer whose failures a test switches on at a given step).
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'csv-parse/sync';
import * as tf from '@tensorflow/tfjs';
import { z } from 'zod';
import { beforeAll, describe, expect, it } from 'vitest';
import type { MixerDefinition } from '../architectures/mixer.js';
import { DeviceLostError, type BackendInfo } from '../engine/backend.js';
import { markGpuLost } from '../engine/gpuFaults.js';
import { registerMixer } from '../engine/registry.js';
import { checkpointFile, loadCheckpoint } from '../runners/checkpoint.js';
import { runId, type RunConfig } from '../runners/config.js';
import { tryLock, lockOwner, processStartTime } from '../runners/lock.js';
import { readJsonl, ResultsDir, type RunRecord } from '../runners/results.js';
import { resolveRunConfig, runOne } from '../runners/run.js';
import { runSweep } from '../runners/sweep.js';
import { runCli, ROOT } from './cliRunner.js';
import { useBackend } from './helpers.js';

/** What the faulty mixer does at its `atStep`-th training forward (counted over all its instances). */
const fault: { kind: 'none' | 'nan' | 'throw' | 'lost'; atStep: number } = { kind: 'none', atStep: 0 };
let trainingForwards = 0;

/** y = x W: a per-token linear map (causal, stateless) that misbehaves on cue. */
const faulty: MixerDefinition = {
  name: 'faulty',
  description: 'test mixer: a per-token linear map that fails on cue',
  params: z.object({}).strict(),
  create(_p, ctx, make) {
    const w = make.linear('W', ctx.dModel, ctx.dModel, { bias: false });
    return {
      forward(x, opts) {
        if (opts.training) {
          trainingForwards += 1;
          const fire = fault.kind !== 'none' && trainingForwards >= fault.atStep;
          if (fire && fault.kind === 'throw') throw new Error('simulated kernel failure');
          if (fire && fault.kind === 'lost') {
            markGpuLost('simulated: device reset');
            throw new Error('GPU device lost');
          }
          if (fire && fault.kind === 'nan') return tf.tidy(() => tf.mul(w.apply(x), NaN)) as tf.Tensor3D;
        }
        return w.apply(x) as tf.Tensor3D;
      },
      initState: () => ({}),
      step: (state, x) => ({ y: w.apply(x) as tf.Tensor2D, state }),
    };
  },
  stateFloats: () => ({ measured: 0, paper: 0 }),
};

/** 64 examples, batch 32: 2 steps per epoch, 3 epochs (step 3 is the first step of epoch 2). */
function config(mixer: string, lr = 0.01): RunConfig {
  return resolveRunConfig({
    label: mixer,
    data: { task: 'mqar', common: { vocabSize: 32 }, train: [{ seqLen: 16, numKvPairs: 2, count: 64 }], test: [{ seqLen: 16, numKvPairs: 2, count: 16 }] },
    model: { dModel: 8, nLayers: mixer === 'faulty' ? 1 : 2, layers: [{ mixer }] },
    train: { lr, epochs: 3, batchSize: 32, evalBatchSize: 16 },
  });
}

let backend: BackendInfo;
const work = mkdtempSync(join(tmpdir(), 'rb-failures-'));
let folders = 0;
const freshResults = () => new ResultsDir(join(work, `r${folders++}`));
const stable = (r: RunRecord) => {
  const { wallSeconds: _w, msPerStep: _m, finishedAt: _f, worker: _k, resumedFromEpoch: _r, parts: _p, ...rest } = r;
  return rest;
};

beforeAll(async () => {
  await useBackend('cpu');
  backend = { backend: 'cpu', device: 'cpu' };
  registerMixer(faulty);
});

function arm(kind: typeof fault.kind, atStep = 3): void {
  fault.kind = kind;
  fault.atStep = atStep;
  trainingForwards = 0;
}

describe('divergence is a result', () => {
  it('a NaN loss stops that run as diverged at its exact step; the sweep goes on; resume does not retrain it', async () => {
    const results = freshResults();
    const bad = config('faulty');
    const good = config('attention');
    arm('nan', 3);
    const records = await runSweep([bad, good], { backend, results, quiet: true });
    const diverged = records.find((r) => r.id === runId(bad))!;
    expect(diverged.status).toBe('diverged');
    expect(diverged.divergedAtStep).toBe(3);
    expect(diverged.epochs).toBe(1); // the epoch before the NaN is kept
    expect(diverged.bestEpoch).toBe(1);
    expect(records.find((r) => r.id === runId(good))!.status).toBe('done');
    const csv = parse(readFileSync(results.runsCsv, 'utf8'), { columns: true }) as Array<Record<string, string>>;
    expect(csv.find((row) => row.id === runId(bad))).toMatchObject({ status: 'diverged', diverged_at_step: '3' });
    expect(existsSync(results.checkpointDir(runId(bad)))).toBe(false);
    // a re-run keeps the result: nothing is trained again
    const forwards = trainingForwards;
    await runSweep([bad, good], { backend, results, quiet: true });
    expect(trainingForwards).toBe(forwards);
    expect(readJsonl(results.runsJsonl)).toHaveLength(2);
    arm('none');
  });

  it('through the CLI: an lr so large that the loss overflows is recorded as diverged, exit 0', () => {
    const out = join(work, 'cli-diverge');
    const r = runCli(['train', '--backend', 'cpu', '--quiet', '--d-model', '8', '--seq-len', '16', '--kv-pairs', '2', '--vocab-size', '32', '--train-examples', '64', '--test-examples', '16', '--epochs', '2', '--batch-size', '16', '--eval-batch-size', '16', '--lr', '1e6', '--out', out]);
    expect(r.status, r.stderr).toBe(0);
    const [record] = readJsonl<RunRecord>(join(out, 'runs.jsonl'));
    expect(record!.status).toBe('diverged');
    expect(record!.divergedAtStep).toBeGreaterThanOrEqual(1);
    expect(record!.divergedAtStep).toBeLessThanOrEqual(8);
  });
});

describe('failed runs', () => {
  it('a run that throws is stored as failed with its reason, the sweep goes on, and resume retries it from its checkpoint', async () => {
    const results = freshResults();
    const bad = config('faulty', 0.02);
    const good = config('attention');
    arm('throw', 3);
    await runSweep([bad, good], { backend, results, quiet: true });
    const first = results.records();
    expect(first.find((r) => r.id === runId(bad))).toMatchObject({ status: 'failed', error: 'simulated kernel failure' });
    expect(first.find((r) => r.id === runId(good))!.status).toBe('done');
    expect(existsSync(checkpointFile(results.checkpointDir(runId(bad))))).toBe(true); // epoch 1 was saved
    expect(results.finishedIds().has(runId(bad))).toBe(false);

    arm('none');
    await runSweep([bad, good], { backend, results, quiet: true });
    const retried = results.records().find((r) => r.id === runId(bad))!;
    expect(retried.status).toBe('done');
    expect(retried.resumedFromEpoch).toBe(1);
    expect(results.records()).toHaveLength(2);
    expect(readJsonl(results.runsJsonl)).toHaveLength(3); // the failure stays on record
    expect(parse(readFileSync(results.runsCsv, 'utf8'), { columns: true })).toHaveLength(2);
    // resuming after the failure lands exactly where an uninterrupted run lands (cpu backend)
    const clean = freshResults();
    const [uninterrupted] = await runSweep([bad], { backend, results: clean, quiet: true });
    expect(stable(retried)).toEqual(stable(uninterrupted!));
  });

  it('a lost GPU device fails that run and stops the sweep cleanly; a re-run resumes it', async () => {
    const results = freshResults();
    const lost = config('faulty', 0.03);
    const next = config('attention', 0.02);
    arm('lost', 3);
    await expect(runSweep([lost, next], { backend, results, quiet: true })).rejects.toBeInstanceOf(DeviceLostError);
    expect(results.records()).toHaveLength(1); // the sweep stopped: the next run was not started
    expect(results.records()[0]).toMatchObject({ id: runId(lost), status: 'failed', error: 'GPU device lost: simulated: device reset' });
    expect(readdirSync(results.locksDir)).toEqual([]); // its lock was released
    // a new process (a fresh device): the lost run resumes from its checkpoint, the rest follows
    markGpuLost(undefined);
    arm('none');
    const records = await runSweep([lost, next], { backend, results, quiet: true });
    expect(records.map((r) => r.status)).toEqual(['done', 'done']);
    expect(records[0]!.resumedFromEpoch).toBe(1);
  });

  it('through the CLI: a device lost mid-run exits 3 with one line; re-running the same command resumes', () => {
    const plugin = join(work, 'lose-device.mjs');
    const gpuFaultsTs = join(ROOT, 'engine', 'gpuFaults.ts');
    writeFileSync(
      plugin,
      `import { markGpuLost } from ${JSON.stringify(gpuFaultsTs)};
let n = 0;
export default ({ tf, z }) => ({
  name: 'lose-device', description: 'loses the device at step LOSE_AT', params: z.object({}).strict(), causal: true,
  create(p, ctx, make) {
    const w = make.linear('W', ctx.dModel, ctx.dModel, { bias: false });
    return {
      forward(x, o) {
        if (o.training && ++n === Number(process.env.LOSE_AT)) { markGpuLost('simulated reset'); throw new Error('device lost'); }
        return w.apply(x);
      },
      initState: () => ({}),
      step: (s, x) => ({ y: w.apply(x), state: s }),
    };
  },
  stateFloats: () => ({ measured: 0, paper: 0 }),
});
`,
    );
    const out = join(work, 'cli-lost');
    const args = ['train', '--backend', 'cpu', '--quiet', '--plugin', plugin, '--arch', 'lose-device', '--n-layers', '1', '--d-model', '8', '--seq-len', '16', '--kv-pairs', '2', '--vocab-size', '32', '--train-examples', '64', '--test-examples', '16', '--epochs', '3', '--batch-size', '32', '--eval-batch-size', '16', '--out', out];
    const r = runCli(args, { env: { LOSE_AT: '3' } });
    expect(r.status, r.stderr).toBe(3);
    const lines = r.stderr.trim().split('\n').filter((l) => !/nodedir|npm warn/.test(l));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^recallbench: the GPU device was lost \(simulated reset\) during run \w+: .*re-run the same command to resume/);
    expect(readJsonl<RunRecord>(join(out, 'runs.jsonl'))[0]).toMatchObject({ status: 'failed', error: 'GPU device lost: simulated reset' });
    const again = runCli(args, { env: { LOSE_AT: '0' } });
    expect(again.status, again.stderr).toBe(0);
    const records = new ResultsDir(out).records();
    expect(records).toHaveLength(1);
    expect(records[0]).toMatchObject({ status: 'done', resumedFromEpoch: 1 });
  });
});

describe('lock files', () => {
  const deadPid = () => spawnSync(process.execPath, ['-e', '']).pid!;
  const write = (path: string, owner: object) => writeFileSync(path, JSON.stringify({ token: 'x', acquiredAt: '', host: hostname(), ...owner }));

  it('one holder at a time; stale locks (dead pid, reused pid) are taken over; live and foreign-host locks are not', () => {
    const dir = join(work, 'locks');
    const path = join(dir, 'a.lock');
    const mine = tryLock(path)!;
    expect(mine).toBeDefined();
    expect(tryLock(path)).toBeUndefined(); // held (by this very process)
    expect(lockOwner(path)?.token).toBe(mine.owner.token);
    mine.release();
    expect(existsSync(path)).toBe(false);

    write(path, { pid: deadPid() });
    const taken = tryLock(path);
    expect(taken).toBeDefined(); // its owner is gone
    expect(JSON.parse(readFileSync(path, 'utf8')).pid).toBe(process.pid);
    taken!.release();

    write(path, { pid: process.ppid, startTime: processStartTime(process.ppid) });
    expect(tryLock(path)).toBeUndefined(); // a live process holds it
    write(path, { pid: process.ppid, startTime: '1' });
    expect(tryLock(path)?.owner.pid).toBe(process.pid); // same pid, another process (pid reused): stale
    write(path, { pid: process.pid, startTime: processStartTime(process.pid), token: 'an-earlier-process' });
    const reused = tryLock(path); // our own pid, a token we never held: left by an earlier process that had our pid
    expect(reused?.owner.pid).toBe(process.pid);
    expect(lockOwner(path)?.token).toBe(reused!.owner.token); // and the lock we now hold is alive
    reused!.release();
    write(path, { pid: deadPid(), host: 'elsewhere' });
    expect(tryLock(path)).toBeUndefined(); // another host's lock is never judged from here
  });

  it('a killed owner that its parent has not reaped yet (a zombie) holds no lock', () => {
    const child = spawn('sleep', ['30']);
    child.kill('SIGKILL');
    // block this thread (so that Node cannot reap the child) until the kernel has made it a zombie
    const state = () => readFileSync(`/proc/${child.pid}/stat`, 'utf8').split(') ')[1]!.split(' ')[0];
    const until = Date.now() + 10_000;
    while (state() !== 'Z' && Date.now() < until) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10);
    expect(state()).toBe('Z');
    mkdirSync(join(work, 'locks'), { recursive: true });
    const path = join(work, 'locks', 'zombie.lock');
    write(path, { pid: child.pid, startTime: processStartTime(child.pid!) });
    expect(tryLock(path)?.owner.pid).toBe(process.pid);
  });

  it('release() leaves a lock that is no longer ours', () => {
    const path = join(work, 'locks', 'b.lock');
    const mine = tryLock(path)!;
    write(path, { pid: process.ppid, token: 'someone-else' });
    mine.release();
    expect(existsSync(path)).toBe(true);
  });
});

describe('results folder after a crash', () => {
  const record = (id: string, status: RunRecord['status'] = 'done', extra: Partial<RunRecord> = {}): RunRecord => ({
    id, label: 'x', config: config('attention'), seed: 0, params: 1, stateFloats: { measured: 1, paper: 1 }, stateBytes: { measured: 4, paper: 4 },
    bestEpoch: 1, validationAccuracy: 0.5, testAccuracy: 0.5, finalTestAccuracy: 0.5, testSlices: { s: 0.5 }, epochs: 1, steps: 1, status,
    wallSeconds: 1, msPerStep: 1, backend: 'cpu', device: 'cpu', versions: {}, finishedAt: '', ...extra,
  });

  it('a torn last line is never read as a result, and the next append cuts it off instead of gluing onto it', () => {
    const results = freshResults();
    results.append(record('a'), []);
    const line = JSON.stringify(record('b'));
    writeFileSync(results.runsJsonl, readFileSync(results.runsJsonl, 'utf8') + line.slice(0, line.length - 5)); // killed mid-write
    expect(results.records().map((r) => r.id)).toEqual(['a']);
    results.append(record('c'), []);
    const lines = readFileSync(results.runsJsonl, 'utf8').trimEnd().split('\n');
    expect(lines.map((l) => (JSON.parse(l) as RunRecord).id)).toEqual(['a', 'c']); // every line whole
  });

  it('one record per run: a stored run is not appended twice; a failure is replaced by the retry that succeeds', () => {
    const results = freshResults();
    expect(results.append(record('a'), [])).toBe(true);
    expect(results.append(record('a', 'done', { testAccuracy: 0.9 }), [])).toBe(false);
    results.append(record('b', 'failed', { error: 'boom' }), []);
    expect(results.finishedIds()).toEqual(new Set(['a']));
    results.append(record('b'), []);
    expect(results.records().map((r) => [r.id, r.status, r.testAccuracy])).toEqual([['a', 'done', 0.5], ['b', 'done', 0.5]]);
  });

  it('repair(): drops temporary files and locks of dead processes, checkpoints of stored runs, and rebuilds runs.csv', () => {
    const results = freshResults();
    results.append(record('a'), []);
    const dead = spawnSync(process.execPath, ['-e', '']).pid!;
    writeFileSync(join(results.dir, `runs.csv.tmp-${dead}`), 'half');
    writeFileSync(join(results.locksDir, 'zzz.lock'), JSON.stringify({ pid: dead, host: hostname(), token: 't', acquiredAt: '' }));
    writeFileSync(join(results.locksDir, 'live.lock'), JSON.stringify({ pid: process.ppid, host: hostname(), token: 't', acquiredAt: '' }));
    for (const id of ['a', 'unfinished']) {
      mkdirSync(results.checkpointDir(id), { recursive: true });
      writeFileSync(join(results.checkpointDir(id), 'checkpoint.bin'), 'x');
    }
    writeFileSync(results.runsCsv, 'stale');
    results.repair();
    expect(existsSync(join(results.dir, `runs.csv.tmp-${dead}`))).toBe(false);
    expect(readdirSync(results.locksDir).sort()).toEqual(['live.lock']);
    expect(readdirSync(results.checkpointsDir)).toEqual(['unfinished']);
    expect(parse(readFileSync(results.runsCsv, 'utf8'), { columns: true })).toHaveLength(1);
  });
});

describe('checkpoints', () => {
  it('a damaged checkpoint or one of another model is ignored: the run trains from scratch and says why', async () => {
    const results = freshResults();
    const c = config('attention', 0.005);
    const id = runId(c);
    const dir = results.checkpointDir(id);
    // a real checkpoint: stop the run after epoch 1 is saved
    await expect(runOne(c, { backend, checkpointDir: dir, hooks: { onStep: (s) => { if (s === 3) throw new Error('stop'); } } })).rejects.toThrow('stop');
    expect(existsSync(checkpointFile(dir))).toBe(true);
    const model = (await import('../engine/model.js')).LanguageModel;
    const m = new model({ ...c.model, vocabSize: 32, maxSeqLen: 16, seed: 0 });
    expect(loadCheckpoint(dir, id, m.variables).checkpoint?.header.epoch).toBe(1);
    expect(loadCheckpoint(dir, 'another-run', m.variables).reason).toMatch(/belongs to run/);
    expect(loadCheckpoint(dir, id, m.variables.slice(1)).reason).toMatch(/parameters changed/);
    m.dispose();
    const bytes = readFileSync(checkpointFile(dir));
    bytes[bytes.length - 3] ^= 0xff;
    writeFileSync(checkpointFile(dir), bytes);
    const said: string[] = [];
    const { record } = await runOne(c, { backend, checkpointDir: dir, log: (l) => said.push(l) });
    expect(said.join('\n')).toMatch(/ignoring the checkpoint .*damaged data/);
    expect(record.resumedFromEpoch).toBeUndefined();
    expect(record.epochs).toBe(3);
  });
});
