import { defineConfig } from 'vitest/config';
import SlowFirstSequencer from './tests/sequencer.js';

export default defineConfig({
  test: {
    include: ['tests/**/*.test.ts'],
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
  },
});
