// bench/gpu_check_pending.sh's modes run against a stand-in bundle (run-step and run-equiv that only log what they
// were asked): each mode exits 0 and calls the steps its comments promise. On 2026-11-30 a `set -u` slip in the
// campaign mode ($3 of a two-argument call) cost two device calls' checks; a shell mistake fails here instead.
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT } from './cliRunner.js';

const work = mkdtempSync(join(tmpdir(), 'check-pending-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** A bundle whose run-step and run-equiv append `<name> E=<examples a thread> T=<Dawn toggles> <args>` to calls.log and succeed. */
function standInBundle(name: string): { bundle: string; calls: () => string[]; fastPaths: () => string[] } {
  const bundle = join(work, name, 'bundle');
  mkdirSync(bundle, { recursive: true });
  const log = join(work, name, 'calls.log');
  for (const entry of ['run-step', 'run-equiv']) {
    const file = join(bundle, entry);
    writeFileSync(file, `#!/usr/bin/env bash\necho "${entry} E=\${RECALLBENCH_LONGCONV_EXAMPLES:-} T=\${RECALLBENCH_DAWN_TOGGLES:-} $*" >> '${log}'\necho "\${RECALLBENCH_EQUIV_FAST_PATH:-}" >> '${log}.fast'\necho "attention B64 default 4.4 ms/step"\necho "    top kernels: BatchMatMul×33 2.20ms"\necho "    top programs: LinearAttentionGradQ×2 1.10ms"\necho "    a line no summary keeps"\n`);
    chmodSync(file, 0o755);
  }
  const lines = (file: string) => (existsSync(file) ? readFileSync(file, 'utf8').split('\n').slice(0, -1) : []);
  return { bundle, calls: () => lines(log), fastPaths: () => lines(`${log}.fast`) };
}

function check(mode: string, name: string, env: Record<string, string> = {}) {
  const { bundle, calls, fastPaths } = standInBundle(name);
  const out = join(work, name, 'out');
  const r = spawnSync('bash', [join(ROOT, 'bench', 'gpu_check_pending.sh'), mode], {
    cwd: ROOT, encoding: 'utf8', timeout: 60_000, env: { ...process.env, BUNDLE: bundle, OUT: out, STEPS: '1', ...env },
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, calls: calls(), fastPaths: fastPaths(), out };
}

describe('bench/gpu_check_pending.sh against a stand-in bundle', () => {
  it('campaign: the default pass, then the blocked long convolution at each examples-a-thread setting', () => {
    const r = check('campaign', 'campaign', {
      CAMPAIGN_MIXERS: 'h3,hyena', CAMPAIGN_VARIANTS: 'default,default+longConvBlocks', CAMPAIGN_D: '256', CAMPAIGN_SHAPES: '512:128:64', LONGCONV_EXAMPLES: '2 8',
    });
    expect(r.stderr).not.toMatch(/unbound|syntax error|command not found/);
    expect(r.status).toBe(0);
    expect(r.calls).toHaveLength(3);
    expect(r.calls[0]).toMatch(/^run-step E= .*--mixers h3,hyena --batches 128 --seq-len 512 --kv 64 --d-model 256 --variants default,default\+longConvBlocks .*--label campaign-L512-d256 /);
    expect(r.calls[1]).toMatch(/^run-step E=2 .*--variants default\+longConvBlocks .*--label campaign-L512-d256-E2 /);
    expect(r.calls[2]).toMatch(/^run-step E=8 .*--label campaign-L512-d256-E8 /);
    expect(readFileSync(join(r.out, 'campaign.log'), 'utf8')).toContain('4.4 ms/step');
    // the summary (campaign.txt on the device) keeps the timings and both profiles: kernels, and programs (a fused
    // kernel's passes apart)
    expect(r.stdout).toContain('4.4 ms/step');
    expect(r.stdout).toContain('top kernels: BatchMatMul×33 2.20ms');
    expect(r.stdout).toContain('top programs: LinearAttentionGradQ×2 1.10ms');
    expect(r.stdout).not.toContain('a line no summary keeps');
  });

  it("campaign with CAMPAIGN_PRESET: that preset's models", () => {
    const r = check('campaign', 'campaign-preset', { CAMPAIGN_PRESET: 'based-fig2', CAMPAIGN_MIXERS: 'h3', CAMPAIGN_VARIANTS: 'default,default+shortFilter', CAMPAIGN_D: '256', CAMPAIGN_SHAPES: '256:256:16 128:256:8' });
    expect(r.stderr).not.toMatch(/unbound|syntax error|command not found/);
    expect(r.status).toBe(0);
    expect(r.calls).toHaveLength(2);
    for (const call of r.calls) expect(call).toMatch(/--preset runners\/presets\/based-fig2.json --mixers h3 /);
    expect(r.calls[1]).toMatch(/--batches 256 --seq-len 128 --kv 8 --d-model 256 /);
  });

  it("campaign with CAMPAIGN_FLAGS: bench/step.ts's other flags after the pass's own (jrt-sd's vocabulary, f 24, stacks)", () => {
    const r = check('campaign', 'campaign-flags', { CAMPAIGN_PRESET: 'jrt-sd', CAMPAIGN_MIXERS: 'causal,non-causal', CAMPAIGN_D: '36', CAMPAIGN_SHAPES: '84:128:8 276:128:16', CAMPAIGN_FLAGS: '--vocab 2048 --param featureDim=24 --stacks 1,3' });
    expect(r.stderr).not.toMatch(/unbound|syntax error|command not found/);
    expect(r.status).toBe(0);
    expect(r.calls).toHaveLength(2);
    for (const call of r.calls) expect(call).toMatch(/--preset runners\/presets\/jrt-sd.json --mixers causal,non-causal .* --vocab 2048 --param featureDim=24 --stacks 1,3( |$)/);
    expect(r.calls[1]).toMatch(/--batches 128 --seq-len 276 --kv 16 --d-model 36 /);
  });

  it("campaign with CAMPAIGN_PRESET=none: bench/step.ts's own models, no --preset", () => {
    const r = check('campaign', 'campaign-none', { CAMPAIGN_PRESET: 'none', CAMPAIGN_MIXERS: 'gla', CAMPAIGN_VARIANTS: 'default,default+stridedHeads', CAMPAIGN_D: '128', CAMPAIGN_SHAPES: '256:64:16' });
    expect(r.stderr).not.toMatch(/unbound|syntax error|command not found/);
    expect(r.status).toBe(0);
    expect(r.calls).toHaveLength(1);
    expect(r.calls[0]).not.toMatch(/--preset/);
    expect(r.calls[0]).toMatch(/--mixers gla --batches 64 --seq-len 256 --kv 16 --d-model 128 --variants default,default\+stridedHeads /);
    expect(r.calls[0]).toMatch(/ --warmup 2 /); // CAMPAIGN_WARMUP's default
    const warm = check('campaign', 'campaign-warm', { CAMPAIGN_PRESET: 'none', CAMPAIGN_MIXERS: 'rwkv7', CAMPAIGN_VARIANTS: 'default,default+stridedHeads', CAMPAIGN_D: '128', CAMPAIGN_SHAPES: '256:64:16', CAMPAIGN_WARMUP: '8' });
    expect(warm.status).toBe(0);
    expect(warm.calls[0]).toMatch(/--mixers rwkv7 .* --warmup 8 /);
  });

  it('campaign with CAMPAIGN_TOGGLES: one process per Dawn toggle setting, in the order given, each labelled with it', () => {
    const r = check('campaign', 'campaign-toggles', { CAMPAIGN_PRESET: 'none', CAMPAIGN_MIXERS: 'mamba,h3', CAMPAIGN_D: '256', CAMPAIGN_SHAPES: '512:128:64', CAMPAIGN_TOGGLES: 'none disable_robustness,disable_workgroup_init none disable_robustness,disable_workgroup_init' });
    expect(r.stderr).not.toMatch(/unbound|syntax error|command not found/);
    expect(r.status).toBe(0);
    expect(r.calls).toHaveLength(4);
    for (const [i, call] of r.calls.entries()) {
      const on = i % 2 === 1;
      expect(call).toMatch(on ? /^run-step E= T=disable_robustness,disable_workgroup_init / : /^run-step E= T=none --mixers/);
      expect(call).toMatch(/--mixers mamba,h3 --batches 128 --seq-len 512 --kv 64 --d-model 256 --variants default /);
      expect(call).toMatch(on ? /--label campaign-L512-d256-toggles-disable_robustness,disable_workgroup_init / : /--label campaign-L512-d256-toggles-none /);
    }
  });

  it('equiv with EQUIV_DAWN_TOGGLES and EQUIV_FAST_PATH: every GPU ≡ CPU run of the check under those toggles and levers', () => {
    const r = check('equiv', 'equiv-toggles', { MIXERS: 'h3', MIXERS_D256: 'h3', MIXERS_D128: 'deltanet', EQUIV_DEADLINE_S: '5', EQUIV_MODES: 'gpu-fast', EQUIV_DAWN_TOGGLES: 'disable_robustness', EQUIV_FAST_PATH: 'all-attention' });
    expect(r.status).toBe(0);
    expect(r.calls).toHaveLength(3);
    for (const call of r.calls) expect(call).toMatch(/^run-equiv E= T=disable_robustness /);
    // EQUIV_FAST_PATH: gpu-fast's levers, for every run of the check
    expect(r.fastPaths).toEqual(['all-attention', 'all-attention', 'all-attention']);
  });

  it('equiv: the mixers given, then the d 256 and d 128 layouts', () => {
    const r = check('equiv', 'equiv', { MIXERS: 'h3,mamba', MIXERS_D256: 'h3', MIXERS_D128: 'deltanet', EQUIV_DEADLINE_S: '5', EQUIV_MODES: 'gpu-fast' });
    expect(r.stderr).not.toMatch(/unbound|syntax error|command not found/);
    expect(r.status).toBe(0);
    expect(r.calls).toHaveLength(3);
    expect(r.calls[0]).toMatch(/^run-equiv E= .*--deadline-s 5 --modes gpu-fast --mixers h3,mamba$/);
    expect(r.calls[1]).toMatch(/--d-model 256 .*--mixers h3$/);
    expect(r.calls[2]).toMatch(/--d-model 128 .*--mixers deltanet$/);
  });

  it('matmul: the kernels alone, then the L 64 steps at d 512 and d 128 with the variants given', () => {
    const r = check('matmul', 'matmul', { MATMUL_VARIANTS: 'default,default+matmulPrefetch' });
    expect(r.stderr).not.toMatch(/unbound|syntax error|command not found/);
    expect(r.status).toBe(0);
    expect(r.calls).toHaveLength(3);
    expect(r.calls[0]).toMatch(/^run-step E= T= --matmul /);
    expect(r.calls[1]).toMatch(/--d-model 512 --variants default,default\+matmulPrefetch /);
    expect(r.calls[2]).toMatch(/--d-model 128 /);
  });

  it('submit: one step process per submit batch size and round, the sizes alternated, each with its tfjs flag, over the host-bound mixers; then a CPU profile per mixer', () => {
    const r = check('submit', 'submit', { SUBMIT_SIZES: '15 60', SUBMIT_ROUNDS: '2', SUBMIT_MIXERS: 'hyena,jrt-rnn', HOSTPROF_MIXERS: 'jrt-rnn' });
    expect(r.stderr).not.toMatch(/unbound|syntax error|command not found/);
    expect(r.status).toBe(0);
    expect(r.calls).toHaveLength(5);
    expect(r.calls[0]).toMatch(/--mixers hyena,jrt-rnn --batches 64 .*--tf-flag WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE=15 --label submit-15-r1 /);
    expect(r.calls[1]).toMatch(/--tf-flag WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE=60 --label submit-60-r1 /);
    expect(r.calls[2]).toMatch(/--tf-flag WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE=15 --label submit-15-r2 /);
    expect(r.calls[3]).toMatch(/--tf-flag WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE=60 --label submit-60-r2 /);
    expect(r.calls[4]).toMatch(/--mixers jrt-rnn --batches 64 .*--cpu-prof .*\/jrt-rnn-b64.cpuprofile /);
  });

  // memory: a stand-in CLI whose sweep writes two records and their curves, the fast path's name in its log, and one
  // pool line per job to RECALLBENCH_MEMORY_LOG; DIFFER=1 moves one loss by 1e-7 under poolBestFit
  function memoryCheck(name: string, env: Record<string, string> = {}) {
    const { bundle } = standInBundle(name);
    const log = join(work, name, 'sweeps.log');
    const cli = `#!/usr/bin/env bash
echo "\${RECALLBENCH_FAST_PATH:-} $*" >> '${log}'
out=\${@: -1}; mkdir -p "$out/curves"
loss=0.5; [ "\${DIFFER:-}" = 1 ] && [ "\${RECALLBENCH_FAST_PATH:-}" = default+poolBestFit ] && loss=0.5000001
for id in a1 b2; do
  echo "{\\"id\\":\\"$id\\",\\"params\\":100,\\"testAccuracy\\":0.25,\\"msPerStep\\":$RANDOM,\\"wallSeconds\\":$RANDOM}" >> "$out/runs.jsonl"
  echo "[{\\"epoch\\":1,\\"trainLoss\\":$loss,\\"seconds\\":$RANDOM}]" > "$out/curves/$id.json"
  echo "{\\"id\\":\\"$id\\",\\"peakAllocatedBytes\\":$((2 ** 30)),\\"peakUsedBytes\\":$((2 ** 29)),\\"fittedRequests\\":3}" >> "$RECALLBENCH_MEMORY_LOG"
done
echo "sweep: memory: largest run x ≈ 2.00 GiB (measured)"
`;
    writeFileSync(join(bundle, 'run'), cli);
    chmodSync(join(bundle, 'run'), 0o755);
    writeFileSync(join(bundle, 'app.mjs.xz'), '');
    const r = check('memory', name, { MEM_S: '30', ...env });
    const sweeps = existsSync(log) ? readFileSync(log, 'utf8').trim().split('\n') : [];
    const summary = existsSync(join(r.out, 'memory.txt')) ? readFileSync(join(r.out, 'memory.txt'), 'utf8') : '';
    return { ...r, sweeps, summary };
  }

  it('memory: the preset swept with the default levers, then with poolBestFit; pools summed up, every record and curve compared', () => {
    const r = memoryCheck('memory', { MEM_PRESET: 'quick', MEM_CONC: '3' });
    expect(r.stderr).not.toMatch(/unbound|syntax error|command not found|Traceback/);
    expect(r.status).toBe(0);
    expect(r.sweeps).toHaveLength(2);
    expect(r.sweeps[0]).toMatch(/^default sweep runners\/presets\/quick.json --scale 0.01 +--concurrency 3 --backend webgpu --out .*memory-default$/);
    expect(r.sweeps[1]).toMatch(/^default\+poolBestFit sweep .*--out .*memory-default-poolBestFit$/);
    expect(r.summary).toContain('sweep: memory: largest run x ≈ 2.00 GiB');
    expect(r.summary).toMatch(/default-poolBestFit: 2 jobs, pool peak allocated GiB max 1.00 mean 1.00, .*fitted 6/);
    expect(r.summary).toContain('records: 2 default, 2 with poolBestFit, 2 in both, 0 differ (records and curves)');
    const differ = memoryCheck('memory-differ', { MEM_PRESET: 'quick', DIFFER: '1' });
    expect(differ.summary).toContain('2 in both, 2 differ (records and curves) (first: a1)');
  });

  it('an unknown mode: usage and exit 2', () => {
    const r = check('nonsense', 'usage');
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/^usage: bash bench\/gpu_check_pending.sh /);
  });
});
