import { defineConfig } from 'vitest/config';
import SlowFirstSequencer from './tests/sequencer.js';

// Four projects: `unit` and `gpu` (`npm test`), `learn` (`npm run test:learn`, the tests/*.train.test.ts files: each
// trains a mixer on an easy MQAR through the project's training path and asserts it beats chance — minutes of wasm
// training on 2 cores) and `system` (`npm run test:system`: sweeps run as processes — in parallel, queued, stacked,
// resumed, or chained from the CLI as a user would (addArch) — and the device host's scripts, each file many process
// starts on 2 cores). CI (.ci/run) runs all three scripts;
// `npm run test:all` runs everything at once. `npm test` keeps the crash-and-resume tests (tests/reliability*.test.ts).
const LEARN = 'tests/**/*.train.test.ts';
// npm test was at 344–382 s in clean-clone CI on 2 cores (2026-11-30), against a 6-minute target: these files were
// 207 s of its 985 s of file time. tests/memory.sweep.test.ts (2026-12-02): memory.test.ts's CLI sweeps, each a CLI
// process with its own estimate process and run processes — 33 s of memory.test's 64 s inside npm test
const SYSTEM = [
  'tests/addArch.test.ts', 'tests/concurrency.test.ts', 'tests/search.sweep.test.ts', 'tests/queue.test.ts', 'tests/stack.sweep.test.ts', 'tests/sweep.resume.test.ts',
  'tests/memory.sweep.test.ts',
  // the device host's scripts (bench/*.sh) run on stand-ins: each test a bash pipeline of tar, split, sha256 and CLI
  // processes — 83 s and 90 s of file time inside npm test in clean-clone CI (2026-12-03: npm test 281–366 s)
  'tests/checkThenStretch.test.ts', 'tests/campaignMerge.test.ts',
];
// Files that start a WebGPU adapter, set fast-path levers or mention the backend by name: each in a fresh process
// (isolate, project `gpu`) — in the one run that shared them (2026-11-30), a worker died in Dawn's native code
// (std::system_error). The other unit files share their worker's modules (isolate: false): tfjs and the project load
// once per worker, not once per file; each of them sets its own tfjs backend before it trains.
const GPU = [
  'tests/webgpu-*.test.ts', 'tests/gpu-*.test.ts', 'tests/fastForms.test.ts', 'tests/fastpath-version.test.ts', 'tests/rmsNorm.test.ts',
  'tests/memory.test.ts', 'tests/invariants.test.ts', 'tests/cli.errors.test.ts', 'tests/layers.test.ts', 'tests/report.test.ts',
  'tests/skip-summary.test.ts', 'tests/backend-choice.test.ts', 'tests/concurrency.gpuSelect.test.ts',
];

export default defineConfig({
  test: {
    testTimeout: 180_000,
    hookTimeout: 120_000,
    pool: 'forks',
    // 2-core CI machines, three files at a time: many files wait on the processes they start (sweeps, kills, locks), and a
    // third worker fills the cores meanwhile — npm test 309 s with 3 against about 350 s with 2 on this 2-core VM
    // (2026-11-30, the same files, one run each)
    maxWorkers: 3,
    // the long files first, so the two workers finish together (tests/sequencer.ts)
    sequence: { sequencer: SlowFirstSequencer },
    // the closing summary of skipped groups (tests that need a GPU adapter, redis-server or chromium) and the
    // command that installs what they need; .ci/run names it too (reporters given on the command line replace these)
    reporters: ['default', './tests/skip-summary.reporter.ts'],
    projects: [
      { extends: true, test: { name: 'unit', include: ['tests/**/*.test.ts'], exclude: [LEARN, ...GPU, ...SYSTEM], isolate: false } },
      // WebGPU files on lavapipe spend most of a cold run compiling shaders (LLVM, ~1.3 s a pipeline on this 2-core VM;
      // Mesa keeps them in ~/.cache/mesa_shader_cache_db): with that cache empty, npm test took 800 s in a clean clone
      // (2026-11-30 23:04 UTC, against ~300 s warm) and its slowest test, the matmul tilings' 37 pipelines, 165 s of the
      // 180 s limit (47 s alone). A longer limit here so that a cold cache is slow, never a timeout
      { extends: true, test: { name: 'gpu', include: GPU, testTimeout: 420_000 } },
      { extends: true, test: { name: 'learn', include: [LEARN] } },
      { extends: true, test: { name: 'system', include: SYSTEM, isolate: false } },
    ],
  },
});
