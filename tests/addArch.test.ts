// Placing your own mixer on a paper's figure: `sweep <preset> --add-arch <yours> --plugin <file>` trains it on the
// preset's data at its learning rates (and nothing of the preset's own), and `report <yours> --beside <paper folder>`
// draws both folders' runs on one figure without writing into the paper's folder. A tiny preset on the cpu backend
// stands in for a paper preset and its committed folder.
import { afterAll, describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadRecords } from '../runners/plot.js';
import { writeReport } from '../runners/report.js';
import { runCli } from './cliRunner.js';

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'recallbench-addarch-'));
  dirs.push(d);
  return d;
}

const PRESET = {
  name: 'tiny-paper',
  data: [
    {
      label: 'L16-K2',
      task: 'mqar',
      common: { vocabSize: 64, powerA: 0.01, randomNonQueries: false },
      train: [{ seqLen: 16, numKvPairs: 2, count: 64 }],
      test: [{ seqLen: 16, numKvPairs: 2, count: 32 }],
    },
  ],
  architectures: [{ label: 'attention', layers: [{ mixer: 'attention', params: { numHeads: 1, dropout: 0 } }] }],
  dModels: [8],
  learningRates: [0.001, 0.01],
  model: { nLayers: 2, mlp: false },
  train: { epochs: 1, batchSize: 16, evalBatchSize: 32, weightDecay: 0.1 },
};

describe('sweep --add-arch and report --beside', () => {
  it("trains only the added mixer, on the preset's data and learning rates; the report draws it beside the preset's folder and leaves that folder as it was", async () => {
    const root = tempDir();
    const presetFile = join(root, 'tiny-paper.json');
    writeFileSync(presetFile, JSON.stringify(PRESET));
    const paper = join(root, 'paper');
    const mine = join(root, 'mine');
    const quiet = ['--backend', 'cpu', '--quiet', '--no-report'];
    const base = runCli(['sweep', presetFile, ...quiet, '--out', paper], { timeoutMs: 240_000 });
    expect(base.stderr).toBe('');
    expect(base.status).toBe(0);
    const added = runCli(['sweep', presetFile, ...quiet, '--plugin', 'examples/retention.ts', '--add-arch', 'retention', '--param', 'numHeads=2', '--add-d-model', '16', '--out', mine], { timeoutMs: 240_000 });
    expect(added.stderr).toBe('');
    expect(added.status).toBe(0);

    const paperRuns = loadRecords(paper);
    const myRuns = loadRecords(mine);
    expect(paperRuns.map((r) => r.label)).toEqual(['attention', 'attention']);
    expect(myRuns.map((r) => r.label)).toEqual(['retention', 'retention']);
    // the preset's recipe: its data, learning rates, training and model settings; the added width and parameters
    for (const r of myRuns) {
      expect(r.config.data).toEqual(paperRuns[0]!.config.data);
      expect(r.config.train.epochs).toBe(1);
      expect(r.config.model.dModel).toBe(16);
      expect(r.config.model.layers).toEqual([expect.objectContaining({ mixer: 'retention', params: expect.objectContaining({ numHeads: 2 }) })]);
    }
    expect(myRuns.map((r) => r.config.train.lr).sort()).toEqual([0.001, 0.01]);

    const report = runCli(['report', mine, '--beside', paper, '--png', 'none'], { timeoutMs: 120_000 });
    expect(report.status).toBe(0);
    expect(report.stdout).toMatch(/4 runs/);
    const rows = JSON.parse(readFileSync(join(mine, 'figures', 'accuracy-vs-state.vl.json'), 'utf8')).data.values.filter((x: { kind?: string }) => x.kind === 'point');
    expect(rows.map((x: { mixer: string }) => x.mixer).sort()).toEqual(['attention', 'retention']);
    for (const n of ['curves-attention', 'curves-retention']) expect(existsSync(join(mine, 'figures', `${n}.svg`)), n).toBe(true);
    // a run both folders hold is drawn once (from the report's own folder)
    const twice = await writeReport(mine, { png: false, detailFiles: false, beside: [paper, mine] });
    expect(twice.sources.map((s) => s.records.length)).toEqual([2, 2, 0]);
    const html = readFileSync(join(mine, 'index.html'), 'utf8');
    expect(html).toContain(`the 2 run(s) of <code>${paper}</code>`);
    expect(html).toMatch(/recallbench sweep \S*tiny-paper\.json --backend cpu/);
    expect(existsSync(join(paper, 'figures'))).toBe(false);
    expect(existsSync(join(paper, 'index.html'))).toBe(false);
  });

  it("refuses, in one line with exit 2: a label the preset already has, --add-arch without a preset or without a name, --add-d-model without --add-arch, --param with a preset's own architectures, a bare --beside", () => {
    for (const [args, message] of [
      [['sweep', 'based-fig2', '--add-arch', 'based', '--dry-run'], /^recallbench: --add-arch: based is already an architecture of based-fig2/],
      [['sweep', '--add-arch', 'gla', '--dry-run'], /^recallbench: --add-arch adds architectures to a preset: name one/],
      [['sweep', 'based-fig2', '--add-arch', '--dry-run'], /^recallbench: --add-arch: name the architecture/],
      [['sweep', 'based-fig2', '--add-d-model', '64', '--dry-run'], /^recallbench: --add-d-model sets the widths .* give --add-arch too/],
      [['sweep', 'based-fig2', '--param', 'featureDim=8', '--dry-run'], /^recallbench: --param sets the parameters of --arch's or --add-arch's mixer/],
      [['report', 'results/campaign/based-fig2', '--beside'], /^recallbench: --beside: name the results folder/],
    ] as const) {
      const r = runCli([...args], { timeoutMs: 60_000 });
      expect(r.status, args.join(' ')).toBe(2);
      expect(r.stderr.trim().split('\n'), args.join(' ')).toHaveLength(1);
      expect(r.stderr, args.join(' ')).toMatch(message);
    }
  });
});
