// Bad input of every kind ends with exit code 2 and ONE line naming the problem — never a stack trace.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from './cliRunner.js';

const dir = mkdtempSync(join(tmpdir(), 'rb-errors-'));
const noExport = join(dir, 'no-export.mjs');
writeFileSync(noExport, 'export const notAMixer = 1;\n');
const wrongShape = join(dir, 'wrong-export.mjs');
writeFileSync(wrongShape, 'export default { name: "x" };\n');
const badConfig = join(dir, 'bad.json');
writeFileSync(badConfig, JSON.stringify({ label: 'a', data: { train: [{ seqLen: 64, numKvPairs: 4, count: 10 }], test: [{ seqLen: 64, numKvPairs: 4, count: 10 }] }, model: { dModel: 16, layers: [{ mixer: 'attention' }], dModle: 3 }, train: { lr: 0.001 } }));

const tiny = ['--backend', 'cpu', '--d-model', '8', '--train-examples', '4', '--test-examples', '4', '--epochs', '1', '--out', join(dir, 'out')];

// [what, args, a fragment the one-line message must contain]
const cases: Array<[string, string[], RegExp]> = [
  ['unknown architecture', ['train', '--arch', 'transformerz', ...tiny], /unknown architecture 'transformerz'/],
  ['odd sequence length', ['train', '--seq-len', '63', ...tiny], /even/i],
  ['too many kv pairs for L', ['train', '--seq-len', '16', '--kv-pairs', '5', ...tiny], /16/],
  ['vocab not larger than L', ['train', '--seq-len', '64', '--vocab-size', '64', ...tiny], /vocab/i],
  ['unknown flag', ['train', '--learning-rate', '0.1', ...tiny], /learning-rate/],
  ['unknown command', ['trian'], /trian/],
  ['plugin file missing', ['list', '--plugin', join(dir, 'nope.ts')], /not found/],
  ['plugin without a default export', ['list', '--plugin', noExport], /no default export/],
  ['plugin export that is not a mixer', ['list', '--plugin', wrongShape], /not a mixer definition/],
  ['bad mixer parameter', ['train', '--param', 'numHeads=0', ...tiny], /numHeads/],
  ['misspelled config key', ['train', '--config', badConfig, '--backend', 'cpu'], /dModle/],
  ['unknown preset', ['sweep', 'no-such-preset', '--dry-run'], /unknown preset 'no-such-preset'/],
];

describe('bad input exits 2 with one line', () => {
  it.each(cases)('%s', (_what, args, message) => {
    const r = runCli(args);
    expect(r.status, r.stderr).toBe(2);
    const lines = r.stderr.trim().split('\n').filter((l) => !/nodedir|npm warn/.test(l));
    expect(lines, r.stderr).toHaveLength(1);
    expect(lines[0]).toMatch(/^recallbench: /);
    expect(lines[0]).toMatch(message);
    expect(r.stderr).not.toMatch(/\n\s+at /); // no stack frames
  });
});
