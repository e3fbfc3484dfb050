#!/usr/bin/env node
// recallbench's command line: train, sweep, list, data, state-size. Bad input of any kind ends with one line
// naming the problem and exit code 2; a stack trace only with --debug.
//
// main(args, io) runs one command in this process and resolves with its exit code, writing to io's streams (the
// tests call it so); runProgram (this file run directly, or bin/recallbench.js) is the program: it records its
// entry for the child processes of sweep --concurrency and worker, and exits with that code.
import yargs, { type Argv } from 'yargs';
import { hideBin } from 'yargs/helpers';
import { closeSync, openSync, readFileSync, createWriteStream, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { BACKEND_CHOICES, DeviceLostError, initBackend, releaseGpu, type BackendChoice } from '../engine/backend.js';
import { UserInputError } from '../engine/errors.js';
import { loadPlugin } from '../engine/plugins.js';
import { getMixer, listMixers, resolveMixerParams } from '../engine/registry.js';
import { TaskConfigError } from '../tasks/types.js';
import { getTask, listTasks } from '../tasks/index.js';
import { exportExamples, exampleToJson } from '../tasks/export.js';
import { parseStrict, runId, searchSchema, type RunConfig } from './../runners/config.js';
import { ResultsDir } from '../runners/results.js';
import { resolveRunConfig } from '../runners/run.js';
import { leftOutLine, NO_NVIDIA_SMI, parseConcurrency, planSweepConcurrency, resolveGpuMemory, runSweepParallel, stackSizeFor } from '../runners/concurrency.js';
import { sweepStackSize } from '../runners/stack.js';
import { serveChildJob, setSelfEntry } from '../runners/pool.js';
// the queue modules (BullMQ) load only for sweep --queue, worker and status: a run's child process skips them
const DEFAULT_QUEUE_NAME = 'recallbench';
import { expandPreset, listPresetNames, loadPreset, presetSchema, runSweep, selectPreset, type Preset, type PresetInput } from '../runners/sweep.js';
import { counted, estimateSweepTime, frontTable, runNamer, timingDirs } from '../runners/summary.js';
import { announceInterrupts } from '../runners/progress.js';
import { scalePreset, trainingSteps } from '../runners/scale.js';
import { describeSearch, halvingOf, readGroups, savingsText, searchSavings, stopsToReopen } from '../runners/search.js';
import { versions } from '../runners/run.js';
import { appendFileSync } from 'node:fs';

const EXIT_USER_ERROR = 2;
/** The preset `npm run sweep` trains when given none: a small recall-vs-state front (runners/presets/front.json). */
const DEFAULT_PRESET = 'front';
/** Where a user's runs go by default: git-ignored, apart from the committed results/ of the paper presets. */
const RUNS_ROOT = 'runs';

/** After a sweep: the figures and the HTML report, or one line saying why not; the paths to open. */
async function drawAndReport(dir: string, quiet: boolean, io: CliIo): Promise<string[]> {
  let writeReport: typeof import('../runners/report.js').writeReport;
  try {
    ({ writeReport } = await importDrawing<typeof import('../runners/report.js')>('../runners/report.js'));
  } catch (e) {
    if (!quiet) io.stderr.write(`figures: not drawn (${e instanceof UserInputError ? 'this GPU-host bundle has no drawing modules' : `drawing modules unavailable: ${String((e as Error)?.message ?? e).split('\n')[0]}`}); draw them where node_modules is: recallbench report ${dir}\n`);
    return [];
  }
  // nothing stored (every run crashed before its record): nothing to draw, and not the user's mistake
  if (!existsSync(join(dir, 'runs.jsonl'))) return [];
  let r: Awaited<ReturnType<typeof writeReport>>;
  try {
    r = await writeReport(dir, { reportCommand: ['recallbench', 'report', dir].map(shellWord).join(' ') });
  } catch (e) {
    // the runs are stored: a figure that cannot be drawn must not turn a finished sweep into a failure
    if (!quiet) io.stderr.write(`figures: not drawn (${String((e as Error)?.message ?? e).split('\n')[0]}); try again: recallbench report ${dir}\n`);
    return [];
  }
  const front = r.figures.find((f) => f.name === 'accuracy-vs-state') ? [join(dir, 'figures', 'accuracy-vs-state.png')] : [];
  return [r.path, ...front];
}

/** plot's and report's --png: which figures get a PNG beside their SVG. */
const PNG_OPTION = {
  choices: ['all', 'headline', 'none'] as const,
  default: 'all' as const,
  // --no-png (and a bare --png), as the flag was a boolean before
  coerce: (v: unknown) => (v === false ? 'none' : v === true ? 'all' : v) as 'all' | 'headline' | 'none',
  describe: "PNGs beside the SVGs: of every figure, of the headline figures only (not the per-mixer training curves: what the campaign folders commit, to keep the tree device calls carry small), or none",
};
const pngChoice = (png: 'all' | 'headline' | 'none') => (png === 'all' ? true : png === 'none' ? false : 'headline');
/** plot's and report's --beside: other results folders drawn with this one (read only). */
const BESIDE_OPTION = {
  type: 'string' as const,
  array: true as const,
  describe: "other results folder(s) whose runs are drawn too, read only — e.g. your --add-arch runs beside a paper's committed ones: report runs/based-fig2 --beside results/campaign/based-fig2 (a run both hold is drawn once, from this folder)",
};
/** --beside's folders: absent, or at least one (a bare --beside is a mistake, not "no other folder"). */
function besideFolders(beside: string[] | undefined): string[] | undefined {
  if (beside !== undefined && beside.length === 0) throw new UserInputError('--beside: name the results folder(s) to draw beside this one');
  return beside;
}
/** plot's and report's --detail-files: the per-mixer training curves' own files, or (report) on the page only. */
const DETAIL_FILES_OPTION = {
  type: 'boolean' as const,
  default: true,
  describe: "write the per-mixer training-curve figures' own files (figures/curves-*.vl.json, .svg, .csv); --no-detail-files leaves them out, and report draws them on its page only (what the campaign folders commit: about half their bytes, and device calls carry the tracked tree)",
};

/**
 * The drawing modules (vega, and resvg: a native addon) load only for plot/report, through a computed import that
 * esbuild leaves alone, so that the GPU-host bundle (shared/gpu-host/pack) builds without them; plot where
 * node_modules is, after copying the results folder back.
 */
async function importDrawing<T>(path: string): Promise<T> {
  try {
    return (await import(path)) as T;
  } catch (e) {
    if (/app\.mjs$/.test(process.argv[1] ?? '')) throw new UserInputError(`plot and report are not part of the GPU-host bundle: copy the results folder back and run them where node_modules is (npx tsx src/cli.ts plot <dir>)`);
    throw e;
  }
}

/** A word of a shell command line, quoted only when it needs to be. */
function shellWord(w: string): string {
  return /^[\w@%+=:,./-]+$/.test(w) ? w : `'${w.replace(/'/g, `'\\''`)}'`;
}
/** The GPU went away mid-sweep: not the user's input, not a bug; re-running resumes. */
const EXIT_DEVICE_LOST = 3;

interface GlobalArgs {
  backend: BackendChoice;
  plugin: string[];
  gpu?: number[];
  debug: boolean;
  quiet: boolean;
}

/** A count flag's value (--max-attempts, --stack, a worker's --concurrency): a whole number ≥ 1, else a one-line error. */
function wholeNumber(flag: string, n: number): number {
  if (!Number.isInteger(n) || n < 1) throw new UserInputError(`${flag} expects a whole number ≥ 1, got ${n}`);
  return n;
}

/** "key=value" pairs → object; values parsed as JSON when they parse (numbers, booleans), else strings. */
function parsePairs(pairs: string[] | undefined, flag: string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const pair of pairs ?? []) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new UserInputError(`${flag} expects key=value, got '${pair}'`);
    const raw = pair.slice(eq + 1);
    let value: unknown = raw;
    try {
      value = JSON.parse(raw);
    } catch {
      // a plain string
    }
    out[pair.slice(0, eq)] = value;
  }
  return out;
}

/** --gpu indices, checked; `single`: a command that runs in this process takes one GPU. */
function gpuIndices(argv: GlobalArgs, single = false): number[] | undefined {
  const gpus = argv.gpu;
  if (!gpus || gpus.length === 0) return undefined;
  for (const g of gpus) if (!Number.isInteger(g) || g < 0) throw new UserInputError(`--gpu expects GPU indices (0, 1, ...), got '${g}'`);
  if (single && gpus.length > 1) throw new UserInputError(`--gpu: this command runs in one process, on one GPU: give one index (several GPUs: sweep --concurrency N --gpu 0 1, or one worker per GPU)`);
  return gpus;
}

async function setup(argv: GlobalArgs, io: CliIo): Promise<Awaited<ReturnType<typeof initBackend>>> {
  const gpu = gpuIndices(argv, true)?.[0];
  const info = await initBackend(argv.backend, gpu !== undefined ? { gpu } : {});
  if (info.note && !argv.quiet) io.stderr.write(`backend: ${info.backend} (${info.note})\n`);
  for (const p of argv.plugin ?? []) await loadPlugin(p);
  return info;
}

async function loadPluginsOnly(argv: GlobalArgs): Promise<void> {
  if ((argv.plugin ?? []).length === 0) return;
  await initBackend('cpu');
  for (const p of argv.plugin) await loadPlugin(p);
}

/** "baseconv+attention" → hybrid layer list; `params` go to the last layer (the mixer under test). */
function layersFromArch(arch: string, params: Record<string, unknown>) {
  const names = arch.split('+').map((s) => s.trim()).filter(Boolean);
  if (names.length === 0) throw new UserInputError(`--arch: empty architecture name`);
  return names.map((mixer, i) => ({ mixer, params: i === names.length - 1 ? params : {} }));
}

/**
 * A preset with the user's architectures added (sweep --add-arch): each trains on the preset's data, at its learning
 * rates, under its search, training and model settings (block included), at `dModels` or the preset's widths — so
 * its runs sit on the paper's figure beside the preset's own (report --beside). A label the preset already has is
 * refused: its runs would be drawn as that mixer's.
 */
function addArchitectures(preset: Preset, archs: string[], params: Record<string, unknown>, dModels: number[] | undefined): Preset {
  const labels = new Set(preset.architectures.map((a) => a.label));
  const taken = archs.filter((a) => labels.has(a));
  if (taken.length) throw new UserInputError(`--add-arch: ${taken.join(', ')} is already an architecture of ${preset.name} (use --only to train it)`);
  if (dModels && (dModels.length === 0 || dModels.some((d) => !Number.isInteger(d) || d <= 0))) throw new UserInputError(`--add-d-model: whole numbers ≥ 1, got ${dModels.join(' ')}`);
  const added = archs.map((arch) => ({ label: arch, layers: layersFromArch(arch, params), ...(dModels ? { dModels } : {}) }));
  return parseStrict(presetSchema, { ...preset, architectures: [...preset.architectures, ...added] }, `preset ${preset.name} with --add-arch ${archs.join(' ')}`);
}

function taskSegments(argv: Record<string, unknown>, settings: Array<Record<string, unknown>>) {
  const taskParams = parsePairs(argv.taskParam as string[] | undefined, '--task-param');
  const common: Record<string, unknown> = { ...taskParams };
  if (argv.vocabSize !== undefined) common.vocabSize = argv.vocabSize;
  return {
    task: argv.task as string,
    common,
    train: settings.map((s) => ({ ...s, count: argv.trainExamples })),
    test: settings.map((s) => ({ ...s, count: argv.testExamples })),
    seed: argv.dataSeed as number,
  };
}

function mqarSetting(argv: Record<string, unknown>, seqLen: unknown, kvPairs: unknown): Record<string, unknown> {
  if (argv.task !== 'mqar') return {};
  return { seqLen, numKvPairs: kvPairs };
}

const taskFlags = (y: Argv) =>
  y
    .option('task', { type: 'string', default: 'mqar', describe: 'task name (recallbench list tasks)' })
    .option('vocab-size', { type: 'number', describe: 'vocabulary size (task default if omitted)' })
    .option('task-param', { type: 'string', array: true, describe: 'other task parameter, key=value (e.g. randomNonQueries=true, passes=2)' })
    .option('train-examples', { type: 'number', default: 10000 })
    .option('test-examples', { type: 'number', default: 1000 })
    .option('data-seed', { type: 'number', default: 0 });

const modelFlags = (y: Argv) =>
  y
    .option('n-layers', { type: 'number', default: 2 })
    .option('positions', { type: 'boolean', default: false, describe: 'learned absolute position embeddings' })
    .option('mlp', { type: 'boolean', default: false, describe: 'MLP (x4, GELU) after each mixer' })
    .option('block', { choices: ['prenorm', 'zoology'] as const, default: 'prenorm' as const, describe: "the block: pre-norm x + mixer(LN(x)), or zoology's TransformerBlock/MambaBlock and init (the paper presets' default)" })
    .option('param', { type: 'string', array: true, describe: 'mixer hyperparameter key=value (applies to the last mixer of --arch)' })
    .option('epochs', { type: 'number', default: 16 })
    .option('batch-size', { type: 'number', default: 64 })
    .option('eval-batch-size', { type: 'number', default: 128 })
    .option('weight-decay', { type: 'number', default: 0.1 });

function trainSection(argv: Record<string, unknown>, lr: number) {
  return { epochs: argv.epochs, batchSize: argv.batchSize, evalBatchSize: argv.evalBatchSize, weightDecay: argv.weightDecay, lr };
}

/** Say what went wrong in one line (the stack only with --debug); the exit code it calls for. */
function printError(e: unknown, debug: boolean, io: CliIo): number {
  if (e instanceof UserInputError || e instanceof TaskConfigError) {
    io.stderr.write(`recallbench: ${e.message}\n`);
    if (debug) io.stderr.write(`${(e as Error).stack}\n`);
    return EXIT_USER_ERROR;
  }
  if (e instanceof DeviceLostError) {
    io.stderr.write(`recallbench: ${e.message}: that run is recorded as failed; re-run the same command to resume (finished runs are kept, failed runs are retried)\n`);
    if (debug) io.stderr.write(`${e.stack}\n`);
    return EXIT_DEVICE_LOST;
  }
  io.stderr.write(`recallbench: internal error: ${String((e as Error)?.message ?? e).split('\n')[0]}${debug ? `\n${(e as Error)?.stack}` : ' (run with --debug for the stack trace)'}\n`);
  return 1;
}

/** Where a command's own output goes (the progress lines of a sweep go to process.stderr). */
export interface CliIo {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
}

/** The yargs program; a command that ends with an exit code other than 0 without throwing sets `status.code`. */
function buildCli(args: string[], io: CliIo, status: { code: number }) {
  return yargs(args)
    .scriptName('recallbench')
    .usage('$0 <command> [options]')
    .option('backend', { choices: BACKEND_CHOICES, default: 'auto' as BackendChoice, describe: 'tfjs backend (auto: tensorflow if installed, else webgpu if a GPU adapter is found, else wasm)' })
    .option('plugin', { type: 'string', array: true, default: [] as string[], describe: 'load a mixer plugin file (.ts/.js)' })
    .option('debug', { type: 'boolean', default: false, describe: 'print stack traces' })
    .option('quiet', { type: 'boolean', default: false })
    .option('verbose', { type: 'boolean', default: false, describe: 'also print each run\'s resolved config as it starts (always stored in its record)' })
    .option('gpu', { type: 'number', array: true, describe: 'GPU index(es) to run on (nvidia-smi order; identical GPUs are told apart by PCI address): one for train/sweep/worker, several for sweep --concurrency N or worker --concurrency N (lane k on GPU k)' })
    .command(
      'train',
      'train one run (from flags or --config FILE.json)',
      (y) => modelFlags(taskFlags(y))
        .option('config', { type: 'string', describe: 'a JSON run config (label, data, model, train, seed)' })
        .option('arch', { type: 'string', default: 'attention', describe: 'mixer name, or a hybrid like baseconv+attention' })
        .option('d-model', { type: 'number', default: 64 })
        .option('lr', { type: 'number', default: 1e-3 })
        .option('seq-len', { type: 'number', default: 64 })
        .option('kv-pairs', { type: 'number', default: 4 })
        .option('seed', { type: 'number', default: 0 })
        .option('out', { type: 'string', default: `${RUNS_ROOT}/train`, describe: 'results folder (runs/ is git-ignored)' }),
      async (argv) => {
        const backend = await setup(argv as unknown as GlobalArgs, io);
        let config: RunConfig;
        if (argv.config) {
          let raw: unknown;
          try {
            raw = JSON.parse(readFileSync(argv.config, 'utf8'));
          } catch (e) {
            throw new UserInputError(`--config ${argv.config}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'file not found' : `not valid JSON (${(e as Error).message.split('\n')[0]})`}`);
          }
          config = resolveRunConfig(raw, `config ${argv.config}`);
        } else {
          const a = argv as unknown as Record<string, unknown>;
          config = resolveRunConfig({
            label: argv.arch,
            data: taskSegments(a, [mqarSetting(a, argv.seqLen, argv.kvPairs)]),
            model: { dModel: argv.dModel, nLayers: argv.nLayers, layers: layersFromArch(argv.arch, parsePairs(argv.param, '--param')), positionEmbeddings: argv.positions as boolean, mlp: argv.mlp as boolean, block: argv.block as 'prenorm' | 'zoology' },
            train: trainSection(a, argv.lr),
            seed: argv.seed,
          });
        }
        // a run that cannot fit the GPU is refused before it starts, as a sweep's are (runners/memory.ts)
        const g = argv as unknown as GlobalArgs;
        const gpuMemory = backend.backend === 'webgpu' ? resolveGpuMemory({ backend: 'webgpu', gpus: gpuIndices(g) }) : undefined;
        if (gpuMemory) await planSweepConcurrency([config], 1, gpuMemory, 1, g.plugin ?? []);
        // the resolved config is stored in the run's record (printed as the run starts with --verbose)
        const results = new ResultsDir(argv.out);
        announceInterrupts();
        const records = await runSweep([config], { backend, results, quiet: argv.quiet as boolean, verbose: argv.verbose as boolean, title: 'train' });
        results.tidy();
        io.stdout.write(`\n${frontTable(records)}\n\nresults: ${results.runsCsv} (all runs: ${results.runsJsonl})\n`);
      },
    )
    .command(
      'sweep [preset]',
      'train a grid of runs from a preset (name or JSON file) or from flags; re-running resumes',
      (y) => modelFlags(taskFlags(y))
        .positional('preset', { type: 'string', describe: `preset name or file (default ${DEFAULT_PRESET}: a small recall-vs-state front, under 3 minutes on 2 CPU cores)` })
        .option('arch', { type: 'string', array: true, describe: 'architectures (flag-built grid), e.g. attention baseconv+based' })
        .option('d-model', { type: 'number', array: true, default: [64] })
        .option('lr', { type: 'number', array: true, default: [1e-3] })
        .option('setting', { type: 'string', array: true, default: ['64:4'], describe: 'MQAR settings L:K (flag-built grid). Several settings are not a grid axis: each model trains once on their mixture and is tested on each as a slice (a column of the table); for one run per setting, run one sweep per setting or write a preset with several data entries' })
        .option('seeds', { type: 'number', array: true, default: [0] })
        .option('name', { type: 'string', describe: 'results folder name (default: the preset name, or "sweep")' })
        .option('out', { type: 'string', describe: `results folder (default ${RUNS_ROOT}/<name>, git-ignored)` })
        .option('dry-run', { type: 'boolean', default: false, describe: 'print the grid, and an estimated time where this host has timed runs of the same shapes (with --gpu-memory GiB: the memory plan on a GPU of that size — lanes, packing, runs left out), then exit' })
        .option('report', { type: 'boolean', default: true, describe: 'when the sweep ends, draw the figures and write index.html in the results folder (--no-report: skip)' })
        .option('scale', { type: 'number', describe: 'shrink the grid by s in (0, 1]: fewer examples, epochs and sizes, same axes (runners/scale.ts); every learning rate stays under successive halving' })
        .option('add-arch', { type: 'string', array: true, describe: "with a preset: add your architecture(s) to its grid (same syntax as --arch, e.g. my-mixer or baseconv+my-mixer; --param applies to the last mixer; a --plugin defines it) — the preset's data, learning rates, search, training and model settings — and train only those (unless --only names more); draw them beside the paper's runs with `report <out> --beside <folder>`" })
        .option('add-d-model', { type: 'number', array: true, describe: "with --add-arch: the added architectures' model widths (default: the preset's d_model list)" })
        .option('only', { type: 'string', array: true, describe: "train only these architecture labels of the preset (e.g. one stretch of a campaign: --only attention based); run ids are the full grid's" })
        .option('only-data', { type: 'string', array: true, describe: "train only these task settings (data-entry labels) of the preset, e.g. one figure panel: --only-data L64-K4; run ids are the full grid's" })
        .option('only-seeds', { type: 'number', array: true, describe: "train only these seeds of the preset (e.g. one seed of every point first: --only-seeds 0); run ids are the full grid's" })
        .option('search', { choices: ['grid', 'halving'] as const, describe: 'learning-rate search: grid (every run to its last epoch) or halving (successive halving at rungs, runners/search.ts); default: the preset\'s (the paper presets: halving; flags: grid)' })
        .option('reopen-ties', { type: 'boolean', default: false, describe: "before training, set aside (to reopened.jsonl) the stored halving stops the preset's rule would not make now — e.g. stops within its keepWithin margin made before the margin existed — in groups no run of which has solved the task, so the sweep re-decides them (runners/search.ts stopsToReopen)" })
        .option('max-attempts', { type: 'number', default: 3, describe: 'a run stored as failed (GPU fault, numerical fault, crash) this many times is not retried' })
        .option('stack', { type: 'number', describe: 'train the runs that differ only in learning rate as stacks of up to N (default: the preset\'s "stack" on webgpu — jrt-sd 3, measured there — else 1), one model with a run axis (engine/stack.ts; stackable mixers only: attention, sliding-window, based, linear-attention, baseconv (short, or a causal long conv), hyena, h3, mamba, rwkv; the others train alone); each run\'s record is the one it has alone. With --concurrency N each stack trains in one of the N processes; not with --queue' })
        .option('concurrency', { type: 'string', default: 'auto', describe: 'runs at a time on this machine, one process per run (with --gpu 0 1 ...: spread over those GPUs); auto: as many as the GPU\'s free memory holds by each run\'s estimated peak (runners/memory.ts, at most 8 per GPU), 1 where the GPU memory is unknown (cpu, wasm)' })
        .option('gpu-memory', { type: 'number', describe: 'GiB of GPU memory the runs may use per GPU, instead of nvidia-smi\'s free memory (any backend): --concurrency auto plans from it, and a run whose estimate cannot fit is refused' })
        .option('queue', { type: 'string', describe: 'enqueue the runs on BullMQ at redis://HOST:PORT for `recallbench worker`s, gather finished results, and exit' })
        .option('queue-name', { type: 'string', default: DEFAULT_QUEUE_NAME, describe: 'BullMQ queue name' })
        .option('wait', { type: 'boolean', default: false, describe: 'with --queue: wait until every run is done or failed, gathering results' })
        .option('retry-failed', { type: 'boolean', default: false, describe: 'with --queue: put this grid\'s failed jobs back in the queue' })
        .option('attempts', { type: 'number', default: 3, describe: 'with --queue: tries per run before it stays failed' })
        .option('retry-delay', { type: 'number', default: 10_000, describe: 'with --queue: ms before the first retry (doubling after)' }),
      async (argv) => {
        const g = argv as unknown as GlobalArgs;
        let preset;
        if (argv.arch && argv.arch.length > 0) {
          if (argv.preset) throw new UserInputError('give either a preset or --arch flags, not both');
          const a = argv as unknown as Record<string, unknown>;
          const settings = argv.setting.map((s) => {
            const m = /^(\d+):(\d+)$/.exec(s);
            if (!m) throw new UserInputError(`--setting expects L:K (e.g. 64:4), got '${s}'`);
            return mqarSetting(a, Number(m[1]), Number(m[2]));
          });
          const input: PresetInput = {
            name: argv.name ?? 'sweep',
            data: [taskSegments(a, settings)],
            architectures: argv.arch.map((arch) => ({ label: arch, layers: layersFromArch(arch, parsePairs(argv.param, '--param')), model: { positionEmbeddings: argv.positions as boolean } })),
            dModels: argv.dModel,
            learningRates: argv.lr,
            seeds: argv.seeds,
            model: { nLayers: argv.nLayers as number, mlp: argv.mlp as boolean, block: argv.block as 'prenorm' | 'zoology' },
            train: { epochs: argv.epochs, batchSize: argv.batchSize, evalBatchSize: argv.evalBatchSize, weightDecay: argv.weightDecay },
          };
          preset = parseStrict(presetSchema, input, 'sweep flags');
        } else {
          preset = loadPreset(argv.preset ?? DEFAULT_PRESET);
        }
        let only = argv.only;
        if (argv.addArch !== undefined && argv.addArch.length === 0) throw new UserInputError('--add-arch: name the architecture(s) to add (e.g. --add-arch my-mixer)');
        if (argv.preset && argv.param?.length && !argv.addArch) throw new UserInputError("--param sets the parameters of --arch's or --add-arch's mixer; a preset's architectures carry their own (write a preset file to change them)");
        if (argv.addArch?.length) {
          if (!argv.preset) throw new UserInputError('--add-arch adds architectures to a preset: name one (e.g. sweep based-fig2 --add-arch my-mixer --plugin my.ts)');
          preset = addArchitectures(preset, argv.addArch, parsePairs(argv.param, '--param'), argv.addDModel);
          only = [...new Set([...(argv.only ?? []), ...argv.addArch])];
        } else if (argv.addDModel) throw new UserInputError('--add-d-model sets the widths of the architectures --add-arch adds: give --add-arch too');
        preset = selectPreset(preset, only, argv.onlyData);
        if (argv.search === 'grid') preset = { ...preset, search: { kind: 'grid' as const } };
        else if (argv.search === 'halving' && preset.search.kind !== 'halving') preset = { ...preset, search: searchSchema.parse({ kind: 'halving' }) };
        const scale = argv.scale;
        if (scale !== undefined) preset = scalePreset(preset, scale);
        // after --scale, which keeps a share of the seeds: the seeds asked for are the scaled grid's
        if (argv.onlySeeds?.length) preset = selectPreset(preset, undefined, undefined, argv.onlySeeds);
        const halvingRule = halvingOf(preset.search);
        if (argv.reopenTies && !halvingRule) throw new UserInputError('--reopen-ties re-makes successive-halving decisions: this sweep searches the full grid (a preset with search "halving", or --search halving)');
        const presetTag = scale !== undefined && scale !== 1 ? `${preset.name}@scale=${scale}` : preset.name;
        const concurrency = parseConcurrency(argv.concurrency);
        // a dry run plans memory only when told the GPU's size (--gpu-memory): it must not depend on this host's GPU
        const memoryProblems: string[] = [];
        const gpuMemory = argv.queue || (argv.dryRun && argv.gpuMemory === undefined) ? undefined : resolveGpuMemory({ backend: g.backend, gpus: gpuIndices(g), gpuMemoryGiB: argv.gpuMemory, problems: memoryProblems });
        // queued and parallel sweeps train in other processes: this one only expands the grid (auto on a GPU: always child processes)
        const inProcess = !argv.dryRun && !argv.queue && (concurrency === 1 || (concurrency === 'auto' && !gpuMemory));
        // the preset's own stack size only where runs train here (a queued job is one run)
        const stack = sweepStackSize(argv.stack === undefined ? undefined : wholeNumber('--stack', argv.stack as number), argv.queue ? undefined : preset.stack, g.backend);
        const stackLine = argv.stack === undefined && stack > 1 ? `stack: ${stack}, ${preset.name}'s own (its "stack", measured on a GPU; --stack 1 trains each run alone)` : undefined;
        if (stackLine && (argv.dryRun || !argv.quiet)) (argv.dryRun ? io.stdout : io.stderr).write(`${argv.dryRun ? '' : 'sweep: '}${stackLine}\n`);
        if (stack > 1 && argv.queue) throw new UserInputError('--stack trains stacks in this process or in the sweep\'s own processes (--concurrency N), not with --queue: a queued job is one run');
        const backend = inProcess ? await setup(g, io) : undefined;
        if (!inProcess) await loadPluginsOnly(g);
        const configs = expandPreset(preset);
        if (argv.dryRun) {
          const nameOf = runNamer(configs);
          for (const c of configs) {
            const name = nameOf(c);
            // the seed once: the name says it already where it tells runs apart (several seeds, or a seed other than 0)
            io.stdout.write(`${runId(c)}  ${name}${name.endsWith(` seed${c.seed}`) ? '' : `  seed${c.seed}`}  ${trainingSteps(c)} steps\n`);
          }
          io.stdout.write(`${configs.length} runs, ${configs.reduce((n, c) => n + trainingSteps(c), 0)} training steps at most (no early stop)\n`);
          io.stdout.write(`${describeSearch(configs, preset.search)}\n`);
          const out = argv.out ?? join(RUNS_ROOT, argv.name ?? preset.name);
          io.stdout.write(`${estimateSweepTime(configs, timingDirs(out, [dirname(out), RUNS_ROOT, 'results', join('results', 'campaign')]), g.backend, out).line}\n`);
          if (gpuMemory) {
            // what --concurrency would do on a GPU of that size: lanes, packing, runs left out (runners/memory.ts)
            const plan = await planSweepConcurrency(configs, concurrency, gpuMemory, gpuIndices(g)?.length ?? 1, g.plugin ?? []);
            io.stdout.write(`${plan.note}\n`);
            const stacking = stackSizeFor(stack, plan);
            if (stacking.note) io.stdout.write(`${stacking.note}\n`);
            for (const e of plan.tooLarge) io.stdout.write(`${leftOutLine(e)}\n`);
          }
          return;
        }
        // runs are packed by their memory estimates (runners/memory.ts); under auto a run larger than a GPU is left
        // out by name (the grid is refused only if none fits), under an explicit N a run larger than a GPU refuses the
        // grid (one larger than an equal share runs with fewer beside it)
        const plan = argv.queue ? undefined : await planSweepConcurrency(configs, concurrency, gpuMemory, gpuIndices(g)?.length ?? 1, g.plugin ?? []);
        if ((plan?.shareBytes !== undefined || plan?.budget) && !argv.quiet) io.stderr.write(`sweep: ${plan.note}\n`);
        // auto falling back to one run at a time is said, with why, when nvidia-smi is there but gave no memory
        // (campaign stretch 9 fell back silently for a whole device call, 2026-11-29); a host without it says nothing
        const unexpected = memoryProblems.filter((p) => p !== NO_NVIDIA_SMI);
        if (plan && concurrency === 'auto' && !gpuMemory && unexpected.length && !argv.quiet) io.stderr.write(`sweep: ${plan.note}: ${unexpected.join('; ')}\n`);
        for (const e of plan?.tooLarge ?? []) io.stderr.write(`sweep: ${leftOutLine(e)}\n`);
        // a stack holds its runs' memory at once: on a GPU of known memory, no more runs than fit (runners/concurrency.ts)
        const stacking = plan ? stackSizeFor(stack, plan) : { size: stack };
        if (stacking.note && !argv.quiet) io.stderr.write(`sweep: ${stacking.note}\n`);
        const stackSize = stacking.sizeOf ?? stacking.size;
        const tooLarge = new Set((plan?.tooLarge ?? []).map((e) => e.id));
        const trained = tooLarge.size ? configs.filter((c) => !tooLarge.has(runId(c))) : configs;
        const lanes = plan?.lanes ?? 1;
        const name = argv.name ?? preset.name;
        const results = new ResultsDir(argv.out ?? join(RUNS_ROOT, name));
        // the exact command, for the report's provenance section
        appendFileSync(join(results.dir, 'commands.jsonl'), `${JSON.stringify({ command: ['recallbench', ...args].map(shellWord).join(' '), startedAt: new Date().toISOString(), backend: backend?.backend ?? g.backend, device: backend?.device ?? (argv.queue ? `queue ${argv.queue}` : `${lanes} processes`), versions: versions() })}\n`);
        if (argv.queue) {
          if (halvingOf(preset.search)) throw new UserInputError('--queue trains every run to its end: successive halving runs in `sweep` and `sweep --concurrency N` (or pass --search grid to queue the full grid)');
          const { submitSweep } = await import('../runners/queue.js');
          const report = await submitSweep({ url: argv.queue, name: argv.queueName }, configs, results, { preset: presetTag, results: name, wait: argv.wait, retryFailed: argv.retryFailed, attempts: argv.attempts, backoffMs: argv.retryDelay, quiet: argv.quiet as boolean });
          if (argv.wait) {
            const byId = new Map(results.records().map((r) => [r.id, r]));
            const records = configs.map((c) => byId.get(runId(c))).filter((r) => r !== undefined); // grid order, as a serial sweep stores them
            io.stdout.write(`\n${frontTable(records)}\n\nresults: ${results.runsJsonl}, ${results.runsCsv}\n`);
            for (const f of report.failed) io.stdout.write(`failed: ${f.id} ${f.label} after ${f.attempts} attempt(s): ${f.reason}\n`);
          }
          results.tidy();
          return;
        }
        if (argv.reopenTies && halvingRule) {
          const groups = readGroups(configs, results, { maxAttempts: wholeNumber('--max-attempts', argv.maxAttempts), blocked: new Set() });
          const reopen = groups.flatMap((members) => stopsToReopen(members, halvingRule, members[0]!.config.train.earlyStopAccuracy));
          const { setAside } = await import('../runners/verify.js');
          setAside(results.dir, reopen, 'reopened');
          if (!argv.quiet) io.stderr.write(`sweep: --reopen-ties: ${reopen.length} stored stop(s) set aside to reopened.jsonl, to be re-decided${reopen.length ? `: ${reopen.join(' ')}` : ''}\n`);
        }
        announceInterrupts();
        const records = !inProcess
          ? await runSweepParallel(trained, { concurrency: lanes, backend: g.backend, gpus: gpuIndices(g), plugins: g.plugin ?? [], results, preset: presetTag, quiet: argv.quiet as boolean, poolLimitBytes: plan?.poolLimitBytes, budget: plan?.budget, maxAttempts: wholeNumber('--max-attempts', argv.maxAttempts), search: preset.search, stack: stackSize })
          : await runSweep(trained, { backend: backend!, results, preset: presetTag, quiet: argv.quiet as boolean, verbose: argv.verbose as boolean, maxAttempts: wholeNumber('--max-attempts', argv.maxAttempts), search: preset.search, stack: stackSize });
        results.tidy();
        io.stdout.write(`\n${frontTable(records)}\n`);
        // said again after the table: a grid with runs left out is not complete, whatever the table shows
        if (plan?.tooLarge.length) io.stdout.write(`\n${plan.tooLarge.length} run(s) left out, larger than a GPU's usable memory (not trained, not recorded): ${plan.tooLarge.map((e) => e.run).join('; ')}\n`);
        if (halvingOf(preset.search)) {
          const [saved] = searchSavings(records.map((r) => ({ ...r, preset: '' })));
          io.stdout.write(`\nsuccessive halving: ${saved ? savingsText(saved) : 'no run stored yet'}\n`);
        }
        const open = argv.report ? await drawAndReport(results.dir, argv.quiet as boolean, io) : [];
        io.stdout.write(`\nresults: ${results.runsCsv} (all runs: ${results.runsJsonl})\n${open.map((p) => `open:    ${p}\n`).join('')}`);
      },
    )
    .command(
      'plot <dir>',
      'draw every figure a results folder supports (figures/*.svg|png|vl.json, tables/points.csv) from its runs.jsonl',
      (y) => y
        .positional('dir', { type: 'string', demandOption: true, describe: 'results folder, e.g. results/zoology-fig2' })
        .option('state', { choices: ['measured', 'paper'] as const, default: 'measured' as const, describe: 'state-size convention of the x axes' })
        .option('png', PNG_OPTION)
        .option('detail-files', DETAIL_FILES_OPTION)
        .option('beside', BESIDE_OPTION),
      async (argv) => {
        const { plotResults } = await importDrawing<typeof import('../runners/plot.js')>('../runners/plot.js');
        const r = await plotResults(argv.dir, { state: argv.state, png: pngChoice(argv.png), detailFiles: argv.detailFiles as boolean, beside: besideFolders(argv.beside) });
        io.stdout.write(`${counted(r.records.length, 'run')}, ${counted(r.points.length, 'figure point')}, ${counted(r.figures.length, 'figure')}: ${r.figures.map((f) => f.name).join(', ')}\nwrote ${r.files.length} files under ${argv.dir}\n`);
      },
    )
    .command(
      'verify <dirs..>',
      'check every record and curve of results folders against the invariants no working model can break (loss ≥ (1 − accuracy)·ln 2, accuracies in [0, 1], ...); lists the bad runs, exit 1 if any',
      (y) => y
        .positional('dirs', { type: 'string', array: true, demandOption: true, describe: 'results folders, e.g. results/*' })
        .option('set-aside', { type: 'boolean', default: false, describe: 'move invalid runs out of the results: their lines to invalid.jsonl, their curves to curves-invalid/ (stop sweeps writing there first)' }),
      async (argv) => {
        const { setAsideInvalid, verifyReport } = await import('../runners/verify.js');
        const report = verifyReport(argv.dirs as string[]);
        io.stdout.write(`${report.text}\n`);
        if (argv.setAside) {
          for (const dir of argv.dirs as string[]) {
            const moved = setAsideInvalid(dir, report.invalidIds.get(dir) ?? []);
            if (moved.length) io.stdout.write(`${dir}: set aside ${moved.length} invalid runs → invalid.jsonl, curves-invalid/\n`);
          }
        } else if (report.bad > 0) status.code = 1;
      },
    )
    .command(
      'report <dir>',
      'plot, then write <dir>/index.html: every figure (interactive), the tables and the provenance of the runs',
      (y) => y
        .positional('dir', { type: 'string', demandOption: true, describe: 'results folder, e.g. results/zoology-fig2' })
        .option('state', { choices: ['measured', 'paper'] as const, default: 'measured' as const, describe: 'state-size convention of the x axes' })
        .option('png', PNG_OPTION)
        .option('detail-files', DETAIL_FILES_OPTION)
        .option('beside', BESIDE_OPTION),
      async (argv) => {
        const { writeReport } = await importDrawing<typeof import('../runners/report.js')>('../runners/report.js');
        const r = await writeReport(argv.dir, { state: argv.state, png: pngChoice(argv.png), detailFiles: argv.detailFiles as boolean, beside: besideFolders(argv.beside), reportCommand: ['recallbench', ...args].map(shellWord).join(' ') });
        io.stdout.write(`${r.records.length} runs, ${r.figures.length} figures → ${r.path}\n`);
      },
    )
    .command(
      'list [what]',
      'list architectures (with their parameters), tasks and presets',
      (y) => y.positional('what', { choices: ['all', 'architectures', 'tasks', 'presets'] as const, default: 'all' as const }),
      async (argv) => {
        await loadPluginsOnly(argv as unknown as GlobalArgs);
        const out: string[] = [];
        if (argv.what === 'all' || argv.what === 'architectures') {
          out.push('architectures:');
          for (const m of listMixers()) out.push(`  ${m.name.padEnd(22)} ${m.description}\n${' '.repeat(25)}params: ${JSON.stringify(resolveMixerParams(m, {}))}`);
        }
        if (argv.what === 'all' || argv.what === 'tasks') {
          out.push('tasks:');
          for (const t of listTasks()) out.push(`  ${t.name.padEnd(22)} ${t.description}`);
        }
        if (argv.what === 'all' || argv.what === 'presets') {
          out.push('presets:');
          for (const name of listPresetNames()) out.push(`  ${name.padEnd(22)} ${loadPreset(name).description}`);
        }
        io.stdout.write(`${out.join('\n')}\n`);
      },
    )
    .command(
      'data <task>',
      'export a task\'s examples (one JSON object per line: inputs, labels, slices)',
      (y) => y
        .positional('task', { type: 'string', demandOption: true })
        .option('seq-len', { type: 'number' })
        .option('kv-pairs', { type: 'number' })
        .option('vocab-size', { type: 'number' })
        .option('task-param', { type: 'string', array: true, describe: 'other parameters, key=value' })
        .option('n', { alias: 'count', type: 'number', default: 1000 })
        .option('seed', { type: 'number', default: 0 })
        .option('format', { choices: ['jsonl', 'json'] as const, default: 'jsonl' as const })
        .option('out', { type: 'string', describe: 'output file (default stdout)' }),
      async (argv) => {
        const params: Record<string, unknown> = { ...parsePairs(argv.taskParam, '--task-param') };
        if (argv.seqLen !== undefined) params.seqLen = argv.seqLen;
        if (argv.kvPairs !== undefined) params.numKvPairs = argv.kvPairs;
        if (argv.vocabSize !== undefined) params.vocabSize = argv.vocabSize;
        getTask(argv.task);
        if (argv.out) {
          try {
            closeSync(openSync(argv.out, 'w'));
          } catch (e) {
            throw new UserInputError(`--out ${argv.out}: cannot write the file (${(e as NodeJS.ErrnoException).code ?? 'error'}): give a path in a folder you can write to`);
          }
        }
        const stream: NodeJS.WritableStream = argv.out ? createWriteStream(argv.out) : io.stdout;
        const examples = exportExamples(argv.task, params, argv.n, argv.seed);
        if (argv.format === 'json') stream.write('[');
        let first = true;
        for (const e of examples) {
          const line = JSON.stringify(exampleToJson(e));
          if (argv.format === 'json') {
            stream.write(`${first ? '' : ','}\n${line}`);
          } else if (!stream.write(`${line}\n`)) {
            await new Promise<void>((r) => stream.once('drain', () => r()));
          }
          first = false;
        }
        if (argv.format === 'json') stream.write('\n]\n');
        if (argv.out) await new Promise<void>((r) => stream.end(() => r()));
      },
    )
    .command(
      'worker',
      'take runs from a BullMQ queue (sweep --queue) and train them, one child process per run; one worker per GPU',
      (y) => y
        .option('queue', { type: 'string', demandOption: true, describe: 'redis://HOST:PORT of the queue' })
        .option('queue-name', { type: 'string', default: DEFAULT_QUEUE_NAME })
        .option('concurrency', { type: 'number', default: 1, describe: 'runs at a time (with --gpu 0 1 ...: lane k on GPU k)' })
        .option('results', { type: 'string', default: RUNS_ROOT, describe: 'results root: each run is stored under <root>/<sweep name>/ (runs/ is git-ignored)' })
        .option('lock-duration', { type: 'number', default: 30_000, describe: 'ms without a lock renewal after which a job counts as stalled and goes to another worker' })
        .option('stalled-interval', { type: 'number', default: 30_000, describe: 'ms between this worker\'s checks for stalled jobs' })
        .option('exit-when-empty', { type: 'boolean', default: false, describe: 'stop once nothing is waiting or running' }),
      async (argv) => {
        const g = argv as unknown as GlobalArgs;
        wholeNumber('--concurrency', argv.concurrency);
        await loadPluginsOnly(g);
        const { runWorker } = await import('../runners/worker.js');
        const code = await runWorker({
          queue: { url: argv.queue, name: argv.queueName }, backend: g.backend, gpus: gpuIndices(g), concurrency: argv.concurrency, plugins: g.plugin ?? [],
          resultsRoot: argv.results, lockDurationMs: argv.lockDuration, stalledIntervalMs: argv.stalledInterval, exitWhenEmpty: argv.exitWhenEmpty, quiet: g.quiet,
        });
        status.code = code;
      },
    )
    .command(
      'status',
      'show a queue\'s progress: done, running, failed (with reasons), waiting',
      (y) => y
        .option('queue', { type: 'string', demandOption: true, describe: 'redis://HOST:PORT of the queue' })
        .option('queue-name', { type: 'string', default: DEFAULT_QUEUE_NAME })
        .option('watch', { type: 'boolean', default: false, describe: 'keep a progress bar up until nothing is waiting or running' })
        .option('interval', { type: 'number', default: 2000, describe: 'ms between refreshes with --watch' }),
      async (argv) => {
        const { showStatus } = await import('../runners/queueStatus.js');
        await showStatus({ url: argv.queue, name: argv.queueName }, { watch: argv.watch, intervalMs: argv.interval });
      },
    )
    .command(
      'check-plugin <file>',
      "run the generic mixer checks (shape, causality, step view = parallel forward, measured state, gradients) on a plugin file: one line per check, exit 1 if any fails",
      (y) => y
        .positional('file', { type: 'string', demandOption: true, describe: 'the plugin file (.ts/.js/.mjs)' })
        .option('param', { type: 'string', array: true, describe: 'mixer hyperparameter key=value (default: the schema defaults)' })
        .option('d-model', { type: 'number', default: 16, describe: 'width the checks build the mixer at' })
        .option('seq-len', { type: 'number', default: 8, describe: 'tokens per checked sequence' }),
      async (argv) => {
        const { checkPlugin } = await import('../engine/mixerChecks.js');
        // the checks' tolerances are for fp32 on the reference backend: auto means cpu here
        await initBackend(argv.backend === 'auto' ? 'cpu' : argv.backend);
        const r = await checkPlugin(argv.file, { params: parsePairs(argv.param, '--param'), dModel: argv.dModel, seqLen: argv.seqLen });
        io.stdout.write(`${r.lines.join('\n')}\n`);
        if (!r.ok) status.code = 1;
      },
    )
    .command('__run-job', false, (y) => y, async () => {
      await serveChildJob();
    })
    .command(
      'state-size',
      'print a model\'s recurrent state size (floats and bytes, measured and paper conventions) as JSON',
      (y) => y
        .option('arch', { type: 'string', demandOption: true, describe: 'mixer name or hybrid a+b' })
        .option('param', { type: 'string', array: true, describe: 'mixer hyperparameter key=value' })
        .option('d-model', { type: 'number', demandOption: true })
        .option('seq-len', { type: 'number', demandOption: true, describe: 'longest (test) sequence length' })
        .option('n-layers', { type: 'number', default: 2 }),
      async (argv) => {
        await loadPluginsOnly(argv as unknown as GlobalArgs);
        const layers = layersFromArch(argv.arch, parsePairs(argv.param, '--param'));
        const perLayer = Array.from({ length: argv.nLayers }, (_, i) => {
          const spec = layers[i % layers.length]!;
          const def = getMixer(spec.mixer);
          const p = resolveMixerParams(def, spec.params);
          return { layer: i, mixer: def.name, params: p, ...def.stateFloats(p, { dModel: argv.dModel, maxSeqLen: argv.seqLen, layerIndex: i, nLayers: argv.nLayers }) };
        });
        const measured = perLayer.reduce((s, l) => s + l.measured, 0);
        const paper = perLayer.reduce((s, l) => s + l.paper, 0);
        io.stdout.write(`${JSON.stringify({ arch: argv.arch, dModel: argv.dModel, seqLen: argv.seqLen, nLayers: argv.nLayers, floats: { measured, paper }, bytes: { measured: 4 * measured, paper: 4 * paper }, layers: perLayer }, null, 2)}\n`);
      },
    )
    .demandCommand(1, 'name a command: train, sweep, worker, status, plot, report, verify, check-plugin, list, data, state-size')
    .strict()
    .help()
    .exitProcess(false) // --help prints and returns: main() runs in-process too (the tests)
    .fail((msg, err) => {
      if (err) throw err;
      // yargs spreads some messages over lines ("Invalid values:\n  Argument: backend, Given: ..."): keep it one line
      throw new UserInputError(msg.split('\n').map((l) => l.trim()).filter(Boolean).join(' '));
    });
}

/** Run one command in this process: its exit code (0; 1 verify/check-plugin found bad runs, internal error; 2 bad input; 3 GPU lost). */
export async function main(args: string[], io: CliIo = { stdout: process.stdout, stderr: process.stderr }): Promise<number> {
  const debug = args.includes('--debug');
  const status = { code: 0 };
  try {
    await buildCli(args, io, status).parseAsync();
  } catch (e) {
    status.code = printError(e, debug, io);
  }
  releaseGpu();
  return status.code;
}

/** The program: `entry` is its file (process.argv[1]), which the children of sweep --concurrency and worker re-run. */
export async function runProgram(entry: string | undefined, args: string[]): Promise<never> {
  if (entry) setSelfEntry(entry);
  process.exit(await main(args));
}

const invokedDirectly = process.argv[1] && /cli\.(ts|js|mjs)$|app\.mjs$/.test(process.argv[1]);
if (invokedDirectly) await runProgram(process.argv[1], hideBin(process.argv));
