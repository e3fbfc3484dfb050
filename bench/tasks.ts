// Generation speed of the recall tasks: `npx tsx bench/tasks.ts [--reps 5] [--n 100000] [--only mqar]`.
// Times task.generate(count = n) — including allocating and writing the output Int32Arrays — and prints the
// cold (first) run, the median and min of the warm runs, and examples/s. "alloc+touch" is the floor: allocating
// the same two arrays and writing every element once (page faults dominate on VMs).
import { getTask, parseParams } from '../tasks/index.js';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}
const reps = arg('reps', 5);
const n = arg('n', 100_000);
const onlyAt = process.argv.indexOf('--only');
const only = onlyAt >= 0 ? process.argv[onlyAt + 1] ?? '' : '';

const cases: [string, string, Record<string, unknown>][] = [
  ['mqar L=256 K=16', 'mqar', { seqLen: 256, numKvPairs: 16 }],
  ['mqar L=256 K=16 randomNonQueries', 'mqar', { seqLen: 256, numKvPairs: 16, randomNonQueries: true }],
  ['mqar L=256 K=16 passes=2', 'mqar', { seqLen: 256, numKvPairs: 16, passes: 2 }],
  ['mqar L=1024 K=64', 'mqar', { seqLen: 1024, numKvPairs: 64 }],
  ['sd |A|=4 |B|=16', 'sd', { sizeA: 4, sizeB: 16 }],
  ['sd |A|=16 |B|=256', 'sd', { sizeA: 16, sizeB: 256 }],
  ['sd |A|=16 |B|=256 passes=2', 'sd', { sizeA: 16, sizeB: 256, passes: 2 }],
  ['noisy-recall L=256 K=16', 'noisy-recall', { seqLen: 256, numKvPairs: 16 }],
  ['fuzzy-recall L=256 K=16', 'fuzzy-recall', { seqLen: 256, numKvPairs: 16 }],
  ['selective-copying L=256 N=16', 'selective-copying', { seqLen: 256, numTokensToCopy: 16 }],
  ['forgetting-mqar L=256 K=16 R=8', 'forgetting-mqar', { seqLen: 256, numKvPairs: 16, numReassigned: 8 }],
];

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const fmt = (x: number, w: number, d = 1): string => x.toFixed(d).padStart(w);
const rate = (ms: number): string => Math.round((n / ms) * 1000).toLocaleString('en-US').padStart(11);

console.log(`recallbench task generation: n = ${n.toLocaleString('en-US')} examples per call, ${reps} warm reps; node ${process.version}, ${process.platform}/${process.arch}`);
console.log(`${'case'.padEnd(36)} ${'seqLen'.padStart(6)} ${'cold ms'.padStart(9)} ${'median ms'.padStart(10)} ${'min ms'.padStart(9)} ${'examples/s (median)'.padStart(20)}`);

for (const [label, taskName, raw] of cases) {
  if (only && !label.includes(only)) continue;
  const task = getTask(taskName);
  const p = parseParams(task, { ...raw, count: n });
  const times: number[] = [];
  let seqLen = 0;
  let cold = 0;
  for (let r = 0; r <= reps; r++) {
    const t0 = performance.now();
    const seg = task.generate(p, 1 + r);
    const ms = performance.now() - t0;
    seqLen = seg.seqLen;
    if (r === 0) cold = ms;
    else times.push(ms);
  }
  const med = median(times);
  console.log(
    `${label.padEnd(36)} ${String(seqLen).padStart(6)} ${fmt(cold, 9)} ${fmt(med, 10)} ${fmt(Math.min(...times), 9)} ${rate(med).padStart(20)}`,
  );
  if (label === 'mqar L=256 K=16') {
    // the floor for the same output size
    const floor: number[] = [];
    for (let r = 0; r < reps; r++) {
      const t0 = performance.now();
      const a = new Int32Array(n * seqLen);
      const b = new Int32Array(n * seqLen);
      b.fill(-100);
      a.fill(1);
      floor.push(performance.now() - t0);
    }
    console.log(`${'  (alloc+touch floor, same size)'.padEnd(36)} ${String(seqLen).padStart(6)} ${''.padStart(9)} ${fmt(median(floor), 10)} ${fmt(Math.min(...floor), 9)}`);
  }
}
