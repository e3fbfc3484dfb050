// The CLI end to end: list, data export, state-size, training a user plugin — in this process (main), and the
// real program once (a separate process gives the same bytes).
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli, runCli } from './cliRunner.js';

describe('recallbench CLI', () => {
  it('list shows attention and a plugin with their parameters', async () => {
    const r = await cli(['list', 'architectures', '--plugin', 'examples/retention.ts']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^\s+attention\s+causal softmax/m);
    expect(r.stdout).toMatch(/"numHeads":1,"dropout":0.1/);
    expect(r.stdout).toMatch(/^\s+retention\s+RetNet retention/m);
  });

  it('data exports valid MQAR JSONL, one example per line; the program in its own process writes the same bytes', async () => {
    const r = await cli(['data', 'mqar', '--seq-len', '64', '--kv-pairs', '4', '-n', '20', '--seed', '1', '--format', 'jsonl']);
    expect(r.status, r.stderr).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines).toHaveLength(20);
    for (const line of lines) {
      const e = JSON.parse(line) as { inputs: number[]; labels: number[]; slices: Record<string, unknown> };
      expect(e.inputs).toHaveLength(64);
      expect(e.labels).toHaveLength(64);
      expect(e.slices).toMatchObject({ task: 'mqar', seqLen: 64, numKvPairs: 4 });
      const supervised = e.labels.map((l, i) => [l, i] as const).filter(([l]) => l !== -100);
      expect(supervised).toHaveLength(4);
      for (const [label, i] of supervised) {
        // the label is the value that followed this key in the kv block
        const keyPos = e.inputs.slice(0, 8).indexOf(e.inputs[i]!);
        expect(keyPos % 2).toBe(0);
        expect(label).toBe(e.inputs[keyPos + 1]);
      }
    }
    // same seed → same bytes, and the real program (a process of its own) writes exactly what main wrote
    expect(runCli(['data', 'mqar', '--seq-len', '64', '--kv-pairs', '4', '-n', '20', '--seed', '1']).stdout).toBe(r.stdout);
  });

  it('state-size prints both conventions for attention (2·d·L per layer)', async () => {
    const r = await cli(['state-size', '--arch', 'attention', '--d-model', '64', '--seq-len', '256']);
    expect(r.status, r.stderr).toBe(0);
    const s = JSON.parse(r.stdout) as { floats: { measured: number; paper: number }; bytes: { measured: number; paper: number } };
    expect(s.floats).toEqual({ measured: 2 * 2 * 64 * 256, paper: 2 * 2 * 64 * 256 });
    expect(s.bytes.paper).toBe(4 * 2 * 2 * 64 * 256);
  });

  it('trains a plugin mixer from a file and records it', async () => {
    const out = mkdtempSync(join(tmpdir(), 'rb-plugin-'));
    const r = await cli(['train', '--backend', 'cpu', '--quiet', '--plugin', 'examples/retention.ts', '--arch', 'retention', '--d-model', '16', '--seq-len', '16', '--kv-pairs', '2', '--vocab-size', '32', '--train-examples', '32', '--test-examples', '16', '--epochs', '1', '--batch-size', '16', '--out', out]);
    expect(r.status, r.stderr).toBe(0);
    const record = JSON.parse(readFileSync(join(out, 'runs.jsonl'), 'utf8').trim()) as Record<string, any>;
    expect(record.label).toBe('retention');
    expect(record.config.model.layers[0]).toEqual({ mixer: 'retention', params: { numHeads: 2 } });
    expect(record.stateFloats).toEqual({ measured: 2 * 2 * 8 * 8, paper: 2 * 2 * 8 * 8 });
    expect(record.backend).toBe('cpu');
    expect(record.steps).toBe(2);
    expect(record.testAccuracy).toBeGreaterThanOrEqual(0);
    expect(r.stdout).toMatch(/retention/);
  });
});
