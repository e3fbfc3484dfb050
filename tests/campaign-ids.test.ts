// The committed campaign records (results/campaign/<folder>/runs.jsonl) are named by content hash (runners/config.ts
// runId of the resolved config). A code change that changes a preset's resolved configs — a mixer parameter added
// with a default, a renamed key — renames its runs: the next stretch would retrain every recorded run as new and the
// folder would hold two names for one run. Today's expansion of each preset must still name every committed run.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runId } from '../runners/config.js';
import { scalePreset } from '../runners/scale.js';
import { expandPreset, loadPreset } from '../runners/sweep.js';
import { ROOT } from './cliRunner.js';

// every campaign folder, named as bench/campaign_stretch.sh names them: <preset> or <preset>-scale<s>
const CAMPAIGN = join(ROOT, 'results', 'campaign');
const FOLDERS: Array<[folder: string, preset: string, scale?: number]> = readdirSync(CAMPAIGN, { withFileTypes: true })
  .filter((e) => e.isDirectory() && existsSync(join(CAMPAIGN, e.name, 'runs.jsonl')))
  .map((e) => {
    const m = /^(.*?)(?:-scale([0-9.]+))?$/.exec(e.name)!;
    return m[2] ? [e.name, m[1]!, Number(m[2])] : [e.name, m[1]!];
  });

describe('committed campaign runs keep their ids', () => {
  it('finds the campaign folders', () => {
    expect(FOLDERS.map(([f]) => f)).toEqual(expect.arrayContaining(['based-fig2', 'zoology-fig2', 'based-fig2-scale0.01', 'jrt-sd']));
  });

  it.each(FOLDERS)('%s: every recorded id is a run of today\'s preset', (folder, preset, scale) => {
    const loaded = loadPreset(preset);
    const ids = new Set(expandPreset(scale ? scalePreset(loaded, scale) : loaded).map(runId));
    const recorded = readFileSync(join(CAMPAIGN, folder, 'runs.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((line) => (JSON.parse(line) as { id: string }).id);
    // every folder holds records (a folder starts at a stretch's first record: jrt-sd had 3 after its first two)
    expect(recorded.length).toBeGreaterThan(0);
    expect([...new Set(recorded)].filter((id) => !ids.has(id))).toEqual([]);
  });
});
