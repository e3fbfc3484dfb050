// Exports recallbench models for the numerical equivalence check with zoology (issue 17; bench/zoology_equiv.py).
// For each case (a preset mixer config, block "zoology", tiny sizes) it builds the model from a seed, gives the
// norms and biases random values (so that their wiring is tested too, not only their init), and writes:
//   CASE/tensors.bin       float32 little-endian, every tensor back to back
//   CASE/manifest.json     the model config, the batch (tokens, supervised rows, labels), and for every tensor its
//                          offset and shape: the weights (with their PyTorch name in zoology's module tree and the
//                          layout transform, see `TorchTarget`), the logits [B, T, V], the loss, every gradient
// The loss is recallbench's: the tied-head cross-entropy at the supervised rows (ops/crossEntropy/),
// as zoology's nn.CrossEntropyLoss with every other label -100. Forward in eval mode (no dropout).
//
//   npx tsx bench/export-weights.ts [--out .scratch-a/equiv] [--case NAME]
import * as tf from '@tensorflow/tfjs';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { lcgUniform } from '../core/prng.js';
import { initBackend } from '../engine/backend.js';
import { LanguageModel, type LayerSpec, type ModelBlock, type ModelConfig } from '../engine/model.js';
import { tiedHeadCrossEntropyNaive } from '../ops/crossEntropy/index.js';

/** How a recallbench tensor lands in a zoology parameter. */
type Transform =
  | { op: 'copy' } // same layout (reshaped to the torch shape)
  | { op: 'linear' } // [in, out] → torch Linear [out, in]
  | { op: 'linear_cols'; start: number; size: number } // columns [start, start+size) of [in, out] → [size, in] (fused qkv split)
  | { op: 'vector_slice'; start: number; size: number } // a slice of a bias
  | { op: 'conv' } // depthwise taps [k, C] → torch Conv1d [C, 1, k]
  | { op: 'linear_perm_in'; perm: number[] } // [in, out] → [out, in] with torch input column i = recallbench row perm[i]
  | { op: 'complex_part'; part: 0 | 1 } // [H, n] → torch view_as_real tensor [..., H, n, 2], one part
  | { op: 'pad_last'; size: number }; // [C, taps] → torch [1, C, size], zero-padded taps

interface TorchTarget {
  torch: string;
  transform: Transform;
}

interface Case {
  name: string;
  layers: LayerSpec[];
  positionEmbeddings?: boolean;
  mlp?: boolean;
  /** zoology mixer kwargs the port needs beyond recallbench's params (documentation for the port). */
  zoology: string;
  /** zoology builds the layers through its Hybrid mixer (parameters under `.mixer`) */
  hybrid?: boolean;
}

// sizes: tiny by default; --size d,T,V for a check at paper sizes
let D = 16;
let T = 16;
let V = 40;
const BATCH = 3;
const N_LAYERS = 2;

const cases = (): Case[] => [
  { name: 'attention', layers: [{ mixer: 'attention', params: { numHeads: 1, dropout: 0.1 } }], positionEmbeddings: true, zoology: 'MHA(num_heads=1, dropout=0.1), max_position_embeddings=L (zoology-fig2)' },
  { name: 'attention+mlp', layers: [{ mixer: 'attention', params: { numHeads: 1, dropout: 0.1 } }], positionEmbeddings: true, mlp: true, zoology: 'MHA + state_mixer MLP(hidden_mult=4)' },
  {
    name: 'baseconv',
    layers: [
      { mixer: 'baseconv', params: { convType: 'short', kernelSize: 3 } },
      { mixer: 'baseconv', params: { convType: 'long', filter: 'implicit' } },
    ],
    zoology: 'BaseConv(l_max=L, kernel_size=[3, -1, 3, -1]) (zoology-fig2)',
  },
  {
    name: 'based',
    hybrid: true,
    layers: [
      { mixer: 'baseconv', params: { convType: 'short', kernelSize: 3 } },
      { mixer: 'based', params: { featureDim: 8, numHeads: 1 } },
    ],
    zoology: 'Hybrid[BaseConv(k 3), Based(feature_dim 8, 1 head, taylor_exp, train_view quadratic)]',
  },
  {
    name: 'sliding-window',
    hybrid: true,
    layers: [
      { mixer: 'baseconv', params: { convType: 'short', kernelSize: 3 } },
      { mixer: 'sliding-window', params: { windowSize: 4, numHeads: 1, dropout: 0 } },
    ],
    zoology: 'Hybrid[BaseConv(k 3), SlidingAttn(block_size 4)] (based-fig2)',
  },
  { name: 'hyena', layers: [{ mixer: 'hyena' }], zoology: 'Hyena(l_max=L)' },
  { name: 'h3', layers: [{ mixer: 'h3', params: { stateDim: T, headDim: 2 } }], zoology: 'H3(l_max=L, d_state=L, head_dim=2) (zoology-fig2)' },
  { name: 'mamba', layers: [{ mixer: 'mamba', params: { stateDim: 8 } }], zoology: 'MambaBlock + Mamba(d_state 8)' },
  { name: 'rwkv', layers: [{ mixer: 'rwkv' }], zoology: 'RWKVTimeMixer(l_max=L)' },
];

/** zoology's parameter name prefix of layer i's sequence mixer (Hybrid wraps it in `.mixer` when layers alternate). */
function mixerPrefix(c: Case, i: number): string {
  if (c.layers[0]!.mixer === 'mamba') return `backbone.layers.${i}.mixer`;
  return c.hybrid ? `backbone.layers.${i}.sequence_mixer.mixer` : `backbone.layers.${i}.sequence_mixer`;
}

/** recallbench parameter name (without the tfjs index suffix) → zoology parameter and layout. */
function torchTarget(c: Case, name: string): TorchTarget | undefined {
  const lin = (torch: string): TorchTarget => ({ torch, transform: { op: 'linear' } });
  const copy = (torch: string): TorchTarget => ({ torch, transform: { op: 'copy' } });
  if (name === 'model.embedding') return copy('backbone.embeddings.word_embeddings.weight');
  if (name === 'model.positions') return copy('backbone.embeddings.position_embeddings.weight');
  if (name === 'model.final_norm.gamma') return copy('backbone.ln_f.weight');
  if (name === 'model.final_norm.beta') return copy('backbone.ln_f.bias');
  const m = /^layer(\d+)\.(.+)$/.exec(name);
  if (!m) return undefined;
  const i = Number(m[1]);
  const rest = m[2]!;
  const block = `backbone.layers.${i}`;
  const norms: Record<string, string> = { 'norm.gamma': 'norm1.weight', 'norm.beta': 'norm1.bias', 'norm2.gamma': 'norm2.weight', 'norm2.beta': 'norm2.bias', 'rms_norm.weight': 'norm.weight' };
  if (norms[rest]) return copy(`${block}.${norms[rest]}`);
  const mlp: Record<string, TorchTarget> = {
    'mlp.fc.weight': lin(`${block}.state_mixer.fc1.weight`),
    'mlp.fc.bias': copy(`${block}.state_mixer.fc1.bias`),
    'mlp.proj.weight': lin(`${block}.state_mixer.fc2.weight`),
    'mlp.proj.bias': copy(`${block}.state_mixer.fc2.bias`),
  };
  if (mlp[rest]) return mlp[rest];
  const dot = rest.indexOf('.');
  const mixer = rest.slice(0, dot);
  const param = rest.slice(dot + 1);
  const p = mixerPrefix(c, i);
  const at = (t: TorchTarget): TorchTarget => ({ ...t, torch: `${p}.${t.torch}` });
  const table: Record<string, Record<string, TorchTarget>> = {
    attention: { 'Wqkv.weight': lin('Wqkv.weight'), 'Wqkv.bias': copy('Wqkv.bias'), 'out_proj.weight': lin('out_proj.weight'), 'out_proj.bias': copy('out_proj.bias') },
    'sliding-window': { 'Wqkv.weight': lin('Wqkv.weight'), 'Wqkv.bias': copy('Wqkv.bias'), 'out_proj.weight': lin('out_proj.weight'), 'out_proj.bias': copy('out_proj.bias') },
    baseconv: {
      'projection.weight': lin('projection.weight'),
      'projection.bias': copy('projection.bias'),
      'conv.weight': { torch: 'conv.conv.weight', transform: { op: 'conv' } },
      'conv.bias': copy('conv.conv.bias'),
      'conv.mlp.0.weight': lin('conv.mlp.0.weight'),
      'conv.mlp.0.bias': copy('conv.mlp.0.bias'),
      'conv.mlp.2.weight': lin('conv.mlp.2.weight'),
      'conv.mlp.2.bias': copy('conv.mlp.2.bias'),
    },
    based: { 'proj_q.weight': lin('proj_q.weight'), 'proj_k.weight': lin('proj_k.weight'), 'proj_v.weight': lin('proj_v.weight'), 'proj_o.weight': lin('proj_o.weight') },
    hyena: {
      'in_proj.weight': lin('in_proj.weight'),
      'in_proj.bias': copy('in_proj.bias'),
      'short_filter.weight': { torch: 'short_filter.weight', transform: { op: 'conv' } },
      'short_filter.bias': copy('short_filter.bias'),
      // zoology's Filter MLP: Sequential(Linear, Sin, Linear, Sin, Linear, Sin, Linear(no bias)), one shared Sin
      'filter.mlp.0.weight': lin('filter_fn.implicit_filter.0.weight'),
      'filter.mlp.0.bias': copy('filter_fn.implicit_filter.0.bias'),
      'filter.mlp.1.weight': lin('filter_fn.implicit_filter.2.weight'),
      'filter.mlp.1.bias': copy('filter_fn.implicit_filter.2.bias'),
      'filter.mlp.2.weight': lin('filter_fn.implicit_filter.4.weight'),
      'filter.mlp.2.bias': copy('filter_fn.implicit_filter.4.bias'),
      'filter.mlp.out.weight': lin('filter_fn.implicit_filter.6.weight'),
      'filter.sin.freq': copy('filter_fn.implicit_filter.1.freq'),
      'filter.bias': copy('filter_fn.bias'),
      'filter.pos_emb.z': copy('filter_fn.pos_emb.z'),
      'out_proj.weight': lin('out_proj.weight'),
      'out_proj.bias': copy('out_proj.bias'),
    },
    mamba: {
      'in_proj.weight': lin('in_proj.weight'),
      'conv1d.weight': { torch: 'conv1d.weight', transform: { op: 'conv' } },
      'conv1d.bias': copy('conv1d.bias'),
      'x_proj.weight': lin('x_proj.weight'),
      'dt_proj.weight': lin('dt_proj.weight'),
      'dt_proj.bias': copy('dt_proj.bias'),
      A_log: copy('A_log'),
      D: copy('D'),
      'out_proj.weight': lin('out_proj.weight'),
    },
    rwkv: {
      time_decay: copy('time_decay'),
      time_first: copy('time_first'),
      time_mix_k: copy('time_mix_k'),
      time_mix_v: copy('time_mix_v'),
      time_mix_r: copy('time_mix_r'),
      'key.weight': lin('key.weight'),
      'value.weight': lin('value.weight'),
      'receptance.weight': lin('receptance.weight'),
      'output.weight': lin('output.weight'),
    },
  };
  if (mixer === 'h3') return at(h3Target(c, param)!);
  const t = table[mixer]?.[param];
  return t ? at(t) : undefined;
}

/** H3: recallbench fuses q/k/v, folds the SSMs' B into C, orders y's channels (head, j) where zoology has (j, head). */
function h3Target(c: Case, param: string): TorchTarget | undefined {
  const spec = c.layers[0]!.params as { stateDim: number; headDim: number };
  const P = spec.headDim;
  const H = D / P;
  const cols = (torch: string, k: number): TorchTarget => ({ torch, transform: { op: 'linear_cols', start: k * D, size: D } });
  const bias = (torch: string, k: number): TorchTarget => ({ torch, transform: { op: 'vector_slice', start: k * D, size: D } });
  // zoology's y channel j·H + h is recallbench's h·P + j
  const perm = Array.from({ length: D }, (_, i) => (i % H) * P + Math.floor(i / H));
  const table: Record<string, TorchTarget> = {
    'qkv.weight': cols('q_proj.weight', 0),
    'qkv.bias': bias('q_proj.bias', 0),
    'output_linear.weight': { torch: 'output_linear.weight', transform: { op: 'linear_perm_in', perm } },
    'output_linear.bias': { torch: 'output_linear.bias', transform: { op: 'copy' } },
    'shift.taps': { torch: 'ssm_k_kernel.kernel.C', transform: { op: 'pad_last', size: spec.stateDim } },
    'shift.D': { torch: 'ssm_k_D', transform: { op: 'copy' } },
    'ssm.log_dt': { torch: 'kernel.kernel.log_dt', transform: { op: 'copy' } },
    'ssm.log_neg_A_real': { torch: 'kernel.kernel.inv_A_real', transform: { op: 'copy' } },
    'ssm.A_imag': { torch: 'kernel.kernel.A_imag', transform: { op: 'copy' } },
    'ssm.C_re': { torch: 'kernel.kernel.C', transform: { op: 'complex_part', part: 0 } },
    'ssm.C_im': { torch: 'kernel.kernel.C', transform: { op: 'complex_part', part: 1 } },
    D: { torch: 'D', transform: { op: 'copy' } },
  };
  return table[param];
}

/** The extra q/k/v targets of H3's fused projection (one recallbench tensor feeds three torch parameters). */
function h3ExtraTargets(name: string): TorchTarget[] {
  const m = /^layer(\d+)\.h3\.qkv\.(weight|bias)$/.exec(name);
  if (!m) return [];
  const p = `backbone.layers.${m[1]}.sequence_mixer`;
  return [1, 2].map((k) => {
    const proj = k === 1 ? 'k_proj' : 'v_proj';
    return m[2] === 'weight' ? { torch: `${p}.${proj}.weight`, transform: { op: 'linear_cols', start: k * D, size: D } as Transform } : { torch: `${p}.${proj}.bias`, transform: { op: 'vector_slice', start: k * D, size: D } as Transform };
  });
}

class TensorFile {
  private chunks: Float32Array[] = [];
  private offset = 0;
  add(values: Float32Array | number[]): number {
    const data = values instanceof Float32Array ? values : Float32Array.from(values);
    const at = this.offset;
    this.chunks.push(data);
    this.offset += data.length;
    return at;
  }
  bytes(): Buffer {
    const all = new Float32Array(this.offset);
    let o = 0;
    for (const c of this.chunks) {
      all.set(c, o);
      o += c.length;
    }
    return Buffer.from(all.buffer);
  }
}

async function exportCase(c: Case, outDir: string, block: ModelBlock): Promise<string> {
  const config: ModelConfig = {
    vocabSize: V,
    dModel: D,
    nLayers: N_LAYERS,
    maxSeqLen: T,
    layers: c.layers,
    positionEmbeddings: c.positionEmbeddings ?? false,
    mlp: c.mlp ?? false,
    embeddingDropout: 0.1,
    residualDropout: 0,
    block,
    seed: 17,
  };
  const model = new LanguageModel(config);
  // norms and biases away from their init (1 / 0), so that a wrong wiring of any of them shows
  let seed = 1000;
  for (const v of model.variables) {
    const base = v.name.replace(/_\d+$/, '');
    if (/(gamma|rms_norm\.weight)$/.test(base)) v.assign(tf.randomUniform(v.shape, 0.5, 1.5, 'float32', seed++));
    else if (/(beta|\.bias)$/.test(base) && !base.endsWith('dt_proj.bias')) v.assign(tf.randomNormal(v.shape, 0, 0.1, 'float32', seed++));
  }
  const rand = lcgUniform(4242);
  const tokens = Array.from({ length: BATCH * T }, () => Math.floor(rand() * V));
  // supervise the second half of every sequence (MQAR supervises the query part), labels random
  const rows: number[] = [];
  const labels: number[] = [];
  for (let b = 0; b < BATCH; b++)
    for (let t = T / 2; t < T; t++) {
      rows.push(b * T + t);
      labels.push(Math.floor(rand() * V));
    }
  const tokenTensor = tf.tensor2d(tokens, [BATCH, T], 'int32');
  const lossOf = () =>
    tf.tidy(() => {
      const hidden = model.forward(tokenTensor, { training: false }).reshape([-1, D]);
      const supervised = tf.gather(hidden, tf.tensor1d(rows, 'int32')) as tf.Tensor2D;
      return tiedHeadCrossEntropyNaive(supervised, model.embedding as tf.Tensor2D, tf.tensor1d(labels, 'int32')).loss;
    });
  const logits = tf.tidy(() => tf.matMul(model.forward(tokenTensor, { training: false }).reshape([-1, D]), model.embedding, false, true));
  const { value: loss, grads } = tf.variableGrads(lossOf, model.variables);

  const file = new TensorFile();
  const params: unknown[] = [];
  const unmapped: string[] = [];
  for (const v of model.variables) {
    const name = v.name.replace(/_\d+$/, '');
    const target = torchTarget(c, name);
    if (!target) {
      unmapped.push(name);
      continue;
    }
    const value = file.add((await v.data()) as Float32Array);
    const grad = file.add((await grads[v.name]!.data()) as Float32Array);
    for (const t of [target, ...h3ExtraTargets(name)]) params.push({ name, shape: v.shape, value, grad, ...t });
  }
  if (unmapped.length) throw new Error(`${c.name}: no zoology name for ${unmapped.join(', ')}`);
  const manifest = {
    case: c.name,
    zoology: c.zoology,
    config: { ...config, batch: BATCH },
    tokens,
    rows,
    labels,
    logits: { offset: file.add((await logits.data()) as Float32Array), shape: [BATCH, T, V] },
    loss: (await loss.data())[0],
    params,
  };
  const dir = join(outDir, c.name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'tensors.bin'), file.bytes());
  writeFileSync(join(dir, 'manifest.json'), JSON.stringify(manifest));
  tf.dispose([logits, loss, tokenTensor, ...Object.values(grads)]);
  model.dispose();
  return `${c.name}: ${params.length} tensors, loss ${manifest.loss.toFixed(6)}`;
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const flag = (n: string) => {
    const i = args.indexOf(n);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const outDir = flag('--out') ?? '.scratch-a/equiv';
  const only = flag('--case')?.split(',');
  // --block prenorm: a negative control (the port always builds zoology's block, so this must not match)
  const block = (flag('--block') ?? 'zoology') as ModelBlock;
  const size = flag('--size');
  if (size) [D, T, V] = size.split(',').map(Number) as [number, number, number];
  await initBackend('cpu');
  for (const c of cases().filter((x) => !only || only.includes(x.name))) console.log(await exportCase(c, outDir, block));
}

await main();
