// Training-dynamics check of issue 17 (item 3): recallbench with zoology's block on the Figure-2 cells where the
// pre-norm block learned several times faster than zoology, one run per seed, per-epoch test accuracy written as
// it comes. The cells are the zoology-fig2 preset's own configs (attention + positions, no MLP, V 8192, 100k
// train / 3k test, batch as Fig. 2, AdamW wd 0.1, cosine over 64 epochs, early stop at 0.99):
//   L64  = L64 K4,  d 64,  lr 4.64e-4, batch 512
//   L256 = L256 K16, d 128, lr 2.15e-3, batch 256
// Seed s sets the model seed and the data seed (data.seed = s), as a zoology run's seed does both.
//
//   npx tsx bench/zoology_dynamics.ts --cell L64 --seed 1 [--block zoology|prenorm] [--epochs 64]
//       [--train-examples N --test-examples N (smoke tests)] [--backend webgpu] [--out DIR]
// Writes DIR/<cell>-<block>-seed<s>.jsonl (one line per epoch) and prints one summary line:
//   epochs to test accuracy > 0.4 (off the ~0.27 plateau) and to >= 0.99 (bench/zoology_dynamics.sh tabulates).
import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { initBackend, type BackendChoice } from '../engine/backend.js';
import type { ModelBlock } from '../engine/model.js';
import { expandPreset, loadPreset } from '../runners/sweep.js';
import { resolveRunConfig, runOne } from '../runners/run.js';

const CELLS: Record<string, { data: string; dModel: number; lr: number }> = {
  L64: { data: 'L64-K4', dModel: 64, lr: 4.6415888336127773e-4 },
  L256: { data: 'L256-K16', dModel: 128, lr: 2.154434690031882e-3 },
};

function flag(args: string[], name: string): string | undefined {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const cellName = flag(args, '--cell') ?? 'L64';
  const cell = CELLS[cellName];
  if (!cell) throw new Error(`--cell must be one of ${Object.keys(CELLS).join(', ')}`);
  const seed = Number(flag(args, '--seed') ?? 1);
  const block = (flag(args, '--block') ?? 'zoology') as ModelBlock;
  const out = flag(args, '--out') ?? '.scratch-a/dynamics';
  const backend = (flag(args, '--backend') ?? 'webgpu') as BackendChoice;
  // by path from the repository root: a bundled entry (gpu-host pack) has no presets folder beside it
  const preset = loadPreset(join(process.cwd(), 'runners', 'presets', 'zoology-fig2.json'));
  const base = expandPreset(preset).find((c) => c.label === 'attention' && c.model.dModel === cell.dModel && Math.abs(c.train.lr - cell.lr) / cell.lr < 1e-9 && c.data.train[0]!.seqLen === Number(cellName.slice(1)));
  if (!base) throw new Error(`zoology-fig2 has no attention config for ${cellName}`);
  const epochs = Number(flag(args, '--epochs') ?? base.train.epochs);
  const trainExamples = flag(args, '--train-examples');
  const testExamples = flag(args, '--test-examples'); // smoke tests only: the check uses the preset's counts
  const resize = (slices: typeof base.data.test, n: string | undefined) => (n ? slices.map((s) => ({ ...s, count: Number(n) })) : slices);
  const data = { ...base.data, train: resize(base.data.train, trainExamples), test: resize(base.data.test, testExamples), validation: testExamples && base.data.validation ? resize(base.data.validation, testExamples) : base.data.validation };
  const config = resolveRunConfig({ ...base, seed, data: { ...data, seed }, model: { ...base.model, block }, train: { ...base.train, epochs } }, 'zoology_dynamics');
  mkdirSync(out, { recursive: true });
  const file = join(out, `${cellName}-${block}-seed${seed}.jsonl`);
  writeFileSync(file, '');
  const info = await initBackend(backend);
  let plateauExit: number | undefined;
  let solved: number | undefined;
  const { record } = await runOne(config, {
    backend: info,
    hooks: {
      onEpoch: (e) => {
        appendFileSync(file, JSON.stringify({ epoch: e.epoch, test: e.test.accuracy, validation: e.validation.accuracy, trainLoss: e.trainLoss, lr: e.lr, seconds: e.seconds }) + '\n');
        if (plateauExit === undefined && e.test.accuracy > 0.4) plateauExit = e.epoch;
        if (solved === undefined && e.test.accuracy >= 0.99) solved = e.epoch;
        console.log(`${cellName} ${block} seed ${seed} epoch ${e.epoch}: test ${e.test.accuracy.toFixed(3)} loss ${e.trainLoss.toFixed(3)}`);
      },
    },
  });
  console.log(`SUMMARY ${JSON.stringify({ cell: cellName, block, seed, plateauExit: plateauExit ?? null, solved: solved ?? null, epochs: record.epochs, finalTest: record.finalTestAccuracy, status: record.status, device: record.device })}`);
}

await main();
