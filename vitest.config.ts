import { defineConfig } from 'vitest/config';
import SlowFirstSequencer from './tests/sequencer.js';

// Two projects: `unit` (`npm test`, every file but the learning checks) and `learn` (`npm run test:learn`, the
// tests/*.train.test.ts files: each trains a mixer on an easy MQAR through the project's training path and asserts it
// beats chance — minutes of wasm training on 2 cores). CI (.ci/run) runs both; `npm run test:all` runs both at once.
const LEARN = 'tests/**/*.train.test.ts';

export default defineConfig({
  test: {
    testTimeout: 180_000,
    hookTimeout: 120_000,
    pool: 'forks',
    // 2-core CI machines: two files at a time
    maxWorkers: 2,
    // the long files first, so the two workers finish together (tests/sequencer.ts)
    sequence: { sequencer: SlowFirstSequencer },
    // the closing summary of skipped groups (tests that need a GPU adapter, redis-server or chromium) and the
    // command that installs what they need; .ci/run names it too (reporters given on the command line replace these)
    reporters: ['default', './tests/skip-summary.reporter.ts'],
    projects: [
      { extends: true, test: { name: 'unit', include: ['tests/**/*.test.ts'], exclude: [LEARN] } },
      { extends: true, test: { name: 'learn', include: [LEARN] } },
    ],
  },
});
