// Memory that fits by construction (issue 11, item 4): a run's peak GPU memory estimated before it starts
// (runners/memory.ts), `sweep --concurrency auto` from the GPU's free memory, refusal of runs that cannot fit,
// and the cap of the webgpu buffer pool (accel/webgpu/bufferPool.ts) — all on the cpu backend, in this process.
// The same through the CLI, sweeps in processes of their own: tests/memory.sweep.test.ts (project `system`).
import * as tf from '@tensorflow/tfjs';
import { BufferManager } from '@tensorflow/tfjs-backend-webgpu/dist/buffer_manager.js';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend, type BackendInfo } from '../engine/backend.js';
import { bufferPoolStats, setBufferPoolBestFit, setBufferPoolLimit, trimBufferPool } from '../accel/webgpu/bufferPool.js';
import { BEST_FIT_RATIO, bestFitSize, replacedSize } from '../core/bestFit.js';
import { GPU_MEMORY_SAFETY, MAX_RUNS_PER_GPU, MemoryBudget, parseConcurrency, parseNvidiaSmiMemory, planConcurrency, resolveGpuMemory } from '../runners/concurrency.js';
import type { RunConfig } from '../runners/config.js';
import { stridedHeadsOn } from '../accel/webgpu/heads.js';
import { EVAL_LOGIT_ROWS, PROCESS_OVERHEAD_BYTES, POOL_MARGIN, estimateGridMemory, estimateRunMemory, type MemoryEstimate } from '../runners/memory.js';
import { scalePreset } from '../runners/scale.js';
import { expandPreset, loadPreset } from '../runners/sweep.js';
import { resolveRunConfig, runOne } from '../runners/run.js';

const GIB = 2 ** 30;

interface Tiny {
  mixers?: string[];
  d?: number;
  L?: number;
  K?: number;
  V?: number;
  batch?: number;
  evalBatch?: number;
  /** Examples per split. */
  count?: number;
}

/** A small MQAR run; every size is a knob. */
function tiny({ mixers = ['attention'], d = 16, L = 32, K = 4, V = 64, batch = 16, evalBatch = 32, count = 48 }: Tiny = {}): RunConfig {
  return resolveRunConfig({
    label: mixers.join('+'),
    data: { task: 'mqar', common: { vocabSize: V }, train: [{ seqLen: L, numKvPairs: K, count }], test: [{ seqLen: L, numKvPairs: K, count }] },
    model: { dModel: d, nLayers: 2, layers: mixers.map((mixer) => ({ mixer })) },
    train: { lr: 1e-3, epochs: 1, batchSize: batch, evalBatchSize: evalBatch },
  });
}

let cpu: BackendInfo;
beforeAll(async () => {
  cpu = await initBackend('cpu');
});

describe('estimateRunMemory', () => {
  it('grows with the batch, d_model, the sequence length and the vocabulary', async () => {
    const base = await estimateRunMemory(tiny());
    const bigger = {
      batch: await estimateRunMemory(tiny({ batch: 64 })),
      d: await estimateRunMemory(tiny({ d: 64 })),
      L: await estimateRunMemory(tiny({ L: 56 })),
      V: await estimateRunMemory(tiny({ V: 1024 })),
    };
    expect(base.method).toBe('measured');
    for (const e of Object.values(bigger)) expect(e.livePeak).toBeGreaterThan(base.livePeak);
    // what each knob moves: the batch moves activations, not parameters; d and V move parameters too
    expect(bigger.batch.trainActivations).toBeGreaterThan(3 * base.trainActivations);
    expect(bigger.batch.parameters).toBe(base.parameters);
    expect(bigger.d.parameters).toBeGreaterThan(base.parameters);
    expect(bigger.V.parameters).toBeGreaterThan(base.parameters);
    expect(bigger.L.evalTransient).toBeGreaterThan(base.evalTransient);
    // the parts add up: moments are 2 × parameters, total = live peak + what the pool keeps beyond it (none where
    // the simulated pool + POOL_MARGIN stays under the live peak: tf.memory counts a reshaped view's bytes again,
    // a buffer does not) + process context
    for (const e of [base, ...Object.values(bigger)]) {
      expect(e.optimizerMoments).toBe(2 * e.parameters);
      expect(e.processOverhead).toBe(PROCESS_OVERHEAD_BYTES);
      expect(e.poolOverhead).toBeGreaterThanOrEqual(0);
      expect(e.total).toBeCloseTo(e.livePeak + e.poolOverhead + PROCESS_OVERHEAD_BYTES, 0);
    }
    // a larger model's pool outgrows its live peak: d 64 keeps buffers of more sizes than it has live at once
    expect(bigger.d.poolOverhead).toBeGreaterThan(POOL_MARGIN * bigger.d.livePeak);
  });

  it('the training peak is linear in the batch beyond the profiled sizes (per-kernel lines, not the overall peak)', async () => {
    const at = async (batch: number) => (await estimateRunMemory(tiny({ batch, evalBatch: 2 }))).trainActivations;
    const [a16, a32, a64] = [await at(16), await at(32), await at(64)];
    // exactly linear once the backward pass is the peak: equal steps for equal batch increments
    expect((a64 - a32) / (a32 - a16)).toBeCloseTo(2, 1);
  });

  it('bounds evaluation logits by EVAL_LOGIT_ROWS rows: past that, only the hidden states grow with the eval batch', async () => {
    // L 256, K 64: 64 supervised rows per example → 8192 rows at an eval batch of 128
    const config = (evalBatch: number) => tiny({ L: 256, K: 64, V: 4096, batch: 2, evalBatch });
    const rows = EVAL_LOGIT_ROWS / 64;
    const [below, at, above] = [await estimateRunMemory(config(rows / 2)), await estimateRunMemory(config(rows)), await estimateRunMemory(config(2 * rows))];
    const perExampleBelow = (at.evalTransient - below.evalTransient) / (rows / 2);
    const perExampleAbove = (above.evalTransient - at.evalTransient) / rows;
    expect(perExampleAbove).toBeGreaterThan(0);
    // a logit row is V floats: 64 of them per example dominate below the bound and are gone above it
    expect(perExampleBelow - perExampleAbove).toBeGreaterThan(0.9 * 64 * 4096 * 4);
  });

  // The estimate's live part against tf.profile's peak over a whole run (model, moments, one epoch of training
  // and evaluation) on the real cpu backend.
  const measured: Array<[string, Tiny]> = [
    ['attention', {}],
    // 32 examples (was 48): 4 steps of 8 and one evaluation batch of 32, the same peak (15.68 MiB) in less training
    ['baseconv+based, longer sequences', { mixers: ['baseconv', 'based'], d: 32, L: 64, K: 8, V: 128, batch: 8, count: 32 }],
    // L 16 (was 32): the blocked scan's per-timestep slices made this run ~6 s on the cpu backend, under 3 at L 16; the
    // batch stays 6× the profiled ones (PROFILE_BATCHES), so the estimate still extrapolates as far
    ['mamba', { mixers: ['mamba'], d: 8, L: 16, K: 2, batch: 24, evalBatch: 24, count: 24 }],
  ];
  it.each(measured)('%s: the live estimate lies within [0.95, 1.1] × the measured cpu peak', async (_name, knobs) => {
    const config = tiny(knobs);
    const estimate: MemoryEstimate = await estimateRunMemory(config);
    const before = tf.memory().numBytes;
    const profile = await tf.profile(async () => {
      await runOne(config, { backend: cpu });
    });
    const peak = profile.peakBytes - before;
    const ratio = estimate.livePeak / peak;
    // eslint-disable-next-line no-console
    console.log(`memory estimate vs cpu peak, ${_name}: ${(estimate.livePeak / 2 ** 20).toFixed(2)} MiB / ${(peak / 2 ** 20).toFixed(2)} MiB = ${ratio.toFixed(3)}`);
    expect(ratio).toBeGreaterThanOrEqual(0.95);
    expect(ratio).toBeLessThanOrEqual(1.1);
  });

  it('measures each model shape once: the second estimate of a shape (another lr, seed or batch) costs no measurement', async () => {
    const first = await estimateRunMemory(tiny({ d: 24 }));
    const again = await estimateRunMemory({ ...tiny({ d: 24, batch: 8 }), seed: 3, train: { ...tiny({ d: 24 }).train, lr: 0.1, batchSize: 8 } });
    expect(first.measureMs).toBeGreaterThan(0);
    expect(again.measureMs).toBe(0);
    expect(again.parameters).toBe(first.parameters);
  });

  it("follows Mamba's fused selective scan: without [B, T, E, N] tensors the training activations drop; other mixers are unchanged", async () => {
    // d 32, N 16, L 64, B 32: the blocked form's exp(Δ A), (Δ x) Bᵀ, h and their gradients are B·L·E·N floats each
    // (8 MiB), the fused form keeps √L·N·B·E floats of checkpoints and writes nothing of that size
    const mamba = tiny({ mixers: ['mamba'], d: 32, L: 64, K: 8, V: 128, batch: 32, evalBatch: 32 });
    const blocked = await estimateRunMemory(mamba);
    const fused = await estimateRunMemory(mamba, { fused: { selectiveScan: true } });
    expect(fused.method).toBe('measured');
    expect(fused.measureMs).toBeGreaterThan(0); // a shape of its own, not the blocked form's cached profile
    expect(fused.parameters).toBe(blocked.parameters);
    const perTensor = 32 * 64 * 64 * 16 * 4;
    expect(blocked.trainActivations - fused.trainActivations).toBeGreaterThan(4 * perTensor);
    expect(blocked.evalTransient - fused.evalTransient).toBeGreaterThan(perTensor);
    const attention = tiny({ d: 20 });
    expect((await estimateRunMemory(attention, { fused: { selectiveScan: true } })).total).toBe((await estimateRunMemory(attention)).total);
  });

  // The other fused kernels, each on a small model of a mixer that uses it (L 64, V 128, B 32 as above; Based at
  // L 128, V 256: see below), its lever on against off; a model without that mixer is unchanged by the lever.
  const withLayers = (layers: RunConfig['model']['layers'], knobs: Tiny = {}): RunConfig => {
    const config = tiny({ d: 16, L: 64, K: 8, V: 128, batch: 32, evalBatch: 32, ...knobs });
    return { ...config, model: { ...config.model, layers } };
  };
  const fusedCases: Array<[string, 'attention' | 'linearAttention' | 'delta' | 'generalizedDelta' | 'gla' | 'ssd' | 'longConv' | 'shortConv' | 'rwkv7Token', RunConfig, (off: MemoryEstimate, on: MemoryEstimate) => void]> = [
    [
      // the reference's [B, H, T, T] scores and weights (2 MiB each here) are gone; in training the peak lies in
      // the tied head's and embedding's backward at these sizes, where neither form holds scores: lower or equal
      'attention (4 heads)',
      'attention',
      withLayers([{ mixer: 'attention', params: { numHeads: 4 } }]),
      (off, on) => {
        expect(on.trainActivations).toBeLessThanOrEqual(off.trainActivations);
        expect(off.evalTransient - on.evalTransient).toBeGreaterThan(2 * 32 * 4 * 64 * 64 * 4);
      },
    ],
    [
      // Taylor features F = 273: the chunked form's per-chunk states [F, d_v] and their gradients against the fused
      // form's y, den and dφq, dφk, dv. At L 128 (two chunks) the chunked form holds more; at L 64 (one chunk, the
      // quadratic form with [T, T] scores) the fused backward's dφq, dφk [T, F] outweigh it, so L 128 here
      'based (linear attention, L 128)',
      'linearAttention',
      withLayers([{ mixer: 'based' }], { L: 128, V: 256 }),
      (off, on) => {
        expect(off.trainActivations - on.trainActivations).toBeGreaterThan(0.2 * off.trainActivations);
        expect(on.evalTransient).toBeLessThan(off.evalTransient);
      },
    ],
    [
      // the chunked form's per-chunk states and their gradients against √T checkpoints and one gradient buffer
      'deltanet',
      'delta',
      withLayers([{ mixer: 'deltanet' }]),
      (off, on) => {
        expect(off.trainActivations - on.trainActivations).toBeGreaterThan(0.4 * off.trainActivations);
        expect(on.evalTransient).toBeLessThan(off.evalTransient);
      },
    ],
    [
      // RWKV-7 (chunk 8): the chunked form's [C, C, d_k] pairwise tensors and their gradients against the stacked
      // inputs, √T checkpoints and one gradient buffer (measured: training 191 → 66 MiB, evaluation 28 → 9 MiB)
      'rwkv7 (generalized delta rule)',
      'generalizedDelta',
      withLayers([{ mixer: 'rwkv7' }]),
      (off, on) => {
        expect(off.trainActivations - on.trainActivations).toBeGreaterThan(0.4 * off.trainActivations);
        expect(on.evalTransient).toBeLessThan(off.evalTransient);
      },
    ],
    [
      // no Toeplitz blocks [d, T, T] in training; evaluation's peak is elsewhere (the head), unchanged
      'hyena (long convolution)',
      'longConv',
      withLayers([{ mixer: 'hyena' }]),
      (off, on) => {
        expect(on.trainActivations).toBeLessThan(off.trainActivations);
        expect(on.evalTransient).toBeLessThanOrEqual(off.evalTransient);
      },
    ],
    [
      // DeltaNet's three short convolutions (k 4): no padded copies, shifted slices or products kept for the gradients
      // (measured: training 132.5 → 111.2 MiB); evaluation's peak is elsewhere (the head), unchanged
      'deltanet (short convolutions)',
      'shortConv',
      withLayers([{ mixer: 'deltanet' }]),
      (off, on) => {
        expect(on.trainActivations).toBeLessThan(off.trainActivations);
        expect(on.evalTransient).toBeLessThanOrEqual(off.evalTransient);
      },
    ],
    [
      // GLA: the chunked form's per-chunk tensors and their gradients against √T checkpoints and one gradient buffer
      // (measured: training 61.6 → 30.0 MiB, evaluation 9.2 → 3.4 MiB)
      'gla',
      'gla',
      withLayers([{ mixer: 'gla' }]),
      (off, on) => {
        expect(off.trainActivations - on.trainActivations).toBeGreaterThan(0.4 * off.trainActivations);
        expect(on.evalTransient).toBeLessThan(off.evalTransient);
      },
    ],
    [
      // RWKV-7's per-token parts fused (lever rwkv7Token): the keys' and the output's ~17 small ops a layer, their
      // [B, T, d] intermediates kept for the gradients, become one packed output each way (measured: training 193.3 →
      // 191.2 MiB, evaluation 28.1 → 26.7 MiB; one [32, 64, 16] tensor is 128 KiB)
      'rwkv7 (keys and output fused)',
      'rwkv7Token',
      withLayers([{ mixer: 'rwkv7' }]),
      (off, on) => {
        const perTensor = 32 * 64 * 16 * 4;
        expect(off.trainActivations - on.trainActivations).toBeGreaterThan(8 * perTensor);
        expect(off.evalTransient - on.evalTransient).toBeGreaterThan(4 * perTensor);
      },
    ],
    [
      // Mamba-2's SSD through the same kernel (measured: training 124.3 → 93.2 MiB, evaluation 15.6 → 9.7 MiB)
      'mamba2 (SSD through the GLA kernel)',
      'ssd',
      withLayers([{ mixer: 'mamba2', params: { headDim: 8, stateDim: 16 } }]),
      (off, on) => {
        expect(off.trainActivations - on.trainActivations).toBeGreaterThan(0.15 * off.trainActivations);
        expect(on.evalTransient).toBeLessThan(off.evalTransient);
      },
    ],
  ];
  it.each(fusedCases)('follows the fused %s: measured both ways, same parameters, the expected activations; other mixers unchanged', async (_name, lever, config, expectations) => {
    const off = await estimateRunMemory(config);
    const on = await estimateRunMemory(config, { fused: { [lever]: true } });
    expect([off.method, on.method]).toEqual(['measured', 'measured']);
    expect(on.measureMs).toBeGreaterThan(0); // a shape of its own
    expect(on.parameters).toBe(off.parameters);
    expectations(off, on);
    const other = withLayers([{ mixer: lever === 'attention' ? 'deltanet' : 'attention' }]);
    expect((await estimateRunMemory(other, { fused: { [lever]: true } })).total).toBe((await estimateRunMemory(other)).total);
  });

  // lever stridedHeads (accel/webgpu/heads.ts): the fused recurrences in their callers' layouts — measured, not the
  // formula (the stand-in kernels size o by the layouts their attributes name), keyed apart from the transposed form,
  // and smaller in training: no transposed copies of the inputs kept for the gradients
  it.each([
    ['rwkv7', 'generalizedDelta'],
    ['deltanet', 'delta'],
    ['gla', 'gla'],
  ] as const)('follows lever stridedHeads with %s (%s): measured, training activations below those between transposes', async (mixer, lever) => {
    const config = withLayers([{ mixer, params: { numHeads: 2 } }]);
    const transposed = await estimateRunMemory(config, { fused: { [lever]: true } });
    const inPlace = await estimateRunMemory(config, { fused: { [lever]: true, stridedHeads: true } });
    expect([transposed.method, inPlace.method]).toEqual(['measured', 'measured']);
    expect(inPlace.measureMs).toBeGreaterThan(0); // a shape of its own, not the cache's
    expect(inPlace.parameters).toBe(transposed.parameters);
    expect(inPlace.trainActivations).toBeLessThan(transposed.trainActivations);
  });

  it('puts lever stridedHeads back after a measurement that cannot build its model (the formula answers)', async () => {
    expect(stridedHeadsOn()).toBe(false);
    const unbuildable = withLayers([{ mixer: 'deltanet', params: { numHeads: 3 } }]); // d 16 is not divisible by 3 heads
    const estimate = await estimateRunMemory(unbuildable, { fused: { delta: true, stridedHeads: true } });
    expect(estimate.method).toBe('formula');
    expect(stridedHeadsOn()).toBe(false);
  });
});

// The packing that overflowed an H200 (results/campaign/based-fig2-scale0.01/stretch2-sweep.txt): four Mamba d256 runs
// of based-fig2 --scale 0.01 at once, each estimated at 28–29 GiB, each failed out of GPU memory. Measured on one H200
// (2026-11-29, sweep --concurrency auto of these runs at their counts, 1 epoch, RECALLBENCH_MEMORY_LOG, nvidia-smi
// every 0.2 s): with the pool uncapped (RECALLBENCH_POOL_LIMIT=0) the N 24 run's tfjs buffers peaked at 43,618,335,404
// bytes allocated (12.05 GiB live) and its process at 41,914 MiB in nvidia-smi; capped at 30.45 GiB it held 45.0 GiB
// alone and 50.6 GiB beside three others (evicted memory comes back late: runners/memory.ts simulatePool), and the four
// filled the GPU's 143,771 MiB. With the pool estimated (55.2 and 58.5 GiB): 2 at a time, all 8 runs done, each process
// at most 41,922 MiB, its pool cap never reached (nothing evicted before the end), the GPU at most 83,901 MiB.
describe('based-fig2 Mamba d256 (--scale 0.01) on an H200: the packing that overflowed it', () => {
  const MIB = 2 ** 20;
  const MEASURED_POOL_BYTES = 43_618_335_404;
  const MEASURED_PROCESS_BYTES = 41_914 * MIB;
  const H200 = { freeBytes: 139.8 * GIB, totalBytes: 143_771 * MIB, source: 'GPU 0 (nvidia-smi)' };

  it("estimates tfjs's whole buffer pool, and auto reserves each run at least what its process held: at most 2 at once", async () => {
    const preset = loadPreset('based-fig2');
    const scaled = scalePreset({ ...preset, architectures: preset.architectures.filter((a) => a.label === 'mamba') }, 0.01);
    const configs = expandPreset(scaled).filter((c) => c.model.dModel === 256);
    expect(configs).toHaveLength(8); // N 8 and N 24, 4 learning rates each
    // the levers Mamba's kernels use, on by default on webgpu (accel/webgpu/index.ts), as the sweep's estimate had them
    const estimates = await estimateGridMemory(configs, { fused: { selectiveScan: true, shortConv: true } });
    const n24 = estimates[configs.findIndex((c) => c.model.layers[0]!.params?.stateDim === 24)]!;
    // the live peak was never the problem: it over-states the GPU's 12.05 GiB
    expect(n24.livePeak).toBeGreaterThan(12.05 * GIB);
    // the pool is: the estimate held 1.25 × live = 28.1 GiB of it (29.12 GiB in all); tfjs kept 40.62 GiB
    expect(n24.livePeak + n24.poolOverhead).toBeGreaterThanOrEqual(MEASURED_POOL_BYTES);
    expect(n24.total).toBeGreaterThanOrEqual(MEASURED_PROCESS_BYTES);

    const plan = planConcurrency('auto', estimates, H200);
    const budget = new MemoryBudget(plan.budget!);
    for (const e of estimates) expect(budget.bytesOf(e.id)).toBeGreaterThanOrEqual(MEASURED_PROCESS_BYTES);
    // N 24 runs as the lanes take them: as many as the budget holds, and those fit the GPU at their measured size
    // (before: 4 × 29.12 GiB reserved, 4 × 45–51 GiB held)
    const n24Ids = estimates.filter((e) => e.total === n24.total).map((e) => e.id);
    let atOnce = 0;
    for (const id of n24Ids) {
      if (!budget.fits(0, id)) break;
      budget.reserve(0, id);
      atOnce++;
    }
    expect(atOnce).toBeGreaterThanOrEqual(1);
    expect(atOnce * MEASURED_PROCESS_BYTES).toBeLessThanOrEqual(H200.totalBytes);
    expect(atOnce).toBeLessThanOrEqual(2);
  });
});

/** A made-up estimate of `total` GiB. */
function fake(run: string, totalGiB: number): MemoryEstimate {
  const total = totalGiB * GIB;
  return { id: `id-${run}`, run, parameters: 0, optimizerMoments: 0, gradients: 0, trainActivations: 0, evalTransient: 0, livePeak: total, poolOverhead: 0, processOverhead: 0, total, method: 'measured', measureMs: 0 };
}
const gpu = (freeGiB: number) => ({ freeBytes: freeGiB * GIB, totalBytes: 141 * GIB, source: 'GPU 0 (nvidia-smi)' });

// jrt-sd's largest run (non-causal, d 128, Taylor f 24) on one H200 (2026-12-02, bench/logs/2026-12-02-h200/
// call1-memory-log-default-poolBestFit.jsonl: jrt-sd --scale 0.01, the same batch shapes, default fast path): tfjs's
// pool peaked at 3.93 GiB allocated, against an estimate of 15.57 GiB that modelled the Taylor map's plain form
// (two selection matmuls of [.., 300] per head, their product and its scaling, kept for the gradients) — so --stack 3
// was capped at 1 for the whole grid (jrt-sd stretches 1–2). With the fused map modelled (lever taylorMap, on by default):
describe('jrt-sd\'s largest run: the fused Taylor map in the estimate', () => {
  const MEASURED_POOL_BYTES = 3.93 * GIB;
  it('estimates less with taylorMap fused, and still above what the H200 held', async () => {
    const config = expandPreset(loadPreset('jrt-sd')).find((c) => c.label === 'non-causal' && c.model.dModel === 128 && c.model.layers.some((l) => l.params?.featureDim === 24) && c.seed === 0)!;
    expect(config).toBeDefined();
    const fused = { linearAttention: true, shortConv: true, dropout: true, stridedHeads: true };
    const [plain] = await estimateGridMemory([config], { fused, poolBestFit: true });
    const [withMap] = await estimateGridMemory([config], { fused: { ...fused, taylorMap: true }, poolBestFit: true });
    expect(withMap!.total).toBeLessThan(0.75 * plain!.total);
    expect(withMap!.livePeak + withMap!.poolOverhead).toBeGreaterThanOrEqual(MEASURED_POOL_BYTES);
    expect(withMap!.total).toBeGreaterThanOrEqual(MEASURED_POOL_BYTES + PROCESS_OVERHEAD_BYTES);
  });
});

describe('--concurrency auto', () => {
  it('parses auto or a whole number', () => {
    expect(parseConcurrency('auto')).toBe('auto');
    expect(parseConcurrency(undefined)).toBe('auto');
    expect(parseConcurrency('3')).toBe(3);
    expect(() => parseConcurrency('0')).toThrow(/--concurrency expects auto or a whole number/);
    expect(() => parseConcurrency('two')).toThrow(/got two/);
  });

  it('auto packs runs by their own estimates: as many lanes as the smallest run allows (at most 8 per GPU), each GPU budgeted', () => {
    const grid = [fake('small', 2), fake('large', 10), fake('medium', 5)];
    const plan = planConcurrency('auto', grid, gpu(40));
    expect(plan).toMatchObject({ lanes: MAX_RUNS_PER_GPU, perGpu: MAX_RUNS_PER_GPU, tooLarge: [] }); // 36 usable / 2 = 18, capped at 8
    expect(plan.largest?.run).toBe('large');
    expect(plan.budget?.bytesPerGpu).toBeCloseTo(40 * GPU_MEMORY_SAFETY * GIB, 0);
    expect(plan.budget?.bytesOf.get('id-large')).toBe(10 * GIB);
    expect(plan.budget?.bytesOf.get('id-small')).toBeCloseTo((40 * GPU_MEMORY_SAFETY * GIB) / 8, 0); // at least an equal share (4.5 GiB)
    expect(plan.shareBytes).toBeUndefined(); // no equal shares: each run's pool is capped at its own reservation
    expect(planConcurrency('auto', grid, gpu(12)).lanes).toBe(5); // 10.8 usable / 2
    expect(planConcurrency('auto', [fake('large', 10)], gpu(12)).lanes).toBe(1);
    expect(planConcurrency('auto', grid, gpu(40), 2)).toMatchObject({ lanes: 16, perGpu: 8 });
    expect(planConcurrency('auto', grid, gpu(40)).note).toMatch(/runs ≈ 2\.00 GiB–10\.00 GiB \(measured\); GPU 0 \(nvidia-smi\) has 40\.00 GiB free .* → up to 8 run\(s\) per GPU \(auto, at most 8\), packed by each run's estimate$/);
  });

  it('a memory budget lets a lane start a run only while its GPU\'s runs in hand fit, and caps each pool at its reservation', () => {
    const plan = planConcurrency('auto', [fake('a', 4), fake('b', 4), fake('big', 8), fake('c', 2)], gpu(10)); // 9 GiB usable
    const budget = new MemoryBudget(plan.budget!);
    expect(budget.fits(0, 'id-big')).toBe(true); // an empty GPU fits any run of the plan
    budget.reserve(0, 'id-a');
    budget.reserve(0, 'id-b'); // 8 of 9
    expect(budget.fits(0, 'id-big')).toBe(false);
    expect(budget.fits(0, 'id-c')).toBe(false); // 10 > 9
    expect(budget.fits(1, 'id-big')).toBe(true); // GPUs are budgeted apart
    budget.release(0, 'id-a');
    expect(budget.fits(0, 'id-c')).toBe(true);
    expect(budget.fits(0, 'id-big')).toBe(false); // 4 + 8 > 9
    budget.release(0, 'id-b');
    expect(budget.fits(0, 'id-big')).toBe(true);
    expect(budget.poolLimit('id-big')).toBe(8 * GIB - PROCESS_OVERHEAD_BYTES);
    expect(budget.bytesOf('not-estimated')).toBe(plan.budget!.bytesPerGpu); // unknown: a whole GPU
  });

  it('a budget of equal shares fits exactly its lanes, for any free memory (whole bytes: no lane lost to rounding)', () => {
    // nvidia-smi reports MiB; with float shares, 8 × (usable / 8) exceeded usable for about 1 in 5 H200 readings
    for (let mib = 140_000; mib < 140_400; mib++) {
      const memory = { freeBytes: mib * 2 ** 20, totalBytes: 141 * GIB, source: 'GPU 0 (nvidia-smi)' };
      for (const runs of [3, 5, 7, 8]) {
        const small = (memory.freeBytes * GPU_MEMORY_SAFETY) / runs / 4; // smaller than a share: reserves the share
        const grid = Array.from({ length: runs }, (_, i) => ({ ...fake(`r${i}`, 1), total: small }));
        const plan = planConcurrency('auto', grid, memory);
        const budget = new MemoryBudget(plan.budget!);
        const lanes = Math.min(plan.perGpu, runs);
        for (let i = 0; i < lanes; i++) {
          expect(budget.fits(0, `id-r${i}`), `${mib} MiB, ${runs} runs, run ${i}`).toBe(i < plan.perGpu);
          budget.reserve(0, `id-r${i}`);
        }
      }
    }
  });

  it('is 1 run at a time when the GPU memory is unknown; an explicit N is kept, with equal shares', () => {
    expect(planConcurrency('auto', [fake('large', 10)], undefined).lanes).toBe(1);
    expect(planConcurrency(4, [fake('large', 10)], undefined).lanes).toBe(4);
    const plan = planConcurrency(2, [fake('large', 10)], gpu(40));
    expect(plan).toMatchObject({ lanes: 2, perGpu: 2 });
    expect(plan.budget).toBeUndefined();
    expect(plan.shareBytes).toBeCloseTo((40 * GPU_MEMORY_SAFETY * GIB) / 2, 0);
    expect(plan.poolLimitBytes).toBeCloseTo(plan.shareBytes! - PROCESS_OVERHEAD_BYTES, 0);
  });

  it('auto leaves out, by name, runs larger than a GPU and plans the rest; it refuses only a grid where nothing fits; an explicit N refuses a run larger than a GPU', () => {
    const plan = planConcurrency('auto', [fake('small', 2), fake('huge', 60), fake('huger', 70)], gpu(40));
    expect(plan.tooLarge.map((e) => e.run)).toEqual(['huge', 'huger']);
    expect(plan.budget?.bytesOf.has('id-huge')).toBe(false);
    expect(plan.note).toMatch(/; 2 run\(s\) larger than a GPU left out$/);
    expect(() => planConcurrency('auto', [fake('huge', 60), fake('huger', 70)], gpu(40))).toThrow(/^run huger \(id-huger\) needs an estimated 70\.00 GiB .* but GPU 0 \(nvidia-smi\) has 40\.00 GiB free of 141\.00 GiB \(36\.00 GiB usable\); 1 other run\(s\) of the grid do not fit either/);
    expect(() => planConcurrency(1, [fake('small', 2), fake('huge', 60)], gpu(40))).toThrow(/^run huge \(id-huge\) needs an estimated 60\.00 GiB/);
  });

  it('an explicit N with a run larger than an equal share packs by the estimates, at most N at a time, instead of refusing', () => {
    // 40 GiB free → 36 usable, 4 per GPU → shares of 9: the 20 GiB run reserves its own, the small ones a share
    const plan = planConcurrency(4, [fake('small', 2), fake('large', 20), fake('small2', 3)], gpu(40));
    expect(plan).toMatchObject({ lanes: 4, perGpu: 4, tooLarge: [] });
    expect(plan.shareBytes).toBeUndefined();
    const budget = new MemoryBudget(plan.budget!);
    expect(budget.bytesOf('id-small')).toBe(Math.floor((36 * GIB) / 4));
    expect(budget.bytesOf('id-large')).toBe(20 * GIB);
    expect(plan.note).toMatch(/up to 4 run\(s\) per GPU, packed by each run's estimate: 1 run\(s\) larger than an equal share \(9\.00 GiB\)/);
    // the large run in hand: one small run beside it (20 + 9 ≤ 36), not two
    budget.reserve(0, 'id-large');
    expect(budget.fits(0, 'id-small')).toBe(true);
    budget.reserve(0, 'id-small');
    expect(budget.fits(0, 'id-small2')).toBe(false);
    // two GPUs: N counts all of them (2 per GPU, shares of 18: nothing larger, equal shares as before)
    const twoGpus = planConcurrency(4, [fake('small', 2), fake('large', 17)], gpu(40), 2);
    expect(twoGpus.perGpu).toBe(2);
    expect(twoGpus.budget).toBeUndefined();
    expect(twoGpus.shareBytes).toBe((36 * GIB) / 2);
  });

  it('reads the free memory from nvidia-smi (least free of the runs\' GPUs), from --gpu-memory, or not at all off the GPU backends', () => {
    expect(parseNvidiaSmiMemory('81000, 81559\n')).toEqual({ freeBytes: 81000 * 2 ** 20, totalBytes: 81559 * 2 ** 20 });
    expect(parseNvidiaSmiMemory('[N/A], [N/A]')).toBeUndefined();
    const smi: Record<number, string> = { 0: '100000, 143771', 1: '60000, 143771' };
    const query = (i: number) => smi[i];
    expect(resolveGpuMemory({ backend: 'webgpu', query })).toMatchObject({ freeBytes: 100000 * 2 ** 20, source: 'GPU 0 (nvidia-smi)' });
    expect(resolveGpuMemory({ backend: 'webgpu', gpus: [0, 1], query })).toMatchObject({ freeBytes: 60000 * 2 ** 20, source: 'GPU 1 (nvidia-smi)' });
    expect(resolveGpuMemory({ backend: 'webgpu', query: () => undefined, retryWaitMs: 0 })).toBeUndefined();
    expect(resolveGpuMemory({ backend: 'cpu', query })).toBeUndefined();
    expect(resolveGpuMemory({ backend: 'cpu', gpuMemoryGiB: 8, query })).toMatchObject({ freeBytes: 8 * GIB, source: '--gpu-memory 8' });
    expect(() => resolveGpuMemory({ backend: 'webgpu', gpuMemoryGiB: -1 })).toThrow(/--gpu-memory expects/);
  });

  it('asks nvidia-smi again when it fails for a moment, and says why the memory is unknown when it keeps failing', () => {
    // the 2026-11-29 stretch whose sweep fell back to one run at a time, silently, for a whole device call
    const answers: Array<string | { problem: string }> = [{ problem: 'nvidia-smi -i 0 failed (exit 15)' }, '[N/A], [N/A]', '90000, 143771'];
    let asked = 0;
    const flaky = () => answers[asked++];
    expect(resolveGpuMemory({ backend: 'webgpu', query: flaky, retryWaitMs: 0 })).toMatchObject({ freeBytes: 90000 * 2 ** 20 });
    expect(asked).toBe(3);
    const problems: string[] = [];
    asked = 0;
    expect(resolveGpuMemory({ backend: 'webgpu', query: () => (asked++, { problem: 'nvidia-smi -i 0 failed (exit 15)' }), retryWaitMs: 0, problems })).toBeUndefined();
    expect(asked).toBe(3);
    expect(problems).toEqual(['nvidia-smi -i 0 failed (exit 15) (asked 3 times)']);
    // one that hung for its 15 s is not asked again (a retry would only wait longer)
    const hung: string[] = [];
    asked = 0;
    expect(resolveGpuMemory({ backend: 'webgpu', query: () => (asked++, { problem: 'nvidia-smi -i 0 failed (no answer in 15 s)' }), retryWaitMs: 0, problems: hung })).toBeUndefined();
    expect([asked, hung]).toEqual([1, ['nvidia-smi -i 0 failed (no answer in 15 s)']]);
    // a host without nvidia-smi is asked once
    const none: string[] = [];
    asked = 0;
    expect(resolveGpuMemory({ backend: 'webgpu', query: () => (asked++, { problem: 'no nvidia-smi' }), retryWaitMs: 0, problems: none })).toBeUndefined();
    expect([asked, none]).toEqual([1, ['no nvidia-smi']]);
    // an answer that is not the memory line is quoted
    const odd: string[] = [];
    resolveGpuMemory({ backend: 'webgpu', query: () => '[Unknown Error], 143771', attempts: 1, problems: odd });
    expect(odd).toEqual(['nvidia-smi -i 0 said "[Unknown Error], 143771"']);
  });
});

/** A GPUBuffer as Dawn's: `size` a getter on the prototype (best fit shadows it with an own property while in use). */
class StandInBuffer {
  constructor(private readonly bytes: number, readonly usage: number, private readonly destroyed: number[]) {}
  get size(): number {
    return this.bytes;
  }
  readonly mapState = 'unmapped';
  destroy(): void {
    this.destroyed.push(this.bytes);
  }
}
const STORAGE = 0x80;

/** tfjs-backend-webgpu's own BufferManager on a stand-in device, with the backend internals the pool touches. */
function standInPool(bestFit = false) {
  const destroyed: number[] = [];
  const device = { createBuffer: ({ size, usage }: { size: number; usage: number }) => new StandInBuffer(size, usage, destroyed) };
  const manager = new BufferManager(device as unknown as GPUDevice);
  let submits = 0;
  const backend = { bufferManager: manager, commandEncoder: {} as unknown, endComputePassEncoder() {}, submitQueue() { submits++; backend.commandEncoder = null; } };
  setBufferPoolBestFit(backend, bestFit);
  return { manager, backend, destroyed, submits: () => submits };
}

describe('webgpu buffer pool cap (on tfjs-backend-webgpu\'s own BufferManager, with a stand-in device)', () => {
  const pool = () => standInPool();

  it('without a limit keeps every released size (what grew the sweep processes); with one, allocated bytes stay within it', () => {
    const plain = pool();
    for (const size of [100, 200, 300, 400]) plain.manager.releaseBuffer(plain.manager.acquireBuffer(size, STORAGE));
    expect(plain.manager.numBytesAllocated).toBe(1000);
    expect(plain.manager.numBytesUsed).toBe(0);

    const capped = pool();
    setBufferPoolLimit(capped.backend, 500);
    for (const size of [100, 200, 300, 400]) capped.manager.releaseBuffer(capped.manager.acquireBuffer(size, STORAGE));
    expect(capped.manager.numBytesAllocated).toBeLessThanOrEqual(500);
    expect(capped.destroyed.length).toBeGreaterThan(0);
    expect(capped.submits()).toBe(1); // the open encoder is submitted before the first destroy
    expect(bufferPoolStats(capped.backend)).toMatchObject({ limitBytes: 500, usedBytes: 0 });
  });

  it('reuses a pooled buffer of the same size without evicting; live buffers are never destroyed, even past the limit', () => {
    const { manager, backend, destroyed } = pool();
    setBufferPoolLimit(backend, 300);
    const a = manager.acquireBuffer(200, STORAGE);
    manager.releaseBuffer(a);
    expect(manager.acquireBuffer(200, STORAGE)).toBe(a);
    expect(destroyed).toEqual([]);
    const live = [manager.acquireBuffer(250, STORAGE), manager.acquireBuffer(250, STORAGE)];
    expect(manager.numBytesUsed).toBe(700);
    expect(destroyed).toEqual([]);
    for (const b of live) manager.releaseBuffer(b);
    manager.releaseBuffer(a);
    const pooled = manager.numBytesAllocated;
    expect(pooled).toBeGreaterThan(0);
    expect(pooled).toBeLessThanOrEqual(300);
    expect(trimBufferPool(backend)).toBe(pooled);
    expect(manager.numBytesAllocated).toBe(0);
  });
});

describe('webgpu buffer pool by best fit (lever poolBestFit): core/bestFit.ts, the pool with a stand-in device, the estimate', () => {
  const MAP_READ = 0x1 | 0x8; // a read-back staging buffer: MAP_READ | COPY_DST
  function pool(bestFit: boolean) {
    const { manager, backend, destroyed } = standInPool(bestFit);
    /** One step of a shape: its buffers live at once, then all released. */
    const step = (sizes: number[]) => {
      const live = sizes.map((s) => manager.acquireBuffer(s, STORAGE));
      live.forEach((b, i) => expect(b.size, 'a buffer reads as its request while in use').toBe(sizes[i]));
      for (const b of live) manager.releaseBuffer(b);
      return live;
    };
    return { manager, backend, destroyed, step };
  }
  const SMALL = [200, 400, 200];
  const LARGE = [400, 800, 400];

  it('the rule: the smallest free size within the ratio above; on a miss, the largest free size within it below', () => {
    const all = () => true;
    const sizes = [100, 200, 400, 1000];
    expect(bestFitSize(sizes, 150, all)).toBe(200);
    expect(bestFitSize(sizes, 150, (s) => s !== 200)).toBe(400);
    expect(bestFitSize(sizes, 240, (s) => s === 1000)).toBeUndefined(); // 1000 > 4 × 240
    expect(bestFitSize(sizes, 250, (s) => s === 1000)).toBe(1000);
    expect(bestFitSize(sizes, 150, all, 1)).toBeUndefined(); // tfjs's rule: its own size only
    expect(bestFitSize(sizes, 200, all, 1)).toBe(200);
    expect(replacedSize(sizes, 500, all)).toBe(400);
    expect(replacedSize(sizes, 500, (s) => s !== 400)).toBe(200);
    expect(replacedSize(sizes, 1700, all)).toBe(1000);
    expect(replacedSize([100, 400], 1700, all)).toBeUndefined(); // 400 < 1700 / 4
    expect(BEST_FIT_RATIO).toBe(4);
  });

  it("a smaller shape runs in a larger shape's buffers, a larger one replaces a smaller one's: the pool ends at the largest shape's, in either order", () => {
    const exact = pool(false);
    for (const sizes of [SMALL, LARGE, SMALL]) exact.step(sizes);
    expect(exact.manager.numBytesAllocated).toBe(2 * 200 + 2 * 400 + 800); // every size at its most live at once

    const largeFirst = pool(true);
    const large = largeFirst.step(LARGE);
    const small = largeFirst.step(SMALL);
    expect([large[0], large[2]]).toContain(small[0]); // 200 bytes served by a free 400-byte buffer
    expect(small[2]).toBe(large[1]); // and by the 800-byte one (within 4x)
    expect(largeFirst.manager.numBytesAllocated).toBe(1600); // nothing made for the small shape
    expect(bufferPoolStats(largeFirst.backend).fittedRequests).toBe(2);
    expect(small[2]!.size).toBe(800); // released: it reads its own size again

    const smallFirst = pool(true);
    for (const sizes of [SMALL, LARGE, SMALL]) smallFirst.step(sizes);
    // 800 made in place of a free 200, 400 in place of the other 200 (the small shape's 400 is in use)
    expect(smallFirst.destroyed).toEqual([200, 200]);
    expect(smallFirst.manager.numBytesAllocated).toBe(1600);
    expect(bufferPoolStats(smallFirst.backend).replacedBytes).toBe(400);
    expect(smallFirst.manager.numBytesUsed).toBe(0);
  });

  it('staging buffers keep their exact sizes (read back maps them whole); with the lever off, tfjs\'s rule', () => {
    const { manager } = pool(true);
    manager.releaseBuffer(manager.acquireBuffer(400, MAP_READ));
    const staging = manager.acquireBuffer(100, MAP_READ);
    expect(staging.size).toBe(100);
    expect(manager.numBytesAllocated).toBe(500);
    const off = pool(false);
    const [big] = off.step([400]);
    expect(off.step([100])[0]).not.toBe(big);
  });

  it('the estimate replays the same rule: a mixture of lengths needs a smaller pool with best fit; one length, the same', async () => {
    const mixture = resolveRunConfig({
      label: 'attention',
      data: { task: 'mqar', common: { vocabSize: 128 }, train: [16, 64, 32].map((seqLen) => ({ seqLen, numKvPairs: 4, count: 32 })), test: [{ seqLen: 64, numKvPairs: 4, count: 32 }] },
      model: { dModel: 16, nLayers: 2, layers: [{ mixer: 'attention' }, { mixer: 'attention' }] },
      train: { lr: 1e-3, epochs: 1, batchSize: 16, evalBatchSize: 16 },
    });
    const [plain, fitted] = [await estimateRunMemory(mixture), await estimateRunMemory(mixture, { poolBestFit: true })];
    expect(fitted.livePeak).toBe(plain.livePeak);
    expect(fitted.poolOverhead).toBeLessThan(0.8 * plain.poolOverhead);
    const single = tiny({ L: 48, count: 32 });
    const [a, b] = [await estimateRunMemory(single), await estimateRunMemory(single, { poolBestFit: true })];
    expect(b.total).toBeLessThanOrEqual(a.total);
  });
});
