// The language model around the mixers, with one of two blocks (`block`):
//
// 'prenorm' (a plain pre-norm residual block):
//   x = dropout(E[tokens] (+ P[positions]))
//   for each layer i:  x += mixer_i(LN(x));  [x += MLP(LN(x))]
//   h = LN(x);  logits = h Eᵀ  (tied head)
//
// 'zoology' (zoology's model.py at dbcb60d, exactly; the paper presets use it): a residual stream r and a hidden
// state h travel between blocks, and every block adds the previous block's h to r:
//   h = E[tokens] (+ P[positions]);  r = none
//   TransformerBlock i:  r = dropout1(h) + r;  r = dropout2(mixer_i(LN1(r))) + r;  h = stateMixer(LN2(r))
//                        dropout1 = embedding dropout in layer 0, residual dropout after; stateMixer = identity
//                        without MLP (every MQAR config), MLP (fc1 → exact GELU → fc2, ×4) with it
//   MambaBlock i (mamba layers):  r = h + r;  h = mixer_i(RMSNorm(r))   (mamba_ssm's fused add + RMSNorm, no
//                        dropout, no second norm)
//   r = dropout(h) + r (residual dropout);  logits = LN_f(r) Eᵀ
// With the identity state mixer each TransformerBlock adds LN2(r), a LayerNorm'd copy of the stream, back into
// it: not a no-op, and it changes MQAR training a lot (issue 17). Init follows zoology's _init_weights: linear
// weights N(0, 0.02), zero biases, modules named out_proj / fc2 / output_linear.0 N(0, 0.02/√(2·n_layers)),
// Mamba's own rules in Mamba layers (architectures/mamba.ts).
import * as tf from '@tensorflow/tfjs';
import { dropoutSeed } from '../core/prng.js';
import { UserInputError } from '../core/errors.js';
import type { LayerSpec, ModelSettings } from './config.js';
import { dropout, withStackedRuns } from '../ops/dropout/index.js';
import type { AuxBatch, AuxObjective, Mixer, MixerDefinition } from '../architectures/mixer.js';
import { layerNorm } from '../ops/layerNorm/index.js';
// RMSNorm over the last axis (mamba_ssm's rms_norm_fn, eps 1e-5 = MambaBlock's norm_epsilon): the Mamba blocks' pre-norm
import { rmsNorm } from '../ops/rmsNorm/index.js';
import { linearApply } from '../ops/linear/index.js';
import { ParamStore } from './params.js';
import { getMixer, resolveMixerParams } from './registry.js';

export type { LayerSpec, ModelBlock } from './config.js';

/**
 * What the model is built from: the model part of a run config (engine/config.ts modelSchema, its one
 * definition) plus what the data and the run decide. `block` may be left out here: 'prenorm', the schema's default.
 */
export type ModelConfig = Omit<ModelSettings, 'block'> &
  Partial<Pick<ModelSettings, 'block'>> & {
    vocabSize: number;
    /** Longest sequence (train or test): sizes position embeddings, KV caches, explicit filters. */
    maxSeqLen: number;
    seed: number;
  };

interface Norm {
  gamma: tf.Variable;
  beta: tf.Variable;
}

interface Block {
  /** prenorm: the norm before the mixer; zoology: norm1; zoology MambaBlock: the RMSNorm (gamma = its weight, beta a
   *  constant zero that is not a parameter) */
  norm: Norm;
  /** zoology TransformerBlock only: norm2, whose output is the block's hidden state (or the MLP's input) */
  norm2?: Norm;
  /** zoology MambaBlock only: the RMSNorm's weight (= norm.gamma) */
  rmsWeight?: tf.Variable;
  mixer: Mixer;
  def: MixerDefinition;
  params: Record<string, unknown>;
  /** prenorm: its own norm + fc + proj; zoology: fc1/fc2 after norm2 (norm unused) */
  mlp?: { norm?: Norm; fc: { w: tf.Variable; b: tf.Variable }; proj: { w: tf.Variable; b: tf.Variable } };
}

export interface ForwardInfo {
  training: boolean;
  prefixLength?: number;
  /** Base seed for dropout masks this step. */
  dropoutSeed?: number;
}

export class LanguageModel {
  readonly store: ParamStore;
  readonly embedding: tf.Variable;
  readonly positions?: tf.Variable;
  readonly blocks: Block[] = [];
  readonly finalNorm: Norm;
  /** tensors the model holds that are not parameters */
  private readonly constants: tf.Variable[] = [];

  /** Runs trained as this one model (engine/stack.ts): every parameter carries a leading run axis when > 1. */
  readonly runs: number;

  constructor(readonly config: ModelConfig, opts: { runs?: number } = {}) {
    const { vocabSize, dModel: d, nLayers } = config;
    this.runs = opts.runs ?? 1;
    // refused before any parameter is made (a throw after one is cleaned up below, but costs the allocations)
    const refused = this.runs > 1 ? unstackableLayer(config.layers, nLayers) : undefined;
    if (refused) throw new UserInputError(`layer ${refused.index} (${refused.def.name}): this mixer's runs cannot be stacked${refused.def.stackable ? ' with these settings' : ''} (MixerDefinition.stackable); train them alone`);
    // prefixMlm is read only by jrt-rnn layers (their auxiliary objective): elsewhere it would be silently ignored
    if (config.prefixMlm && !config.layers.some((l) => l.mixer === 'jrt-rnn'))
      throw new UserInputError(`model.prefixMlm is JRT-RNN's prefix masked-LM objective, but this model has no jrt-rnn layer (layers: ${config.layers.map((l) => l.mixer).join(', ')})`);
    this.store = new ParamStore(config.seed, nLayers, this.runs);
    // a model that cannot be built (a mixer refusing its settings) leaves no parameter registered with tfjs: their
    // names would clash with the next model's ("already registered"), and every later model of the process fail
    try {
      const top = this.store.scope('model');
      this.embedding = top.param('embedding', [vocabSize, d], 0.02);
      if (config.positionEmbeddings) this.positions = top.param('positions', [config.maxSeqLen, d], 0.02);
      const norm = (scope: string): Norm => ({
        gamma: this.store.create(`${scope}.gamma`, [d], 'ones'),
        beta: this.store.create(`${scope}.beta`, [d], 'zeros'),
      });
      const block = config.block ?? 'prenorm';
      for (let i = 0; i < nLayers; i++) {
        const spec = config.layers[i % config.layers.length]!;
        const def = getMixer(spec.mixer);
        const params = resolveMixerParams(def, spec.params);
        const make = this.store.scope(`layer${i}.${def.name}`);
        const mixer = def.create(params, { dModel: d, maxSeqLen: config.maxSeqLen, layerIndex: i, nLayers, block, model: config }, make);
        if (block === 'zoology' && isMambaBlock(def)) {
          // zoology's MambaBlock: RMSNorm (weight 1) before the mixer, no state mixer
          if (config.mlp) throw new Error('block zoology: a Mamba layer is a MambaBlock, which has no MLP (set mlp: false)');
          const rmsWeight = this.store.create(`layer${i}.rms_norm.weight`, [d], 'ones');
          const noBias = tf.variable(tf.zeros([d]), false, `layer${i}.rms_norm.no_bias_${this.store.variables.length}`);
          this.constants.push(noBias);
          this.blocks.push({ norm: { gamma: rmsWeight, beta: noBias }, rmsWeight, mixer, def, params });
          continue;
        }
        const entry: Block = { norm: norm(`layer${i}.norm`), mixer, def, params };
        if (block === 'zoology') entry.norm2 = norm(`layer${i}.norm2`);
        if (config.mlp) {
          const m = this.store.scope(`layer${i}.mlp`);
          entry.mlp = {
            norm: block === 'zoology' ? undefined : norm(`layer${i}.mlp.norm`),
            fc: { w: m.param('fc.weight', [d, 4 * d], 0.02), b: m.param('fc.bias', [4 * d], 'zeros') },
            // zoology names it fc2: N(0, 0.02/√(2·n_layers))
            proj: { w: m.param('proj.weight', [4 * d, d], m.outputStd), b: m.param('proj.bias', [d], 'zeros') },
          };
        }
        this.blocks.push(entry);
      }
      this.finalNorm = norm('model.final_norm');
    } catch (e) {
      this.dispose();
      throw e;
    }
  }

  get variables(): tf.Variable[] {
    return this.store.variables;
  }

  get parameterCount(): number {
    return this.store.parameterCount;
  }

  /**
   * tokens [B, T] int32 → final hidden states [B, T, d] (before the tied head); a stack of R runs: [R·B, T, d], run r's
   * batch in rows r·B .. r·B + B − 1 (every run reads the same tokens).
   */
  forward(tokens: tf.Tensor2D, info: ForwardInfo): tf.Tensor3D {
    const zoology = (this.config.block ?? 'prenorm') === 'zoology';
    return withStackedRuns(this.runs, () => (zoology ? this.forwardZoology(tokens, info) : this.forwardPrenorm(tokens, info)));
  }

  /** The tied head's embedding [V, d] of run `run` of the stack (a run alone: the embedding itself). */
  headOf(run: number): tf.Tensor2D {
    if (this.runs === 1) return this.embedding as tf.Tensor2D;
    const { vocabSize: V, dModel: d } = this.config;
    return this.embedding.slice([run, 0, 0], [1, V, d]).reshape([V, d]);
  }

  private embed(tokens: tf.Tensor2D): tf.Tensor {
    const [B, T] = tokens.shape;
    const d = this.config.dModel;
    if (this.runs === 1) {
      const x: tf.Tensor = tf.gather(this.embedding, tokens); // [B, T, d]
      return this.positions ? tf.add(x, this.positions.slice([0, 0], [T, d])) : x;
    }
    // E [R, V, d] gathered along the vocabulary: [R, B, T, d], positions [R, T, d] added per run, runs folded outermost
    const R = this.runs;
    const x: tf.Tensor = tf.gather(this.embedding, tokens, 1);
    const placed = this.positions ? tf.add(x, this.positions.slice([0, 0, 0], [R, T, d]).reshape([R, 1, T, d])) : x;
    return placed.reshape([R * B, T, d]);
  }

  private mix(block: Block, x: tf.Tensor, i: number, info: ForwardInfo, seed: number): tf.Tensor {
    return block.mixer.forward(x as tf.Tensor3D, { training: info.training, prefixLength: info.prefixLength, dropoutSeed: dropoutSeed(seed, 'mixer', i) });
  }

  private maybeDropout(x: tf.Tensor, rate: number, info: ForwardInfo, seed: number): tf.Tensor {
    return info.training && rate > 0 ? dropout(x, rate, seed) : x;
  }

  private forwardPrenorm(tokens: tf.Tensor2D, info: ForwardInfo): tf.Tensor3D {
    return tf.tidy(() => {
      const seed = info.dropoutSeed ?? 0;
      let x = this.maybeDropout(this.embed(tokens), this.config.embeddingDropout, info, seed);
      this.blocks.forEach((block, i) => {
        const y = this.maybeDropout(this.mix(block, layerNorm(x, block.norm.gamma, block.norm.beta), i, info, seed), this.config.residualDropout, info, dropoutSeed(seed, 'residual', i));
        x = tf.add(x, y);
        if (block.mlp) {
          const { norm, fc, proj } = block.mlp;
          const hidden = gelu(linearApply(layerNorm(x, norm!.gamma, norm!.beta), fc.w, fc.b));
          x = tf.add(x, linearApply(hidden, proj.w, proj.b));
        }
      });
      return layerNorm(x, this.finalNorm.gamma, this.finalNorm.beta) as tf.Tensor3D;
    });
  }

  /** zoology's LMBackbone.forward with its TransformerBlock / MambaBlock (the top of this file). */
  private forwardZoology(tokens: tf.Tensor2D, info: ForwardInfo): tf.Tensor3D {
    return tf.tidy(() => {
      const seed = info.dropoutSeed ?? 0;
      const { embeddingDropout, residualDropout } = this.config;
      let hidden = this.embed(tokens);
      let residual: tf.Tensor | undefined;
      const addTo = (x: tf.Tensor) => (residual ? tf.add(x, residual) : x);
      this.blocks.forEach((block, i) => {
        if (block.rmsWeight) {
          residual = addTo(hidden);
          hidden = this.mix(block, rmsNorm(residual, block.rmsWeight), i, info, seed);
          return;
        }
        residual = addTo(this.maybeDropout(hidden, i === 0 ? embeddingDropout : residualDropout, info, dropoutSeed(seed, 'blockInput', i)));
        const mixed = this.mix(block, layerNorm(residual, block.norm.gamma, block.norm.beta), i, info, seed);
        residual = addTo(this.maybeDropout(mixed, residualDropout, info, dropoutSeed(seed, 'residual', i)));
        const normed = layerNorm(residual, block.norm2!.gamma, block.norm2!.beta);
        hidden = block.mlp ? linearApply(geluExact(linearApply(normed, block.mlp.fc.w, block.mlp.fc.b)), block.mlp.proj.w, block.mlp.proj.b) : normed;
      });
      residual = addTo(this.maybeDropout(hidden, residualDropout, info, dropoutSeed(seed, 'final')));
      return layerNorm(residual, this.finalNorm.gamma, this.finalNorm.beta) as tf.Tensor3D;
    });
  }

  /**
   * This training step's auxiliary objectives (Mixer.auxObjective; Hedgehog's distillation, JRT-RNN's masked
   * prefix), in layer order: each layer's own, and a `shared` one once (the first layer's). At most one may feed
   * other inputs.
   */
  auxObjectives(batch: AuxBatch): AuxObjective[] {
    const objectives: AuxObjective[] = [];
    const shared = new Set<string>();
    this.blocks.forEach((block, i) => {
      const objective = block.mixer.auxObjective?.(batch);
      if (!objective) return;
      if (objective.shared !== undefined) {
        if (shared.has(objective.shared)) return;
        shared.add(objective.shared);
      }
      if (objective.tokens && objectives.some((o) => o.tokens)) throw new Error(`layer ${i} (${block.def.name}): a second auxiliary objective replaces the inputs; at most one may (Mixer.auxObjective)`);
      objectives.push(objective);
    });
    return objectives;
  }

  /** State size summed over layers, in floats per example, both conventions. */
  stateFloats(): { measured: number; paper: number } {
    let measured = 0;
    let paper = 0;
    this.blocks.forEach((b, i) => {
      const s = b.def.stateFloats(b.params, { dModel: this.config.dModel, maxSeqLen: this.config.maxSeqLen, layerIndex: i, nLayers: this.config.nLayers, block: this.config.block });
      measured += s.measured;
      paper += s.paper;
    });
    return { measured, paper };
  }

  dispose(): void {
    this.store.dispose();
    for (const c of this.constants) c.dispose();
    this.constants.length = 0;
  }
}

/**
 * The first of a model's nLayers layers (listed layers repeat) whose mixer cannot train in a stack (engine/stack.ts:
 * MixerDefinition.stackable false or absent for its resolved hyperparameters), or undefined when every one can.
 */
export function unstackableLayer(layers: LayerSpec[], nLayers: number): { index: number; def: MixerDefinition } | undefined {
  for (let index = 0; index < nLayers; index++) {
    const spec = layers[index % layers.length]!;
    const def = getMixer(spec.mixer);
    if (!def.stackable?.(resolveMixerParams(def, spec.params))) return { index, def };
  }
  return undefined;
}

/** GELU, tanh approximation (GPT-2), built from ops every backend has. */
export function gelu(x: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    const inner = tf.mul(Math.sqrt(2 / Math.PI), tf.add(x, tf.mul(0.044715, tf.pow(x, 3))));
    return tf.mul(tf.mul(0.5, x), tf.add(1, tf.tanh(inner)));
  });
}

/** GELU, exact (erf), as torch's F.gelu — zoology's MLP state mixer. */
export function geluExact(x: tf.Tensor): tf.Tensor {
  return tf.tidy(() => tf.mul(tf.mul(0.5, x), tf.add(1, tf.erf(tf.mul(x, Math.SQRT1_2)))));
}

/** RMSNorm over the last axis (ops/rmsNorm, the same op as architectures/nn.ts's): x / √(mean(x²) + eps) · w. */
export { rmsNorm };

/** zoology uses its MambaBlock / Mamba2Block (not TransformerBlock) for Mamba models: the same add → RMSNorm → mixer. */
function isMambaBlock(def: MixerDefinition): boolean {
  return def.name === 'mamba' || def.name === 'mamba2';
}
