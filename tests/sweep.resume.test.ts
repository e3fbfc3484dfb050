// A sweep killed midway and re-run trains only the missing runs; runs.jsonl and runs.csv hold each run once.
import { mkdtempSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'csv-parse/sync';
import { beforeAll, describe, expect, it } from 'vitest';
import { bundleCli, runCli, spawnCli } from './cliRunner.js';

beforeAll(() => bundleCli()); // the bundled program (tests/cliRunner.ts): the same code, started in a third of the time

const grid = ['sweep', '--backend', 'cpu', '--quiet', '--arch', 'attention', '--d-model', '8', '16', '--lr', '0.01', '0.003', '--setting', '16:2', '--vocab-size', '32', '--train-examples', '32', '--test-examples', '16', '--epochs', '1', '--batch-size', '16'];

function lines(path: string): Array<{ id: string; finishedAt: string }> {
  if (!existsSync(path)) return [];
  return readFileSync(path, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
}

describe('sweep resume', () => {
  it('after a SIGKILL, a re-run finishes only the missing runs', async () => {
    const out = mkdtempSync(join(tmpdir(), 'rb-resume-'));
    const jsonl = join(out, 'runs.jsonl');
    const child = spawnCli([...grid, '--out', out], { bundled: true });
    // kill it as soon as the first run is stored
    await new Promise<void>((resolve, reject) => {
      const timer = setInterval(() => {
        if (lines(jsonl).length >= 1) {
          child.kill('SIGKILL');
          clearInterval(timer);
          resolve();
        }
      }, 20);
      child.on('exit', () => {
        clearInterval(timer);
        resolve();
      });
      setTimeout(() => reject(new Error('sweep never stored a run')), 120_000);
    });
    const before = lines(jsonl);
    expect(before.length).toBeGreaterThanOrEqual(1);
    expect(before.length).toBeLessThan(4);

    const r = runCli([...grid, '--out', out], { bundled: true });
    expect(r.status, r.stderr).toBe(0);
    const after = lines(jsonl);
    const ids = after.map((x) => x.id);
    expect(new Set(ids).size).toBe(4);
    expect(ids).toHaveLength(4); // nothing trained twice
    // the runs finished before the kill were kept, not redone
    for (const b of before) expect(after.find((a) => a.id === b.id)?.finishedAt).toBe(b.finishedAt);
    const csv = parse(readFileSync(join(out, 'runs.csv'), 'utf8'), { columns: true }) as Array<{ id: string }>;
    expect(csv.map((row) => row.id).sort()).toEqual([...ids].sort());
  });
});
