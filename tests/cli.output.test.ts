// What the CLI prints for a person: train names itself, one line per run start / epoch / finish, the config only
// with --verbose, the table and the paths to open after a sweep, an honest --dry-run estimate (these in this
// process: main), and Ctrl-C (the program in a process group of its own).
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { bundleCli, cli, ROOT, spawnCli } from './cliRunner.js';

/** The CLI in its own process group, as a terminal runs a command: Ctrl-C signals the whole group. */
const spawnInGroup = (args: string[], bundled = false) => spawnCli(args, { detached: true, bundled });
beforeAll(() => bundleCli()); // the Ctrl-C test's two processes start from the bundle: a third of tsx's start-up

// (yargs makes a flag given twice an array: each flag once)
const common = (d = 8, examples = 32) => ['--backend', 'cpu', '--d-model', String(d), '--vocab-size', '32', '--train-examples', String(examples), '--test-examples', '16', '--batch-size', '16'];
const tiny = [...common(), '--seq-len', '16', '--kv-pairs', '2'];
const tinySweep = (d = 8, examples = 32) => [...common(d, examples), '--setting', '16:2'];

describe('CLI output', () => {
  it('train: "train: 1 run", a line per epoch, a finish line, the table; the config only with --verbose', async () => {
    const out = join(mkdtempSync(join(tmpdir(), 'rb-out-')), 'train');
    const r = await cli(['train', ...tiny, '--epochs', '2', '--out', out]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/^train: 1 run, 1 to train on cpu \(.*\) → .*train$/m);
    expect(r.stderr).not.toMatch(/sweep/);
    expect(r.stderr).toMatch(/^run 1\/1: attention d8 lr0\.001 \(2 epochs at most, id [0-9a-f]{16}\)$/m);
    expect(r.stderr.match(/^ {2}epoch [12]\/2 {2}loss \d+\.\d{3} {2}val acc [01]\.\d{3} {2}[\d.]+ s$/gm)).toHaveLength(2);
    expect(r.stderr).toMatch(/^ {2}done {7}attention d8 lr0\.001: test acc [01]\.\d{3} \(best epoch [12] of 2, /m);
    expect(r.stderr).not.toMatch(/config \{/);
    expect(r.stdout).toMatch(/^attention d8\s+[\d.]+ K?B\s+\d+\s+\d+\s+0\.001\s+[01]\.\d{3}\s+[01]\.\d{3}\s+2$/m);
    expect(readdirSync(out).sort()).toEqual(['curves', 'runs.csv', 'runs.jsonl']); // no empty checkpoints/ or locks/
    const verbose = await cli(['train', ...tiny, '--epochs', '1', '--verbose', '--out', join(out, 'v')]);
    expect(verbose.stderr).toMatch(/^ {2}config \{"label":"attention","data":\{"task":"mqar"/m);
  });

  it('sweep: the table sorted by state, the figures and report drawn, the paths to open', async () => {
    const out = join(mkdtempSync(join(tmpdir(), 'rb-out-')), 'sweep');
    const r = await cli(['sweep', '--arch', 'attention', 'based', ...tinySweep(), '--epochs', '1', '--out', out]);
    expect(r.status, r.stderr).toBe(0);
    const rows = r.stdout.split('\n').filter((l) => /^(attention|based) d8/.test(l));
    expect(rows.map((l) => l.split(/\s{2,}/)[0])).toEqual(['attention d8', 'based d8']); // 2·d·L < (d + 1)·153 at L 16
    expect(r.stdout).toMatch(new RegExp(`^open: +${join(out, 'index.html')}$`, 'm'));
    expect(r.stdout).toMatch(new RegExp(`^open: +${join(out, 'figures', 'accuracy-vs-state.png')}$`, 'm'));
    expect(existsSync(join(out, 'index.html'))).toBe(true);
    expect(existsSync(join(out, 'figures', 'accuracy-vs-state.png'))).toBe(true);
    expect(existsSync(join(out, 'locks'))).toBe(false);
    // --dry-run after it: the grid, and an estimate from the step times just measured on this host
    const dry = await cli(['sweep', '--arch', 'attention', 'based', ...tinySweep(), '--epochs', '3', '--dry-run', '--out', join(out, '..', 'next')]);
    expect(dry.status, dry.stderr).toBe(0);
    expect(dry.stdout).toMatch(/^[0-9a-f]{16} {2}attention d8 {2}seed0 {2}6 steps$/m);
    expect(dry.stdout).toMatch(/^estimated time: at most [\d.]+ s for 2 of 2 runs to train, one at a time \(step times measured on this host name with cpu, [^;]+; /m);
    const unknown = await cli(['sweep', '--arch', 'attention', ...tinySweep(12), '--dry-run', '--out', join(out, '..', 'other')]);
    expect(unknown.stdout).toMatch(/^estimated time: unknown — no run of these model shapes has been timed on this host with cpu yet/m);
  });

  it('Ctrl-C (SIGINT to the process group) stops at once with one line saying how to resume; re-running resumes', async () => {
    const out = join(mkdtempSync(join(tmpdir(), 'rb-int-')), 'sweep');
    const args = ['sweep', '--arch', 'attention', ...tinySweep(8, 96), '--epochs', '50', '--lr', '1e-5', '--no-report', '--out', out];
    const child = spawnInGroup(args, true);
    let stderr = '';
    const exited = new Promise<string>((resolve) => child.on('exit', (code, signal) => resolve(`${code} ${signal}`)));
    await new Promise<void>((resolve) => {
      child.stderr!.on('data', (d: Buffer) => {
        stderr += d.toString();
        if (/epoch +2\/50/.test(stderr)) resolve(); // epoch 1's checkpoint is saved by then
      });
      child.on('exit', () => resolve());
    });
    process.kill(-child.pid!, 'SIGINT');
    expect(await exited).toBe('null SIGINT');
    await new Promise((r) => setTimeout(r, 300)); // the guard's line follows the stop
    expect(stderr.trimEnd().split('\n').at(-1)).toBe('interrupted — re-run the same command to resume (finished runs are kept; the run in progress resumes from its last epoch)');
    expect(readdirSync(join(out, 'checkpoints'))).toHaveLength(1);
    const again = spawnInGroup(args, true);
    let log = '';
    await new Promise<void>((resolve) => {
      again.stderr!.on('data', (d: Buffer) => {
        log += d.toString();
        if (/resuming run [0-9a-f]{16} from its checkpoint after epoch \d+/.test(log)) resolve();
      });
    });
    process.kill(-again.pid!, 'SIGINT');
    expect(await new Promise<string>((resolve) => again.on('exit', (code, signal) => resolve(`${code} ${signal}`)))).toBe('null SIGINT');
  }, 120_000);

  it('sweep --stack 2: the runs that differ only in lr train as one stack, said in the log and in their records', async () => {
    const out = join(mkdtempSync(join(tmpdir(), 'rb-stack-')), 'sweep');
    const r = await cli(['sweep', '--arch', 'attention', ...tinySweep(), '--lr', '1e-3', '3e-3', '--epochs', '1', '--stack', '2', '--no-report', '--out', out]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/^runs 1–2\/2: a stack of 2 \(1 epochs at most\)$/m);
    expect(r.stderr.match(/^ {2}done +attention d8 lr0\.00[13]: .*stacked [12] of 2\)/gm)).toHaveLength(2);
    const records = readFileSync(join(out, 'runs.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { stack?: { size: number; index: number } });
    expect(records.map((x) => x.stack).sort((a, b) => a!.index - b!.index)).toEqual([{ size: 2, index: 0 }, { size: 2, index: 1 }]);
  });

  it('a process SIGKILLed before its Ctrl-C guard started: the guard leaves, so stderr reaches its end', async () => {
    // the kill comes right after the guard is spawned, before its first line can run: it starts already reparented
    // (a guard that took init for its parent lived on, holding the pipe — a reader waiting for stderr's end hung)
    const script = `import('./runners/progress.ts').then((m) => { m.announceInterrupts(); process.kill(process.pid, 'SIGKILL'); });`;
    const child = spawn(process.execPath, ['--import', 'tsx', '-e', script], { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
    child.stderr.resume();
    const end = await new Promise<string>((resolve) => {
      const late = setTimeout(() => resolve('stderr still open 20 s after the kill'), 20_000);
      child.on('close', (_code, signal) => (clearTimeout(late), resolve(`closed after ${signal}`)));
    });
    expect(end).toBe('closed after SIGKILL');
  }, 60_000);
});
