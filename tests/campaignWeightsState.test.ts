// The committed checkpoint weights (.weights/<preset>/) against the committed campaign folder they resume
// (results/campaign/<preset>/): campaign_stretch.sh seeds them only when .weights/<preset>/state.sha256 equals the
// folder's state hash (bench/campaign_state.sh, the one definition), and a weight or rung note beside a run that
// already has a record is never resumed (a weight needs no rung note: checkpoints are kept every epoch, notes at rungs). A commit that takes the merge's new files but not its
// deletions (2026-12-03: stale rung notes and weights of finished runs came back into the tree) leaves the hashes
// apart and the next session's machine retraining from scratch — this test fails on such a commit instead.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from './cliRunner.js';

const WEIGHTS = join(ROOT, '.weights');
const presets = existsSync(WEIGHTS) ? readdirSync(WEIGHTS).filter((name) => existsSync(join(WEIGHTS, name, 'state.sha256'))) : [];

/** bench/campaign_state.sh's hash of a campaign folder, computed by that script itself. */
function stateHash(folder: string): string {
  return execFileSync('bash', ['-c', 'source bench/campaign_state.sh && campaign_state_hash "$1"', '_', folder], { cwd: ROOT, encoding: 'utf8' }).trim();
}

const ids = (dir: string): string[] => (existsSync(dir) ? readdirSync(dir).sort() : []);

describe('committed checkpoint weights match the campaign folder they resume', () => {
  it('there are committed weights to check (the campaign keeps some between sessions)', () => {
    expect(presets.length).toBeGreaterThan(0);
  });

  for (const preset of presets) {
    const folder = join(ROOT, 'results', 'campaign', preset);
    it(`${preset}: state.sha256 is the folder's state hash, no recorded run keeps a weight or a rung note`, () => {
      expect(readFileSync(join(WEIGHTS, preset, 'state.sha256'), 'utf8').trim()).toBe(stateHash(folder));
      const recorded = new Set(readFileSync(join(folder, 'runs.jsonl'), 'utf8').split('\n').filter(Boolean).map((line) => (JSON.parse(line) as { id: string }).id));
      const weights = ids(join(WEIGHTS, preset, 'checkpoints')).filter((id) => existsSync(join(WEIGHTS, preset, 'checkpoints', id, 'checkpoint.bin')));
      const notes = ids(join(folder, 'checkpoints')).filter((id) => existsSync(join(folder, 'checkpoints', id, 'rung.json')));
      expect(weights.filter((id) => recorded.has(id))).toEqual([]);
      expect(notes.filter((id) => recorded.has(id))).toEqual([]);
    });
  }
});
