// How much a mixer's training amplifies a tiny difference, on the cpu alone: the GPU ≡ CPU check's case (same
// settings, bench/gpuEquiv.ts) trained twice on tfjs-cpu, the second time with one weight (the embedding) scaled by
// 1 + REL before the first step; prints the per-step loss and final-parameter differences the way the GPU check
// measures them. A model whose cpu-vs-nudged-cpu parameters drift by more than its GPU-vs-cpu step-1 gradients
// would explain is chaotic at that learning rate, not faulty (bench/RESULTS.md, "GPU ≡ CPU for the wider field").
//   npx tsx bench/sensitivity.ts CASE [REL]     e.g. gated-deltanet 1e-6
import { initBackend } from '../engine/backend.js';
import { compareTraces, deviceSettingsFor, loadPresets, presetCases, traceRun } from './gpuEquiv.js';
const name = process.argv[2]!;
const rel = Number(process.argv[3] ?? 1e-6);
await initBackend('cpu');
const c = presetCases(loadPresets()).find((x) => x.name === name)!;
const s = deviceSettingsFor(c);
const t0 = performance.now();
const a = await traceRun(c, s, 'cpu', { diagnose: false });
const vi = a.names.findIndex((n) => n.includes('embedding'));
const b = await traceRun(c, s, 'cpu', { diagnose: false, perturb: { variable: vi, relative: rel } });
(b as any).mode = 'gpu-fast';
const cmp = compareTraces(a, b);
console.log(name, 'batch', s.batchSize, 'perturb', a.names[vi], rel, JSON.stringify({ lossRel: (cmp as any).lossRel, paramRel: (cmp as any).paramRel, paramWorst: (cmp as any).paramWorst }), ((performance.now() - t0) / 1000).toFixed(0), 's');
