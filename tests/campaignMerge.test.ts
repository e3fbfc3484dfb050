// bench/campaign_merge.sh: a stretch's results.tgz merged into the committed campaign folder — every record the
// device folder holds, its logs under the stretch's number, verify run — and refused, changing nothing, when the
// tgz lacks committed records (a stale seed) or the stretch number was merged already. Built from a committed
// campaign folder (real records, so verify has real invariants to check).
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { appendFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import type { AdamW } from '../engine/optimizer.js';
import { checkpointIntact, saveCheckpoint } from '../runners/checkpoint.js';
import { ROOT } from './cliRunner.js';

const FOLDER = 'zoology-fig2-scale0.01';
const COMMITTED = join(ROOT, 'results', 'campaign', FOLDER);
const work = mkdtempSync(join(tmpdir(), 'campaign-merge-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const lines = (file: string) => readFileSync(file, 'utf8').split('\n').filter(Boolean);

/** A rung note (what a paused run leaves in checkpoints/<id>/) in a campaign folder. */
function rungNote(folder: string, id: string, text: string): void {
  mkdirSync(join(folder, 'checkpoints', id), { recursive: true });
  writeFileSync(join(folder, 'checkpoints', id, 'rung.json'), text);
}

/** A device call's files_at: c/results.tgz holding `folder` (a copy of the committed one with `keep` records), and the logs. */
function deviceCall(name: string, keep: number, edit?: (folder: string) => void): string {
  const at = join(work, name);
  const stage = join(at, 'stage');
  cpSync(COMMITTED, join(stage, FOLDER), { recursive: true });
  writeFileSync(join(stage, FOLDER, 'runs.jsonl'), lines(join(COMMITTED, 'runs.jsonl')).slice(0, keep).join('\n') + '\n');
  edit?.(join(stage, FOLDER));
  mkdirSync(join(at, 'c'), { recursive: true });
  expect(spawnSync('tar', ['czf', join(at, 'c', 'results.tgz'), '-C', stage, FOLDER]).status).toBe(0);
  rmSync(stage, { recursive: true });
  writeFileSync(join(at, 'c', 'stretch.txt'), 'resuming .campaign/x\n');
  writeFileSync(join(at, 'c', 'sweep.log'), 'sweep: 58 runs\n');
  writeFileSync(join(at, 'c', 'smi.log'), '0, NVIDIA H200, 143771 MiB\n');
  return at;
}

/** The committed folder as it was before the stretch: its first `keep` records. */
function committedRoot(name: string, keep: number): string {
  const root = join(work, name);
  cpSync(COMMITTED, join(root, FOLDER), { recursive: true });
  writeFileSync(join(root, FOLDER, 'runs.jsonl'), lines(join(COMMITTED, 'runs.jsonl')).slice(0, keep).join('\n') + '\n');
  return root;
}

const merge = (at: string, n: string, root: string) =>
  spawnSync('bash', [join(ROOT, 'bench', 'campaign_merge.sh'), at, n], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, RESULTS_DIR: root, WEIGHTS_DIR: join(root, '.weights'), NO_REPORT: '1' }, timeout: 120_000 });

/** Checkpoint weights as campaign_stretch.sh brings them back: a tar of checkpoints/<id>/checkpoint.bin (in the order
 * given, no folder entries) cut into c/weights.tar.NN, and its "weights files: N (B bytes)" line in c/stretch.txt. */
function deviceWeights(at: string, files: Record<string, Buffer>): void {
  const stage = join(at, 'weights-stage');
  for (const [id, bytes] of Object.entries(files)) {
    mkdirSync(join(stage, 'checkpoints', id), { recursive: true });
    writeFileSync(join(stage, 'checkpoints', id, 'checkpoint.bin'), bytes);
  }
  const tar = spawnSync('tar', ['cf', join(at, 'weights.tar'), '-C', stage, ...Object.keys(files).map((id) => `checkpoints/${id}/checkpoint.bin`)]);
  expect(tar.status).toBe(0);
  expect(spawnSync('split', ['-b', '40k', '-d', '-a', '2', join(at, 'weights.tar'), join(at, 'c', 'weights.tar.')]).status).toBe(0);
  const parts = readdirSync(join(at, 'c')).filter((f) => /^weights\.tar\.\d\d$/.test(f));
  appendFileSync(join(at, 'c', 'stretch.txt'), `weights files: ${parts.length} (${statSync(join(at, 'weights.tar')).size} bytes)\n`);
  rmSync(stage, { recursive: true });
  rmSync(join(at, 'weights.tar'));
}

describe('bench/campaign_merge.sh', () => {
  it('the new-records summary refuses an id without a record: one line, exit 2', () => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'bench', 'campaign_new_records.ts'), COMMITTED, 'no-such-run'], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
    expect(r.status).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/no record for no-such-run/);
  });

  const all = lines(join(COMMITTED, 'runs.jsonl'));

  it('merges every record of the device folder, saves the logs under the stretch number, and verifies', () => {
    const root = committedRoot('merged', all.length - 3);
    rungNote(join(root, FOLDER), 'finished-run', '{"epoch":4}');
    // weights an earlier call kept, and this call's (two files: cut at 40 kB)
    mkdirSync(join(root, '.weights', FOLDER, 'checkpoints', 'finished-run'), { recursive: true });
    writeFileSync(join(root, '.weights', FOLDER, 'checkpoints', 'finished-run', 'checkpoint.bin'), 'old');
    const weights = { 'paused-run': Buffer.alloc(50_000, 7), 'running-run': Buffer.alloc(20_000, 9) };
    // a run between rungs: its folder in results.tgz empty (tar leaves its checkpoint.bin out), its weights beside
    const at = deviceCall('call', all.length, (folder) => {
      rungNote(folder, 'paused-run', '{"epoch":8}');
      mkdirSync(join(folder, 'checkpoints', 'running-run'), { recursive: true });
    });
    // the sweep log with lane lines (RECALLBENCH_LANE_TIMES=1): the merge sums them
    appendFileSync(join(at, 'c', 'sweep.log'), '  lane 0 at 2.0 s: start x\n  lane 0 at 5.0 s: backend\nsweep rc 124 after 12 s\n');
    deviceWeights(at, weights);
    expect(existsSync(join(at, 'c', 'weights.tar.01'))).toBe(true);
    const r = merge(at, '7', root);
    expect(r.status, r.stderr).toBe(0);
    // this call's weights, byte for byte, in place of the earlier call's
    expect(r.stdout).toContain(`campaign_merge: 2 checkpoint weights`);
    for (const [id, bytes] of Object.entries(weights)) expect(readFileSync(join(root, '.weights', FOLDER, 'checkpoints', id, 'checkpoint.bin')).equals(bytes), id).toBe(true);
    expect(existsSync(join(root, '.weights', FOLDER, 'checkpoints', 'finished-run'))).toBe(false);
    // stamped with the merged folder's state (records and rung notes), which a fresh machine compares before seeding
    const state = spawnSync('bash', ['-c', 'source bench/campaign_state.sh && campaign_state_hash "$1"', 'hash', join(root, FOLDER)], { cwd: ROOT, encoding: 'utf8' }).stdout;
    expect(readFileSync(join(root, '.weights', FOLDER, 'state.sha256'), 'utf8')).toBe(state);
    expect(state.trim()).toMatch(/^[0-9a-f]{64}$/);
    expect(r.stdout).toContain(`${all.length - 3} → ${all.length} records (3 new:`);
    const newIds = all.slice(-3).map((l) => (JSON.parse(l) as { id: string }).id);
    for (const id of newIds) expect(r.stdout).toContain(id);
    // the new records one line each (label, L, d, lr …) and their totals, from the records themselves
    const newRecords = all.slice(-3).map((l) => JSON.parse(l) as { label: string; steps: number; wallSeconds: number; config: { data: { train: Array<{ seqLen: number }> }; train: { batchSize: number } } });
    const steps = newRecords.reduce((s, rec) => s + rec.steps, 0);
    expect(r.stdout).toContain(`new records: 3, ${steps.toLocaleString('en-US')} optimiser steps,`);
    const hours = newRecords.reduce((s, rec) => s + rec.wallSeconds, 0) / 3600;
    expect(r.stdout).toContain(`${hours.toFixed(2)} process-hours`);
    for (const rec of newRecords) expect(r.stdout).toMatch(new RegExp(`^  ${rec.label} +L${rec.config.data.train[0]!.seqLen} `, 'm'));
    expect(r.stdout).toMatch(/0 invalid, 0 failed/);
    expect(r.stdout).toContain(`lane times (npx tsx bench/lane_times.ts ${join(root, FOLDER)}/stretch7-sweep.txt):\n1 lanes, 1 jobs started, from 2.0 s to 12.0 s of the sweep: 10 lane-seconds`);
    expect(r.stdout).toMatch(/^ {2}in a run +7 s +70\.0 %$/m);
    expect(lines(join(root, FOLDER, 'runs.jsonl'))).toEqual(all);
    for (const [log, text] of [['stretch', 'resuming'], ['sweep', 'sweep: 58 runs'], ['nvidia-smi', 'H200']]) expect(readFileSync(join(root, FOLDER, `stretch7-${log}.txt`), 'utf8')).toContain(text);
    expect(existsSync(join(root, FOLDER, 'stretch7-pin.txt'))).toBe(false);
    // the device folder's rung notes replace the committed ones
    expect(readFileSync(join(root, FOLDER, 'checkpoints', 'paused-run', 'rung.json'), 'utf8')).toBe('{"epoch":8}');
    expect(existsSync(join(root, FOLDER, 'checkpoints', 'finished-run'))).toBe(false);
    // no empty folder for the running run, nor any other: each left holds its rung note
    expect(existsSync(join(root, FOLDER, 'checkpoints', 'running-run'))).toBe(false);
    for (const id of readdirSync(join(root, FOLDER, 'checkpoints'))) expect(readdirSync(join(root, FOLDER, 'checkpoints', id)), id).toContain('rung.json');
    // the same stretch number again: refused
    const again = merge(deviceCall('call-again', all.length), '7', root);
    expect(again.status).toBe(2);
    expect(again.stderr).toMatch(/stretch7-stretch.txt exists: stretch 7 was merged already/);
  });

  it('leaves no rung note when the device folder has none (its last runs finished), and no weights when a part of them is missing', () => {
    const root = committedRoot('finished', all.length - 1);
    expect(existsSync(join(root, FOLDER, 'checkpoints'))).toBe(true);
    mkdirSync(join(root, '.weights', FOLDER, 'checkpoints', 'a-run'), { recursive: true });
    writeFileSync(join(root, '.weights', FOLDER, 'checkpoints', 'a-run', 'checkpoint.bin'), 'from an earlier call');
    const at = deviceCall('call-finished', all.length, (folder) => rmSync(join(folder, 'checkpoints'), { recursive: true, force: true }));
    deviceWeights(at, { 'b-run': Buffer.alloc(50_000, 3) });
    rmSync(join(at, 'c', 'weights.tar.00')); // the device left the first part out
    const r = merge(at, '3', root);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/the call's weights not kept — a part is missing or damaged \(1 files: weights\.tar\.01;/);
    expect(lines(join(root, FOLDER, 'runs.jsonl'))).toEqual(all);
    expect(existsSync(join(root, FOLDER, 'checkpoints'))).toBe(false);
    expect(existsSync(join(root, '.weights', FOLDER))).toBe(false);
  });

  it("keeps no weights when the last part is lost on a file's boundary (tar would read the rest without an error): stretch.txt says what was sent", () => {
    const root = committedRoot('boundary', all.length - 1);
    const at = deviceCall('call-boundary', all.length);
    // a's header (512 bytes) and its 40,448 bytes fill the first 40 kB part exactly; b goes in the second
    deviceWeights(at, { 'a-run': Buffer.alloc(40_448, 1), 'b-run': Buffer.alloc(5_000, 2) });
    expect(statSync(join(at, 'c', 'weights.tar.00')).size).toBe(40_960);
    rmSync(join(at, 'c', 'weights.tar.01')); // the device left the last part out
    const alone = spawnSync('tar', ['tf', join(at, 'c', 'weights.tar.00')], { encoding: 'utf8' });
    expect(alone.stdout.trim()).toBe('checkpoints/a-run/checkpoint.bin'); // what the merge would have kept without the line
    const r = merge(at, '4', root);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/the call's weights not kept — a part is missing or damaged \(1 files: weights\.tar\.00; sent 2 \d+ \(files, bytes\), got 1 40960\)/);
    expect(existsSync(join(root, '.weights', FOLDER))).toBe(false);
  });

  it("keeps the whole checkpoints of a transfer cut short, each checked by its own sha256; a cut or foreign file goes", async () => {
    const root = committedRoot('cut-short', all.length - 1);
    const at = deviceCall('call-cut-short', all.length);
    /** A real checkpoint file of run `id` (runners/checkpoint.ts's writer), `floats` parameters of value `fill`. */
    const checkpointBytes = async (id: string, floats: number, fill: number): Promise<Buffer> => {
      const dir = join(work, 'written', id);
      const variable = tf.variable(tf.fill([floats], fill));
      await saveCheckpoint(dir, { runId: id, epoch: 7, step: 70, records: [], elapsedSeconds: 1, parts: [], variables: [variable], optimizer: { m: [], v: [] } as unknown as AdamW });
      variable.dispose();
      return readFileSync(join(dir, 'checkpoint.bin'));
    };
    // a: 48 kB (parts 00–01, whole once 01 is here); b: 80 kB (parts 01–03: cut when 03 is lost); c: whole but not a checkpoint
    deviceWeights(at, { 'a-run': await checkpointBytes('a-run', 12_000, 0.5), 'c-run': Buffer.alloc(1_000, 9), 'b-run': await checkpointBytes('b-run', 20_000, 0.25) });
    expect(readdirSync(join(at, 'c')).filter((f) => f.startsWith('weights.tar.'))).toHaveLength(4);
    rmSync(join(at, 'c', 'weights.tar.03')); // the device kept the last part (a later weights_rest.sh call never came)
    const r = merge(at, '5', root);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/campaign_merge: the call's weights came back in part \(sent 4 \d+ \(files, bytes\), got 3 122880\): 1 whole checkpoint\(s\) kept \(a-run, epoch 7\), each checked by the sha256 in its header; the rest retrain from their rung notes/);
    const kept = join(root, '.weights', FOLDER);
    expect(readdirSync(join(kept, 'checkpoints'))).toEqual(['a-run']);
    expect(checkpointIntact(join(kept, 'checkpoints', 'a-run'))).toEqual({ epoch: 7 });
    expect(readFileSync(join(kept, 'state.sha256'), 'utf8')).toMatch(/^[0-9a-f]{64}/);
  });

  it('reads the parts bench/weights_rest.sh brought back in later calls (WEIGHTS_REST_AT) as one tar with the stretch\'s; without them, keeps none', () => {
    const root = committedRoot('rest', all.length - 1);
    const at = deviceCall('call-rest', all.length);
    deviceWeights(at, { 'a-run': Buffer.alloc(70_000, 1), 'b-run': Buffer.alloc(30_000, 2) });
    // 3 parts of 40 kB: the stretch's call brought back 00, the next call (its own files_at, c/) 01 and 02
    const restAt = join(work, 'call-rest-2');
    mkdirSync(join(restAt, 'c'), { recursive: true });
    for (const part of ['weights.tar.01', 'weights.tar.02']) renameSync(join(at, 'c', part), join(restAt, 'c', part));
    const alone = spawnSync('bash', [join(ROOT, 'bench', 'campaign_merge.sh'), at, '5'], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, RESULTS_DIR: committedRoot('rest-alone', all.length - 1), NO_REPORT: '1' }, timeout: 120_000 });
    expect(alone.status, alone.stderr).toBe(0);
    expect(alone.stderr).toMatch(/the call's weights not kept — a part is missing or damaged \(1 files: weights\.tar\.00; sent 3 \d+ \(files, bytes\), got 1 40960\)/);
    const r = spawnSync('bash', [join(ROOT, 'bench', 'campaign_merge.sh'), at, '5'], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, RESULTS_DIR: root, WEIGHTS_DIR: join(root, '.weights'), NO_REPORT: '1', WEIGHTS_REST_AT: restAt }, timeout: 120_000 });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/campaign_merge: 2 checkpoint weights/);
    expect(readFileSync(join(root, '.weights', FOLDER, 'checkpoints', 'a-run', 'checkpoint.bin')).equals(Buffer.alloc(70_000, 1))).toBe(true);
    expect(readFileSync(join(root, '.weights', FOLDER, 'checkpoints', 'b-run', 'checkpoint.bin')).equals(Buffer.alloc(30_000, 2))).toBe(true);
    // the rest call's folder named twice, and the stretch's own among them: each part counts once
    const twice = spawnSync('bash', [join(ROOT, 'bench', 'campaign_merge.sh'), at, '6'], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, RESULTS_DIR: committedRoot('rest-twice', all.length - 1), NO_REPORT: '1', WEIGHTS_REST_AT: `${restAt} ${restAt} ${at}` }, timeout: 120_000 });
    expect(twice.status, twice.stderr).toBe(0);
    expect(twice.stdout).toMatch(/campaign_merge: 2 checkpoint weights/);
  });

  it("WEIGHTS_REST_AT: a folder that is not there changes nothing (exit 2); another stretch's parts, of the same count and sizes, fail the sha256", () => {
    const root = committedRoot('rest-typo', all.length - 1);
    const at = deviceCall('call-typo', all.length);
    const r = spawnSync('bash', [join(ROOT, 'bench', 'campaign_merge.sh'), at, '7'], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, RESULTS_DIR: root, NO_REPORT: '1', WEIGHTS_REST_AT: join(work, 'no-such-call') }, timeout: 120_000 });
    expect(r.status).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/WEIGHTS_REST_AT names .*no-such-call, which is not a folder: nothing merged/);
    expect(lines(join(root, FOLDER, 'runs.jsonl'))).toEqual(all.slice(0, -1));
    expect(existsSync(join(root, FOLDER, 'stretch7-sweep.txt'))).toBe(false);
    // parts 01, 02 from another stretch of the same sizes: count and bytes agree, the sha256 the stretch wrote does not
    const mixed = deviceCall('call-mixed', all.length);
    deviceWeights(mixed, { 'a-run': Buffer.alloc(70_000, 1), 'b-run': Buffer.alloc(30_000, 2) });
    const whole = readdirSync(join(mixed, 'c')).filter((f) => /^weights\.tar\.\d\d$/.test(f)).sort().map((f) => readFileSync(join(mixed, 'c', f)));
    const sum = createHash('sha256').update(Buffer.concat(whole)).digest('hex');
    const stretchTxt = join(mixed, 'c', 'stretch.txt');
    writeFileSync(stretchTxt, readFileSync(stretchTxt, 'utf8').replace(/^(weights files: \d+ \(\d+ bytes)\)$/m, `$1; sha256 ${sum})`));
    const otherAt = join(work, 'call-mixed-other');
    mkdirSync(join(otherAt, 'c'), { recursive: true });
    for (const part of ['weights.tar.01', 'weights.tar.02']) {
      const bytes = readFileSync(join(mixed, 'c', part));
      rmSync(join(mixed, 'c', part));
      writeFileSync(join(otherAt, 'c', part), Buffer.alloc(bytes.length, 9));
    }
    const m = spawnSync('bash', [join(ROOT, 'bench', 'campaign_merge.sh'), mixed, '8'], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, RESULTS_DIR: committedRoot('rest-mixed', all.length - 1), NO_REPORT: '1', WEIGHTS_REST_AT: otherAt }, timeout: 120_000 });
    expect(m.status, m.stderr).toBe(0);
    expect(m.stderr).toMatch(/the call's weights not kept — a part is missing or damaged \(3 files: .*sent 3 \d+ sha256 [0-9a-f]{64} \(files, bytes\), got 3 \d+ sha256 [0-9a-f]{64}\)/);
  });

  it('refuses, changing nothing, a results.tgz that lacks committed records', () => {
    const root = committedRoot('stale', all.length);
    const r = merge(deviceCall('stale-call', all.length - 2), '8', root);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(new RegExp(`lacks 2 of the ${all.length} records committed`));
    expect(lines(join(root, FOLDER, 'runs.jsonl'))).toEqual(all);
    expect(existsSync(join(root, FOLDER, 'stretch8-sweep.txt'))).toBe(false);
    const bad = merge(join(work, 'nowhere'), '9', root);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/no results.tgz/);
  });
});
