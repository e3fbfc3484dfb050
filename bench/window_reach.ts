// How far back a sliding-window model can reach on a preset's own MQAR test split, beside what it scored: a query is
// answerable only if its key's value lies within the model's reach, so the share of such queries bounds accuracy.
// A [BaseConv k3, SWA w] model (based-fig2's sliding-window) attends from t to itself and the w tokens before
// (zoology's mask). The value of key i sits at 2i + 1, so the query at its label's position t is d = t − (2i + 1)
// after it: the window reads the pair at the value's own position (d ≤ w), or — the short convolution mixing each
// position with the two before — at the token after it (d ≤ w + 1). Hence both bounds.
//
//   npx tsx bench/window_reach.ts results/campaign/based-fig2
//
// Prints one line per sliding-window model that has a point (tables/points.csv), mean over the test slices as the
// records average them. Measured for based-fig2 (2026-11-29): w 8 0.0796 vs reach ≤ 9 0.0799; w 16 0.1445 vs ≤ 15 0.1443.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'csv-parse/sync';
import { buildSplits } from '../tasks/dataset.js';
import { readRecords } from '../runners/results.js';
import { mqarShareWithinReach } from '../tasks/reach.js';

const folder = process.argv[2];
if (!folder || !existsSync(join(folder, 'runs.jsonl')) || !existsSync(join(folder, 'tables', 'points.csv'))) {
  console.error(`window_reach: ${folder ? `${folder} lacks runs.jsonl or tables/points.csv` : 'usage: npx tsx bench/window_reach.ts RESULTS_FOLDER'}`);
  process.exit(2);
}
const swa = readRecords(folder).find((r) => r.config.model.layers.some((l) => l.mixer === 'sliding-window'));
if (!swa) {
  console.error(`window_reach: no sliding-window record in ${folder}/runs.jsonl`);
  process.exit(2);
}
const data = swa.config.data;
if (data.task !== 'mqar') {
  console.error(`window_reach: the records' task is ${data.task}, not mqar`);
  process.exit(2);
}
// only the test split is read: one tiny train segment keeps buildSplits from generating the training data
const splits = buildSplits({ task: data.task, common: data.common, train: [{ ...data.train[0], count: 1 }], validation: data.validation, test: data.test }, data.seed, { checkOverlap: false });
const mean = (reach: number) => splits.test.reduce((s, seg) => s + mqarShareWithinReach(seg, reach), 0) / splits.test.length;
const points = parse(readFileSync(join(folder, 'tables', 'points.csv')), { columns: true }) as Record<string, string>[];
console.log('model                     test acc   best lr   value ≤ w back   value ≤ w+1 back');
for (const p of points.filter((r) => r.mixer === 'sliding-window')) {
  const w = Number(/w(\d+)/.exec(p.variant!)?.[1]);
  console.log(`${`sliding-window ${p.variant}`.padEnd(24)}${Number(p.test_accuracy).toFixed(4).padStart(8)}   ${Number(p.best_lr).toExponential(1).padStart(7)}   ${mean(w).toFixed(4).padStart(14)}   ${mean(w + 1).toFixed(4).padStart(16)}`);
}
