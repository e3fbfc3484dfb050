// `recallbench report`: results/<name>/index.html with every figure, the tables and the provenance. The page is
// loaded in a real headless Chromium (Debian's `chromium`, driven by playwright-core) from file://, offline: no
// console error, and one drawn SVG per figure. SYNTHETIC records only (tests/synthetic-records.ts).
import { afterAll, describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { commandFromPresetTag, provenanceRows, writeReport } from '../runners/report.js';
import { syntheticSuite, writeSyntheticResults } from './synthetic-records.js';
import { runCli } from './cliRunner.js';

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
    const table = html.slice(html.indexOf('<section id="tables">'), html.indexOf('<section id="provenance">'));
    expect((table.match(/<tr>/g) ?? []).length).toBe(1 + r.points.length);
    expect(html).toContain('href="tables/points.csv"');
    // provenance: no commands.jsonl here, so the command is rebuilt from the records' preset field
    expect(html).toContain('recallbench sweep synthetic');
    expect(html).toContain('reconstructed');
    expect(html).toContain('0.0.0-synthetic');
    // a script-breaking string in a label stays inert
    expect(html).not.toContain('</script><');
  });

  it('shows the logged sweep command when commands.jsonl exists', async () => {
    const dir = tempDir();
    writeSyntheticResults(dir, syntheticSuite().slice(0, 4), false);
    writeFileSync(join(dir, 'commands.jsonl'), `${JSON.stringify({ command: 'recallbench sweep runners/presets/zoology-fig2.json --scale 0.1 --backend webgpu', startedAt: '2000-01-01T00:00:00Z', backend: 'webgpu', device: 'synthetic' })}\n`);
    const r = await writeReport(dir, { png: false, reportCommand: 'recallbench report X' });
    const html = readFileSync(r.path, 'utf8');
    expect(html).toContain('recallbench sweep runners/presets/zoology-fig2.json --scale 0.1 --backend webgpu');
    expect(html).toContain('recallbench report X');
    expect(html).not.toContain('reconstructed');
  });

  it('preset tags and provenance rows', () => {
    expect(commandFromPresetTag('zoology-fig2')).toBe('recallbench sweep zoology-fig2');
    expect(commandFromPresetTag('based-fig2@scale=0.25')).toBe('recallbench sweep based-fig2 --scale 0.25');
    const rows = provenanceRows(syntheticSuite());
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ preset: 'synthetic', backend: 'synthetic', runs: syntheticSuite().length });
  });

  it('the CLI report command writes index.html', () => {
    const dir = tempDir();
    writeSyntheticResults(dir, syntheticSuite().slice(0, 8));
    const r = runCli(['report', dir], { timeoutMs: 120_000 });
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
