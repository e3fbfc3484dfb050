// Bad input of every kind ends with exit code 2 and ONE line naming the problem — never a stack trace.
// Every case fails before training (cheap): flags, config files, presets, plugin files, backends, folders.
// The cases run the CLI in this process (main: its exit code and all it writes); the last one runs the real
// program, to see that its process exits with the code main returns.
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli, runCli } from './cliRunner.js';

const dir = mkdtempSync(join(tmpdir(), 'rb-errors-'));
const noExport = join(dir, 'no-export.mjs');
writeFileSync(noExport, 'export const notAMixer = 1;\n');
const wrongShape = join(dir, 'wrong-export.mjs');
writeFileSync(wrongShape, 'export default { name: "x" };\n');
const badConfig = join(dir, 'bad.json');
writeFileSync(badConfig, JSON.stringify({ label: 'a', data: { train: [{ seqLen: 64, numKvPairs: 4, count: 10 }], test: [{ seqLen: 64, numKvPairs: 4, count: 10 }] }, model: { dModel: 16, layers: [{ mixer: 'attention' }], dModle: 3 }, train: { lr: 0.001 } }));

// plugins that go wrong in each way a user's file can
const plugin = (name: string, source: string) => {
  const path = join(dir, name);
  writeFileSync(path, source);
  return path;
};
const linearMixer = (forwardOut: string, stepOut: string) => `export default ({ z }) => ({
  name: 'p', description: 'test plugin', params: z.object({}).strict(), causal: true,
  create(p, ctx, make) {
    const w = make.linear('W', ctx.dModel, ctx.dModel);
    const w2 = make.linear('W2', ctx.dModel, 2 * ctx.dModel);
    return { forward: (x) => ${forwardOut}, initState: () => ({}), step: (s, x) => ({ y: ${stepOut}, state: s }) };
  },
  stateFloats: () => ({ measured: 0, paper: 0 }),
});
`;
const throwsOnLoad = plugin('throws.mjs', 'throw new Error("boom while loading");\n');
const factoryThrows = plugin('factory.mjs', 'export default () => { throw new Error("factory boom"); };\n');
const wrongForward = plugin('forward-shape.mjs', linearMixer('w2.apply(x)', 'w.apply(x)'));
const wrongStep = plugin('step-shape.mjs', linearMixer('w.apply(x)', 'w2.apply(x)'));
// config and preset files
const json = (name: string, value: unknown) => {
  const path = join(dir, name);
  writeFileSync(path, typeof value === 'string' ? value : JSON.stringify(value));
  return path;
};
const mqarData = { train: [{ seqLen: 64, numKvPairs: 4, count: 10 }], test: [{ seqLen: 64, numKvPairs: 4, count: 10 }] };
const goodConfig = { label: 'a', data: mqarData, model: { dModel: 16, layers: [{ mixer: 'attention' }] }, train: { lr: 0.001 } };
const configNotJson = json('not-json.json', '{ "label": "a", ');
const configWrongType = json('wrong-type.json', { ...goodConfig, model: { ...goodConfig.model, dModel: '16' } });
const configSdTooBig = json('sd.json', { ...goodConfig, data: { task: 'sd', common: { vocabSize: 64 }, train: [{ sizeA: 40, sizeB: 4, count: 10 }], test: [{ sizeA: 4, sizeB: 4, count: 10 }] } });
const goodPreset = { name: 'p', data: [mqarData], architectures: [{ label: 'attention', layers: [{ mixer: 'attention' }] }], dModels: [16], learningRates: [0.001] };
const presetNotJson = json('preset-not-json.json', '[1, 2');
const presetUnknownKey = json('preset-key.json', { ...goodPreset, learningRate: [0.001] });
const presetWrongType = json('preset-type.json', { ...goodPreset, dModels: '64' });
const aFile = json('a-file.txt', 'not a folder');
const gpuPresent = existsSync('/dev/nvidia0') || existsSync('/dev/dri');

const tiny = ['--backend', 'cpu', '--d-model', '8', '--train-examples', '4', '--test-examples', '4', '--epochs', '1', '--out', join(dir, 'out')];
/** The tiny flags with some replaced (a flag given twice would become an array). */
const tinyWith = (overrides: Record<string, string>) => {
  const out: string[] = [];
  for (let i = 0; i < tiny.length; i += 2) out.push(tiny[i]!, overrides[tiny[i]!] ?? tiny[i + 1]!);
  return out;
};

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
  // plugin files
  ['plugin that throws while loading', ['list', '--plugin', throwsOnLoad], /failed to load: boom while loading/],
  ['plugin whose factory throws', ['list', '--plugin', factoryThrows], /its factory threw: factory boom/],
  ['plugin forward of the wrong shape', ['list', '--plugin', wrongForward], /forward returned shape \[1,4,16\]/],
  ['plugin step of the wrong shape', ['list', '--plugin', wrongStep], /step returned y of shape \[1,16\]/],
  // config files
  ['config file missing', ['train', '--config', join(dir, 'nope.json'), '--backend', 'cpu'], /--config .*nope\.json: file not found/],
  ['config file not JSON', ['train', '--config', configNotJson, '--backend', 'cpu'], /not valid JSON/],
  ['config value of the wrong type', ['train', '--config', configWrongType, '--backend', 'cpu'], /model\.dModel: .*expected number/],
  ['config: SD set larger than half the vocabulary', ['train', '--config', configSdTooBig, '--backend', 'cpu'], /sizeA 40 exceeds half the ordinary vocabulary/],
  // presets
  ['preset file not JSON', ['sweep', presetNotJson, '--dry-run'], /preset .* is not valid JSON/],
  ['preset with a misspelled key', ['sweep', presetUnknownKey, '--dry-run'], /learningRate/],
  ['preset value of the wrong type', ['sweep', presetWrongType, '--dry-run'], /dModels: .*expected array/],
  // backends
  ['backend that does not exist', ['train', ...tinyWith({ '--backend': 'tpu' })], /backend.*tpu/i],
  ['tensorflow backend not installed', ['train', ...tinyWith({ '--backend': 'tensorflow' })], /tfjs-node-gpu is not installed/],
  ...(gpuPresent ? [] : [['webgpu backend without a GPU', ['train', ...tinyWith({ '--backend': 'webgpu' })], /--backend webgpu: .*(Vulkan loader|WebGPU adapter)/] as [string, string[], RegExp]]),
  // flags
  ['malformed --setting', ['sweep', '--arch', 'attention', '--setting', '64x4', '--dry-run'], /--setting expects L:K/],
  ['--reopen-ties on a full grid', ['sweep', '--arch', 'attention', '--reopen-ties', '--dry-run'], /--reopen-ties re-makes successive-halving decisions: this sweep searches the full grid/],
  ['--stack not a whole number', ['sweep', '--arch', 'attention', '--stack', '2.5', '--dry-run'], /--stack expects a whole number ≥ 1, got 2.5/],
  ['--stack with --queue', ['sweep', '--arch', 'attention', '--stack', '4', '--queue', 'redis://127.0.0.1:1', '--out', join(dir, 'stack-queue')], /--stack .*not with --queue: a queued job is one run/],
  ['--param without a value', ['train', '--param', 'numHeads', ...tiny], /--param expects key=value/],
  ['unknown mixer parameter', ['train', '--param', 'numHedas=2', ...tiny], /numHedas/],
  ['unknown task', ['train', '--task', 'nope', ...tiny], /unknown task 'nope'/],
  ['negative learning rate', ['train', '--lr', '-1', ...tiny], /train\.lr/],
  ['a number flag given a word', ['train', ...tinyWith({ '--d-model': 'wide' })], /model\.dModel/],
  ['more layers listed than the model has', ['train', ...tiny, '--arch', 'attention+attention+attention', '--n-layers', '2'], /3 layers listed .* nLayers is 2/],
  ['d_model not divisible by the heads', ['train', ...tiny, '--param', 'numHeads=3'], /attention: d_model 8 is not divisible by numHeads 3/],
  ['SD set larger than half the vocabulary (flags)', ['train', ...tiny, '--task', 'sd', '--vocab-size', '64', '--task-param', 'sizeA=40', '--task-param', 'sizeB=4'], /sizeA 40 exceeds half/],
  ['data: output file not writable', ['data', 'mqar', '--seq-len', '16', '--kv-pairs', '2', '-n', '2', '--out', join(aFile, 'out.jsonl')], /--out .*cannot write the file \(ENOTDIR\)/],
  // results folder
  ['results folder not writable', ['train', ...tinyWith({ '--out': join(aFile, 'results') })], /results folder .* is not writable \(ENOTDIR\)/],
];

function expectOneLine(r: { status: number | null; stderr: string }, message: RegExp): void {
  expect(r.status, r.stderr).toBe(2);
  const lines = r.stderr.trim().split('\n').filter((l) => !/nodedir|npm warn/.test(l));
  expect(lines, r.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(/^recallbench: /);
  expect(lines[0]).toMatch(message);
  expect(r.stderr).not.toMatch(/\n\s+at /); // no stack frames
}

describe('bad input exits 2 with one line', () => {
  it.each(cases)('%s', async (_what, args, message) => {
    expectOneLine(await cli(args), message);
  });

  it('a Dawn toggle this program does not know (RECALLBENCH_DAWN_TOGGLES), whatever the backend', async () => {
    const before = process.env.RECALLBENCH_DAWN_TOGGLES;
    process.env.RECALLBENCH_DAWN_TOGGLES = 'disable_robustness,disable_robustnes';
    try {
      expectOneLine(await cli(['train', ...tiny]), /RECALLBENCH_DAWN_TOGGLES: unknown toggle 'disable_robustnes' \(known: disable_robustness, disable_workgroup_init; or none, default\)/);
    } finally {
      if (before === undefined) delete process.env.RECALLBENCH_DAWN_TOGGLES;
      else process.env.RECALLBENCH_DAWN_TOGGLES = before;
    }
  });

  it('the program itself exits 2 with the one line (a separate process)', () => {
    expectOneLine(runCli(['train', '--config', configWrongType, '--backend', 'cpu']), /model\.dModel: .*expected number/);
  });
});
