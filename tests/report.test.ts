// `recallbench report`: results/<name>/index.html with every figure, the tables and the provenance. The page is
// loaded in a real headless Chromium (Debian's `chromium`, driven by playwright-core) from file://, offline: no
// console error, and one drawn SVG per figure. SYNTHETIC records only (tests/synthetic-records.ts).
import { afterAll, describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { commandFromPresetTag, coverageRows, plannedCoverageRows, plannedGrid, provenanceRows, sharedDatasets, writeReport } from '../runners/report.js';
import { analyseRuns } from '../runners/analysis.js';
import { syntheticRecord, syntheticSuite, writeSyntheticResults } from './synthetic-records.js';
import { cli } from './cliRunner.js';

const CHROMIUM = '/usr/bin/chromium';
const dirs: string[] = [];
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'recallbench-report-'));
  dirs.push(d);
  return d;
}
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('report page', () => {
  it('holds every figure, the tables, the vendored scripts and the provenance', async () => {
    const dir = tempDir();
    const records = syntheticSuite();
    writeSyntheticResults(dir, records);
    const r = await writeReport(dir, { png: false });
    const html = readFileSync(r.path, 'utf8');
    expect((html.match(/<div class="figure" data-figure=/g) ?? []).length).toBe(r.figures.length);
    for (const f of r.figures) expect(html).toContain(`id="${f.name}"`);
    for (const f of ['vega.min.js', 'vega-lite.min.js', 'DejaVuSans.ttf', 'DejaVuSans-Bold.ttf']) expect(existsSync(join(dir, 'vendor', f)), f).toBe(true);
    expect(html).not.toMatch(/https?:\/\/(?!vega\.github\.io\/schema)/); // nothing fetched from the network (the $schema URL is only a label)
    // the points table: one row per figure point
    const table = html.slice(html.indexOf('<section id="tables">'), html.indexOf('<section id="left-out">'));
    expect((table.match(/<tr>/g) ?? []).length).toBe(1 + r.points.length);
    expect(html).toContain('href="tables/points.csv"');
    // provenance: no commands.jsonl here, so the command is rebuilt from the records' preset field
    expect(html).toContain('recallbench sweep synthetic');
    expect(html).toContain('reconstructed');
    expect(html).toContain('0.0.0-synthetic');
    // a script-breaking string in a label stays inert
    expect(html).not.toContain('</script><');
  });

  it('uses a parent or grandparent vendor/ holding the same files instead of its own copy (results/vendor/)', async () => {
    const root = tempDir();
    const first = join(root, 'a');
    writeSyntheticResults(first, syntheticSuite());
    await writeReport(first, { png: false }); // no vendor/ above: its own copy
    expect(existsSync(join(first, 'vendor', 'vega.min.js'))).toBe(true);
    renameSync(join(first, 'vendor'), join(root, 'vendor'));
    const nested = join(root, 'campaign', 'b');
    writeSyntheticResults(nested, syntheticSuite());
    const r = await writeReport(nested, { png: false });
    expect(existsSync(join(nested, 'vendor'))).toBe(false);
    const html = readFileSync(r.path, 'utf8');
    expect(html).toContain('<script src="../../vendor/vega.min.js">');
    expect(html).toContain("url('../../vendor/DejaVuSans.ttf')");
    // a vendor/ whose files differ (an older vega) is not used: the folder gets its own copy
    writeFileSync(join(root, 'vendor', 'vega.min.js'), 'old');
    const other = join(root, 'c');
    writeSyntheticResults(other, syntheticSuite());
    const r2 = await writeReport(other, { png: false });
    expect(existsSync(join(other, 'vendor', 'vega.min.js'))).toBe(true);
    expect(readFileSync(r2.path, 'utf8')).toContain('<script src="vendor/vega.min.js">');
  });

  it("coverage against the planned grid: runs and models per mixer, and the settings where every model has its point", async () => {
    const base = { dModel: 64, slices: [[64, 4]] as [number, number][], state: 2 ** 16, validation: 0.5, test: 0.5 };
    const a1 = syntheticRecord({ ...base, label: 'attention', lr: 1e-3 });
    const a2 = syntheticRecord({ ...base, label: 'attention', lr: 1e-2 });
    const b1 = syntheticRecord({ ...base, label: 'baseconv', lr: 1e-3 });
    const b2 = syntheticRecord({ ...base, label: 'baseconv', lr: 1e-3, slices: [[128, 8]] }); // stored, but failed: no point
    b2.status = 'failed';
    const wider = { ...a1.config, model: { ...a1.config.model, dModel: 128 } }; // planned, not stored
    const grid = [a1.config, a2.config, wider, b1.config, b2.config];
    const added = syntheticRecord({ ...base, label: 'retention', lr: 1e-3 }); // stored, outside the grid (sweep --add-arch)
    const { runs, points } = analyseRuns([a1, a2, b1, b2, added]);
    const rows = plannedCoverageRows(runs, points, new Map([[a1.preset!, grid]]));
    const settingOf = (r: typeof a1) => runs.find((x) => x.record.id === r.id)!.setting.label;
    const toCome = 'of them with a seed to come';
    expect(rows).toEqual([
      { preset: a1.preset, mixer: 'attention', 'runs planned': 3, 'runs stored': 2, 'models planned': 2, 'models with a point': 1, [toCome]: 0, 'settings complete': '0 of 1' },
      { preset: a1.preset, mixer: 'baseconv', 'runs planned': 2, 'runs stored': 2, 'models planned': 2, 'models with a point': 1, [toCome]: 0, 'settings complete': `1 of 2 (${settingOf(b1)})` },
      { preset: a1.preset, mixer: '(all)', 'runs planned': 5, 'runs stored': 4, 'models planned': 4, 'models with a point': 2, [toCome]: 0, 'settings complete': '0 of 2' },
      { preset: a1.preset, mixer: 'retention (not in the grid)', 'runs planned': '—', 'runs stored': 1, 'models planned': '—', 'models with a point': 1, [toCome]: '—', 'settings complete': '—' },
    ]);
    // a grid of two seeds with seed 0 stored (one seed of every point first): the point is there, the setting is not
    // complete until a run of seed 1 is stored — a failed one does not count
    const seed1 = syntheticRecord({ ...base, label: 'baseconv', lr: 1e-3, seed: 1 });
    const twoSeeds = new Map([[a1.preset!, [b1.config, seed1.config]]]);
    const cover = (records: (typeof a1)[]) => {
      const analysed = analyseRuns(records);
      return plannedCoverageRows(analysed.runs, analysed.points, twoSeeds)[0]!;
    };
    expect([cover([b1])['models with a point'], cover([b1])[toCome], cover([b1])['settings complete']]).toEqual([1, 1, '0 of 1']);
    expect([cover([b1, { ...seed1, status: 'failed' }])[toCome], cover([b1, seed1])[toCome], cover([b1, seed1])['settings complete']]).toEqual([1, 0, `1 of 1 (${settingOf(b1)})`]);
    // a preset tag expands to its grid (scaled for a scaled sweep); any other tag to nothing
    expect((await plannedGrid('zoology-fig2'))!).toHaveLength(448);
    expect((await plannedGrid('based-fig2@scale=0.01'))!).toHaveLength(64);
    expect(await plannedGrid('synthetic')).toBeUndefined();
  });

  it('lists the runs that are not results with their reasons, and every run with its provenance', async () => {
    const dir = tempDir();
    const base = { label: 'attention', dModel: 64, slices: [[64, 4]] as [number, number][], state: 2 ** 16 };
    const gpu = { commit: '727b2b507524b733b929329e865409f7dc74f30a', dirty: true, fastPath: { uploads: true, bindGroups: false, adamw: true, splitK: true }, driver: 'NVIDIA 550.54.15' };
    const sane = syntheticRecord({ ...base, lr: 1e-3, validation: 0.6, test: 0.58, provenance: gpu });
    const failed = syntheticRecord({ ...base, lr: 1e-2, validation: 0, test: 0, status: 'failed', error: 'GPU fault (out-of-memory): <buffer> of 2 GiB', epochsRun: 0, provenance: gpu });
    const invalid = syntheticRecord({ ...base, lr: 3e-3, validation: 0.9, test: 0.9 }); // legacy: no provenance
    const early = syntheticRecord({ ...base, lr: 1e-1, validation: 0, test: 0, status: 'diverged', divergedAtStep: 9, epochsRun: 0 });
    const late = syntheticRecord({ ...base, dModel: 128, lr: 1e-2, validation: 0.4, test: 0.4, status: 'diverged', divergedAtStep: 250, epochsRun: 2 });
    writeSyntheticResults(dir, [sane, failed, invalid, early, late]);
    rmSync(join(dir, 'curves', `${invalid.id}.json`)); // a record whose numbers cannot be checked is not a result
    const r = await writeReport(dir, { png: false });
    expect(r.leftOut.map((x) => x.id)).toEqual([failed.id, invalid.id, early.id]);
    const html = readFileSync(r.path, 'utf8');
    expect(html).toContain('5 runs: 2 results (1 of them diverged after some epochs and count for those), <strong class="error">3 not results</strong> (failed 1, invalid 1, diverged 1');
    // coverage and cost: every stored run counted once, by what became of it
    const [cov] = coverageRows(r.runs, r.points);
    expect(cov).toMatchObject({ 'runs stored': 5, results: 2, 'stopped at a rung': 0, failed: 1, invalid: 1, 'diverged (no epoch)': 1 });
    expect(cov!['epochs trained']).toBe([sane, failed, invalid, early, late].reduce((n, x) => n + x.epochs, 0));
    expect(cov!['run-hours (sum of wall times)']).toBe(([sane, failed, invalid, early, late].reduce((n, x) => n + x.wallSeconds, 0) / 3600).toFixed(2));
    expect(cov!['models with a point']).toBe('2 of 2');
    expect(html).toContain('<section id="coverage">');
    const section = html.slice(html.indexOf('<section id="left-out">'), html.indexOf('<section id="provenance">'));
    const leftOutTable = section.slice(section.indexOf('<table class="data left-out">'), section.indexOf('</table>'));
    const rowOf = (id: string) => leftOutTable.split('<tr>').find((tr) => tr.includes(id)) ?? '';
    expect(rowOf(failed.id)).toContain('<td>failed</td><td>failed</td><td>GPU fault (out-of-memory): &lt;buffer&gt; of 2 GiB</td>');
    expect(rowOf(failed.id)).toContain('<td>727b2b5 +dirty</td><td>3/4 on (off: bindGroups)</td><td>NVIDIA 550.54.15</td>');
    expect(rowOf(invalid.id)).toContain('<td>done</td><td>invalid</td><td>its curve (curves/&lt;id&gt;.json) is missing or unreadable</td>');
    expect(rowOf(invalid.id)).toContain('<td>unknown</td><td>unknown</td><td>unknown</td>');
    expect(rowOf(early.id)).toContain('<td>diverged</td><td>diverged</td><td>diverged at step 9, before its first evaluation: no finite epoch</td>');
    expect((leftOutTable.match(/<tr>/g) ?? []).length).toBe(1 + 3);
    // the run that diverged after 2 epochs is a result for those, listed apart
    const divergedTable = section.slice(section.indexOf('<table class="data diverged">'));
    expect(divergedTable).toContain(late.id);
    expect(divergedTable).toContain('<td>250</td><td>2</td><td>2</td><td>0.4</td><td>0.4</td><td>point (best lr); diverged at step 250, counts for its 2 finite epoch(s)</td>');
    // every run with its provenance; a left-out run's accuracies are not shown as numbers
    const runs = html.slice(html.indexOf('<table class="data runs">'));
    const runRow = (id: string) => runs.split('<tr>').find((tr) => tr.includes(id)) ?? '';
    expect(runRow(sane.id)).toContain('<td>done</td><td>point (best lr)</td><td>0.6</td><td>0.58</td><td>4</td><td>727b2b5 +dirty</td><td>3/4 on (off: bindGroups)</td><td>NVIDIA 550.54.15</td>');
    expect(runRow(failed.id)).toContain('<td>failed</td><td>left out (failed)</td><td>—</td><td>—</td><td>0</td><td>727b2b5 +dirty</td>');
    expect(runRow(invalid.id)).toContain('<td>left out (invalid)</td><td>—</td><td>—</td><td>4</td><td>unknown</td><td>unknown</td><td>unknown</td>');
    // the summary by provenance tells the two codes apart
    const summary = provenanceRows(r.records);
    expect(summary.map((x) => [x.runs, x.commit])).toEqual([[2, '727b2b5 +dirty'], [3, 'unknown']]);
    expect(html).toContain('href="tables/excluded.csv"');
    expect(html).toContain('href="#left-out"');
  });

  it('shows the logged sweep command when commands.jsonl exists', async () => {
    const dir = tempDir();
    writeSyntheticResults(dir, syntheticSuite().slice(0, 4));
    writeFileSync(join(dir, 'commands.jsonl'), `${JSON.stringify({ command: 'recallbench sweep runners/presets/zoology-fig2.json --scale 0.1 --backend webgpu', startedAt: '2000-01-01T00:00:00Z', backend: 'webgpu', device: 'synthetic' })}\n`);
    const r = await writeReport(dir, { png: false, reportCommand: 'recallbench report X' });
    const html = readFileSync(r.path, 'utf8');
    expect(html).toContain('recallbench sweep runners/presets/zoology-fig2.json --scale 0.1 --backend webgpu');
    expect(html).toContain('recallbench report X');
    expect(html).not.toContain('reconstructed');
  });

  it('figures that share their rows inline them once (a mixer\'s accuracy and loss curves)', () => {
    const rows = [{ epoch: 1, acc: 0.5 }, { epoch: 2, acc: 0.7 }];
    const specs = [
      { mark: 'line', data: { values: rows } },
      { mark: 'point', data: { values: rows.map((r) => ({ ...r })) } }, // equal rows, another array
      { mark: 'bar', data: { values: [{ epoch: 1, acc: 0.1 }] } },
      { mark: 'text', data: { url: 'x.csv' } }, // not inline: left as it is
      { mark: 'rule' },
    ];
    const shared = sharedDatasets(specs);
    expect(shared.datasets).toEqual([rows, [{ epoch: 1, acc: 0.1 }]]);
    expect(shared.specs).toEqual([
      { mark: 'line', data: { dataset: 0 } },
      { mark: 'point', data: { dataset: 0 } },
      { mark: 'bar', data: { dataset: 1 } },
      { mark: 'text', data: { url: 'x.csv' } },
      { mark: 'rule' },
    ]);
    // and the report of the synthetic suite stores each curve figure's rows once
    const dir = tempDir();
    writeSyntheticResults(dir, syntheticSuite());
    return writeReport(dir, { png: false }).then((r) => {
      const html = readFileSync(r.path, 'utf8');
      const inline = JSON.parse(html.match(/const DATASETS = (.*);\n/)![1]!.replace(/\\u003c/g, '<')) as unknown[][];
      const distinct = new Set(r.figures.map((f) => JSON.stringify((f.spec as { data?: { values?: unknown } }).data?.values ?? null)).filter((k) => k !== 'null'));
      expect(inline.length).toBe(distinct.size);
      expect(inline.length).toBeLessThan(r.figures.length);
    });
  });

  it('preset tags and provenance rows', () => {
    expect(commandFromPresetTag('zoology-fig2')).toBe('recallbench sweep zoology-fig2');
    expect(commandFromPresetTag('based-fig2@scale=0.25')).toBe('recallbench sweep based-fig2 --scale 0.25');
    const rows = provenanceRows(syntheticSuite());
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ preset: 'synthetic', backend: 'synthetic', runs: syntheticSuite().length, commit: 'unknown', levers: 'unknown', driver: 'unknown' });
  });

  // through src/cli.ts main in this process (its exit code and all it writes: tests/cliRunner.ts cli, as
  // tests/cli.errors.test.ts's cases; its last case sees the real process exit with main's code): the drawing
  // modules cannot be bundled, and a tsx start-up of the CLI was ~3 s alone, 8–10 s inside npm test on 2 cores
  it('the CLI report command writes index.html', async () => {
    const dir = tempDir();
    writeSyntheticResults(dir, syntheticSuite().slice(0, 8));
    const r = await cli(['report', dir]);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/index\.html/);
    expect(existsSync(join(dir, 'index.html'))).toBe(true);
    expect(readFileSync(join(dir, 'index.html'), 'utf8')).toContain(`recallbench report ${dir}`);
  });

  it.skipIf(!existsSync(CHROMIUM))(`loads in headless Chromium with no console error and draws every figure${existsSync(CHROMIUM) ? '' : ` — SKIPPED: ${CHROMIUM} is absent (apt-get install -y chromium)`}`, async () => {
    const { chromium } = await import('playwright-core');
    const dir = tempDir();
    writeSyntheticResults(dir, syntheticSuite());
    const r = await writeReport(dir, { png: false });
    expect(r.figures.length).toBeGreaterThanOrEqual(5);
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
    });
    try {
      const page = await browser.newPage();
      const problems: string[] = [];
      const network: string[] = [];
      page.on('console', (m) => {
        if (m.type() === 'error') problems.push(`console.error: ${m.text()}`);
      });
      page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
      page.on('requestfailed', (req) => problems.push(`request failed: ${req.url()}`));
      await page.route('**/*', (route) => {
        const url = route.request().url();
        if (url.startsWith('file://')) return route.continue();
        network.push(url);
        return route.abort();
      });
      await page.goto(`file://${r.path}`);
      await page.waitForFunction(() => (window as unknown as { __recallbench?: { done?: boolean } }).__recallbench?.done === true, null, { timeout: 90_000 });
      const state = await page.evaluate(() => (window as unknown as { __recallbench: { expected: number; rendered: number; errors: string[] } }).__recallbench);
      expect(state.errors).toEqual([]);
      expect(state.expected).toBe(r.figures.length);
      expect(state.rendered).toBe(r.figures.length);
      expect(await page.locator('.figure > svg, .figure > canvas').count()).toBe(r.figures.length);
      // each drawn figure has marks in it (not an empty frame)
      const marks = await page.locator('.figure').evaluateAll((nodes) => nodes.map((n) => n.querySelectorAll('path, circle, line, rect').length));
      expect(marks.every((m) => m > 10)).toBe(true);
      expect(await page.locator('#render-status').textContent()).toMatch(new RegExp(`^${r.figures.length} of ${r.figures.length} figures drawn`));
      expect(network).toEqual([]);
      expect(problems).toEqual([]);
    } finally {
      await browser.close();
    }
  });
});
