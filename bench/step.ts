// Training-step benchmark: the zoology reference models (2 layers, d 128, L 256, V 8192, MQAR K 16, AdamW) built
// through the project's own code — LanguageModel and engine/train.ts's trainStep, the step the training loop runs
// — timed for N steps after warm-up, for each set of fast-path levers ("variants") in turn.
//
//   npx tsx bench/step.ts [--backend webgpu|wasm|cpu] [--mixers attention,based] [--batches 64,256]
//        [--steps 20] [--warmup 3] [--warmup-seconds 2] [--seq-len 256] [--d-model 128] [--vocab 8192] [--kv 16] [--dropout 0.1]
//        [--variants ladder|drop-ladder|default-each|stock,fast,fast-adamw,uploads+splitK,...] [--profile] [--torch torch.json] [--out results.jsonl]
//        [--check-accuracy] [--label TEXT] [--cpu-prof FILE.cpuprofile] [--heap-prof FILE.heapprofile] [--allow-software] [--dawn OPTS] [--stacks 1,4,8,16]
//        [--check-stack] [--matmul] [--preset FILE|NAME: --mixers then names the preset's architecture labels, each model
//        that preset's run at --d-model and --seq-len] [--param KEY=VALUE: of those runs, the one whose layers set KEY to
//        VALUE — jrt-sd's featureDim=24; repeatable]   (RECALLBENCH_PROFILE_SHAPES=1: --profile by kernel and input shapes; RECALLBENCH_PROFILE_TOP=N: N kernels listed, default 8 printed, 12 stored)
//   GPU host:  ../shared/gpu-host/pack bench/step.ts .gpu  then  bash .gpu/run ARGS
//
// Per (mixer, batch, variant) it prints ms/step (wall, after a final GPU read), host ms/step (JavaScript time
// inside trainStep: when it is close to wall, the step is host-bound), tokens/s, dispatches/step, and with
// --profile a separate one-step pass under tf.profile (timestamp queries; it serialises the GPU, so it attributes
// time, it does not time the step): kernels/step, GPU kernel time/step, busy fraction = GPU time / wall time,
// and the top kernels. With --torch (bench/torch_step.py's JSON, same device call) it prints recallbench/PyTorch.
// --check-accuracy trains a short MQAR run with the fast path and with the reference path (same seed) and
// prints both accuracies (issue 4's end-to-end check). --stacks times stacks of R runs (engine/stack.ts: R learning
// rates as one model, stackable mixers only) and prints run-steps/s = R / (ms per stacked step): the throughput a
// sweep gains from stacking, against R = 1 in the same process. --check-stack trains, for each mixer and each stack
// size R > 1 of --stacks, R learning rates stacked and each alone for --steps steps on the same batches, on this
// backend, and prints how far each run's losses and final parameters in the stack are from its own alone (stack ≡
// alone on the device: the GPU's check of what tests/stack*.test.ts check on the CPU and lavapipe); nothing is timed.
// --matmul times tf.matMul alone at the shapes of these models' steps (MATMUL_SHAPES: the head, the projections and
// their gradients, attention's scores and values) with the `matmul` lever off (tfjs's kernel) and on
// (accel/webgpu/matmul.ts), on with `matmulVec4` (its vec4 workgroup-memory reads), with `matmulPrefetch` too (the
// next K tile read ahead), and that at the 128-tile's K pass 16 and 32 (RECALLBENCH_MATMUL_LARGE_BK, for the shapes
// that take the 128-tile), and prints ms, TFLOP/s and the largest differences between the products.
import * as tf from '@tensorflow/tfjs';
import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { dawnToggles, initBackend, releaseGpu, type BackendChoice } from '../engine/backend.js';
import { LanguageModel, type LayerSpec, type ModelConfig } from '../engine/model.js';
import { AdamW } from '../engine/optimizer.js';
import { getMixer } from '../engine/registry.js';
import { checkedOnGpu, clearGpuFaults, GpuFaultError, releaseGpuBufferPool } from '../engine/gpuFaults.js';
import { trainStackStep } from '../engine/stack.js';
import { train } from '../engine/loop.js';
import { batchesOf, stepLoss, supervised, trainStep } from '../engine/train.js';
import { mqar } from '../tasks/mqar.js';
import { LEVERS, defaultFastPath, type Lever } from '../accel/webgpu/index.js';
import { allocate, declare, dispatch, webgpuBackend, workgroupStorageBytes } from '../accel/webgpu/dispatch.js';
import { largeTileBytes, largeTileK, matmulPlan } from '../accel/webgpu/matmul.js';
import { expandPreset, loadPreset } from '../runners/sweep.js';

// the levers of the fast path, from their one list (accel/webgpu/index.ts)
export const LEVER_NAMES = LEVERS;

export interface BenchArgs {
  backend: BackendChoice;
  mixers: string[];
  batches: number[];
  steps: number;
  warmup: number;
  /** Seconds of synced steps before the first timing of the process (GPU clocks ramping up from idle). */
  warmupSeconds: number;
  seqLen: number;
  dModel: number;
  vocab: number;
  kv: number;
  dropout: number;
  variants: string[];
  profile: boolean;
  torch?: string;
  out?: string;
  checkAccuracy: boolean;
  label: string;
  dawn: string[];
  /** Write a V8 CPU profile of the timed steps here (node:inspector; NODE_OPTIONS may not carry --cpu-prof). */
  cpuProf?: string;
  /** Write a V8 sampling heap profile of the timed steps' allocations here (collected objects included). */
  heapProf?: string;
  /** Accept a software WebGPU adapter (lavapipe); default from RECALLBENCH_WEBGPU_SOFTWARE=1. */
  allowSoftware: boolean;
  /** Stack sizes to time (1: a run alone, trainStep; R > 1: trainStackStep over R learning rates). */
  stacks: number[];
  /** Train each stack size's runs stacked and alone and compare them (no timing). */
  checkStack: boolean;
  /** tfjs flags set after the backend starts (--tf-flag NAME=VALUE, repeatable), e.g. WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE=60. */
  tfFlags: Array<[string, number | boolean | string]>;
  /** Time tf.matMul at MATMUL_SHAPES with the matmul lever off, on, on with matmulVec4 and with matmulPrefetch (at K passes 8, 16, 32), before the steps. */
  matmul: boolean;
  /** A preset (name or JSON path): --mixers then names its architecture labels, and each model is that preset's own
   * run at --d-model and --seq-len (its layers, params, block and dropout: what the campaign trains), not the
   * benchmark's pre-norm model of one mixer. */
  preset?: string;
  /** With --preset: the run whose layers set each of these mixer parameters to its value (a preset's paramGrid:
   * jrt-sd's featureDim), compared as text; the first run at --d-model and --seq-len otherwise. */
  presetParams?: Record<string, string>;
}

export const DEFAULTS: BenchArgs = {
  backend: 'webgpu',
  mixers: ['attention', 'based'],
  batches: [64, 256],
  steps: 20,
  warmup: 3,
  warmupSeconds: 2,
  seqLen: 256,
  dModel: 128,
  vocab: 8192,
  kv: 16,
  dropout: 0.1,
  variants: ['stock', 'fast'],
  profile: false,
  checkAccuracy: false,
  label: '',
  // exact timestamps for tf.profile (webgpu.md): unsafe APIs allowed, no 65 µs quantisation
  dawn: ['enable-dawn-features=allow_unsafe_apis', 'disable-dawn-features=timestamp_quantization'],
  allowSoftware: process.env.RECALLBENCH_WEBGPU_SOFTWARE === '1',
  stacks: [1],
  checkStack: false,
  tfFlags: [],
  matmul: false,
};

export function parseArgs(argv: string[]): BenchArgs {
  const a: BenchArgs = { ...DEFAULTS };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!;
    const next = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${flag} needs a value`);
      return v;
    };
    const list = () => next().split(',').map((s) => s.trim()).filter(Boolean);
    switch (flag) {
      case '--backend': a.backend = next() as BackendChoice; break;
      case '--mixers': a.mixers = list(); break;
      case '--batches': a.batches = list().map(Number); break;
      case '--steps': a.steps = Number(next()); break;
      case '--warmup': a.warmup = Number(next()); break;
      case '--warmup-seconds': a.warmupSeconds = Number(next()); break;
      case '--seq-len': a.seqLen = Number(next()); break;
      case '--d-model': a.dModel = Number(next()); break;
      case '--vocab': a.vocab = Number(next()); break;
      case '--kv': a.kv = Number(next()); break;
      case '--dropout': a.dropout = Number(next()); break;
      case '--variants': a.variants = list(); break;
      case '--profile': a.profile = true; break;
      case '--torch': a.torch = next(); break;
      case '--out': a.out = next(); break;
      case '--check-accuracy': a.checkAccuracy = true; break;
      case '--label': a.label = next(); break;
      case '--dawn': a.dawn = list(); break;
      case '--allow-software': a.allowSoftware = true; break;
      case '--cpu-prof': a.cpuProf = next(); break;
      case '--heap-prof': a.heapProf = next(); break;
      case '--stacks': a.stacks = list().map(Number); break;
      case '--check-stack': a.checkStack = true; break;
      case '--matmul': a.matmul = true; break;
      case '--preset': a.preset = next(); break;
      case '--param': {
        const pair = next();
        const at = pair.indexOf('=');
        if (at < 1) throw new Error('--param expects KEY=VALUE (a mixer parameter of the preset\'s runs)');
        a.presetParams = { ...a.presetParams, [pair.slice(0, at)]: pair.slice(at + 1) };
        break;
      }
      case '--tf-flag': {
        const [name, value] = next().split('=');
        if (!name || value === undefined) throw new Error('--tf-flag expects NAME=VALUE');
        a.tfFlags.push([name, value === 'true' ? true : value === 'false' ? false : Number.isFinite(Number(value)) ? Number(value) : value]);
        break;
      }
      default: throw new Error(`unknown flag ${flag} (see the header of bench/step.ts)`);
    }
  }
  if (a.presetParams && !a.preset) throw new Error('--param picks a run of --preset: give --preset too');
  return a;
}

/**
 * 'stock' | 'fast' | 'fast-LEVER' | 'default' | 'default±LEVER…' | 'ladder' (stock, then each lever added in turn) |
 * 'drop-ladder' | levers joined by '+'.
 */
export function expandVariants(names: string[]): Array<{ name: string; levers: Record<Lever, boolean> }> {
  const none = () => Object.fromEntries(LEVER_NAMES.map((l) => [l, false])) as Record<Lever, boolean>;
  /** `l` as a lever name, or the one-line error naming the variant. */
  const lever = (name: string, l: string): Lever => {
    if (!(LEVER_NAMES as readonly string[]).includes(l)) throw new Error(`variant '${name}': unknown lever '${l}' (known: ${LEVER_NAMES.join(', ')})`);
    return l as Lever;
  };
  const out: Array<{ name: string; levers: Record<Lever, boolean> }> = [];
  for (const name of names) {
    if (name === 'ladder') {
      const acc = none();
      out.push({ name: 'stock', levers: { ...acc } });
      for (const l of LEVER_NAMES) {
        acc[l] = true;
        out.push({ name: `+${l}`, levers: { ...acc } });
      }
      continue;
    }
    if (name === 'default-each') {
      // the default, then the default with each of its levers off in turn: which lever a step's time hangs on
      const base = defaultFastPath() as Record<Lever, boolean>;
      out.push({ name: 'default', levers: { ...none(), ...base } });
      for (const l of LEVER_NAMES) if (base[l]) out.push({ name: `default-${l}`, levers: { ...none(), ...base, [l]: false } });
      continue;
    }
    const levers = none();
    if (name === 'fast') LEVER_NAMES.forEach((l) => (levers[l] = true));
    // what a user gets: the levers on by default (every lever but accel/webgpu/index.ts OFF_BY_DEFAULT)
    else if (name === 'default') Object.assign(levers, defaultFastPath());
    else if (/^default[+-]/.test(name)) {
      // the default with levers added (+) or removed (−), e.g. default+ssmKernel, default-matmul
      Object.assign(levers, defaultFastPath());
      for (const [, sign, l] of name.slice('default'.length).matchAll(/([+-])([^+-]*)/g)) levers[lever(name, l!)] = sign === '+';
    } else if (name.startsWith('fast-')) {
      // all levers but one: that lever's marginal effect at the final state
      LEVER_NAMES.forEach((l) => (levers[l] = true));
      levers[lever(name, name.slice(5))] = false;
    } else if (name === 'drop-ladder') {
      // from the fast path, remove one lever at a time
      out.push({ name: 'fast', levers: Object.fromEntries(LEVER_NAMES.map((l) => [l, true])) as Record<Lever, boolean> });
      for (const l of LEVER_NAMES) out.push({ name: `fast-${l}`, levers: { ...(Object.fromEntries(LEVER_NAMES.map((m) => [m, true])) as Record<Lever, boolean>), [l]: false } });
      continue;
    } else if (name !== 'stock') for (const l of name.split('+')) levers[lever(name, l)] = true;
    out.push({ name, levers });
  }
  return out;
}

/** The benchmark's models: zoology-fig2 attention and the BASED recipe, 2 layers, no MLP; with --preset, that preset's run. */
export function modelConfig(mixer: string, a: BenchArgs, seed: number): ModelConfig {
  if (a.preset) return presetModel(a.preset, mixer, a, seed);
  let layers: LayerSpec[];
  let positionEmbeddings = false;
  if (mixer === 'attention') {
    layers = [{ mixer: 'attention', params: { numHeads: 1, dropout: a.dropout } }];
    positionEmbeddings = true; // zoology-fig2: attention gets learned positions
  } else if (mixer === 'based') {
    layers = [
      { mixer: 'baseconv', params: { convType: 'short', kernelSize: 3 } },
      { mixer: 'linear-attention', params: { featureMap: 'taylor', featureDim: 16, numHeads: 1 } },
    ];
  } else if (/^(sliding-window|scatterbrain)-(masked|blocked)$/.test(mixer)) {
    // one parallel form named (architectures/slidingWindow.ts form; unset, the sequence's length picks it): the band
    // masked out of the full T×T scores in attention's ops, or blocks of w queries
    const [, base, form] = /^(sliding-window|scatterbrain)-(masked|blocked)$/.exec(mixer)!;
    layers = [{ mixer: base!, params: { form } }];
  } else {
    layers = [{ mixer }];
  }
  return { vocabSize: a.vocab, dModel: a.dModel, nLayers: 2, maxSeqLen: a.seqLen, layers, positionEmbeddings, mlp: false, embeddingDropout: a.dropout, residualDropout: 0, seed };
}

/** The model of a preset's run with architecture label `label` at a.dModel whose training data has length a.seqLen. */
export function presetModel(preset: string, label: string, a: BenchArgs, seed: number): ModelConfig {
  const configs = expandPreset(loadPreset(preset));
  const lengths = (c: (typeof configs)[number]) => c.data.train.map((s) => s.seqLen ?? c.data.common.seqLen);
  // a task whose segments name no seqLen (jrt-sd's set sizes) matches on label and d_model alone
  // --param KEY=VALUE: some layer of the run sets KEY to VALUE
  const params = Object.entries(a.presetParams ?? {});
  // a number compared as a number (featureDim=24.0 is 24), anything else as text
  const same = (set: unknown, asked: string) => (typeof set === 'number' && asked.trim() !== '' && Number.isFinite(Number(asked)) ? set === Number(asked) : String(set) === asked);
  const setsParams = (c: (typeof configs)[number]) => params.every(([key, value]) => c.model.layers.some((l) => l.params !== undefined && key in l.params && same(l.params[key], value)));
  const match = configs.find((c) => c.label === label && c.model.dModel === a.dModel && (lengths(c).includes(a.seqLen) || lengths(c).every((n) => n === undefined)) && setsParams(c));
  if (!match) {
    const labels = [...new Set(configs.map((c) => c.label))].join(', ');
    const asked = params.length > 0 ? ` with ${params.map(([k, v]) => `${k}=${v}`).join(', ')}` : '';
    throw new Error(`--preset ${preset}: no run of '${label}' at d_model ${a.dModel} training on length ${a.seqLen}${asked} (labels: ${labels}; d_model: ${[...new Set(configs.map((c) => c.model.dModel))].join(', ')})`);
  }
  return { ...match.model, vocabSize: a.vocab, maxSeqLen: a.seqLen, seed };
}

interface Row {
  label: string;
  device: string;
  mixer: string;
  /** --param's choice among the preset's runs (jrt-sd's featureDim), when given. */
  presetParams?: Record<string, string>;
  batch: number;
  variant: string;
  /** Runs stacked in the step (1: alone). */
  stack: number;
  /** stack / (ms per step): runs' steps per second. */
  runStepsPerSec: number;
  msPerStep: number;
  hostMsPerStep: number;
  tokensPerSec: number;
  dispatchesPerStep: number;
  kernelsPerStep?: number;
  gpuMsPerStep?: number;
  busy?: number;
  topKernels?: Array<{ name: string; ms: number; count: number }>;
  /** The same time per dispatched program (a fused kernel's passes apart: LinearAttentionGradQ, …GradK, …). */
  topPrograms?: Array<{ name: string; ms: number; count: number }>;
  loss: number;
  bindGroupHitRate?: number;
}

/** V8's sampling profiler through node:inspector, around the timed steps (appends nothing when unused). */
const profiler = {
  session: undefined as undefined | { post(method: string, params?: object, cb?: (err: Error | null, res: { profile?: unknown }) => void): void },
  call(method: string, params: object = {}): Promise<{ profile?: unknown }> {
    return new Promise((resolve, reject) => this.session!.post(method, params, (err, res) => (err ? reject(err) : resolve(res))));
  },
  async connect(): Promise<void> {
    if (this.session) return;
    const inspector = await import('node:inspector');
    const session = new inspector.Session();
    session.connect();
    this.session = session as unknown as typeof this.session;
    await this.call('Profiler.enable');
  },
  async start(): Promise<void> {
    await this.connect();
    await this.call('Profiler.start');
  },
  async stop(file: string): Promise<void> {
    const { profile } = await this.call('Profiler.stop');
    writeFileSync(file, JSON.stringify(profile));
  },
  /** Sampled allocations, the ones the GC has collected since included: what the steps allocate, not what they keep. */
  async startHeap(): Promise<void> {
    await this.connect();
    await this.call('HeapProfiler.startSampling', { samplingInterval: 16384, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
  },
  async stopHeap(file: string): Promise<void> {
    const { profile } = await this.call('HeapProfiler.stopSampling');
    writeFileSync(file, JSON.stringify(profile));
  },
};

let dispatchCount = 0;
function countDispatches(): void {
  const Pass = (globalThis as unknown as { GPUComputePassEncoder?: { prototype: { dispatchWorkgroups(...a: number[]): void; __counted?: boolean } } }).GPUComputePassEncoder;
  if (!Pass || Pass.prototype.__counted) return;
  const original = Pass.prototype.dispatchWorkgroups;
  Pass.prototype.dispatchWorkgroups = function (this: unknown, ...args: number[]) {
    dispatchCount++;
    return original.apply(this, args);
  };
  Pass.prototype.__counted = true;
}

/** The mixers a benchmark model needs must be registered (architectures/index.ts). */
function checkMixers(config: ModelConfig): void {
  for (const layer of config.layers) getMixer(layer.mixer);
}

async function setLevers(backend: string, levers: Record<Lever, boolean>): Promise<void> {
  if (backend !== 'webgpu') return;
  const fast = await import('../accel/webgpu/index.js');
  fast.setFastPath(levers);
}

/** The benchmark's data: 4 batches of MQAR at the benchmark's shapes (seed 7), with their supervised rows. */
function benchBatches(a: BenchArgs, batch: number) {
  const segment = mqar.generate({ count: batch * 4, seqLen: a.seqLen, numKvPairs: a.kv, vocabSize: a.vocab, powerA: 0.01, randomNonQueries: false, passes: 1 }, 7);
  const batches = batchesOf([segment], batch);
  return { batches, sups: batches.map((b) => supervised(b.segment, b.start, b.size)) };
}

/** A stack's learning rates: R of them spread around 1e-3, as a grid point's would be. */
const stackRates = (runs: number) => Array.from({ length: runs }, (_, r) => 1e-3 * 2 ** (r - runs / 2));

async function benchOne(a: BenchArgs, device: string, backend: string, mixer: string, batch: number, variants: ReturnType<typeof expandVariants>, stack = 1): Promise<Row[]> {
  const config = modelConfig(mixer, a, 1234);
  checkMixers(config);
  const model = new LanguageModel(config, { runs: stack });
  const lrs = stackRates(stack);
  const optimizer = new AdamW(model.variables, { weightDecay: 0.1 });
  const { batches, sups } = benchBatches(a, batch);
  let step = 0;
  const runStep = (): tf.Tensor => {
    const i = step % batches.length;
    step++;
    return stack === 1 ? trainStep(model, optimizer, batches[i]!, sups[i]!, 1e-3, step) : trainStackStep(model, optimizer, batches[i]!, sups[i]!, lrs, step);
  };
  const rows: Row[] = [];
  // warm-up seconds once per model, before its first variant: the GPU's clocks (idle at 345 MHz on an H200) and this
  // model's buffers and bind groups (2026-11-30 late: a process's later models' first variants, after only --warmup
  // steps, ran with 80–95 % bind-group hits against 97–100 % for the variants after them, and up to 1.7x slower;
  // with this warm-up and the losses held below, 100 % on lavapipe — bench/RESULTS.md)
  let warmedUp = false;
  for (const variant of variants) {
    await setLevers(backend, variant.levers);
    // a GPU fault (out of memory, a buffer past the device's limits, a lost device) makes the steps do nothing and
    // read back zeros or NaN (engine/gpuFaults.ts): the variant's numbers are not a timing then — one line says so
    // and the bench moves on (the model's state is garbage after a fault: its later variants are skipped too)
    let row: Row;
    try {
      row = await checkedOnGpu(() => timeVariant(variant.name));
    } catch (e) {
      if (!(e instanceof GpuFaultError)) throw e;
      console.log(`${mixer.padEnd(9)} B${String(batch).padEnd(4)} ${variant.name.padEnd(14)}${stack > 1 ? ` R${stack}`.padEnd(5) : ''} GPU FAULT, not timed: ${e.message.split('\n')[0]}`);
      if (a.out) appendFileSync(a.out, JSON.stringify({ label: a.label, device, mixer, batch, variant: variant.name, stack, fault: e.message.split('\n')[0] }) + '\n');
      // as the sweep after a failed run: buffers whose allocation failed leave the pool, and the fault is forgotten,
      // so that the next combination is timed on a clean slate (a lost device stays lost)
      await releaseGpuBufferPool();
      clearGpuFaults();
      break;
    }
    if (a.profile) Object.assign(row, await profileStep(runStep, row.msPerStep));
    rows.push(row);
    printRow(row);
    const toggles = dawnToggles();
    if (a.out) appendFileSync(a.out, JSON.stringify({ ...row, ...(toggles?.length ? { dawnToggles: toggles } : {}) }) + '\n');
  }
  optimizer.dispose();
  model.dispose();
  return rows;

  async function timeVariant(variantName: string): Promise<Row> {
    // the first timing of a process found the GPU at idle clocks (an H200 idles at 345 MHz) and ran 10–30 % slow
    // (2026-11-29: attention B64 10.5 → 8.3 ms on its second turn), and a model's first variant its caches still
    // filling: step on, synced, until the model has run warm-up seconds
    if (!warmedUp) {
      const until = performance.now() + a.warmupSeconds * 1000;
      while (performance.now() < until) {
        const l = runStep();
        await l.data();
        l.dispose();
      }
      warmedUp = true;
    }
    // then unsynced steps as the timed ones run — each step's loss held until the next step's exists, so the buffers
    // and bind groups the timed steps use are made here, not inside the timing — and one sync
    let held: tf.Tensor | undefined;
    for (let w = 0; w < a.warmup; w++) {
      const l = runStep();
      held?.dispose();
      held = l;
    }
    const sync = runStep();
    held?.dispose();
    await sync.data();
    sync.dispose();
    if (a.cpuProf) await profiler.start();
    if (a.heapProf) await profiler.startHeap();
    dispatchCount = 0;
    const cacheBefore = backend === 'webgpu' ? (await import('../accel/webgpu/bindGroups.js')).bindGroupCacheStats() : undefined;
    let host = 0;
    let last: tf.Tensor | undefined;
    const t0 = performance.now();
    for (let s = 0; s < a.steps; s++) {
      const h0 = performance.now();
      const loss = runStep();
      host += performance.now() - h0;
      last?.dispose();
      last = loss;
    }
    const loss = (await last!.data())[0]!;
    last!.dispose();
    if (a.cpuProf) await profiler.stop(a.cpuProf);
    if (a.heapProf) await profiler.stopHeap(a.heapProf);
    const wall = (performance.now() - t0) / a.steps;
    const cacheAfter = backend === 'webgpu' ? (await import('../accel/webgpu/bindGroups.js')).bindGroupCacheStats() : undefined;
    const lookups = cacheAfter && cacheBefore ? cacheAfter.hits - cacheBefore.hits + cacheAfter.misses - cacheBefore.misses : 0;
    return {
      label: a.label, device, mixer, presetParams: a.presetParams, batch, variant: variantName, stack, runStepsPerSec: stack / (wall / 1000), msPerStep: wall, hostMsPerStep: host / a.steps,
      tokensPerSec: (stack * batch * a.seqLen) / (wall / 1000), dispatchesPerStep: dispatchCount / a.steps, loss,
      bindGroupHitRate: lookups ? (cacheAfter!.hits - cacheBefore!.hits) / lookups : undefined,
    };
  }
}

/**
 * A profiled kernel's time per program: tfjs-backend-webgpu's extraInfo lists each dispatch's timer as "name: ms"
 * joined by ", " (stock programs by class name, this project's by the name given to dispatch()).
 */
export function programTimes(extraInfo: unknown): Array<{ name: string; ms: number }> {
  if (typeof extraInfo !== 'string') return [];
  return [...extraInfo.matchAll(/(?:^|, )([^,:]+): (-?[0-9.]+(?:e[-+]?[0-9]+)?|NaN)/gi)].map((m) => ({ name: m[1]!, ms: Number(m[2]) })).filter((p) => Number.isFinite(p.ms));
}

const ranked = (byName: Map<string, { ms: number; count: number }>) =>
  [...byName.entries()].map(([name, v]) => ({ name, ...v })).sort((x, y) => y.ms - x.ms).slice(0, Number(process.env.RECALLBENCH_PROFILE_TOP ?? 12));

function add(byName: Map<string, { ms: number; count: number }>, key: string, ms: number): void {
  const e = byName.get(key) ?? { ms: 0, count: 0 };
  e.ms += ms;
  e.count++;
  byName.set(key, e);
}

async function profileStep(runStep: () => tf.Tensor, wallMs: number): Promise<Partial<Row>> {
  const info = await tf.profile(() => runStep());
  const kernels = info.kernels as Array<{ name: string; inputShapes?: number[][]; kernelTimeMs: number | Promise<number> | { error: string }; extraInfo?: unknown }>;
  const byName = new Map<string, { ms: number; count: number }>();
  const byProgram = new Map<string, { ms: number; count: number }>();
  let gpu = 0;
  // RECALLBENCH_PROFILE_SHAPES=1: a kernel is its name and its inputs' shapes (which Sum of the step is the slow one)
  const withShapes = process.env.RECALLBENCH_PROFILE_SHAPES === '1';
  for (const k of kernels) {
    const t = await k.kernelTimeMs;
    const ms = typeof t === 'number' ? t : 0;
    gpu += ms;
    add(byName, withShapes ? `${k.name}(${(k.inputShapes ?? []).map((shape) => `[${shape.join(',')}]`).join(' ')})` : k.name, ms);
    for (const p of programTimes(await k.extraInfo)) add(byProgram, p.name, p.ms);
  }
  (Array.isArray(info.result) ? info.result : [info.result]).forEach((t) => (t as tf.Tensor).dispose());
  return { kernelsPerStep: kernels.length, gpuMsPerStep: gpu, busy: gpu / wallMs, topKernels: ranked(byName), topPrograms: byProgram.size ? ranked(byProgram) : undefined };
}

function fmt(x: number | undefined, digits = 1): string {
  return x === undefined || !Number.isFinite(x) ? '-' : x.toFixed(digits);
}

function printRow(r: Row): void {
  console.log(
    `${r.mixer.padEnd(9)} B${String(r.batch).padEnd(4)} ${r.variant.padEnd(14)}${r.stack > 1 ? ` R${r.stack}`.padEnd(5) : ''} ${fmt(r.msPerStep).padStart(8)} ms/step${r.stack > 1 ? ` (${fmt(r.runStepsPerSec)} run-steps/s)` : ''}  host ${fmt(r.hostMsPerStep).padStart(7)} ms  ${fmt(r.tokensPerSec / 1000, 0).padStart(6)}k tok/s  ${fmt(r.dispatchesPerStep, 0).padStart(5)} dispatches` +
      (r.gpuMsPerStep !== undefined ? `  ${r.kernelsPerStep} kernels  GPU ${fmt(r.gpuMsPerStep)} ms  busy ${fmt(100 * (r.busy ?? 0), 0)}%` : '') +
      (r.bindGroupHitRate !== undefined ? `  bind-group hits ${fmt(100 * r.bindGroupHitRate, 0)}%` : '') +
      `  loss ${r.loss.toFixed(3)}`,
  );
  const top = (list: Array<{ name: string; ms: number; count: number }>) => list.slice(0, Number(process.env.RECALLBENCH_PROFILE_TOP ?? 8)).map((k) => `${k.name}×${k.count} ${k.ms.toFixed(2)}ms`).join(', ');
  if (r.topKernels) console.log('    top kernels: ' + top(r.topKernels));
  if (r.topPrograms) console.log('    top programs: ' + top(r.topPrograms));
}

interface TorchRow {
  mixer: string;
  batch: number;
  head: string;
  /** 'eager' (absent in older files) or 'compile' (torch.compile, bench/torch_step.py --compile) */
  variant?: string;
  msPerStep: number;
}

function printRatios(rows: Row[], torchFile: string): void {
  let torch: { device?: string; torch?: string; results: TorchRow[] };
  try {
    torch = JSON.parse(readFileSync(torchFile, 'utf8'));
  } catch (e) {
    console.log(`(no PyTorch results: ${(e as Error).message})`);
    return;
  }
  console.log(`\nrecallbench / PyTorch eager (${torch.torch ?? '?'} on ${torch.device ?? '?'}), same shapes, same call:`);
  console.log('mixer     batch variant         recallbench ms  torch ms (same head)  ratio   torch ms (zoology full-logit head)  ratio   torch.compile ms (same head)  ratio');
  const find = (r: Row, head: string, variant: string) => torch.results.find((t) => t.mixer === r.mixer && t.batch === r.batch && t.head === head && (t.variant ?? 'eager') === variant);
  const ratio = (r: Row, t: TorchRow | undefined) => (t ? fmt(r.msPerStep / t.msPerStep, 2).padStart(5) + 'x' : '    -');
  for (const r of rows) {
    const same = find(r, 'supervised', 'eager');
    const full = find(r, 'full', 'eager');
    const compiled = find(r, 'supervised', 'compile');
    console.log(
      `${r.mixer.padEnd(9)} ${String(r.batch).padEnd(5)} ${r.variant.padEnd(15)} ${fmt(r.msPerStep).padStart(14)}  ${fmt(same?.msPerStep, 2).padStart(20)}  ${ratio(r, same)}   ${fmt(full?.msPerStep, 2).padStart(34)}  ${ratio(r, full)}   ${fmt(compiled?.msPerStep, 2).padStart(28)}  ${ratio(r, compiled)}`,
    );
  }
}

/** Short MQAR run, fast path vs reference path, same seed: the accuracies must agree within noise. */
async function checkAccuracy(a: BenchArgs, backend: string): Promise<void> {
  const seqLen = 64;
  const kv = 4;
  const vocab = 512;
  const gen = (count: number, seed: number) => mqar.generate({ count, seqLen, numKvPairs: kv, vocabSize: vocab, powerA: 0.01, randomNonQueries: false, passes: 1 }, seed);
  const splits = { train: [gen(64 * 100, 11)], validation: [gen(256, 12)], test: [gen(512, 13)] };
  for (const variant of expandVariants(['fast', 'stock'])) {
    await setLevers(backend, variant.levers);
    const model = new LanguageModel({ ...modelConfig('attention', { ...a, seqLen, vocab }, 99), maxSeqLen: seqLen });
    const t0 = performance.now();
    const result = await train(model, splits, { epochs: 4, batchSize: 64, evalBatchSize: 256, lr: 3e-3, weightDecay: 0.1, earlyStopAccuracy: 2, shuffle: false, seed: 5 });
    const last = result.epochs[result.epochs.length - 1]!;
    console.log(
      `accuracy check [${variant.name}]: attention d${a.dModel} MQAR L${seqLen} K${kv} V${vocab}, ${result.steps} steps: ` +
        `train loss ${result.epochs.map((e) => e.trainLoss.toFixed(3)).join(' → ')}; test accuracy ${result.epochs.map((e) => e.test.accuracy.toFixed(3)).join(' → ')} ` +
        `(${((performance.now() - t0) / 1000).toFixed(1)} s)`,
    );
    if (a.out) appendFileSync(a.out, JSON.stringify({ check: variant.name, epochs: result.epochs.map((e) => ({ trainLoss: e.trainLoss, test: e.test.accuracy, validation: e.validation.accuracy })) }) + '\n');
    model.dispose();
    void last;
  }
}

/** R learning rates stacked vs each alone, --steps steps on the same batches: each run's worst loss and parameter gaps. */
/**
 * Per parameter, which elements the loss does not depend on: their gradient at initialisation is below 1e-5 of the
 * tensor's largest on every batch (zero in exact arithmetic, rounding noise in float32 — the key third of an
 * attention layer's qkv bias: softmax is shift-invariant per query). AdamW moves such an element by ±lr on the sign
 * of that noise, which differs between a stacked and a lone matmul, so the parameter comparison leaves them out.
 */
async function gradientFree(config: ModelConfig, batches: ReturnType<typeof benchBatches>['batches'], sups: ReturnType<typeof benchBatches>['sups']): Promise<Uint8Array[]> {
  const model = new LanguageModel(config, { runs: 1 });
  const peak = model.variables.map((v) => new Float32Array(v.size));
  for (const [i, b] of batches.entries()) {
    const { value, grads } = tf.variableGrads(() => stepLoss(model, b, sups[i]!, i + 1), model.variables);
    for (const [k, v] of model.variables.entries()) {
      const g = (await grads[v.name]!.data()) as Float32Array;
      for (let j = 0; j < g.length; j++) peak[k]![j] = Math.max(peak[k]![j]!, Math.abs(g[j]!));
    }
    tf.dispose([value, ...Object.values(grads)]);
  }
  model.dispose();
  return peak.map((p) => {
    const top = p.reduce((m, x) => Math.max(m, x), 0);
    return Uint8Array.from(p, (x) => (x <= 1e-5 * top ? 1 : 0));
  });
}

async function checkStack(a: BenchArgs, mixer: string, batch: number, runs: number): Promise<{ lossRel: number; paramRel: number; worstParam: string; gradientFree: number }> {
  const config = modelConfig(mixer, a, 1234);
  checkMixers(config);
  const { batches, sups } = benchBatches(a, batch);
  const lrs = stackRates(runs);
  const free = await gradientFree(config, batches, sups);
  const train = async (stacked: boolean, lr?: number) => {
    const model = new LanguageModel(config, { runs: stacked ? runs : 1 });
    const optimizer = new AdamW(model.variables, { weightDecay: 0.1 });
    const losses: Float32Array[] = [];
    for (let s = 0; s < a.steps; s++) {
      const i = s % batches.length;
      const loss = trainStackStep(model, optimizer, batches[i]!, sups[i]!, stacked ? lrs : [lr!], s + 1); // a run alone: a stack of one
      losses.push((await loss.data()) as Float32Array);
      loss.dispose();
    }
    const params = await Promise.all(model.variables.map(async (v) => (await v.data()) as Float32Array));
    const names = model.variables.map((v) => v.name);
    optimizer.dispose();
    model.dispose();
    return { losses, params, names };
  };
  const alone: Array<Awaited<ReturnType<typeof train>>> = [];
  for (const lr of lrs) alone.push(await train(false, lr));
  const stack = await train(true);
  let lossRel = 0;
  let paramRel = 0;
  let worstParam = '';
  for (let r = 0; r < runs; r++) {
    for (let s = 0; s < a.steps; s++) {
      const want = alone[r]!.losses[s]![0]!;
      lossRel = Math.max(lossRel, Math.abs(stack.losses[s]![r]! - want) / Math.max(Math.abs(want), 1e-12));
    }
    stack.params.forEach((values, k) => {
      const own = alone[r]!.params[k]!;
      const slice = values.subarray(r * own.length, (r + 1) * own.length);
      let diff = 0;
      let scale = 0;
      for (let i = 0; i < own.length; i++) {
        if (!free[k]![i]) diff = Math.max(diff, Math.abs(slice[i]! - own[i]!));
        scale = Math.max(scale, Math.abs(own[i]!));
      }
      const rel = diff / Math.max(scale, 1e-12);
      if (rel > paramRel) [paramRel, worstParam] = [rel, `${stack.names[k]} (run ${r})`];
    });
  }
  return { lossRel, paramRel, worstParam, gradientFree: free.reduce((n, f) => n + f.reduce((m, x) => m + x, 0), 0) };
}

/**
 * The matmuls of a d 128, L 256 training step (2-D ones at B64 = 16,384 tokens; the head at K 16 supervised rows per
 * example), of zoology-fig2's d 512 models at L 64, B512, and two squares for the kernel's ceiling, as [label, batch,
 * M, N, K, transposeA, transposeB].
 */
export const MATMUL_SHAPES: Array<[string, number, number, number, number, boolean, boolean]> = [
  ['head B256: rows·Eᵀ', 1, 4096, 8192, 128, false, true],
  ['head B256: dE = dlogitsᵀ·rows', 1, 8192, 128, 4096, true, false],
  ['head B256: drows = dlogits·E', 1, 4096, 128, 8192, false, false],
  ['qkv B64: x·W', 1, 16384, 384, 128, false, false],
  ['qkv B64: dW = xᵀ·dy', 1, 128, 384, 16384, true, false],
  ['qkv B64: dx = dy·Wᵀ', 1, 16384, 128, 384, false, true],
  ['in_proj B64 (Mamba): x·W', 1, 16384, 512, 128, false, false],
  ['scores B64: q·kᵀ', 64, 256, 256, 128, false, true],
  ['values B64: p·v', 64, 256, 128, 256, false, false],
  ['scores B256: q·kᵀ', 256, 256, 256, 128, false, true],
  // zoology-fig2's L64 K4 panel (B512: 32,768 tokens; 2,048 supervised rows) at d 512: the campaign's largest models
  ['zoology d512: qkv x·W', 1, 32768, 1536, 512, false, false],
  ['zoology d512: qkv dW = xᵀ·dy', 1, 512, 1536, 32768, true, false],
  ['zoology d512: qkv dx = dy·Wᵀ', 1, 32768, 512, 1536, false, true],
  ['zoology d512: head rows·Eᵀ', 1, 2048, 8192, 512, false, true],
  ['square 2048', 1, 2048, 2048, 2048, false, false],
  ['square 4096', 1, 4096, 4096, 4096, false, false],
];

/** --matmul: tf.matMul at MATMUL_SHAPES, tfjs's kernel, ours, ours with vec4 reads and with the next tile read ahead, `iters` products each after a warm-up, one read at the end. */
async function benchMatmul(a: BenchArgs, device: string): Promise<void> {
  const iters = Math.max(5, a.steps);
  console.log(`matmul: ${iters} products per shape untimed, then as many as fill ≥ 100 ms (at least ${iters}), synced by one read; lever matmul off (tfjs) vs on (accel/webgpu/matmul.ts), on with matmulVec4, and with matmulPrefetch too`);
  for (const [label, batch, M, N, K, tA, tB] of MATMUL_SHAPES) {
    const lead = batch > 1 ? [batch] : [];
    const x = tf.randomNormal([...lead, ...(tA ? [K, M] : [M, K])], 0, 1, 'float32', 1);
    const y = tf.randomNormal([...lead, ...(tB ? [N, K] : [K, N])], 0, 1, 'float32', 2);
    const timed: Record<string, { ms: number; out: Float32Array }> = {};
    // only the 128-tile has a K pass to vary: elsewhere the longer passes run the same kernel as prefetch
    const largeTile = matmulPlan(batch, M, N, K).tiling.BM === 128;
    // tfjs's kernel, ours with scalar workgroup-memory reads, ours with vec4 reads (lever matmulVec4)
    // and vec4 with the next tile read ahead (lever matmulPrefetch)
    // and with the 128-tile's K pass at 16 and 32 (RECALLBENCH_MATMUL_LARGE_BK; the same sums)
    const kernels = { off: { matmul: false, matmulVec4: false, matmulPrefetch: false }, on: { matmul: true, matmulVec4: false, matmulPrefetch: false }, vec4: { matmul: true, matmulVec4: true, matmulPrefetch: false }, prefetch: { matmul: true, matmulVec4: true, matmulPrefetch: true }, prefetch16: { matmul: true, matmulVec4: true, matmulPrefetch: true }, prefetch32: { matmul: true, matmulVec4: true, matmulPrefetch: true } };
    const largeBk: Record<string, string> = { prefetch16: '16', prefetch32: '32' };
    for (const [which, levers] of Object.entries(kernels)) {
      await setLevers('webgpu', { ...defaultFastPath(), ...levers });
      if (largeBk[which]) process.env.RECALLBENCH_MATMUL_LARGE_BK = largeBk[which];
      else delete process.env.RECALLBENCH_MATMUL_LARGE_BK;
      if (largeBk[which] && !largeTile) continue;
      if (largeTileBytes(largeTileK()) > workgroupStorageBytes()) {
        console.log(`matmul ${label}: ${which} skipped (the 128-tile at that K pass exceeds this device's workgroup memory)`);
        continue;
      }
      const product = () => tf.matMul(x, y, tA, tB);
      // iters products, each output disposed when the next is made, then a read of one element of the last (which
      // submits the queue and waits for it; reading the whole 128 MiB head output would time the copy to the host)
      const loop = async (count: number) => {
        let last = product();
        for (let i = 1; i < count; i++) {
          last.dispose();
          last = product();
        }
        const corner = tf.tidy(() => last.reshape([-1]).slice(0, 1));
        await corner.data();
        corner.dispose();
        return last;
      };
      // a first loop, untimed: a disposed output returns to tfjs's buffer pool only after the queue is submitted, so
      // the first loop creates its outputs' buffers (vkAllocateMemory: milliseconds for the head's 128 MiB) and
      // the timed loop reuses them, as a training step's matmuls reuse the last step's
      // A second untimed loop (compiled and allocated by now) sizes the timed one: enough products for ≥ 100 ms, so
      // that the closing read-back (a round trip of about a millisecond) is ≤ 1 % of what is timed
      (await loop(iters)).dispose();
      const u0 = performance.now();
      (await loop(iters)).dispose();
      const count = Math.min(5000, Math.max(iters, Math.ceil((100 * iters) / (performance.now() - u0))));
      const t0 = performance.now();
      const last = await loop(count);
      const ms = (performance.now() - t0) / count;
      timed[which] = { ms, out: (await last.data()) as Float32Array };
      last.dispose();
    }
    delete process.env.RECALLBENCH_MATMUL_LARGE_BK;
    const { off, on, vec4, prefetch } = timed as Record<'off' | 'on' | 'vec4' | 'prefetch', { ms: number; out: Float32Array }>;
    // the longer K passes: ms, and whether the product is the BK 8 one's bit for bit
    const passes = ['prefetch16', 'prefetch32'].map((w) => {
      const t = timed[w];
      if (!largeTile) return `BK ${w.slice(8)} n/a (not the 128-tile)`;
      return t ? `BK ${w.slice(8)} ${t.ms.toFixed(3)} ms (${(prefetch.ms / t.ms).toFixed(2)}x, ${t.out.every((x, i) => x === prefetch.out[i]) ? 'same bits' : 'DIFFERENT BITS'})` : `BK ${w.slice(8)} skipped`;
    });
    let diff = 0;
    let scale = 0;
    let vec4Diff = 0; // the kernels of ours add the same products in the same order: 0 expected
    let prefetchDiff = 0;
    for (let i = 0; i < off.out.length; i++) {
      diff = Math.max(diff, Math.abs(on.out[i]! - off.out[i]!));
      scale = Math.max(scale, Math.abs(off.out[i]!));
      vec4Diff = Math.max(vec4Diff, Math.abs(vec4.out[i]! - on.out[i]!));
      prefetchDiff = Math.max(prefetchDiff, Math.abs(prefetch.out[i]! - vec4.out[i]!));
    }
    const flop = 2 * batch * M * N * K;
    const tflops = (ms: number) => flop / (ms * 1e9);
    console.log(`matmul ${label.padEnd(32)} [${batch} × ${M} × ${N} × ${K}]  tfjs ${off.ms.toFixed(3)} ms (${tflops(off.ms).toFixed(1)} TFLOP/s)  ours ${on.ms.toFixed(3)} ms (${tflops(on.ms).toFixed(1)} TFLOP/s)  ${(off.ms / on.ms).toFixed(2)}x  max diff ${(diff / scale).toExponential(1)} of max  vec4 ${vec4.ms.toFixed(3)} ms (${tflops(vec4.ms).toFixed(1)} TFLOP/s, ${(on.ms / vec4.ms).toFixed(2)}x ours, diff ${vec4Diff === 0 ? '0' : (vec4Diff / scale).toExponential(1)})  prefetch ${prefetch.ms.toFixed(3)} ms (${tflops(prefetch.ms).toFixed(1)} TFLOP/s, ${(vec4.ms / prefetch.ms).toFixed(2)}x vec4, diff ${prefetchDiff === 0 ? '0' : (prefetchDiff / scale).toExponential(1)})  ${passes.join('  ')}`);
    if (a.out) appendFileSync(a.out, JSON.stringify({ label: a.label, device, matmul: { shape: label, batch, M, N, K, transposeA: tA, transposeB: tB, tfjsMs: off.ms, oursMs: on.ms, vec4Ms: vec4.ms, prefetchMs: prefetch.ms, prefetch16Ms: timed.prefetch16?.ms, prefetch32Ms: timed.prefetch32?.ms, relDiff: diff / scale, vec4Diff, prefetchDiff } }) + '\n');
    tf.dispose([x, y]);
  }
  await setLevers('webgpu', defaultFastPath());
}

/**
 * Did RECALLBENCH_DAWN_TOGGLES reach the device? Dawn takes an unknown toggle name without a word, so the header
 * reads one out-of-range element of a workgroup array, p.a[5] of p.a[4]: Tint's robustness pass clamps it to p.a[3]
 * (4); with disable_robustness the read goes where it points, p.b[1] (12) — a and b in one struct, so that the read
 * stays inside the workgroup's memory whatever the layout of other variables. Still undefined behaviour, so the
 * answer is a hint, not a test: 4 means the clamp ran.
 */
async function robustnessProbe(): Promise<number> {
  const at = tf.tensor1d([5, 0], 'int32');
  const out = allocate(webgpuBackend(), [1]);
  const wgsl = () => `${declare([{ name: 'at', type: 'i32' }, { name: 'out', type: 'f32', write: true }], [])}
struct Pair { a: array<f32, 4>, b: array<f32, 4> }
var<workgroup> p: Pair;
@compute @workgroup_size(1) fn main() {
  for (var i = 0u; i < 4u; i++) { p.a[i] = f32(i + 1u); p.b[i] = f32(i + 11u); }
  workgroupBarrier();
  out[0] = p.a[at[0]] + 0.0 * p.b[at[1]];
}`;
  dispatch('RobustnessProbe', 'rb_robustness_probe', wgsl, [{ tensor: at }, { tensor: out, write: true }], [], [1, 1, 1]);
  const read = tf.engine().makeTensorFromTensorInfo(out);
  const [value] = await read.data();
  tf.dispose([at, read]);
  return value!;
}

export async function runBench(a: BenchArgs): Promise<Row[]> {
  const info = await initBackend(a.backend, { dawnOptions: a.dawn, allowSoftwareAdapter: a.allowSoftware });
  countDispatches();
  // after the backend: its flags are registered by then (tf.env().set refuses unknown ones)
  for (const [name, value] of a.tfFlags) tf.env().set(name, value);
  // the Dawn toggles (RECALLBENCH_DAWN_TOGGLES: engine/dawnToggles.ts) hold for the whole process: a comparison of them
  // is one process per setting, each saying its own in this line and in every row it writes
  const toggles = dawnToggles() ?? [];
  console.log(`recallbench step benchmark: ${info.backend} on ${info.device}; tfjs ${tf.version.tfjs}; node ${process.version}${a.tfFlags.length ? `; ${a.tfFlags.map(([n, v]) => `${n}=${v}`).join(' ')}` : ''}; dawn toggles: ${toggles.length ? toggles.join(',') : 'none'}`);
  if (info.backend === 'webgpu') {
    // the limits the fused kernels size themselves against (accel/webgpu/dispatch.ts fitsDevice), as tfjs requested them
    const { limits } = (tf.backend() as unknown as { device: GPUDevice }).device;
    const names = ['maxStorageBufferBindingSize', 'maxBufferSize', 'maxComputeWorkgroupStorageSize', 'maxStorageBuffersPerShaderStage', 'maxComputeWorkgroupsPerDimension', 'maxComputeInvocationsPerWorkgroup'] as const;
    console.log(`device limits: ${names.map((n) => `${n} ${limits[n]}`).join(', ')}`);
    // what the adapter would grant if asked (tfjs asks for none of these past the defaults): a kernel binding more than
    // 8 storage buffers, as lever adamwPairs would for three parameters a dispatch, needs the device made with more
    const adapter = await (globalThis as unknown as { navigator: { gpu: { requestAdapter(o?: object): Promise<{ limits: Record<string, number> } | null> } } }).navigator.gpu.requestAdapter({ powerPreference: 'high-performance' });
    const wider = ['maxStorageBuffersPerShaderStage', 'maxBindingsPerBindGroup', 'maxComputeWorkgroupStorageSize', 'maxUniformBufferBindingSize'] as const;
    if (adapter) console.log(`adapter limits: ${wider.map((n) => `${n} ${adapter.limits[n]}`).join(', ')}`);
    const probe = await robustnessProbe();
    console.log(`robustness probe: a[5] of a workgroup array a[4] (b[1] after it) read ${probe} (4: clamped, robustness on; anything else: robustness off)`);
  }
  console.log(`shapes: d ${a.dModel}, L ${a.seqLen}, V ${a.vocab}, MQAR K ${a.kv}, 2 layers, AdamW; ${a.warmup} warm-up + ${a.steps} timed steps (and ${a.warmupSeconds} s of synced steps before each model's first timing); dropout ${a.dropout}${a.preset ? `; preset ${a.preset}'s runs${a.presetParams ? ` with ${Object.entries(a.presetParams).map(([k, v]) => `${k}=${v}`).join(', ')}` : ''}` : ''}`);
  const variants = info.backend === 'webgpu' ? expandVariants(a.variants) : [{ name: info.backend, levers: expandVariants(['stock'])[0]!.levers }];
  const rows: Row[] = [];
  if (a.matmul && info.backend === 'webgpu') await benchMatmul(a, info.device);
  // --check-stack compares, it does not time
  if (!a.checkStack) for (const mixer of a.mixers) for (const batch of a.batches) for (const stack of a.stacks) rows.push(...(await benchOne(a, info.device, info.backend, mixer, batch, variants, stack)));
  if (a.torch) printRatios(rows, a.torch);
  if (a.checkAccuracy) await checkAccuracy(a, info.backend);
  if (a.checkStack)
    for (const mixer of a.mixers)
      for (const batch of a.batches)
        for (const stack of a.stacks.filter((R) => R > 1)) {
          // a GPU fault inside (engine/gpuFaults.ts) is thrown, not compared
          const { lossRel, paramRel, worstParam, gradientFree: freeCount } = await checkedOnGpu(() => checkStack(a, mixer, batch, stack));
          // bars as bench/gpuEquiv.ts's GPU ≡ CPU: losses 1e-3, final parameters 1e-2 (relative to the largest)
          const verdict = lossRel < 1e-3 && paramRel < 1e-2 ? 'PASS' : 'FAIL';
          console.log(`stack check ${mixer} B${batch} R${stack}, ${a.steps} steps: each run's losses within ${lossRel.toExponential(2)}, final parameters within ${paramRel.toExponential(2)} (worst: ${worstParam}; ${freeCount} gradient-free elements left out) of the run alone — ${verdict}`);
          if (a.out) appendFileSync(a.out, JSON.stringify({ stackCheck: { mixer, batch, stack, steps: a.steps, lossRel, paramRel, worstParam, gradientFree: freeCount, verdict } }) + '\n');
        }
  return rows;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  let args: BenchArgs;
  try {
    args = parseArgs(process.argv.slice(2));
  } catch (e) {
    // a bad flag: one line naming it, exit 2 (as the CLI's), not a stack trace
    console.error(`bench/step.ts: ${(e as Error).message}`);
    process.exit(2);
  }
  runBench(args)
    .then(() => {
      releaseGpu();
      process.exit(0);
    })
    .catch((e) => {
      console.error(e);
      process.exit(1);
    });
}
