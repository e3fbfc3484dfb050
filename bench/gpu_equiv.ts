// GPU ≡ CPU per mixer (issue 11, item 5): every model layout of the presets (runners/presets/*.json, deduplicated;
// bench/gpuEquiv.ts says how), every registered mixer no preset uses, and the example plugin
// examples/retention.ts, trained at reduced sizes for a few dozen steps on cpu and on webgpu (fast path on, and
// all levers off) from the same seed on the same batches; per-step losses, step-1 gradients and final parameters
// compared (bench/gpuEquiv.ts). Dropout is 0 everywhere (the two backends draw different masks by design).
//
//   npx tsx bench/gpu_equiv.ts --out PATH [--steps 30] [--d-model 64] [--seq-lens 64,128,256] [--vocab 512]
//        [--batch 16] [--lr 3e-3] [--modes gpu-fast,gpu-plain|none] [--mixers NAME,NAME] [--loss-tol 1e-3]
//        [--grad-tol 1e-3] [--param-tol 1e-2] [--jobs N] [--deadline-s S] [--allow-software] [--presets-dir DIR]
//        [--sensitivity REL] [--drift-on-fail REL] [--reference wasm|cpu]
//   GPU host:  ../shared/gpu-host/pack bench/gpu_equiv.ts .gpu-c   then   bash .gpu-c/run --out $OUT/gpu-equiv
//
// The cpu references (--reference: tfjs-wasm by default, 7–80x faster than tfjs-cpu (bench/wasm_vs_cpu.ts) and then trained at the full batch
// for every mixer; tfjs-cpu with the smaller CPU_HEAVY_BATCH for the slow mixers; if the wasm backend cannot start,
// tfjs-cpu, said in the header; one core each, the slow side) train in child processes of this script, --jobs at
// a time (default: cores − 2), while this process trains the webgpu runs one after the other. Writes PATH.md (the
// table) and PATH.jsonl (one line per mixer and mode) after every mixer, prints the table; exit 1 if any mixer
// fails or was not reached before --deadline-s. --sensitivity REL also trains each cpu reference a second time with
// the embedding scaled by 1 + REL before the first step and reports how far that nudge alone moves the losses and
// final parameters (a column beside the verdict): how much the model amplifies rounding; with REL ≤ 1e-6 it also
// feeds the "inconclusive" judgement below.
// --drift-on-fail REL (default 1e-6; 0: off) measures that drift only for a case that fails with its forward and
// step-1 gradients in tolerance, after its comparison: if the GPU lies within twice the reference's own drift, the
// verdict says the failure is inconclusive (still a FAIL; bench/gpuEquiv.ts withinSelfDrift).
import * as tf from '@tensorflow/tfjs';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { z } from 'zod';
import { initBackend, releaseGpu } from '../engine/backend.js';
import { dawnTogglesFromEnv } from '../engine/dawnToggles.js';
import { UserInputError } from '../engine/errors.js';
import { pluginApi } from '../engine/plugins.js';
import { registerMixer } from '../engine/registry.js';
import retention from '../examples/retention.js';
import {
  agreesAtStepOne, caseResult, compareTraces, CPU_HEAVY_BATCH, getReferenceBackend, gpuFastLevers, setReferenceBackend, type ReferenceBackend, DEFAULT_TOLERANCE, DEVICE_SETTINGS, deserializeTrace, deviceSettingsFor, firstLine, gpuTraces, jsonLines, loadPresets, markdownTable, prepareBackends, presetCases, registryCases, serializeTrace, traceRun,
  type CaseResult, type EquivCase, type EquivSettings, type Perturbation, type RunMode, type Tolerance, type Trace,
} from './gpuEquiv.js';

interface Args {
  out: string;
  settings: EquivSettings;
  /** Flags that set sizes: then every mixer uses them as given (no CPU_HEAVY_BATCH reduction). */
  sizesGiven: boolean;
  modes: RunMode[];
  mixers?: string[];
  tolerance: Tolerance;
  jobs: number;
  deadlineSeconds: number;
  allowSoftware: boolean;
  presetsDir?: string;
  /** Also train each cpu reference with the embedding nudged by this relative amount (the model's own drift). */
  sensitivity?: number;
  /** The same nudge, for a failing case whose forward and step-1 gradients agree only (0: never). */
  driftOnFail: number;
  /** The reference runs' backend (tfjs-wasm by default). */
  reference: ReferenceBackend;
  /** Child mode: train this case's cpu reference (nudged: `perturb`) and write its trace to `traceOut`. */
  cpuReference?: { case: EquivCase; settings: EquivSettings; traceOut: string; perturb?: Perturbation };
}

function parseArgs(argv: string[]): Args {
  const a: Args = {
    out: '', settings: { ...DEVICE_SETTINGS }, sizesGiven: false, modes: ['gpu-fast', 'gpu-plain'], tolerance: { ...DEFAULT_TOLERANCE },
    jobs: Math.max(1, availableParallelism() - 2), deadlineSeconds: Infinity, allowSoftware: process.env.RECALLBENCH_WEBGPU_SOFTWARE === '1', reference: 'wasm', driftOnFail: 1e-6,
  };
  const num = (flag: string, v: string | undefined) => {
    const x = Number(v);
    if (v === undefined || v === '' || !Number.isFinite(x)) throw new UserInputError(`${flag}: expected a number, got ${v}`);
    return x;
  };
  // counts and sizes: whole numbers ≥ 1 (a --jobs 0 would start no reference and wait for ever)
  const count = (flag: string, v: string | undefined) => {
    const x = num(flag, v);
    if (!Number.isInteger(x) || x < 1) throw new UserInputError(`${flag}: expected a whole number ≥ 1, got ${v}`);
    return x;
  };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!;
    const value = () => argv[++i];
    const size = () => ((a.sizesGiven = true), value());
    switch (flag) {
      case '--out': a.out = value() ?? ''; break;
      case '--steps': a.settings.steps = count(flag, value()); break;
      case '--d-model': a.settings.dModel = count(flag, size()); break;
      case '--seq-lens': a.settings.seqLens = (size() ?? '').split(',').map((x) => count(flag, x)); break;
      case '--vocab': a.settings.vocabSize = count(flag, value()); break;
      case '--batch': a.settings.batchSize = count(flag, size()); break;
      case '--lr': a.settings.lr = num(flag, value()); break;
      case '--seed': a.settings.seed = num(flag, value()); break;
      // 'none': the cpu runs alone (to time them)
      case '--modes': a.modes = (value() ?? '').split(',').filter((m) => m !== 'none') as RunMode[]; break;
      case '--mixers': a.mixers = (value() ?? '').split(','); break;
      case '--loss-tol': a.tolerance.lossRel = num(flag, value()); break;
      case '--grad-tol': a.tolerance.gradRel = num(flag, value()); break;
      case '--param-tol': a.tolerance.paramRel = num(flag, value()); break;
      case '--jobs': a.jobs = count(flag, value()); break;
      case '--deadline-s': a.deadlineSeconds = num(flag, value()); break;
      case '--allow-software': a.allowSoftware = true; break;
      case '--presets-dir': a.presetsDir = value(); break;
      case '--sensitivity': a.sensitivity = num(flag, value()); break;
      case '--drift-on-fail': a.driftOnFail = num(flag, value()); break;
      case '--reference': {
        const r = value();
        if (r !== 'wasm' && r !== 'cpu') throw new UserInputError(`--reference: expected wasm or cpu, got ${r}`);
        a.reference = r;
        break;
      }
      case '--cpu-reference': {
        const [caseJson, settingsJson, traceOut, perturbJson] = [value(), value(), value(), value()];
        a.cpuReference = { case: JSON.parse(caseJson!) as EquivCase, settings: JSON.parse(settingsJson!) as EquivSettings, traceOut: traceOut!, ...(perturbJson && perturbJson !== 'none' ? { perturb: JSON.parse(perturbJson) as Perturbation } : {}) };
        break;
      }
      default: throw new UserInputError(`unknown flag ${flag}`);
    }
  }
  if (!a.out && !a.cpuReference) throw new UserInputError('--out PATH is required (writes PATH.md and PATH.jsonl)');
  for (const m of a.modes) if (!['gpu-fast', 'gpu-plain'].includes(m)) throw new UserInputError(`--modes: unknown mode ${m} (gpu-fast, gpu-plain, none)`);
  return a;
}

/** Child mode: one cpu reference, written as bytes (gpuEquiv.ts serializeTrace). */
async function cpuReferenceChild(job: NonNullable<Args['cpuReference']>): Promise<number> {
  await initBackend(getReferenceBackend());
  const trace = await traceRun(job.case, job.settings, 'cpu', job.perturb ? { perturb: job.perturb, diagnose: false } : {});
  writeFileSync(job.traceOut, serializeTrace(trace));
  return 0;
}

/** Runs the cpu references in child processes, at most `jobs` at once, in the order asked. */
class CpuReferences {
  private running = 0;
  private readonly waiting: (() => void)[] = [];
  private readonly dir = mkdtempSync(join(tmpdir(), 'gpu-equiv-'));
  private readonly children = new Set<ReturnType<typeof spawn>>();
  constructor(private readonly jobs: number) {}

  start(c: EquivCase, s: EquivSettings, index: number | string, perturb?: Perturbation): Promise<Trace> {
    return new Promise<void>((resolve) => (this.running < this.jobs ? (this.running++, resolve()) : this.waiting.push(() => (this.running++, resolve())))).then(
      () =>
        new Promise<Trace>((resolve, reject) => {
          const file = join(this.dir, `${index}.trace`);
          // the same entry (tsx's loader flags ride along in execArgv locally; the bundle on the GPU host)
          const child = spawn(process.execPath, [...process.execArgv, process.argv[1]!, '--reference', getReferenceBackend(), '--cpu-reference', JSON.stringify(c), JSON.stringify(s), file, perturb ? JSON.stringify(perturb) : 'none'], { stdio: ['ignore', 'ignore', 'pipe'] });
          this.children.add(child);
          let stderr = '';
          child.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-2000)));
          child.on('exit', (code, signal) => {
            this.children.delete(child);
            this.running--;
            this.waiting.shift()?.();
            if (code === 0) {
              try {
                resolve(deserializeTrace(readFileSync(file)));
                rmSync(file, { force: true });
              } catch (e) {
                reject(e);
              }
            } else reject(new Error(`cpu reference process exited ${code ?? signal}: ${stderr.trim().split('\n').filter((l) => !/^\s+at /.test(l)).slice(-2).join(' | ')}`));
          });
        }),
    );
  }

  stop(): void {
    for (const child of this.children) child.kill();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

async function main(): Promise<number> {
  const args = parseArgs(process.argv.slice(2));
  gpuFastLevers(); // a misspelt RECALLBENCH_EQUIV_FAST_PATH stops the check here, before any run
  registerMixer(retention(pluginApi));
  setReferenceBackend(args.reference);
  // a literal import, so that bench/pack_gpu_all.sh's bundle holds the wasm backend (engine/backend.ts imports it by
  // a name esbuild leaves out); registered here, initBackend('wasm') uses it. Absent: the fallback below says so.
  if (args.reference === 'wasm') await import('@tensorflow/tfjs-backend-wasm').catch(() => undefined);
  if (args.cpuReference) return cpuReferenceChild(args.cpuReference);
  if (args.reference === 'wasm') {
    // a bundle or host where the wasm backend cannot start falls back to tfjs-cpu rather than losing the check
    try {
      await initBackend('wasm');
    } catch (e) {
      console.log(`gpu-equiv: the wasm backend did not start (${firstLine(e)}): references on tfjs-cpu`);
      setReferenceBackend('cpu');
    }
  }
  const started = performance.now();
  const elapsed = () => (performance.now() - started) / 1000;
  const base = args.out.replace(/\.(md|jsonl)$/, '');
  const device = await prepareBackends({ allowSoftwareAdapter: args.allowSoftware });
  const skipped: string[] = [];
  const fromPresets = presetCases(loadPresets(args.presetsDir, (file, why) => skipped.push(`${file} (${why})`)));
  for (const line of skipped) console.log(`gpu-equiv: preset left out: ${line}`);
  const fromRegistry = registryCases(fromPresets).map((c) => (c.name === 'retention' ? { ...c, sources: ['plugin examples/retention.ts'] } : c));
  let cases = [...fromPresets, ...fromRegistry];
  if (args.mixers) {
    // a name that matches no case would leave its layout unchecked while the others pass: refuse the whole check (a
    // call once asked for `cache-h2o`, printed this as a note, and ran without it — bench/logs/2026-11-30-midnight-h200x2)
    const unknown = args.mixers.filter((m) => !cases.some((c) => c.name === m));
    if (unknown.length) {
      console.error(`gpu-equiv: --mixers names no case: ${unknown.join(', ')} (cases: ${cases.map((c) => c.name).join(', ')})`);
      releaseGpu();
      return 2;
    }
    cases = cases.filter((c) => args.mixers!.includes(c.name));
  }
  const settingsOf = (c: EquivCase) => (args.sizesGiven ? args.settings : deviceSettingsFor(c, args.settings));
  const s = args.settings;
  console.log(`gpu-equiv: ${cases.length} mixers on ${device} vs tfjs-${getReferenceBackend()} (${args.jobs} reference processes); d ${s.dModel}, L ${s.seqLens.join('/')}, V ${s.vocabSize}, batch ${s.batchSize}${args.sizesGiven || getReferenceBackend() === 'wasm' ? '' : ' (less for cpu-heavy mixers)'}, ${s.steps} steps, lr ${s.lr}, wd ${s.weightDecay}, seed ${s.seed}; dropout 0; modes ${args.modes.join(', ') || 'none'}`);

  const references = new CpuReferences(args.jobs);
  // every cpu reference starts now (the slow side), the webgpu runs go one after the other meanwhile
  // the cpu-heavy references (CPU_HEAVY_BATCH) take the first slots: the slowest decide when the table is done
  const heavy = (c: EquivCase) => (c.layers.some((l) => l.mixer in CPU_HEAVY_BATCH) ? 1 : 0);
  const startOrder = cases.map((_, i) => i).sort((a, b) => heavy(cases[b]!) - heavy(cases[a]!));
  const pending: Promise<Trace>[] = new Array(cases.length);
  for (const i of startOrder) pending[i] = references.start(cases[i]!, settingsOf(cases[i]!), i);
  for (const p of pending) p.catch(() => undefined);
  // the embedding is the model's first parameter (engine/model.ts creates it first)
  const nudge = (rel: number): Perturbation => ({ variable: 0, relative: rel });
  const nudged: (Promise<Trace> | undefined)[] = cases.map((c, i) => (args.sensitivity === undefined ? undefined : references.start(c, settingsOf(c), `${i}-nudged`, nudge(args.sensitivity))));
  for (const p of nudged) p?.catch(() => undefined);
  const results: CaseResult[] = [];
  const toggles = dawnTogglesFromEnv();
  const header = () =>
    `GPU ≡ CPU per mixer on ${device} (webgpu${toggles.length ? `, Dawn toggles ${toggles.join(', ')}` : ''}) vs tfjs ${getReferenceBackend()}: d ${s.dModel}, L ${s.seqLens.join(' and ')} interleaved, MQAR V ${s.vocabSize}, batch ${s.batchSize}${args.sizesGiven || getReferenceBackend() === 'wasm' ? '' : ' (smaller where the table says: cpu-heavy mixers)'}, ` +
    `${s.steps} AdamW steps at lr ${s.lr} (wd ${s.weightDecay}), seed ${s.seed}, all dropout 0. gpu-fast = ${process.env.RECALLBENCH_EQUIV_FAST_PATH ? `the levers of ${process.env.RECALLBENCH_EQUIV_FAST_PATH}` : 'all fast-path levers on'}, gpu-plain = all off. ` +
    `Tolerance: per-step loss rel ${args.tolerance.lossRel}, step-1 gradient rel ${args.tolerance.gradRel}, final-parameter rel ${args.tolerance.paramRel} (per tensor, max |Δ| / max |cpu|). ` +
    `${results.filter((r) => r.pass && r.comparisons.length).length}/${cases.length} PASS; ${elapsed().toFixed(0)} s.${skipped.length ? ` Presets left out (did not load): ${skipped.join('; ')}.` : ''}`;
  const write = () => {
    const table = `${header()}\n\n${markdownTable(results, args.modes)}\n`;
    mkdirSync(dirname(base) || '.', { recursive: true });
    writeFileSync(`${base}.md`, table);
    writeFileSync(`${base}.jsonl`, results.length ? `${jsonLines(results)}\n` : '');
    return table;
  };
  const notReached = (c: EquivCase, what: string): CaseResult => ({ case: c, settings: settingsOf(c), tolerance: args.tolerance, cpuSeconds: 0, cpuLoss: { first: NaN, last: NaN }, comparisons: [], pass: false, error: `not run: ${what} not done by --deadline-s ${args.deadlineSeconds}` });
  // no deadline: never (a setTimeout beyond 2^31 ms would fire at once)
  let abandonedGpuRun = false;
  const deadline = (ms: number) => (Number.isFinite(ms) ? new Promise<{ error: string }>((resolve) => setTimeout(() => resolve({ error: `not done by --deadline-s ${args.deadlineSeconds}` }), Math.max(0, ms)).unref()) : new Promise<never>(() => undefined));
  try {
    // the webgpu runs of every case first, one after the other (the references train meanwhile), then the
    // comparisons as the references come in
    const gpu: ({ traces: Trace[]; error?: string } | undefined)[] = [];
    for (const c of cases) {
      if (elapsed() > args.deadlineSeconds) {
        gpu.push(undefined);
        continue;
      }
      // a case started before the deadline may run long past it (2026-11-30: a gated convolution's gpu-plain run
      // beside 14 wasm references took 80 s, and the caller's hard timeout killed the process before any table was
      // written): past the deadline its runs are left behind and the cases already run are compared
      const runs = await Promise.race([gpuTraces(c, settingsOf(c), args.modes), deadline((args.deadlineSeconds - elapsed()) * 1000).then(() => undefined)]);
      if (!runs) {
        abandonedGpuRun = true;
        gpu.push(undefined);
        console.log(`  gpu ${c.name}: not done by --deadline-s ${args.deadlineSeconds}; at ${elapsed().toFixed(0)} s`);
        continue;
      }
      gpu.push(runs);
      console.log(`  gpu ${c.name}: ${runs.traces.map((t) => `${t.mode} ${t.seconds.toFixed(1)} s`).join(', ')}${runs.error ? ` ERROR ${runs.error}` : ''}; at ${elapsed().toFixed(0)} s`);
    }
    for (let i = 0; i < cases.length; i++) {
      const c = cases[i]!;
      const runs = gpu[i];
      if (!runs) {
        results.push(notReached(c, 'the webgpu runs'));
        continue;
      }
      const reference = await Promise.race([pending[i]!.catch((e: unknown) => ({ error: firstLine(e) })), deadline((args.deadlineSeconds - elapsed()) * 1000)]);
      const r = caseResult(c, settingsOf(c), args.tolerance, reference, runs);
      // a failure with the forward and step-1 gradients in tolerance: is it the model's own drift? (--drift-on-fail)
      const gradientsAgree = r.comparisons.filter((x) => !x.pass).every((x) => agreesAtStepOne(x, args.tolerance));
      if (!nudged[i] && !r.pass && !r.error && r.comparisons.length && gradientsAgree && args.driftOnFail > 0) {
        args.sensitivity ??= args.driftOnFail; // the relative nudge the table's column names
        nudged[i] = references.start(c, settingsOf(c), `${i}-nudged`, nudge(args.driftOnFail));
        nudged[i]!.catch(() => undefined);
        console.log(`  ${c.name}: failed with its forward and step-1 gradients in tolerance: training its cpu reference nudged by ${args.driftOnFail} (its own drift)`);
      }
      if (nudged[i] && !('error' in reference)) {
        const other = await Promise.race([nudged[i]!.catch(() => undefined), deadline((args.deadlineSeconds - elapsed()) * 1000).then(() => undefined)]);
        if (other) {
          // losses and final parameters only (the nudged run skips the step-1 diagnostics)
          const drift = compareTraces({ ...reference, firstGrads: [], layerOutputs: [] }, other, args.tolerance);
          r.cpuSelfDrift = { relative: args.sensitivity!, lossRel: drift.lossRel, paramRel: drift.paramRel, paramWorst: drift.paramWorst };
        }
      }
      results.push(r);
      write();
      const summary = r.error ? `ERROR ${r.error}` : r.comparisons.map((x) => `${x.mode} loss ${x.lossRel.toExponential(1)} grad ${x.gradWorst.rel.toExponential(1)} param ${x.paramRel.toExponential(1)}`).join('; ');
      console.log(`  ${r.comparisons.length === 0 && !r.error ? 'CPU ONLY' : r.pass ? 'PASS' : 'FAIL'} ${c.name}: ${summary}; cpu ${r.cpuSeconds.toFixed(1)} s; at ${elapsed().toFixed(0)} s`);
    }
  } finally {
    references.stop();
  }
  console.log(`\n${write()}`);
  // a run left behind past the deadline still holds the device: the process exit releases it
  if (!abandonedGpuRun) releaseGpu();
  return results.every((r) => r.pass) ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (e) => {
    // a user's mistake (a flag, a lever name) is its one line; anything else its stack
    console.error(`gpu-equiv: ${e instanceof UserInputError ? e.message : ((e as Error)?.stack ?? e)}`);
    process.exit(2);
  },
);
