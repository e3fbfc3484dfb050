// What a person reads: the end-of-sweep table (sorted by state, slice columns), run names, the dry-run time
// estimate (from measured step times only), the plain-line progress without a terminal, and a results folder that
// leaves no empty checkpoints/ or locks/ behind.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { estimateSweepTime, formatBytes, frontTable, runNamer, timingDirs } from '../runners/summary.js';
import { createProgress, formatSeconds } from '../runners/progress.js';
import { ResultsDir, type RunRecord } from '../runners/results.js';
import { runId } from '../runners/config.js';
import { expandPreset, loadPreset } from '../runners/sweep.js';
import { trainingSteps } from '../runners/scale.js';
import { syntheticRecord } from './synthetic-records.js';
import { analyseRuns } from '../runners/analysis.js';
import { accuracyVsState } from '../runners/charts/accuracyVsState.js';
import { fitTitle, renderSvg, wrapText } from '../runners/charts/common.js';

const based = (f: number) => [{ mixer: 'baseconv', params: { kernelSize: 3 } }, { mixer: 'based', params: { featureDim: f } }];

describe('frontTable', () => {
  it('one row per model, sorted by measured state, variants named, best lr on validation', () => {
    const records = [
      syntheticRecord({ label: 'attention', dModel: 64, lr: 1e-2, slices: [[32, 4]], state: 16896, validation: 0.99, test: 0.98 }),
      syntheticRecord({ label: 'based', dModel: 64, lr: 1e-2, layers: based(8), slices: [[32, 4]], state: 12212, validation: 0.9, test: 0.91 }),
      syntheticRecord({ label: 'based', dModel: 64, lr: 1e-2, layers: based(2), slices: [[32, 4]], state: 2072, validation: 0.5, test: 0.45 }),
      syntheticRecord({ label: 'based', dModel: 64, lr: 1e-3, layers: based(2), slices: [[32, 4]], state: 2072, validation: 0.6, test: 0.55 }),
    ];
    const lines = frontTable(records).split('\n');
    expect(lines[0]).toMatch(/^model\s+state\s+state \(bytes\)\s+params\s+best lr\s+val acc\s+test acc\s+epochs$/);
    expect(lines.slice(2).map((l) => l.split(/\s{2,}/)[0])).toEqual(['based d64 f2', 'based d64 f8', 'attention d64']);
    // f2's best lr is 1e-3 (validation 0.6 > 0.5): its test accuracy is that run's
    expect(lines[2]).toMatch(/^based d64 f2\s+2\.0 KB\s+2072\s+\d+\s+0\.001\s+0\.600\s+0\.550\s+4$/);
    expect(lines[4]).toMatch(/17 KB\s+16896/);
    expect(lines).toHaveLength(5);
  });

  it('a column per test slice where a setting has several; one table per setting; failed runs listed with why', () => {
    const records = [
      syntheticRecord({ label: 'attention', dModel: 64, lr: 1e-3, slices: [[64, 4], [128, 8]], sliceAccuracy: [1, 0.9], state: 1000, validation: 0.95, test: 0.95 }),
      syntheticRecord({ label: 'hyena', dModel: 64, lr: 1e-3, slices: [[64, 4], [128, 8]], sliceAccuracy: [0.5, 0.25], state: 500, validation: 0.4, test: 0.375 }),
      syntheticRecord({ label: 'attention', dModel: 64, lr: 1e-3, slices: [[32, 2]], state: 800, validation: 1, test: 1 }),
      syntheticRecord({ label: 'hyena', dModel: 128, lr: 1e-3, slices: [[32, 2]], state: 0, validation: 0, test: 0, status: 'failed', error: 'GPU out of memory', epochsRun: 0 }),
    ];
    const text = frontTable(records);
    const [first, second] = text.split('\n\n');
    expect(first!.split('\n')[0]).toMatch(/^task /);
    const withSlices = [first!, second!].find((t) => /L64-K4/.test(t))!;
    expect(withSlices).toMatch(/test acc\s+L64-K4\s+L128-K8\s+epochs/);
    expect(withSlices).toMatch(/hyena d64\s+500 B\s+500\s+\d+\s+0\.001\s+0\.400\s+0\.375\s+0\.500\s+0\.250\s+4/);
    expect(withSlices.indexOf('hyena d64')).toBeLessThan(withSlices.indexOf('attention d64'));
    expect(text).toMatch(/^not a result: hyena d128 lr0\.001 seed0: failed — GPU out of memory$/m);
  });
});

describe('run names', () => {
  it('name a run by d_model and the parameters that vary within its label; lr only where several', () => {
    const configs = expandPreset(loadPreset('front'));
    const name = runNamer(configs);
    expect(configs.map(name).sort()).toEqual(['attention d64', 'baseconv d64', 'based d64 f2', 'based d64 f8', 'sliding-window d64 w24', 'sliding-window d64 w8']);
    expect(runNamer([configs[0]!])(configs[0]!)).toBe('attention d64 lr0.01');
    // one seed selected of a grid's several (sweep --only-seeds 1): a seed other than 0 is named, 0 is the default
    const seed1 = configs.map((c) => ({ ...c, seed: 1 }));
    expect(runNamer(seed1)(seed1[0]!)).toBe('attention d64 seed1');
    expect(name(configs[0]!)).toBe('attention d64');
  });

  it('formats sizes and durations', () => {
    expect([formatBytes(500), formatBytes(2072), formatBytes(16896), formatBytes(1049600)]).toEqual(['500 B', '2.0 KB', '17 KB', '1.0 MB']);
    expect([formatSeconds(0.42), formatSeconds(42.4), formatSeconds(150), formatSeconds(7200)]).toEqual(['0.4 s', '42 s', '2.5 min', '2.0 h']);
  });
});

describe('dry-run time estimate', () => {
  const configs = expandPreset(loadPreset('front'));
  const timedRecord = (config: (typeof configs)[number], host: string, backend: string, secondsPerStep: number): RunRecord => ({
    ...syntheticRecord({ label: config.label, dModel: 64, lr: config.train.lr, slices: [[32, 4]], state: 1, validation: 0.5, test: 0.5 }),
    id: `other-${config.label}-${JSON.stringify(config.model.layers)}`,
    config: { ...config, seed: 7 }, // another run of the same shape: a different id
    steps: 100,
    wallSeconds: 100 * secondsPerStep,
    backend,
    worker: `${host}:123`,
    finishedAt: '2026-01-01T00:00:00.000Z',
  });

  it('steps × measured seconds per step of the same shape, on this host and backend only; other machines\' runs said apart, per device', () => {
    const dir = mkdtempSync(join(tmpdir(), 'rb-estimate-'));
    const timed = join(dir, 'earlier');
    const onGpu = (r: RunRecord): RunRecord => ({ ...r, device: 'nvidia nvidia-h200 NVIDIA: 580 [gpu 0, pci 0000:00:06.0]' });
    const records = [
      ...configs.slice(0, 4).map((c) => timedRecord(c, hostname(), 'wasm', 0.1)),
      onGpu(timedRecord(configs[4]!, 'another-host', 'webgpu', 0.02)), // another machine: not this host's estimate
      timedRecord(configs[4]!, 'a-third-host', 'wasm', 0.5), // a device covering as many shapes, later in the list: not chosen
      timedRecord(configs[5]!, hostname(), 'cpu', 0.1), // another backend: not used
    ];
    mkdirSync(timed);
    writeFileSync(join(dir, 'README.md'), 'not a results folder'); // files beside the folders are skipped
    writeFileSync(join(timed, 'runs.jsonl'), records.map((r) => `${JSON.stringify(r)}\n`).join(''));
    const e = estimateSweepTime(configs, timingDirs(join(dir, 'new'), [dir]), 'wasm', join(dir, 'new'));
    const expected = configs.slice(0, 4).reduce((s, c) => s + 0.1 * trainingSteps(c), 0);
    expect(e.estimated).toBe(4);
    expect(e.unestimated).toBe(2);
    expect(e.seconds).toBeCloseTo(expected, 6);
    expect(e.line).toMatch(/^estimated time: at most .* for 4 of 6 runs to train, one at a time \(step times measured on this host name with wasm, none \(synthetic test record\); .*\); 2 run\(s\) of never-timed shapes not included; on nvidia nvidia-h200 NVIDIA: 580 \(other machines' runs .*\): at most .* for 1 of the 2 run\(s\) not timed here$/);
    expect(e.elsewhere).toEqual({ device: 'nvidia nvidia-h200 NVIDIA: 580 [gpu 0, pci 0000:00:06.0]', seconds: expect.closeTo(0.02 * trainingSteps(configs[4]!), 6), estimated: 1 });
    // auto: the backend of this host's latest matching runs
    expect(estimateSweepTime(configs, [timed], 'auto', join(dir, 'new')).backend).toBe('wasm');
  });

  it('says the time is unknown when nothing of these shapes was timed here, and none when all runs are stored', () => {
    const dir = mkdtempSync(join(tmpdir(), 'rb-estimate-'));
    const none = estimateSweepTime(configs, [dir], 'wasm', dir);
    expect(none.estimated).toBe(0);
    expect(none.line).toMatch(/^estimated time: unknown — no run of these model shapes has been timed on this host with wasm yet/);
    const stored = configs.map((c) => ({ ...timedRecord(c, hostname(), 'wasm', 0.1), id: runId(c) }));
    writeFileSync(join(dir, 'runs.jsonl'), stored.map((r) => `${JSON.stringify(r)}\n`).join(''));
    const all = estimateSweepTime(configs, [dir], 'wasm', dir);
    expect(all.finished).toBe(6);
    expect(all.line).toBe(`estimated time: none — all 6 runs are already in ${dir}`);
  });
});

describe('progress without a terminal', () => {
  it('prints a progress line only after 20 s without output, and every log line as it comes', () => {
    let t = 0;
    const out: string[] = [];
    const p = createProgress('sweep', { tty: false, write: (s) => out.push(s), now: () => t });
    p.log('run 1/2: attention d64');
    for (t = 0; t <= 19_000; t += 1000) p.update(t / 1000, 100, 'run 1/2');
    expect(out).toEqual(['run 1/2: attention d64\n']);
    t = 20_000;
    p.update(20, 100, 'run 1/2');
    expect(out[1]).toBe('sweep: 20/100 steps (20%) run 1/2, 20 s elapsed, at most 80 s left\n');
    t = 30_000;
    p.update(30, 100);
    expect(out).toHaveLength(2); // 10 s since the last line
    t = 41_000;
    p.update(40, 100);
    expect(out[2]).toMatch(/^sweep: 40\/100 steps \(40%\), 41 s elapsed, at most 62 s left\n$/);
    p.stop();
  });
});

describe('results folder', () => {
  it('makes curves/, checkpoints/ and locks/ only when needed; tidy() removes the empty ones, never a used one', () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'rb-tidy-')), 'out');
    const results = new ResultsDir(dir);
    expect(readdirSync(dir)).toEqual([]);
    const lock = results.tryLockRun('abc')!;
    expect(lock).toBeDefined();
    results.append(syntheticRecord({ label: 'attention', dModel: 8, lr: 1e-3, slices: [[16, 2]], state: 64, validation: 1, test: 1 }), []);
    expect(readdirSync(dir).sort()).toEqual(['curves', 'locks', 'runs.csv', 'runs.jsonl']);
    results.tidy();
    expect(existsSync(results.locksDir)).toBe(true); // a lock is held: in use
    lock.release();
    results.tidy();
    expect(readdirSync(dir).sort()).toEqual(['curves', 'runs.csv', 'runs.jsonl']);
    // after a tidy, locking and appending make the folders again
    expect(results.tryLockRun('def')).toBeDefined();
    results.append(syntheticRecord({ label: 'hyena', dModel: 8, lr: 1e-3, slices: [[16, 2]], state: 64, validation: 1, test: 1 }), []);
    expect(results.records().map((r) => r.label)).toEqual(['attention', 'hyena']);
  });
});

describe('figures sized to their chart', () => {
  it('wrapText keeps words whole in lines of at most n characters', () => {
    expect(wrapText('every model at its best learning rate (validation); lines: fronts', 20)).toEqual(['every model at its', 'best learning rate', '(validation); lines:', 'fronts']);
    expect(wrapText('short', 20)).toEqual(['short']);
  });

  it('a one-panel accuracy-vs-state figure is about as wide as its panel and legend, not as its subtitle', async () => {
    const records = [8, 16, 32].map((f, i) => syntheticRecord({ label: 'based', dModel: 64, lr: 1e-2, layers: based(f), slices: [[32, 4]], state: 1000 * 4 ** i, validation: 0.3 * (i + 1), test: 0.3 * (i + 1) }));
    const { points } = analyseRuns(records);
    const figure = accuracyVsState(points, ['based'], 'measured')!;
    const fitted = fitTitle(figure.spec);
    const lines = (fitted.title as { subtitle: string[] }).subtitle;
    expect(lines.length).toBeGreaterThan(1);
    expect(lines.join(' ')).toBe((figure.spec.title as { subtitle: string }).subtitle);
    const width = (svg: string) => Number(/<svg[^>]*width="([\d.]+)"/.exec(svg)![1]);
    const before = width(await renderSvg(figure.spec));
    const after = width(await renderSvg(fitted));
    expect(before).toBeGreaterThan(900); // the one-line subtitle set the canvas
    expect(after).toBeLessThan(600);
  });
});
