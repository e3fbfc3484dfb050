// `recallbench plot`: figures from runs.jsonl alone. SYNTHETIC records (tests/synthetic-records.ts) in temporary
// folders, plus one end-to-end run: a tiny real sweep on the cpu backend, then the real CLI's plot command.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Resvg } from '@resvg/resvg-js';
import { plotResults, loadRecords, loadSources, EXCLUDED_COLUMNS, specJson } from '../runners/plot.js';
import { writeReport } from '../runners/report.js';
import { parse } from 'csv-parse/sync';
import type { EpochRecord } from '../engine/train.js';
import { figurePoints, paretoFront } from '../runners/analysis.js';
import { FONT_FAMILY, FONT_FILES, renderSvg, svgToPng, powerOfTwoTicks } from '../runners/charts/common.js';
import { syntheticRecord, syntheticSuite, writeSyntheticResults } from './synthetic-records.js';
import { bundleCli, cli, runCli } from './cliRunner.js';

const dirs: string[] = [];
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'recallbench-plot-'));
  dirs.push(d);
  return d;
}
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const PNG_MAGIC = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
type Row = Record<string, unknown>;
const specRows = (dir: string, name: string): Row[] => (JSON.parse(readFileSync(join(dir, 'figures', `${name}.vl.json`), 'utf8')) as { data: { values: Row[] } }).data.values;

describe('plot on synthetic records', () => {
  it('a spec file holds its data rows one per line and parses to the same spec', () => {
    const rows = [{ run: 'a', epoch: 1, acc: 0.5 }, { run: 'b"q', epoch: 2, acc: 0.75 }];
    const spec = { $schema: 'vega-lite', data: { values: rows }, mark: 'line', encoding: { x: { field: 'epoch' } } };
    const text = specJson(spec);
    expect(JSON.parse(text)).toEqual(spec);
    const lines = text.split('\n');
    expect(lines.filter((l) => l.trim().startsWith('{"run"'))).toEqual([`   ${JSON.stringify(rows[0])},`, `   ${JSON.stringify(rows[1])}`]);
    expect(text.length).toBeLessThan(`${JSON.stringify(spec, null, 1)}\n`.length);
    // no inline rows: as before
    expect(specJson({ mark: 'rule', data: { url: 'x.csv' } })).toBe(`${JSON.stringify({ mark: 'rule', data: { url: 'x.csv' } }, null, 1)}\n`);
  });

  it('draws every figure the records support, as vl.json, SVG, PNG and CSV', async () => {
    const dir = tempDir();
    const records = syntheticSuite();
    writeSyntheticResults(dir, records);
    const r = await plotResults(dir);
    const names = r.figures.map((f) => f.name);
    expect(names.slice(0, 4)).toEqual(['accuracy-vs-state', 'accuracy-vs-dmodel', 'sd-order', 'jrt-prompt']);
    const labels = [...new Set(records.map((x) => x.label))].sort();
    expect(names.slice(4)).toEqual(labels.flatMap((l) => [`curves-${l}`, `curves-${l}-loss`]));
    for (const n of names) {
      for (const ext of ['.vl.json', '.svg', '.png', '.csv']) expect(existsSync(join(dir, 'figures', `${n}${ext}`)), `${n}${ext}`).toBe(true);
      const svg = readFileSync(join(dir, 'figures', `${n}.svg`), 'utf8');
      expect(svg.startsWith('<svg')).toBe(true);
      expect(svg).toContain(FONT_FAMILY);
      // the accuracy figures name their mixers in a legend (drawn text, not only aria labels)
      if (n.startsWith('accuracy-vs-')) for (const label of new Set(specRows(dir, n).flatMap((row) => (typeof row.mixer === 'string' ? [row.mixer] : [])))) expect(svg, `${n}: legend entry ${label}`).toContain(`>${label}<`);
      const png = readFileSync(join(dir, 'figures', `${n}.png`));
      expect(png.subarray(0, 8).equals(PNG_MAGIC)).toBe(true);
      expect(png.length).toBeGreaterThan(5000);
    }
    const points = readFileSync(join(dir, 'tables', 'points.csv'), 'utf8').trim().split('\n');
    expect(points.length).toBe(1 + figurePoints(records).length);
    expect(points[0]).toContain('best_lr');
  });

  it("png 'headline': PNGs of the headline figures only, earlier curve PNGs removed, and the report links only those", async () => {
    const dir = tempDir();
    writeSyntheticResults(dir, syntheticSuite());
    // an earlier plot's curve PNGs (stand-ins: rendering them all is slow, and only their names matter here): the
    // headline plot below must remove them
    await plotResults(dir, { png: false });
    const earlier = readdirSync(join(dir, 'figures')).filter((f) => f.startsWith('curves-') && f.endsWith('.svg')).map((f) => f.replace(/\.svg$/, '.png'));
    expect(earlier.length).toBeGreaterThan(0);
    for (const f of earlier) writeFileSync(join(dir, 'figures', f), 'an earlier PNG');
    const r = await writeReport(dir, { png: 'headline' });
    const detail = r.figures.filter((f) => f.detail).map((f) => f.name);
    const headline = r.figures.filter((f) => !f.detail).map((f) => f.name);
    expect(detail.length).toBeGreaterThan(0);
    expect(detail.every((n) => n.startsWith('curves-'))).toBe(true);
    expect(headline).toContain('accuracy-vs-state');
    for (const n of headline) expect(existsSync(join(dir, 'figures', `${n}.png`)), n).toBe(true);
    for (const n of detail) {
      expect(existsSync(join(dir, 'figures', `${n}.png`)), n).toBe(false);
      expect(existsSync(join(dir, 'figures', `${n}.svg`)), n).toBe(true);
    }
    const html = readFileSync(r.path, 'utf8');
    for (const n of headline) expect(html).toContain(`href="figures/${n}.png"`);
    for (const n of detail) expect(html).not.toContain(`href="figures/${n}.png"`);
  });

  it('detailFiles false: no files of the per-mixer curves (earlier ones removed), the headline files kept, and the report still draws the curves from its inline specs', async () => {
    const dir = tempDir();
    writeSyntheticResults(dir, syntheticSuite());
    await plotResults(dir, { png: false });
    const curveFiles = () => readdirSync(join(dir, 'figures')).filter((f) => f.startsWith('curves-'));
    expect(curveFiles().length).toBeGreaterThan(0);
    const r = await writeReport(dir, { png: false, detailFiles: false });
    expect(curveFiles()).toEqual([]);
    const detail = r.figures.filter((f) => f.detail);
    const headline = r.figures.filter((f) => !f.detail).map((f) => f.name);
    expect(detail.length).toBeGreaterThan(0);
    for (const n of headline) for (const ext of ['.svg', '.vl.json', '.csv']) expect(existsSync(join(dir, 'figures', `${n}${ext}`)), `${n}${ext}`).toBe(true);
    const html = readFileSync(r.path, 'utf8');
    for (const f of detail) {
      expect(html).toContain(`id="${f.name}"`);
      expect(html).not.toContain(`href="figures/${f.name}.svg"`);
    }
    // every figure's spec travels inline, the curves' too (the page draws FIGURES[i] into data-figure i)
    const inline = JSON.parse(/const FIGURES = (.*);\n/.exec(html)![1]!) as unknown[];
    expect(inline).toHaveLength(r.figures.length);
    for (const f of detail) expect(html).toContain(`data-figure="${r.figures.indexOf(f)}"`);
    expect(html.match(/drawn on this page only/g)?.length).toBe(detail.length);
    for (const n of headline) expect(html).toContain(`href="figures/${n}.svg"`);
  });

  it("--beside: a run both folders hold is drawn once, by readRecords' rule across them (the first success, else the last failure), from the folder that holds that record", () => {
    const own = tempDir();
    const other = tempDir();
    const base = { label: 'attention', dModel: 64, slices: [[64, 4]] as [number, number][], state: 2 ** 16, validation: 0.5, test: 0.5 };
    const ok = syntheticRecord({ ...base, lr: 1e-3 });
    const failedHere = { ...ok, status: 'failed' as const };
    const onlyThere = syntheticRecord({ ...base, lr: 1e-2 });
    writeSyntheticResults(own, [failedHere]);
    writeSyntheticResults(other, [ok, onlyThere]);
    const [mine, theirs] = loadSources(own, [other]);
    expect(mine!.records).toEqual([]);
    expect(theirs!.records.map((r) => [r.id, r.status])).toEqual([[ok.id, ok.status], [onlyThere.id, onlyThere.status]]);
    // a success here wins over the other folder's copy
    writeSyntheticResults(own, [ok]);
    const [mine2, theirs2] = loadSources(own, [other]);
    expect(mine2!.records.map((r) => r.id)).toEqual([ok.id]);
    expect(theirs2!.records.map((r) => r.id)).toEqual([onlyThere.id]);
  });

  it('accuracy vs state: the fronts, the floor and the state convention come from the records', async () => {
    const dir = tempDir();
    const records = syntheticSuite();
    writeSyntheticResults(dir, records);
    await plotResults(dir, { png: false });
    const rows = specRows(dir, 'accuracy-vs-state');
    const floors = rows.filter((x) => x.kind === 'floor');
    // the 1/K plateau of a panel = the mean of 1/K over its test slices (accuracy is their mean)
    const plateau = (panel: string) => rows.find((x) => x.kind === 'plateau' && x.panel === panel)?.accuracy;
    expect(plateau('L64-K4')).toBe(0.25);
    expect(plateau('L64-K4, L256-K64, L1024-K256')).toBeCloseTo((1 / 4 + 1 / 64 + 1 / 256) / 3, 4);
    // L64-K4: 4·log2(4096) = 48 bits = 6 bytes; the BASED-style mixture's hardest slice K 256: 384 bytes
    expect(floors.find((f) => f.panel === 'L64-K4')?.stateBytes).toBe(6);
    expect(floors.find((f) => f.panel === 'L256-K16')?.stateBytes).toBe(24);
    expect(floors.some((f) => f.stateBytes === 384)).toBe(true);
    expect(floors.some((f) => String(f.panel).startsWith('sd'))).toBe(false);
    // the drawn front of every (panel, mixer) is the Pareto front of its points
    const pts = rows.filter((x) => x.kind === 'point');
    for (const key of new Set(pts.map((p) => `${p.panel}|${p.mixer}`))) {
      const mine = pts.filter((p) => `${p.panel}|${p.mixer}` === key);
      const front = rows.filter((x) => x.kind === 'front' && `${x.panel}|${x.mixer}` === key).sort((a, b) => (a.order as number) - (b.order as number));
      const expected = paretoFront(mine, (p) => p.stateBytes as number, (p) => p.accuracy as number);
      expect(front.map((f) => [f.stateBytes, f.accuracy])).toEqual(expected.map((p) => [p.stateBytes, p.accuracy]));
    }
    // passes > 1 stay out of this figure (they have their own)
    expect(pts.every((p) => !String(p.panel).includes('P2'))).toBe(true);

    // --state paper: x = the paper convention
    const recs = records.map((x) => ({ ...x, stateBytes: { measured: x.stateBytes.measured, paper: x.stateBytes.measured * 3 } }));
    writeSyntheticResults(dir, recs);
    await plotResults(dir, { png: false, state: 'paper' });
    const paperRows = specRows(dir, 'accuracy-vs-state').filter((x) => x.kind === 'point');
    expect(paperRows.every((p) => p.stateBytes === (p.stateBytesMeasured as number) * 3)).toBe(true);
    expect(JSON.stringify(JSON.parse(readFileSync(join(dir, 'figures', 'accuracy-vs-state.vl.json'), 'utf8')))).toContain('paper')
  });

  it('accuracy vs state: points of several mixers at one state size are drawn apart (statePlot), the true size kept', async () => {
    const dir = tempDir();
    const slices: [number, number][] = [[64, 4]];
    // attention d 128 and a window spanning the sequence: the same 1 MB of state (BASED Fig 2's case); Based alone
    const records = [
      syntheticRecord({ label: 'attention', dModel: 128, lr: 1e-3, slices, state: 1049600, validation: 0.99, test: 0.99 }),
      syntheticRecord({ label: 'sliding-window', dModel: 128, lr: 1e-3, slices, state: 1049600, validation: 0.98, test: 0.98 }),
      syntheticRecord({ label: 'based', dModel: 64, lr: 1e-3, slices, state: 9204, validation: 0.5, test: 0.5 }),
    ];
    writeSyntheticResults(dir, records);
    await plotResults(dir, { png: false });
    const rows = specRows(dir, 'accuracy-vs-state');
    const point = (m: string) => rows.find((x) => x.kind === 'point' && x.mixer === m)!;
    const [att, win, based] = [point('attention'), point('sliding-window'), point('based')];
    expect([att.stateBytes, win.stateBytes]).toEqual([1049600, 1049600]);
    // 0.3 octave apart, on either side of the true size; the lone point exactly at its size
    expect(Math.log2((win.statePlot as number) / (att.statePlot as number))).toBeCloseTo(0.3, 3);
    expect(Math.log2((att.statePlot as number) * (win.statePlot as number)) / 2).toBeCloseTo(Math.log2(1049600), 3);
    expect(based.statePlot).toBe(9204);
    // each front's vertex moves with its point; the figure's x is statePlot, the tooltip the true size
    const front = (m: string) => rows.find((x) => x.kind === 'front' && x.mixer === m)!;
    expect([front('attention').statePlot, front('sliding-window').statePlot]).toEqual([att.statePlot, win.statePlot]);
    const spec = readFileSync(join(dir, 'figures', 'accuracy-vs-state.vl.json'), 'utf8');
    expect(JSON.stringify(JSON.parse(spec))).toContain('"field":"statePlot"');
    // a marker per mixer beside its colour (no left-out runs here): the points' shape channel is the mixer's, one shape each
    type Layer = { mark?: { type?: string }; encoding?: { shape?: { field: string; scale: { domain: string[]; range: string[] } } } };
    const layers = (JSON.parse(spec) as { spec: { layer: Layer[] } }).spec.layer;
    const shape = layers.find((l) => l.mark?.type === 'point')!.encoding!.shape!;
    expect(shape.field).toBe('mixer');
    expect(shape.scale.domain.slice().sort()).toEqual(['attention', 'based', 'sliding-window']);
    expect(new Set(shape.scale.range).size).toBe(3);
  });

  it('only the figures the records support (one width, one task, no passes: no width, SD or JRT figure)', async () => {
    const dir = tempDir();
    const recs = [
      syntheticRecord({ label: 'attention', dModel: 64, lr: 1e-3, slices: [[64, 4]], state: 2 ** 16, validation: 0.9, test: 0.9 }),
      syntheticRecord({ label: 'hyena', dModel: 64, lr: 1e-3, slices: [[64, 4]], state: 2 ** 15, validation: 0.3, test: 0.3 }),
    ];
    writeSyntheticResults(dir, recs);
    writeFileSync(join(dir, 'figures-stale-marker'), '');
    const r = await plotResults(dir, { png: false });
    expect(r.figures.map((f) => f.name)).toEqual(['accuracy-vs-state', 'curves-attention', 'curves-attention-loss', 'curves-hyena', 'curves-hyena-loss']);
    // a later plot removes figures the records no longer support
    writeSyntheticResults(dir, syntheticSuite());
    await plotResults(dir, { png: false });
    expect(existsSync(join(dir, 'figures', 'sd-order.svg'))).toBe(true);
    writeSyntheticResults(dir, recs);
    await plotResults(dir, { png: false });
    expect(readdirSync(join(dir, 'figures')).filter((f) => f.endsWith('.svg'))).toEqual(['accuracy-vs-state.svg', 'curves-attention-loss.svg', 'curves-attention.svg', 'curves-hyena-loss.svg', 'curves-hyena.svg']);
  });

  it('learning rates are labelled short in the curves\' legends (3.2e-2), the data keep the exact value', async () => {
    const dir = tempDir();
    const lrs = [1e-3, 10 ** -1.5];
    writeSyntheticResults(dir, lrs.map((lr, i) => syntheticRecord({ label: 'attention', dModel: 64, lr, seed: 0, slices: [[64, 4]], state: 4096, validation: 0.5 + 0.1 * i, test: 0.5 + 0.1 * i })));
    await plotResults(dir, { png: false });
    const svg = readFileSync(join(dir, 'figures', 'curves-attention.svg'), 'utf8');
    expect(svg).toContain('>3.2e-2<');
    expect(svg).toContain('>1e-3<');
    expect(svg).not.toMatch(/>0\.0316227766/); // no drawn text (aria labels keep the exact value)
    expect(new Set(specRows(dir, 'curves-attention').map((r) => r.lr))).toEqual(new Set(lrs));
  });

  it('loss curves beside the accuracy curves: training and validation loss of the same runs, per epoch', async () => {
    const dir = tempDir();
    const records = syntheticSuite();
    writeSyntheticResults(dir, records);
    await plotResults(dir, { png: false });
    const label = records[0]!.label;
    const acc = specRows(dir, `curves-${label}`).filter((r) => r.kind === 'curve');
    const loss = specRows(dir, `curves-${label}-loss`);
    expect(loss.length).toBe(acc.length);
    for (const r of loss) {
      expect(typeof r.trainLoss).toBe('number');
      expect(typeof r.validationLoss).toBe('number');
    }
    const curve = JSON.parse(readFileSync(join(dir, 'curves', `${loss[0]!.run as string}.json`), 'utf8')) as EpochRecord[];
    expect(loss[0]!.validationLoss).toBeCloseTo(curve[0]!.validation.loss, 4);
    expect(loss[0]!.trainLoss).toBeCloseTo(curve[0]!.trainLoss, 4);
  });

  it('accuracy vs width: a point whose lr group is incomplete is drawn hollow and named in the tooltip and points.csv', async () => {
    const dir = tempDir();
    const mk = (dModel: number, lr: number, validation: number) => syntheticRecord({ label: 'hyena', dModel, lr, slices: [[64, 4]], state: 1000, validation, test: validation });
    writeSyntheticResults(dir, [mk(64, 1e-3, 0.5), mk(64, 1e-2, 0.6), mk(128, 1e-2, 0.9)]);
    await plotResults(dir, { png: false });
    const pts = specRows(dir, 'accuracy-vs-dmodel').filter((r) => r.kind === 'point');
    expect(pts.map((r) => [r.dModel, r.provisional, r.lrsMissing])).toEqual([
      [64, false, 'none'],
      [128, true, '0.0010'],
    ]);
    const spec = JSON.parse(readFileSync(join(dir, 'figures', 'accuracy-vs-dmodel.vl.json'), 'utf8')) as { title: { subtitle: string | string[] }; spec: { layer: { mark?: { filled?: boolean } }[] } };
    expect([spec.title.subtitle].flat().join(' ')).toContain('hollow: provisional');
    expect(spec.spec.layer.filter((l) => l.mark?.filled === false)).toHaveLength(1);
    const csv = readFileSync(join(dir, 'tables', 'points.csv'), 'utf8').trim().split('\n');
    const col = csv[0]!.split(',').indexOf('lrs_missing');
    expect(col).toBeGreaterThan(0);
    expect(csv.slice(1).map((line) => line.split(',')[col])).toEqual(['', '0.001']);
    // the state figure marks the same point
    const state = specRows(dir, 'accuracy-vs-state').filter((r) => r.kind === 'point');
    expect(state.map((r) => [r.dModel, r.provisional, r.lrsMissing])).toEqual([
      [64, false, 'none'],
      [128, true, '0.0010'],
    ]);
  });

  it('accuracy vs width: a slice tested in two task settings gets a panel for each', async () => {
    const dir = tempDir();
    writeSyntheticResults(dir, syntheticSuite());
    await plotResults(dir, { png: false });
    const rows = specRows(dir, 'accuracy-vs-dmodel');
    const panels = new Set(rows.map((r) => r.slice));
    expect(panels.has('L64-K4')).toBe(true);
    expect(panels.has('L64-K4 (in L64-K4, L256-K64, L1024-K256)')).toBe(true);
    expect(rows.filter((r) => r.slice === 'L64-K4' && r.kind !== 'plateau').map((r) => r.mixer).sort()).toEqual(['attention', 'attention', 'hyena', 'hyena']);
    // every panel's 1/K plateau: L64-K4 → 0.25, L1024-K256 → 1/256
    const plateaus = rows.filter((r) => r.kind === 'plateau');
    expect(new Set(plateaus.map((r) => r.slice))).toEqual(new Set(rows.filter((r) => r.kind !== 'plateau').map((r) => r.slice)));
    expect(plateaus.find((r) => r.slice === 'L64-K4')?.accuracy).toBe(0.25);
    // each mixer a little off its width (so equal lines stay visible), never by more than 2^±0.04
    const pts = rows.filter((r) => r.kind === 'point');
    for (const r of pts) expect(Math.abs(Math.log2((r.dPlot as number) / (r.dModel as number)))).toBeLessThanOrEqual(0.0401);
    expect(new Set(pts.filter((r) => r.dModel === 64 && r.slice === 'L64-K4').map((r) => r.dPlot)).size).toBe(2);
    expect(plateaus.find((r) => String(r.slice).startsWith('L1024-K256'))?.accuracy).toBeCloseTo(1 / 256, 4);
    expect(rows.filter((r) => r.mixer === 'based').every((r) => r.slice !== 'L64-K4')).toBe(true);
  });

  it('SD order figure: small-first, large-first and their difference per model', async () => {
    const dir = tempDir();
    writeSyntheticResults(dir, syntheticSuite());
    await plotResults(dir, { png: false });
    const diff = specRows(dir, 'sd-order').filter((x) => x.kind === 'difference');
    // synthetic: causal small-first is +0.2 (capped at 1) over large-first, non-causal has no gap
    expect(diff.filter((d) => d.mixer === 'non-causal').every((d) => d.difference === 0)).toBe(true);
    expect(diff.filter((d) => d.mixer === 'causal').every((d) => (d.difference as number) > 0.1)).toBe(true);
    expect(diff.every((d) => Math.abs((d.smallFirst as number) - (d.largeFirst as number) - (d.difference as number)) < 1e-3)).toBe(true);
    // guessing from the second set: small-first slices A4-B32, A16-B256 → (1/32 + 1/256)/2; large-first A32-B4, A256-B16 → (1/4 + 1/16)/2
    const chance = specRows(dir, 'sd-order').filter((x) => x.kind === 'chance');
    expect(chance.find((c) => c.panel === 'small set first')?.accuracy).toBeCloseTo((1 / 32 + 1 / 256) / 2, 4);
    expect(chance.find((c) => c.panel === 'large set first')?.accuracy).toBeCloseTo((1 / 4 + 1 / 16) / 2, 4);
    // the difference's axis: symmetric about 0, covering every difference, at least ±0.05
    const spec = JSON.parse(readFileSync(join(dir, 'figures', 'sd-order.vl.json'), 'utf8')) as { hconcat: Array<{ layer?: Array<{ encoding: { y: { scale?: { domain: number[] } } } }> }> };
    const domain = spec.hconcat[1]!.layer![1]!.encoding.y.scale!.domain;
    expect(domain[0]).toBe(-domain[1]!);
    expect(domain[1]).toBeGreaterThanOrEqual(Math.max(0.05, ...diff.map((d) => Math.abs(d.difference as number))));
    // the state figure names MQAR's floor only where it draws one: the suite's MQAR panels do; a folder of SD runs
    // alone (jrt-sd's) does not
    // (a long subtitle is stored as its wrapped lines)
    const subtitle = (d: string) => [(JSON.parse(readFileSync(join(d, 'figures', 'accuracy-vs-state.vl.json'), 'utf8')) as { title: { subtitle: string | string[] } }).title.subtitle].flat().join(' ');
    expect(subtitle(dir)).toContain('information-theoretic floor');
    const sdOnly = tempDir();
    writeSyntheticResults(sdOnly, syntheticSuite().filter((r) => r.config.data.task === 'sd'));
    await plotResults(sdOnly, { png: false });
    expect(specRows(sdOnly, 'accuracy-vs-state').some((r) => r.kind === 'point')).toBe(true);
    expect(subtitle(sdOnly)).not.toContain('floor');
  });

  it('JRT-prompt figure: one series per number of passes', async () => {
    const dir = tempDir();
    writeSyntheticResults(dir, syntheticSuite());
    await plotResults(dir, { png: false });
    const pts = specRows(dir, 'jrt-prompt').filter((x) => x.kind === 'point' && x.mixer === 'mamba');
    expect(new Set(pts.map((p) => p.series))).toEqual(new Set(['p = 1', 'p = 2', 'p = 3']));
    expect(new Set(pts.map((p) => p.panel)).size).toBe(1);
  });

  it('failed, invalid and early-diverged runs: not points, listed in tables/excluded.csv, drawn as × under the axis (never at accuracy 0)', async () => {
    const dir = tempDir();
    const base = { label: 'attention', dModel: 64, slices: [[64, 4]] as [number, number][], state: 2 ** 16 };
    const sane = syntheticRecord({ ...base, lr: 1e-3, validation: 0.6, test: 0.58 });
    // invalid: better on validation than the sane run, but its curve holds an impossible loss (what a faulted GPU reads back)
    const invalid = syntheticRecord({ ...base, lr: 1e-2, validation: 0.9, test: 0.91 });
    const failed = syntheticRecord({ ...base, lr: 3e-2, validation: 0, test: 0, status: 'failed', error: 'GPU fault (out-of-memory): buffer of 2147483648 bytes', epochsRun: 0 });
    // a model with no result at all: hyena d128 diverged before its first evaluation
    const diverged = syntheticRecord({ label: 'hyena', dModel: 128, lr: 1e-3, slices: [[64, 4]], state: 2 ** 14, validation: 0, test: 0, status: 'diverged', divergedAtStep: 5, epochsRun: 0 });
    const hyena = syntheticRecord({ label: 'hyena', dModel: 64, lr: 1e-3, slices: [[64, 4]], state: 2 ** 13, validation: 0.3, test: 0.3 });
    writeSyntheticResults(dir, [sane, invalid, failed, diverged, hyena]);
    const curvePath = join(dir, 'curves', `${invalid.id}.json`);
    const curve = JSON.parse(readFileSync(curvePath, 'utf8')) as EpochRecord[];
    curve[0]!.validation.loss = -3.2e8;
    writeFileSync(curvePath, JSON.stringify(curve));

    const r = await plotResults(dir, { png: false });
    expect(r.points.map((p) => [p.label, p.dModel, p.bestLr, p.test.mean])).toEqual([['attention', 64, 1e-3, 0.58], ['hyena', 64, 1e-3, 0.3]]);
    expect(r.leftOut.map((x) => [x.id, x.kind])).toEqual([[invalid.id, 'invalid'], [failed.id, 'failed'], [diverged.id, 'diverged']]);

    // tables: points.csv holds the sane runs' points and counts the left-out runs; excluded.csv lists them with reasons
    type CsvRow = Record<string, string>;
    const points = parse(readFileSync(join(dir, 'tables', 'points.csv'), 'utf8'), { columns: true }) as CsvRow[];
    expect(points.map((p) => [p.mixer, p.variant, p.best_lr, p.test_accuracy, p.left_out_failed, p.left_out_invalid, p.left_out_diverged])).toEqual([
      ['attention', 'd64', '0.001', '0.58', '1', '1', '0'],
      ['hyena', 'd64', '0.001', '0.3', '0', '0', '0'],
    ]);
    const excludedText = readFileSync(join(dir, 'tables', 'excluded.csv'), 'utf8');
    expect(excludedText.split('\n')[0]).toBe(EXCLUDED_COLUMNS.join(','));
    const excluded = parse(excludedText, { columns: true }) as CsvRow[];
    expect(excluded.map((x) => [x.id, x.mixer, x.variant, x.lr, x.status, x.left_out_as, x.model_has_a_point, x.commit])).toEqual([
      [invalid.id, 'attention', 'd64', '0.01', 'done', 'invalid', 'yes (from its other runs)', 'unknown'],
      [failed.id, 'attention', 'd64', '0.03', 'failed', 'failed', 'yes (from its other runs)', 'unknown'],
      [diverged.id, 'hyena', 'd128', '0.001', 'diverged', 'diverged', 'no', 'unknown'],
    ]);
    expect(excluded[0]!.reason).toBe('epoch 1: validation loss -3.20e+8 < (1 − accuracy 0.2250)·ln 2 = 0.5372');
    expect(excluded[1]!.reason).toBe('GPU fault (out-of-memory): buffer of 2147483648 bytes');
    expect(excluded[2]!.reason).toBe('diverged at step 5, before its first evaluation: no finite epoch');

    // the state figure: points only from results; one × per model with left-out runs, in the strip under 0
    const fig = r.figures.find((f) => f.name === 'accuracy-vs-state')!;
    const rows = specRows(dir, 'accuracy-vs-state');
    expect(rows.filter((x) => x.kind === 'point').map((x) => [x.mixer, x.variant, x.accuracy])).toEqual([['attention', 'd64', 0.58], ['hyena', 'd64', 0.3]]);
    const marks = rows.filter((x) => x.kind === 'left-out');
    expect(marks.map((x) => [x.mixer, x.variant, x.stateBytes, x.runsLeftOut, x.leftOut, x.pointFromOtherRuns])).toEqual([
      ['attention', 'd64', 2 ** 16, 2, 'failed 1, invalid 1', 'yes'],
      ['hyena', 'd128', 2 ** 14, 1, 'diverged 1', 'no'],
    ]);
    for (const m of marks) {
      expect(m.accuracy).toBeUndefined(); // no accuracy is made up for them
      expect(m.laneY as number).toBeLessThan(0);
      expect(m.laneY as number).toBeGreaterThan(-0.2);
    }
    expect(new Set(marks.map((m) => m.laneY)).size).toBe(2); // two mixers, two lanes
    expect(String(marks[0]!.reasons)).toContain('failed: GPU fault (out-of-memory)');
    expect(String(marks[0]!.reasons)).toContain('invalid: epoch 1: validation loss -3.20e+8');
    const spec = JSON.stringify(fig.spec);
    expect(spec).toContain('"domain":[-0.2,1]');
    expect(spec).toContain('failed / invalid / diverged: not results');
    expect(fig.caption).toContain('3 run(s) that are NOT results');
    expect(fig.rows.filter((x) => x.kind === 'left-out')).toHaveLength(2);
    const svg = readFileSync(join(dir, 'figures', 'accuracy-vs-state.svg'), 'utf8');
    expect(svg).toContain('left out');
    expect(svg).toContain('failed / invalid / diverged: not results');

    // curves: left-out runs are not drawn (an invalid curve's numbers are what must not be read), but named
    const curves = specRows(dir, 'curves-attention');
    expect(new Set(curves.filter((x) => x.kind === 'curve').map((x) => x.run))).toEqual(new Set([sane.id]));
    expect(curves.filter((x) => x.kind === 'left-out').map((x) => x.note)).toEqual(['2 runs left out: failed 1, invalid 1']);
    const hyenaCurves = specRows(dir, 'curves-hyena');
    expect(hyenaCurves.filter((x) => x.kind === 'left-out').map((x) => [x.panel, x.note])).toEqual([['d128', '1 run left out: diverged 1']]);

    // a folder with no left-out run: an empty excluded.csv (header only) and no strip
    const clean = tempDir();
    writeSyntheticResults(clean, [sane, hyena]);
    const c = await plotResults(clean, { png: false });
    expect(readFileSync(join(clean, 'tables', 'excluded.csv'), 'utf8')).toBe(`${EXCLUDED_COLUMNS.join(',')}\n`);
    expect(JSON.stringify(c.figures[0]!.spec)).not.toContain('left out');
    expect(c.figures[0]!.caption).not.toContain('NOT results');
  });

  it('width, SD-order and JRT figures mark left-out runs in their strip too', async () => {
    const dir = tempDir();
    const suite = syntheticSuite();
    const failedWidth = syntheticRecord({ label: 'hyena', dModel: 256, lr: 1e-3, slices: [[64, 4]], state: 1, validation: 0, test: 0, status: 'failed', error: 'device lost', epochsRun: 0 });
    const failedSd = syntheticRecord({ label: 'causal', task: 'sd', dModel: 36, lr: 1e-2, slices: [[4, 32], [32, 4], [16, 256], [256, 16]], state: 36 * 400, validation: 0, test: 0, status: 'failed', error: 'GPU fault (validation): invalid dispatch', epochsRun: 0 });
    const divergedJrt = syntheticRecord({ label: 'mamba', dModel: 64, lr: 1e-2, passes: 2, slices: [[256, 16]], state: 64 * 64 * 4, validation: 0, test: 0, status: 'diverged', divergedAtStep: 3, epochsRun: 0 });
    writeSyntheticResults(dir, [...suite, failedWidth, failedSd, divergedJrt]);
    await plotResults(dir, { png: false });
    const width = specRows(dir, 'accuracy-vs-dmodel').filter((x) => x.kind === 'left-out');
    expect(width.map((x) => [x.mixer, x.dModel, x.slice, x.leftOut, x.pointFromOtherRuns])).toEqual([
      ['hyena', 256, 'L64-K4', 'failed 1', 'no'],
      ['mamba', 64, 'L256-K16-P2', 'diverged 1', 'yes'],
    ]);
    const sd = specRows(dir, 'sd-order').filter((x) => x.kind === 'left-out');
    // the failed SD run is placed at its model's measured state (its own record holds zeros), in both accuracy panels
    expect(sd.map((x) => [x.panel, x.mixer, x.stateBytes, x.leftOut])).toEqual([
      ['small set first', 'causal', 36 * 400, 'failed 1'],
      ['large set first', 'causal', 36 * 400, 'failed 1'],
    ]);
    const jrt = specRows(dir, 'jrt-prompt').filter((x) => x.kind === 'left-out');
    expect(jrt.map((x) => [x.mixer, x.series, x.stateBytes, x.leftOut])).toEqual([['mamba', 'p = 2', 64 * 64 * 4, 'diverged 1']]);
    // the points of the JRT figure are unchanged: p = 2 at d64 still comes from its sane lr
    const p2 = specRows(dir, 'jrt-prompt').filter((x) => x.kind === 'point' && x.mixer === 'mamba' && x.series === 'p = 2' && x.dModel === 64);
    expect(p2.map((x) => x.bestLr)).toEqual([1e-3]);
  });

  it('rendering is deterministic (same SVG and PNG bytes twice) and needs no system font', async () => {
    const dir = tempDir();
    writeSyntheticResults(dir, syntheticSuite().slice(0, 8));
    const r = await plotResults(dir);
    const spec = r.figures[0]!.spec;
    const a = await renderSvg(spec);
    const b = await renderSvg(spec);
    expect(a).toBe(b);
    expect(svgToPng(a).equals(svgToPng(b))).toBe(true);
    // the bundled font draws text with system fonts switched off
    for (const f of FONT_FILES) expect(existsSync(f)).toBe(true);
    const text = `<svg xmlns="http://www.w3.org/2000/svg" width="120" height="30"><rect width="120" height="30" fill="white"/><text x="4" y="22" font-family="${FONT_FAMILY}" font-size="20">recall</text></svg>`;
    const pixels = new Resvg(text, { font: { fontFiles: FONT_FILES, loadSystemFonts: false, defaultFontFamily: FONT_FAMILY } }).render().pixels;
    let dark = 0;
    for (let i = 0; i < pixels.length; i += 4) if (pixels[i]! < 128) dark++;
    expect(dark).toBeGreaterThan(50);
    const none = new Resvg(text, { font: { fontFiles: [], loadSystemFonts: false, defaultFontFamily: FONT_FAMILY } }).render().pixels;
    let darkNone = 0;
    for (let i = 0; i < none.length; i += 4) if (none[i]! < 128) darkNone++;
    expect(darkNone).toBe(0); // so the text above came from the bundled file
  });

  it('log2 ticks cover the data', () => {
    expect(powerOfTwoTicks(6, 2 ** 17 + 1)).toEqual([4, 32, 256, 2048, 16384, 131072, 1048576]);
    const t = powerOfTwoTicks(1000, 5000);
    expect(t[0]).toBeLessThanOrEqual(1000);
    expect(t[t.length - 1]).toBeGreaterThanOrEqual(5000);
  });

  // in this process (main: its exit code and all it writes, as tests/cli.errors.test.ts's cases; its last case sees
  // the real program exit with the code main returns): the plot command cannot be bundled (importDrawing), and a
  // tsx start-up is ~3 s a command on 2 cores
  it('a folder without runs.jsonl is a one-line user error from the CLI', async () => {
    const dir = tempDir();
    const r = await cli(['plot', dir]);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/no runs\.jsonl/);
  });
});

describe('end to end: a tiny real sweep, then plot', () => {
  // the sweep in a process of its own, from the bundled program (tests/cliRunner.ts: the same code, a third of tsx's
  // start-up); the plot commands in this process through the CLI's main (the drawing modules are left out of the
  // bundle, and each tsx start-up of the CLI was ~3 s on 2 cores), with the same arguments, exit codes and output
  beforeAll(() => bundleCli());
  it('sweeps 2 architectures × 2 learning rates on the cpu backend and plots the records', async () => {
    const dir = tempDir();
    const sweep = runCli(
      ['sweep', '--backend', 'cpu', '--quiet', '--arch', 'attention', 'based', '--d-model', '8', '--lr', '0.001', '0.01', '--epochs', '1', '--batch-size', '16',
        '--setting', '16:2', '--vocab-size', '64', '--train-examples', '64', '--test-examples', '32', '--name', 'tiny', '--out', dir],
      { timeoutMs: 240_000, bundled: true },
    );
    expect(sweep.stderr).toBe('');
    expect(sweep.status).toBe(0);
    const records = loadRecords(dir);
    expect(records).toHaveLength(4);
    expect(records.every((r) => r.backend === 'cpu' && r.status !== 'failed')).toBe(true);
    const commands = readFileSync(join(dir, 'commands.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { command: string });
    expect(commands[0]!.command).toMatch(/^recallbench sweep --backend cpu .*--arch attention based/);

    const plot = await cli(['plot', dir, '--state', 'measured']);
    expect(plot.status).toBe(0);
    expect(plot.stdout).toMatch(/4 runs, 2 figure points, 5 figures: accuracy-vs-state, curves-attention, curves-attention-loss, curves-based, curves-based-loss/);
    const rows = specRows(dir, 'accuracy-vs-state').filter((x) => x.kind === 'point');
    expect(rows.map((x) => x.mixer).sort()).toEqual(['attention', 'based']);
    // each point is the record of its better validation accuracy
    for (const row of rows) {
      const mine = records.filter((r) => r.label === row.mixer);
      const best = mine.slice().sort((a, b) => b.validationAccuracy - a.validationAccuracy || a.config.train.lr - b.config.train.lr)[0]!;
      expect(row.bestLr).toBe(best.config.train.lr);
      expect(row.accuracy).toBeCloseTo(best.testAccuracy, 4);
      expect(row.stateBytes).toBe(best.stateBytes.measured);
    }
    expect(readFileSync(join(dir, 'figures', 'curves-attention.png')).subarray(0, 8).equals(PNG_MAGIC)).toBe(true);

    // --png: headline keeps the accuracy figure's PNG only; --no-png (the flag was a boolean) writes none
    const pngs = () => readdirSync(join(dir, 'figures')).filter((f) => f.endsWith('.png')).sort();
    expect((await cli(['plot', dir, '--png', 'headline'])).status).toBe(0);
    expect(pngs()).toEqual(['accuracy-vs-state.png']);
    expect((await cli(['plot', dir, '--no-png', '--no-detail-files'])).status).toBe(0);
    expect(pngs()).toEqual([]);
    expect(readdirSync(join(dir, 'figures')).filter((f) => f.startsWith('curves-'))).toEqual([]);
    const bad = await cli(['plot', dir, '--png', 'some']);
    expect(bad.status).toBe(2);
    expect(bad.stderr.trim().split('\n')).toHaveLength(1);
  });
});
