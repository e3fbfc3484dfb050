// bench/check_then_stretch.sh — a session's device call: the pending checks, then (or beside them) a campaign stretch
// — run on a stand-in GPU host: `nvidia-smi` answering for one or two GPUs, and a bundle whose `run` (the CLI),
// `run-step` and `run-equiv` only log what they were asked (and, for the pin probe's `train`, write the record a
// pinned run writes). Each flow must exit 0, run each check once on the GPU it was given, start the stretch's sweep
// with the preset, GPUs and concurrency asked for, and bring back check.tgz and the campaign folder in results.tgz.
// A device call costs minutes of a 30-minute budget; a slip in these scripts should cost a test run instead.
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT } from './cliRunner.js';

const work = mkdtempSync(join(tmpdir(), 'check-then-stretch-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const NVIDIA_SMI = `#!/usr/bin/env bash
# a stand-in for nvidia-smi on a host of $NGPU H200s
n=\${NGPU:-1}
args="$*"
q=$(grep -o -- '--query-[a-z-]*=[^ ]*' <<<"$args" | head -1)
i=$(grep -o -- '-i [0-9]*' <<<"$args" | cut -d' ' -f2)
bus() { echo "00000000:00:0$((6 + $1)).0"; }
# STUB_SMI_SLEEP: seconds each listing (-L, the compute processes) takes, as a driver without persistence mode can
case "$args" in -L|--query-compute-apps=*) sleep "\${STUB_SMI_SLEEP:-0}" ;; esac
case "$q" in
  '') [ "$args" = "-L" ] && for g in $(seq 0 $((n - 1))); do echo "GPU $g: NVIDIA H200 (UUID: GPU-uuid-$g)"; done ;;
  # STUB_APPS_UNTIL (epoch seconds): an earlier call's process still listed until then
  --query-compute-apps=*) [ "$(date +%s)" -lt "\${STUB_APPS_UNTIL:-0}" ] && echo "4242, 10380 MiB" || echo "" ;;
  --query-gpu=pci.bus_id) bus "$i" ;;
  --query-gpu=uuid) echo "GPU-uuid-$i" ;;
  --query-gpu=index) seq 0 $((n - 1)) ;;
  --query-gpu=index,pci.bus_id,name) for g in $(seq 0 $((n - 1))); do echo "$g, $(bus "$g"), NVIDIA H200"; done ;;
  --query-gpu=index,name,memory.total) for g in $(seq 0 $((n - 1))); do echo "$g, NVIDIA H200, 143771 MiB"; done ;;
  --query-gpu=index,utilization.gpu,memory.used) for g in $(seq 0 $((n - 1))); do echo "$g, 0 %, 0 MiB"; done ;;
  *) echo "nvidia-smi stand-in: unknown query $args" >&2; exit 9 ;;
esac
`;

// the CLI: `train` (the pin probe's run: the record of a run pinned where it asked), `sweep` (one new record)
const RUN = `#!/usr/bin/env bash
echo "run $* | CUDA_VISIBLE_DEVICES=\${CUDA_VISIBLE_DEVICES:-} | COMMIT=\${RECALLBENCH_COMMIT:-} DIRTY=\${RECALLBENCH_DIRTY:-}" >> "$STUB_LOG"
arg() { local want=$1; shift; while [ $# -gt 0 ]; do [ "$1" = "$want" ] && { echo "$2"; return; }; shift; done; }
case "$1" in
  train) out=$(arg --out "$@"); g=$(arg --gpu "$@"); mkdir -p "$out"
    echo "{\\"id\\":\\"probe$g\\",\\"device\\":\\"stand-in [gpu $g, pci x, placement checked]\\"}" > "$out/runs.jsonl" ;;
  sweep) out=$(arg --out "$@"); mkdir -p "$out"; echo '{"id":"fromstretch"}' >> "$out/runs.jsonl"; echo "  done stand-in"
    [ -z "\${STUB_SWEEP_SLEEP:-}" ] || sleep "$STUB_SWEEP_SLEEP" ;;
esac
`;

const STEP = (name: string) => `#!/usr/bin/env bash
echo "${name} $* | CUDA_VISIBLE_DEVICES=\${CUDA_VISIBLE_DEVICES:-}" >> "$STUB_LOG"
echo "h3 B128 default 50.0 ms/step"
`;

/** A stand-in GPU host: its repo folder (bench and runners from this checkout, a bundle of stand-ins) and PATH. */
function host(name: string): { dir: string; log: string; path: string } {
  const dir = join(work, name);
  const bin = join(dir, 'bin');
  mkdirSync(join(dir, '.gpu'), { recursive: true });
  mkdirSync(join(dir, '.vk'));
  mkdirSync(bin);
  mkdirSync(join(dir, 'results', 'campaign', 'based-fig2'), { recursive: true });
  writeFileSync(join(dir, 'results', 'campaign', 'based-fig2', 'runs.jsonl'), '{"id":"committed1"}\n');
  for (const linked of ['bench', 'runners']) symlinkSync(join(ROOT, linked), join(dir, linked));
  const files: [string, string][] = [[join(bin, 'nvidia-smi'), NVIDIA_SMI], [join(dir, '.gpu', 'run'), RUN], [join(dir, '.gpu', 'run-step'), STEP('run-step')], [join(dir, '.gpu', 'run-equiv'), STEP('run-equiv')]];
  for (const [file, text] of files) {
    writeFileSync(file, text);
    chmodSync(file, 0o755);
  }
  return { dir, log: join(dir, 'calls.log'), path: `${bin}:${process.env.PATH}` };
}

function call(name: string, gpus: number, env: Record<string, string>, setup?: (dir: string) => void) {
  const h = host(name);
  setup?.(h.dir);
  const out = join(h.dir, 'out');
  const r = spawnSync('bash', ['bench/check_then_stretch.sh', out], {
    cwd: h.dir, encoding: 'utf8', timeout: 120_000,
    env: { ...process.env, PATH: h.path, NGPU: String(gpus), STUB_LOG: h.log, TOTAL: '200', PRESET: 'based-fig2', RECALLBENCH_COMMIT: 'test', ...env },
  });
  const calls = existsSync(h.log) ? readFileSync(h.log, 'utf8').split('\n').filter(Boolean) : [];
  const listing = (tgz: string) => (existsSync(tgz) ? spawnSync('tar', ['tzf', tgz], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean) : []);
  const extract = (tgz: string, member: string) => spawnSync('tar', ['xzf', tgz, '-O', member], { encoding: 'utf8' }).stdout;
  return { ...r, calls, out, listing, extract };
}

describe('bench/check_then_stretch.sh on a stand-in GPU host', () => {
  it('one GPU: the checks alone first, then the stretch with what is left; check.tgz and results.tgz come back', () => {
    const r = call('one', 1, { CHECKS: 'campaign submit', CAMPAIGN_MIXERS: 'h3', CAMPAIGN_D: '256', CAMPAIGN_SHAPES: '512:128:64', SUBMIT_SIZES: '15', SUBMIT_MIXERS: 'hyena', HOSTPROF_MIXERS: 'jrt-rnn', PER_GPU: '2', ONLY: 'h3 hyena' });
    expect(r.stderr).not.toMatch(/unbound|syntax error|command not found/);
    expect(r.status, r.stdout + r.stderr).toBe(0);
    const steps = r.calls.filter((c) => c.startsWith('run-step'));
    // the campaign pass, the submit size in its default 3 rounds, the CPU profile
    expect(steps).toHaveLength(5);
    expect(steps[0]).toMatch(/--mixers h3 --batches 128 --seq-len 512 --kv 64 --d-model 256 /);
    for (const round of [1, 2, 3]) expect(steps[round]).toMatch(new RegExp(`--tf-flag WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE=15 --label submit-15-r${round} `));
    expect(steps[4]).toMatch(/--cpu-prof .*\/k\/jrt-rnn-b64.cpuprofile /);
    // the stretch after the checks (its sweep is the last call), one GPU: no --gpu, 2 processes
    const sweep = r.calls.at(-1)!;
    expect(sweep).toMatch(/^run sweep runners\/presets\/based-fig2.json --backend webgpu --concurrency 2 --out \.campaign\/based-fig2 --no-report --only h3 hyena \|/);
    expect(r.listing(join(r.out, 'check.tgz'))).toEqual(expect.arrayContaining(['k/campaign.txt', 'k/submit.txt']));
    expect(r.extract(join(r.out, 'check.tgz'), 'k/campaign.txt')).toMatch(/campaign check rc 0 after/);
    expect(r.extract(join(r.out, 'check.tgz'), 'k/submit.txt')).toMatch(/submit check rc 0 after/);
    // the campaign folder, seeded from the committed one, with the stretch's record
    const runs = r.extract(join(r.out, 'c', 'results.tgz'), 'based-fig2/runs.jsonl');
    expect(runs).toBe('{"id":"committed1"}\n{"id":"fromstretch"}\n');
    // the snapshots' temporary files do not come back (8 files a call)
    for (const part of ['results.tgz.part', 'results.tgz.snap']) expect(existsSync(join(r.out, 'c', part)), part).toBe(false);
  });

  it('a call killed from outside before the end (its device time ran out) still brings back the last snapshot of the folder', () => {
    // the device ends a call by killing all of it; here its whole session (the sweep's `timeout` runs in a process
    // group of its own), while the stand-in sweep still runs
    const h = host('killed');
    const out = join(h.dir, 'out');
    const r = spawnSync('bash', ['-c', 'setsid bash bench/check_then_stretch.sh "$1" & pid=$!; sleep 6; pkill -KILL -s $pid; wait $pid; exit 0', 'killed', out], {
      cwd: h.dir, encoding: 'utf8', timeout: 60_000,
      env: { ...process.env, PATH: h.path, NGPU: '1', STUB_LOG: h.log, TOTAL: '200', PRESET: 'based-fig2', RECALLBENCH_COMMIT: 'test', CHECKS: '', SNAPSHOT_S: '1', STUB_SWEEP_SLEEP: '30' },
    });
    expect(r.status, r.stderr).toBe(0);
    // no final pack ran (the sweep was still in its sleep): what came back is a snapshot, with the stretch's record
    expect(readFileSync(join(out, 'c', 'sweep.log'), 'utf8')).not.toMatch(/sweep rc/);
    const tgz = join(out, 'c', 'results.tgz');
    expect(existsSync(tgz)).toBe(true);
    const runs = spawnSync('tar', ['xzf', tgz, '-O', 'based-fig2/runs.jsonl'], { encoding: 'utf8' });
    expect(runs.status).toBe(0);
    expect(runs.stdout).toBe('{"id":"committed1"}\n{"id":"fromstretch"}\n');
  });

  // a checkpoint file as runners/checkpoint.ts writes it: magic, header length, JSON header, then the data
  const checkpoint = (run: string, elapsedSeconds: number, bytes: number) => {
    const header = Buffer.from(JSON.stringify({ runId: run, epoch: 8, step: 100, records: [], elapsedSeconds, variables: [], floats: 0, sha256: '', savedAt: '' }));
    const file = Buffer.alloc(bytes);
    file.write('RBCKPT01', 0, 'latin1');
    file.writeUInt32LE(header.length, 8);
    header.copy(file, 12);
    return file;
  };
  /** The stand-in host's .weights/based-fig2 as campaign_merge.sh keeps them: the files, and the stamp of `stamped`. */
  const keptWeights = (dir: string, sizes: Record<string, [number, number]>, stamped: string) => {
    for (const [run, [secs, bytes]] of Object.entries(sizes)) {
      mkdirSync(join(dir, '.weights', 'based-fig2', 'checkpoints', run), { recursive: true });
      writeFileSync(join(dir, '.weights', 'based-fig2', 'checkpoints', run, 'checkpoint.bin'), checkpoint(run, secs, bytes));
    }
    const hash = spawnSync('bash', ['-c', `source bench/campaign_state.sh && campaign_state_hash "$1"`, 'hash', stamped], { cwd: dir, encoding: 'utf8' });
    expect(hash.stdout.trim()).toMatch(/^[0-9a-f]{64}$/);
    writeFileSync(join(dir, '.weights', 'based-fig2', 'state.sha256'), hash.stdout);
  };
  const members = (tarFiles: string[]) =>
    spawnSync('bash', ['-c', 'cat "$@" | tar tf -', 'list', ...tarFiles], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean);

  it('a fresh machine seeds the weights .weights/ holds for this state; WEIGHTS_MIB brings back those with the most training time per byte that fit', () => {
    // 1 MiB allowed: c (2.0 ms a byte) and b (1.33) fit, a (the least time per byte) would pass it
    const r = call('weights', 1, { CHECKS: '', WEIGHTS_MIB: '1' }, (dir) =>
      keptWeights(dir, { a: [100, 300_000], b: [400, 300_000], c: [1200, 600_000] }, join('results', 'campaign', 'based-fig2')),
    );
    expect(r.stderr).not.toMatch(/unbound|syntax error|command not found/);
    expect(r.status, r.stdout + r.stderr).toBe(0);
    const stretch = readFileSync(join(r.out, 'c', 'stretch.txt'), 'utf8');
    expect(stretch).toMatch(/fresh machine: .* \(records, rung notes and 3 checkpoint weights from \.weights\/based-fig2\)/);
    expect(stretch).toMatch(/^weights: 2 of 3 checkpoint weights brought back \(0\.9 MiB of WEIGHTS_MIB=1\)$/m);
    expect(existsSync(join(r.out, 'c', 'weights.tar.01'))).toBe(false);
    expect(members([join(r.out, 'c', 'weights.tar.00')])).toEqual(['checkpoints/c/checkpoint.bin', 'checkpoints/b/checkpoint.bin']);
    // the weights never go into results.tgz
    expect(r.listing(join(r.out, 'c', 'results.tgz')).filter((m) => m.endsWith('checkpoint.bin'))).toEqual([]);
  });

  it('WEIGHTS_MIB=032 is 32 MiB (not octal 26): a d 256 model\'s checkpoint (~32 MiB) comes back in three files', () => {
    const r = call('weights-three', 1, { CHECKS: '', WEIGHTS_MIB: '032' }, (dir) => keptWeights(dir, { x: [500, 31.5 * 1048576] }, join('results', 'campaign', 'based-fig2')));
    expect(r.status, r.stdout + r.stderr).toBe(0);
    expect(readFileSync(join(r.out, 'c', 'stretch.txt'), 'utf8')).toMatch(/^weights: 1 of 1 checkpoint weights brought back \(31\.5 MiB of WEIGHTS_MIB=32\)$/m);
    const parts = [0, 1, 2].map((i) => join(r.out, 'c', `weights.tar.0${i}`));
    for (const part of parts) expect(existsSync(part), part).toBe(true);
    expect(existsSync(join(r.out, 'c', 'weights.tar.03'))).toBe(false);
    expect(members(parts)).toEqual(['checkpoints/x/checkpoint.bin']);
    // 8 files a call at most: check.tgz, c/'s results.tgz, smi.log, stretch.txt, sweep.log and the three parts
    const back = spawnSync('find', [r.out, '-type', 'f'], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean);
    expect(back.length, back.join('\n')).toBeLessThanOrEqual(8);
  });

  it('WEIGHTS_REST=n: the checkpoints that fit n MiB come back — WEIGHTS_MIB\'s parts with the stretch, the others by bench/weights_rest.sh in the next calls, numbered on', () => {
    // 40 MiB of weights: three parts of 15 MiB; WEIGHTS_MIB=1 sends one with the stretch (a d 512 checkpoint, 55–75
    // MiB, fits no one call: this is how it comes back)
    const mib = 1048576;
    // d: the least time per byte, past WEIGHTS_REST's 41 MiB: stays
    const r = call('weights-rest', 1, { CHECKS: '', WEIGHTS_MIB: '1', WEIGHTS_REST: '41' }, (dir) =>
      keptWeights(dir, { a: [100, 20 * mib], b: [400, 12 * mib], c: [1200, 8 * mib], d: [1, 4 * mib] }, join('results', 'campaign', 'based-fig2')),
    );
    expect(r.status, r.stdout + r.stderr).toBe(0);
    const stretch = readFileSync(join(r.out, 'c', 'stretch.txt'), 'utf8');
    expect(stretch).toMatch(/^weights: 3 of 4 checkpoint weights brought back \(40\.0 MiB of WEIGHTS_MIB=1, WEIGHTS_REST=41\): parts 00–00 of 3 here, the other 2 by bench\/weights_rest\.sh in the calls that follow$/m);
    const sent = /^weights files: 3 \((\d+) bytes; sha256 ([0-9a-f]{64})\)$/m.exec(stretch);
    expect(sent, stretch).not.toBeNull();
    expect(existsSync(join(r.out, 'c', 'weights.tar.00'))).toBe(true);
    expect(existsSync(join(r.out, 'c', 'weights.tar.01'))).toBe(false);
    // the next call on the warm machine: the other two parts, numbered as the stretch numbered them
    const dir = join(work, 'weights-rest');
    const rest = (name: string) => spawnSync('bash', ['bench/weights_rest.sh', join(dir, name)], { cwd: dir, encoding: 'utf8', env: { ...process.env, PRESET: 'based-fig2' } });
    const second = rest('out2');
    expect(second.status, second.stderr).toBe(0);
    expect(second.stdout.trim()).toBe("weights_rest: based-fig2's parts 01–02 of 3 here");
    expect(readdirSync(join(dir, 'out2')).sort()).toEqual(['rest.txt', 'weights.tar.01', 'weights.tar.02']);
    const parts = [join(r.out, 'c', 'weights.tar.00'), join(dir, 'out2', 'weights.tar.01'), join(dir, 'out2', 'weights.tar.02')];
    expect(parts.reduce((sum, part) => sum + statSync(part).size, 0)).toBe(Number(sent![1]));
    // in the stretch's order (the most training time per byte first), all three
    expect(members(parts)).toEqual(['checkpoints/c/checkpoint.bin', 'checkpoints/b/checkpoint.bin', 'checkpoints/a/checkpoint.bin']);
    expect(spawnSync('bash', ['-c', 'cat "$@" | sha256sum', 'sum', ...parts], { encoding: 'utf8' }).stdout.slice(0, 64)).toBe(sent![2]);
    // a call whose files did not come back: FROM=1 sends from part 01 again
    const again = spawnSync('bash', ['bench/weights_rest.sh', join(dir, 'out2b')], { cwd: dir, encoding: 'utf8', env: { ...process.env, PRESET: 'based-fig2', FROM: '1' } });
    expect(again.status, again.stderr).toBe(0);
    expect(readdirSync(join(dir, 'out2b')).sort()).toEqual(['rest.txt', 'weights.tar.01', 'weights.tar.02']);
    // nothing left: exit 3 in one line
    const third = rest('out3');
    expect(third.status).toBe(3);
    expect(third.stderr.trim().split('\n')).toHaveLength(1);
    expect(third.stderr).toMatch(/no parts of based-fig2's weights wait on this machine \(3 made, 3 sent\)/);
    // the next stretch on this machine drops what an earlier one left waiting, and says so if some never came back
    const stash = join(dir, '.campaign', '.weights-out', 'based-fig2');
    writeFileSync(join(stash, 'sent'), '1\n');
    const next = spawnSync('bash', ['bench/campaign_stretch.sh', join(dir, 'out4')], {
      cwd: dir, encoding: 'utf8', timeout: 120_000,
      env: { ...process.env, PATH: join(dir, 'bin') + ':' + process.env.PATH, NGPU: '1', STUB_LOG: join(dir, 'calls.log'), LIMIT: '60', PRESET: 'based-fig2', RECALLBENCH_COMMIT: 'test' },
    });
    expect(next.status, next.stderr).toBe(0);
    expect(readFileSync(join(dir, 'out4', 'stretch.txt'), 'utf8')).toMatch(/^campaign_stretch: the last stretch's weights parts not all brought back \(1 of 3 sent\): dropped$/m);
    expect(existsSync(stash)).toBe(false);
  });

  it('WEIGHTS_MIB=45 is refused in one line (four files would come back): no weights', () => {
    const r = call('weights-over', 1, { CHECKS: '', WEIGHTS_MIB: '45' }, (dir) => keptWeights(dir, { x: [500, 1000] }, join('results', 'campaign', 'based-fig2')));
    expect(r.status, r.stdout + r.stderr).toBe(0);
    expect(readFileSync(join(r.out, 'c', 'stretch.txt'), 'utf8')).toMatch(/^campaign_stretch: WEIGHTS_MIB must be 0 to 44 \(three files back, with tar's headers\), got '45': none will be brought back$/m);
    expect(existsSync(join(r.out, 'c', 'weights.tar.00'))).toBe(false);
  });

  it('no bundle on the machine (a call meant for a warm machine found a fresh one): exit 3 at once in one line, nothing run', () => {
    const r = call('no-bundle', 1, { CHECKS: 'campaign' }, (dir) => rmSync(join(dir, '.gpu'), { recursive: true }));
    expect(r.status).toBe(3);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^check_then_stretch: no \.gpu\/run on this machine .* carry \.gpu/);
    expect(r.calls).toEqual([]);
    expect(readFileSync(join(r.out, 'no-bundle.txt'), 'utf8')).toBe(r.stderr);
  });

  it('weights stamped with another state of the folder are not seeded', () => {
    const r = call('weights-stale', 1, { CHECKS: '', WEIGHTS_MIB: '5' }, (dir) => {
      // stamped with a folder that has one more record than the committed one (a merge not committed)
      const other = join(dir, 'other');
      mkdirSync(other);
      writeFileSync(join(other, 'runs.jsonl'), '{"id":"committed1"}\n{"id":"thrown-away"}\n');
      keptWeights(dir, { a: [100, 1000] }, other);
    });
    expect(r.status, r.stdout + r.stderr).toBe(0);
    expect(readFileSync(join(r.out, 'c', 'stretch.txt'), 'utf8')).toMatch(/the weights in \.weights\/based-fig2 not seeded: their stamp is not this folder's state/);
    expect(existsSync(join(r.out, 'c', 'weights.tar.00'))).toBe(false);
  });

  it('two GPUs, no BESIDE: the check alone first, then the stretch on both GPUs (PER_GPU 2 each)', () => {
    const r = call('both', 2, { CHECKS: 'campaign', CAMPAIGN_MIXERS: 'h3', CAMPAIGN_D: '256', CAMPAIGN_SHAPES: '512:128:64', PER_GPU: '2', ONLY: 'h3 hyena' });
    expect(r.stderr).not.toMatch(/unbound|syntax error|command not found/);
    expect(r.status, r.stdout + r.stderr).toBe(0);
    const order = r.calls.map((c) => c.split(' ').slice(0, 2).join(' '));
    // probe runs, then the check, then the sweep — never the sweep before the check is done
    expect(order.indexOf('run-step --preset')).toBeLessThan(order.indexOf('run sweep'));
    expect(r.calls.filter((c) => c.startsWith('run sweep'))).toEqual([expect.stringMatching(/--gpu 0 1 --concurrency 4 .*--only h3 hyena /)]);
    expect(r.extract(join(r.out, 'check.tgz'), 'k/campaign.txt')).toMatch(/campaign check rc 0 after \d+ s$/m);
  });

  it('two GPUs, BESIDE: every GPU pinned by the probe, the checks pinned to GPU 0 while the stretch sweeps GPU 1', () => {
    const r = call('beside', 2, { BESIDE: '1', CHECKS: 'campaign', CAMPAIGN_MIXERS: 'h3', CAMPAIGN_D: '256', CAMPAIGN_SHAPES: '512:128:64', PER_GPU: '2', ONLY: 'h3' });
    expect(r.stderr).not.toMatch(/unbound|syntax error|command not found/);
    expect(r.status, r.stdout + r.stderr).toBe(0);
    // the probe: one pinned training run per GPU
    expect(r.calls.filter((c) => c.startsWith('run train')).map((c) => c.match(/--gpu (\d)/)![1]).sort()).toEqual(['0', '1']);
    const step = r.calls.filter((c) => c.startsWith('run-step'));
    expect(step).toHaveLength(1);
    expect(step[0]).toMatch(/\| CUDA_VISIBLE_DEVICES=GPU-uuid-0$/);
    const sweep = r.calls.filter((c) => c.startsWith('run sweep'));
    expect(sweep).toHaveLength(1);
    expect(sweep[0]).toMatch(/--gpu 1 --concurrency 2 /);
    const pin = r.extract(join(r.out, 'check.tgz'), 'k/pin.txt');
    expect(pin).toMatch(/pin probe rc 0/);
    expect(pin).toMatch(/BESIDE: checks on GPU 0, the stretch on GPU\(s\) 1/);
    expect(r.listing(join(r.out, 'c', 'results.tgz'))).toContain('based-fig2/runs.jsonl');
  });
  /** bench/campaign_stretch.sh alone on a stand-in host (what a warm call runs when it has no checks). */
  function stretchAlone(name: string, gpus: number, env: Record<string, string>, setup?: (dir: string) => void) {
    const h = host(name);
    setup?.(h.dir);
    const out = join(h.dir, 'out', 'c');
    const r = spawnSync('bash', ['bench/campaign_stretch.sh', out], {
      cwd: h.dir, encoding: 'utf8', timeout: 120_000,
      env: { ...process.env, PATH: h.path, NGPU: String(gpus), STUB_LOG: h.log, LIMIT: '60', PRESET: 'based-fig2', RECALLBENCH_COMMIT: 'test', ...env },
    });
    const calls = existsSync(h.log) ? readFileSync(h.log, 'utf8').split('\n').filter(Boolean) : [];
    return { ...r, out, calls };
  }

  it("waits for an earlier call's processes to leave the GPU before the sweep plans on its memory, and says so", () => {
    const r = stretchAlone('earlier-apps', 1, { STUB_APPS_UNTIL: String(Math.floor(Date.now() / 1000) + 4) });
    expect(r.stderr).not.toMatch(/unbound|syntax error|command not found/);
    expect(r.status, r.stdout + r.stderr).toBe(0);
    const stretch = readFileSync(join(r.out, 'stretch.txt'), 'utf8');
    const waited = /^waited (\d+) s for earlier processes on the GPU to end \(left: none\); (\d+) s by the clock, nvidia-smi's queries included$/m.exec(stretch);
    expect(waited, stretch).not.toBeNull();
    expect(Number(waited![1])).toBeGreaterThanOrEqual(3);
    expect(Number(waited![1])).toBeLessThanOrEqual(9);
    expect(Number(waited![2])).toBeGreaterThanOrEqual(Number(waited![1]));
    expect(r.calls.at(-1)).toMatch(/^run sweep /);
    // APPS_WAIT_S bounds it: a process that never leaves delays the sweep by that much, not forever
    const stuck = stretchAlone('stuck-apps', 1, { STUB_APPS_UNTIL: String(Math.floor(Date.now() / 1000) + 600), APPS_WAIT_S: '3' });
    expect(stuck.status).toBe(0);
    expect(readFileSync(join(stuck.out, 'stretch.txt'), 'utf8')).toMatch(/^waited 3 s for earlier processes on the GPU to end \(left: 4242, 10380 MiB;\); \d+ s by the clock, nvidia-smi's queries included$/m);
  });

  it("says where a call's first seconds went when nvidia-smi is slow to list (no process to wait for), and when its LIMIT was set", () => {
    const r = call('slow-smi', 1, { CHECKS: '', STUB_SMI_SLEEP: '2' });
    expect(r.stderr).not.toMatch(/unbound|syntax error|command not found/);
    expect(r.status, r.stdout + r.stderr).toBe(0);
    const log = r.extract(join(r.out, 'check.tgz'), 'k/apps-wait.txt');
    const listed = /^no wait for earlier processes; reading the GPU's process list took (\d+) s$/m.exec(log);
    expect(listed, log).not.toBeNull();
    expect(Number(listed![1])).toBeGreaterThanOrEqual(2);
    expect(log).toMatch(/^nvidia-smi -L took [2-9] s$/m);
    // LIMIT = TOTAL − the seconds before it, both said
    const limit = /LIMIT (\d+) s \((\d+) s after the call's start\)/.exec(r.stdout);
    expect(limit, r.stdout).not.toBeNull();
    expect(Number(limit![2])).toBeGreaterThanOrEqual(4);
    expect(Number(limit![1]) + Number(limit![2])).toBe(200);
    // a fast list says nothing
    const fast = call('fast-smi', 1, { CHECKS: '' });
    expect(fast.status).toBe(0);
    expect(fast.extract(join(fast.out, 'check.tgz'), 'k/apps-wait.txt')).not.toMatch(/took/);
  });

  it("check_then_stretch.sh waits for them before its checks; a stretch started beside a check does not wait for the check's processes", () => {
    // the earlier call's process never leaves: APPS_WAIT_S bounds the wait at the call's start; the stretch beside the
    // repro check is started with APPS_WAIT_S=0
    const r = call('apps-beside', 1, { CHECKS: 'repro', STUB_APPS_UNTIL: String(Math.floor(Date.now() / 1000) + 600), APPS_WAIT_S: '3' });
    expect(r.stderr).not.toMatch(/unbound|syntax error|command not found/);
    expect(r.status, r.stdout + r.stderr).toBe(0);
    expect(r.extract(join(r.out, 'check.tgz'), 'k/apps-wait.txt')).toMatch(/^waited 3 s for earlier processes on the GPU to end \(left: 4242, 10380 MiB;\); \d+ s by the clock, nvidia-smi's queries included$/m);
    expect(readFileSync(join(r.out, 'c', 'stretch.txt'), 'utf8')).not.toMatch(/waited/);
    expect(r.calls.some((c) => c.startsWith('run sweep'))).toBe(true);
  });

  // weights too large for one call, sent in slices over the session's calls (bench/weights_send.sh): made here from the
  // committed .weights/based-fig2, which then leaves the host (only the slices carry them)
  const sliced = (dir: string, rooms: string[], keep: (k: number) => boolean = () => true) => {
    const mib = 1048576;
    keptWeights(dir, { a: [100, 3 * mib], b: [400, 2 * mib] }, join('results', 'campaign', 'based-fig2'));
    const send = spawnSync('bash', ['bench/weights_send.sh', 'based-fig2', ...rooms], { cwd: dir, encoding: 'utf8' });
    expect(send.status, send.stderr).toBe(0);
    rmSync(join(dir, '.weights'), { recursive: true });
    for (let k = 1; existsSync(join(dir, '.wsend', 'based-fig2', String(k))); k++) if (!keep(k)) rmSync(join(dir, '.wsend', 'based-fig2', String(k)), { recursive: true });
    return send.stdout;
  };

  it('weights_send.sh cuts the committed weights into one slice a call; campaign_stretch.sh seeds from them once all are on the machine', () => {
    let said = '';
    const r = stretchAlone('slices', 1, { WEIGHTS_MIB: '0' }, (dir) => (said = sliced(dir, ['2', '4'])));
    expect(said).toMatch(/^weights_send: \.weights\/based-fig2 \(5\.0 MiB\) in 2 slice\(s\); call 1 carries \.wsend\/based-fig2\/1 \(2\.0 MiB\); call 2 carries \.wsend\/based-fig2\/2 \(3\.0 MiB\)/);
    expect(r.status, r.stdout + r.stderr).toBe(0);
    expect(readFileSync(join(r.out, 'stretch.txt'), 'utf8')).toMatch(/fresh machine: .* \(records, rung notes and 2 checkpoint weights from \.campaign\/\.weights-in\/based-fig2\)/);
    const seeded = join(work, 'slices', '.campaign', 'based-fig2', 'checkpoints');
    expect(readdirSync(seeded).sort()).toEqual(['a', 'b']);
    expect(statSync(join(seeded, 'a', 'checkpoint.bin')).size).toBe(3 * 1048576);
    expect(r.calls.some((c) => c.startsWith('run sweep'))).toBe(true);
  });

  it('a slice missing (its call not made yet) or damaged: the folder is not started — exit 4 in one line, no sweep', () => {
    const r = stretchAlone('slices-missing', 1, {}, (dir) => sliced(dir, ['2', '4'], (k) => k === 1));
    expect(r.status).toBe(4);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^campaign_stretch: 1 of 2 slices of based-fig2's weights on this machine .*: not started without the rest/);
    expect(r.calls).toEqual([]);
    expect(existsSync(join(work, 'slices-missing', '.campaign', 'based-fig2'))).toBe(false);
    const d = stretchAlone('slices-damaged', 1, {}, (dir) => {
      sliced(dir, ['2', '4']);
      writeFileSync(join(dir, '.wsend', 'based-fig2', '2', 'part'), Buffer.alloc(3 * 1048576));
    });
    expect(d.status).toBe(4);
    expect(d.stderr).toMatch(/are not the tar their manifest names \(sha256\): not started/);
    expect(d.calls).toEqual([]);
    // rooms that do not hold the weights: one line, exit 2, no slices left behind
    const h = host('slices-short');
    keptWeights(h.dir, { a: [100, 3 * 1048576] }, join('results', 'campaign', 'based-fig2'));
    const short = spawnSync('bash', ['bench/weights_send.sh', 'based-fig2', '1', '1'], { cwd: h.dir, encoding: 'utf8' });
    expect(short.status).toBe(2);
    expect(short.stderr.trim().split('\n')).toHaveLength(1);
    expect(short.stderr).toMatch(/is 3\.0 MiB as a tar, the rooms given hold 2\.0: give more/);
    expect(existsSync(join(h.dir, '.wsend', 'based-fig2'))).toBe(false);
  });

  it("the records' code version is the bundle's stamp (its commit; -dirty: tracked files changed when packed), unless RECALLBENCH_COMMIT names another", () => {
    const sweepEnv = (name: string, stamp: string, env: Record<string, string>) => {
      const r = stretchAlone(name, 1, env, (dir) => writeFileSync(join(dir, '.gpu', 'commit.txt'), `${stamp}\n`));
      expect(r.status, r.stdout + r.stderr).toBe(0);
      return { sweep: r.calls.find((c) => c.startsWith('run sweep'))!, stretch: readFileSync(join(r.out, 'stretch.txt'), 'utf8') };
    };
    const clean = sweepEnv('stamp-clean', 'abc1234', { RECALLBENCH_COMMIT: 'abc1234' });
    expect(clean.sweep).toMatch(/\| COMMIT=abc1234 DIRTY=0$/);
    expect(clean.stretch).toMatch(/^records: commit abc1234, RECALLBENCH_DIRTY=0 \(the bundle's stamp\)$/m);
    // stretchAlone's RECALLBENCH_COMMIT=test names another commit than the bundle's: the question stays open
    const other = sweepEnv('stamp-other', 'abc1234-dirty', {});
    expect(other.sweep).toMatch(/\| COMMIT=test DIRTY=$/);
    expect(other.stretch).not.toMatch(/^records: /m);
    const unnamed = sweepEnv('stamp-unnamed', 'abc1234-dirty', { RECALLBENCH_COMMIT: '' });
    expect(unnamed.sweep).toMatch(/\| COMMIT=abc1234 DIRTY=1$/);
  });

  it('campaign_stretch.sh alone without a bundle: exit 3 at once in one line, nothing run', () => {
    const r = stretchAlone('no-bundle-alone', 1, { WEIGHTS_MIB: '20' }, (dir) => rmSync(join(dir, '.gpu'), { recursive: true }));
    expect(r.status).toBe(3);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^campaign_stretch: no \.gpu\/run on this machine/);
    expect(r.calls).toEqual([]);
  });

  it("two GPUs pinned by campaign_stretch.sh itself: its pin.txt takes a file's place, so the weights are capped at two parts; the bundle's stamp is printed", () => {
    const tenMiB = 10 * 1048576;
    const r = stretchAlone('weights-pinned', 2, { WEIGHTS_MIB: '32' }, (dir) => {
      keptWeights(dir, { x: [300, tenMiB], y: [200, tenMiB], z: [100, tenMiB] }, join('results', 'campaign', 'based-fig2'));
      writeFileSync(join(dir, '.gpu', 'commit.txt'), 'abc1234\n');
    });
    expect(r.stderr).not.toMatch(/unbound|syntax error|command not found/);
    expect(r.status, r.stdout + r.stderr).toBe(0);
    expect(existsSync(join(r.out, 'pin.txt'))).toBe(true);
    const stretch = readFileSync(join(r.out, 'stretch.txt'), 'utf8');
    expect(stretch).toMatch(/^bundle: packed at abc1234; RECALLBENCH_COMMIT=test$/m);
    expect(stretch).toMatch(/^campaign_stretch: WEIGHTS_MIB 32 → 29: pin\.txt takes the third part's place/m);
    // 30 MiB asked of 29: the two with the most time per byte, in two parts; what was sent is said for the merge
    expect(stretch).toMatch(/^weights: 2 of 3 checkpoint weights brought back \(20\.0 MiB of WEIGHTS_MIB=29\)$/m);
    expect(existsSync(join(r.out, 'weights.tar.02'))).toBe(false);
    expect(members([join(r.out, 'weights.tar.00'), join(r.out, 'weights.tar.01')])).toEqual(['checkpoints/x/checkpoint.bin', 'checkpoints/y/checkpoint.bin']);
    const sent = /^weights files: 2 \((\d+) bytes; sha256 ([0-9a-f]{64})\)$/m.exec(stretch);
    expect(sent, stretch).not.toBeNull();
    expect(Number(sent![1])).toBe(statSync(join(r.out, 'weights.tar.00')).size + statSync(join(r.out, 'weights.tar.01')).size);
    expect(spawnSync('bash', ['-c', 'cat "$@" | sha256sum', 'sum', join(r.out, 'weights.tar.00'), join(r.out, 'weights.tar.01')], { encoding: 'utf8' }).stdout.slice(0, 64)).toBe(sent![2]);
    const back = spawnSync('find', [join(r.out, '..'), '-type', 'f'], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean);
    expect(back.length, back.join('\n')).toBeLessThanOrEqual(8);
  });
});
