// bench/device_tree.sh — what a device call carries, trimmed for a campaign stretch — in a clone of this repository:
// the stretch's folder and the code stay, the other presets' results leave (a call sends only what is checked out),
// the stretch's own committed weights (.weights/<folder>) stay and the other presets' leave, the sizes are printed against the 64 MiB (WARM=1: without the bundle a warm machine keeps), a folder that does not exist is refused in one line (exit 2) unless it is a
// preset's first stretch, and `off`
// brings the whole tree back. Skipped where this checkout is not a git repository.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT } from './cliRunner.js';

const isRepo = spawnSync('git', ['-C', ROOT, 'rev-parse', '--is-inside-work-tree'], { encoding: 'utf8' }).stdout.trim() === 'true';
const work = mkdtempSync(join(tmpdir(), 'device-tree-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe.skipIf(!isRepo)('bench/device_tree.sh in a clone of this repository', () => {
  it('keeps the code and the stretch folder, says the sizes, refuses an unknown folder, and gives the tree back with off', () => {
    const clone = join(work, 'repo');
    expect(spawnSync('git', ['clone', '-q', ROOT, clone]).status).toBe(0);
    const run = (...args: string[]) => spawnSync('bash', ['bench/device_tree.sh', ...args], { cwd: clone, encoding: 'utf8', timeout: 60_000 });
    const git = (...args: string[]) => spawnSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@t', ...args], { cwd: clone }).status;
    // the campaign's own committed weights (zoology-fig2's 32 MiB since 2026-12-02) leave the clone first: this test
    // commits weights of its own below and reads their sizes
    if (existsSync(join(clone, '.weights'))) {
      expect(git('rm', '-rq', '.weights')).toBe(0);
      expect(git('commit', '-q', '-m', 'no weights')).toBe(0);
    }
    const trimmed = run('zoology-fig2');
    expect(trimmed.status, trimmed.stderr).toBe(0);
    // no carried folders in a fresh clone: the tree alone, well under the limit (the whole tree is ~26 MiB)
    const m = /^device_tree: tree (\d+\.\d) MiB = (\d+\.\d) MiB of 64 \((\d+\.\d) left\)$/m.exec(trimmed.stdout);
    expect(m, trimmed.stdout).not.toBeNull();
    expect(Number(m![1])).toBe(Number(m![2]));
    expect(Number(m![1])).toBeLessThan(16);
    for (const kept of ['results/campaign/zoology-fig2/runs.jsonl', 'bench/campaign_stretch.sh', 'bench/campaign_state.sh', 'runners/presets/zoology-fig2.json', 'package.json']) expect(existsSync(join(clone, kept)), kept).toBe(true);
    for (const gone of ['results/icll', 'results/campaign/based-fig2', 'results/vendor']) expect(existsSync(join(clone, gone)), gone).toBe(false);
    // what the device never reads leaves too (room for weights): the tests, the docs, the device calls' old logs — but
    // bench's own files stay, RESULTS.md and the device scripts beside it
    for (const gone of ['tests', 'docs', 'bench/logs']) expect(existsSync(join(clone, gone)), gone).toBe(false);
    for (const kept of ['bench/check_then_stretch.sh', 'bench/weights_rest.sh', 'bench/torch_step.py', 'bench/RESULTS.md', '.ci/run', 'examples/retention.ts']) expect(existsSync(join(clone, kept)), kept).toBe(true);
    const refused = run('no-such-folder');
    expect(refused.status).toBe(2);
    expect(refused.stderr.trim().split('\n')).toHaveLength(1);
    expect(refused.stderr).toMatch(/no results\/campaign\/no-such-folder in HEAD/);
    // the weights are committed (a session's checkout has only what landed): the stretch's own travel in the tree, the
    // other presets' stay home, and the call carries .gpu and .vk beside the tree
    mkdirSync(join(clone, '.weights', 'zoology-fig2'), { recursive: true });
    mkdirSync(join(clone, '.weights', 'jrt-sd'), { recursive: true });
    writeFileSync(join(clone, '.weights', 'zoology-fig2', 'w.bin'), Buffer.alloc(2 * 2 ** 20));
    writeFileSync(join(clone, '.weights', 'jrt-sd', 'w.bin'), Buffer.alloc(3 * 2 ** 20));
    expect(run('off').status).toBe(0);
    expect(git('add', '.weights')).toBe(0);
    expect(git('commit', '-q', '-m', 'weights')).toBe(0);
    const weighed = run('zoology-fig2');
    expect(weighed.status, weighed.stderr).toBe(0);
    expect(existsSync(join(clone, '.weights', 'zoology-fig2', 'w.bin'))).toBe(true);
    expect(existsSync(join(clone, '.weights', 'jrt-sd'))).toBe(false);
    const w = /^device_tree: tree (\d+\.\d) MiB \(of it \.weights\/zoology-fig2 2\.0\) = /m.exec(weighed.stdout);
    expect(w, weighed.stdout).not.toBeNull();
    expect(Number(w![1]) - Number(m![1])).toBeCloseTo(2, 0);
    expect(weighed.stdout).toContain('device_tree: carry [".gpu", ".vk"]');
    // a bundle here (git-ignored): counted and carried on a fresh machine; WARM=1 (the warm machine of the call before
    // keeps it) neither counts nor carries it — that room is the weights'
    mkdirSync(join(clone, '.gpu'));
    writeFileSync(join(clone, '.gpu', 'run'), Buffer.alloc(2 ** 20));
    const fresh = run('zoology-fig2');
    expect(fresh.status, fresh.stderr).toBe(0);
    expect(fresh.stdout).toMatch(/\+ \.gpu 1\.0 = /);
    const warmRun = spawnSync('bash', ['bench/device_tree.sh', 'zoology-fig2'], { cwd: clone, encoding: 'utf8', timeout: 60_000, env: { ...process.env, WARM: '1' } });
    expect(warmRun.status, warmRun.stderr).toBe(0);
    expect(warmRun.stdout).not.toContain('.gpu 1.0');
    expect(warmRun.stdout).toMatch(/\(of it \.weights\/zoology-fig2 2\.0\), nothing carried = (\d+\.\d) MiB of 64/);
    expect(warmRun.stdout).toContain('device_tree: carry [] (WARM=1');
    // the sums differ by the bundle alone
    const total = (out: string) => Number(/= (\d+\.\d) MiB of 64/.exec(out)![1]);
    // (each sum is printed to 0.1 MiB, so their difference is the bundle's 1.0 within one rounding step)
    expect(Math.abs(total(fresh.stdout) - total(warmRun.stdout) - 1)).toBeLessThanOrEqual(0.1 + 1e-9);
    rmSync(join(clone, '.gpu'), { recursive: true });
    // weights too large for one call go by slices (bench/weights_send.sh): the folder's own leave the cone, and SEND
    // carries the slices named — in another preset's call too, on a fresh machine beside .gpu and .vk
    expect(run('off').status).toBe(0);
    mkdirSync(join(clone, '.weights', 'zoology-fig2', 'checkpoints', 'r'), { recursive: true });
    writeFileSync(join(clone, '.weights', 'zoology-fig2', 'checkpoints', 'r', 'checkpoint.bin'), Buffer.alloc(2 ** 20, 7));
    expect(git('add', '.weights')).toBe(0);
    expect(git('commit', '-q', '-m', 'a checkpoint')).toBe(0);
    const send = spawnSync('bash', ['bench/weights_send.sh', 'zoology-fig2', '2', '2'], { cwd: clone, encoding: 'utf8' });
    expect(send.status, send.stderr).toBe(0);
    expect(send.stdout).toMatch(/in 2 slice\(s\); call 1 carries \.wsend\/zoology-fig2\/1 \(2\.0 MiB\); call 2 carries \.wsend\/zoology-fig2\/2 \(1\.0 MiB\)/);
    const other = spawnSync('bash', ['bench/device_tree.sh', 'jrt-sd'], { cwd: clone, encoding: 'utf8', timeout: 60_000, env: { ...process.env, SEND: 'zoology-fig2/1' } });
    expect(other.status, other.stderr).toBe(0);
    expect(other.stdout).toContain('device_tree: carry [".gpu", ".vk", ".wsend/zoology-fig2/1"]');
    expect(other.stdout).toMatch(/\+ \.wsend\/zoology-fig2\/1 2\.0 = /);
    const own = spawnSync('bash', ['bench/device_tree.sh', 'zoology-fig2'], { cwd: clone, encoding: 'utf8', timeout: 60_000, env: { ...process.env, WARM: '1', SEND: 'zoology-fig2/2' } });
    expect(own.status, own.stderr).toBe(0);
    expect(existsSync(join(clone, '.weights', 'zoology-fig2'))).toBe(false);
    expect(own.stdout).toContain('(.weights/zoology-fig2 left out: it goes by slices, .wsend/zoology-fig2)');
    expect(own.stdout).toContain('device_tree: carry [".wsend/zoology-fig2/2"] (WARM=1');
    const wrong = spawnSync('bash', ['bench/device_tree.sh', 'zoology-fig2'], { cwd: clone, encoding: 'utf8', timeout: 60_000, env: { ...process.env, SEND: 'zoology-fig2/3' } });
    expect(wrong.status).toBe(2);
    expect(wrong.stderr).toMatch(/SEND names \.wsend\/zoology-fig2\/3, which holds no slice/);
    rmSync(join(clone, '.wsend'), { recursive: true });
    // a preset's first stretch: no folder of it in HEAD, its preset file is enough; no results travel
    const first = run('jrt-rnn');
    expect(first.status, first.stderr).toBe(0);
    expect(existsSync(join(clone, 'runners/presets/jrt-rnn.json'))).toBe(true);
    expect(existsSync(join(clone, 'results/campaign/jrt-rnn'))).toBe(false);
    expect(existsSync(join(clone, 'results/campaign/zoology-fig2'))).toBe(false);
    expect(run('off').status).toBe(0);
    expect(existsSync(join(clone, 'results/icll'))).toBe(true);
    const whole = run();
    expect(Number(/tree (\d+\.\d) MiB/.exec(whole.stdout)![1])).toBeGreaterThan(Number(m![1]));
  });
});
