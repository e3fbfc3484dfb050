// The GPU ≡ CPU check's reference on tfjs-wasm against the same reference on tfjs-cpu (bench/gpuEquiv.ts
// setReferenceBackend): per case, per-step losses, step-1 gradients and final parameters compared with the check's own
// tolerances, and each side's time. Run after a tfjs upgrade, or before trusting a new mixer's wasm reference.
//
//   npx tsx bench/wasm_vs_cpu.ts "NAME,NAME" [steps 10] [batch 4]      (case names as bench/gpu_equiv.ts lists them)
import { initBackend } from '../engine/backend.js';
import { pluginApi } from '../engine/plugins.js';
import { registerMixer } from '../engine/registry.js';
import retention from '../examples/retention.js';
import { compareTraces, DEVICE_SETTINGS, loadPresets, presetCases, setReferenceBackend, traceRun } from './gpuEquiv.js';
registerMixer(retention(pluginApi));
await initBackend('cpu');
await initBackend('wasm');
const names = process.argv[2]!.split(',');
const steps = Number(process.argv[3] ?? 10);
const batch = Number(process.argv[4] ?? 4);
const cases = presetCases(loadPresets());
for (const name of names) {
  const c = cases.find((x) => x.name === name)!;
  const s = { ...DEVICE_SETTINGS, steps, batchSize: batch };
  setReferenceBackend('cpu');
  const cpu = await traceRun(c, s, 'cpu');
  setReferenceBackend('wasm');
  const wasm = await traceRun(c, s, 'cpu');
  const r = compareTraces(cpu, wasm);
  console.log(`${name}: d ${s.dModel} L ${s.seqLens.join('/')} batch ${batch} ${steps} steps — wasm vs cpu: loss ${r.lossRel.toExponential(1)}, step-1 grad ${r.gradWorst.rel.toExponential(1)} (${r.gradWorst.name}), final param ${r.paramRel.toExponential(1)}; ${r.pass ? 'within' : 'OUTSIDE'} the GPU ≡ CPU tolerances; cpu ${cpu.seconds.toFixed(1)} s, wasm ${wasm.seconds.toFixed(1)} s`);
}
