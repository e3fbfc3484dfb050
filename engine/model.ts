// The language model around the mixers (zoology's skeleton, architectures.md):
//   x = dropout(E[tokens] (+ P[positions]))
//   for each layer i:  x += mixer_i(LN(x));  [x += MLP(LN(x))]
//   h = LN(x);  logits = h Eᵀ  (tied head)
import * as tf from '@tensorflow/tfjs';
import { dropout } from './kernels/dropout.js';
import type { Mixer, MixerDefinition } from '../architectures/mixer.js';
import { layerNorm } from './ops/layerNorm.js';
import { linearApply, ParamStore } from './params.js';
import { getMixer, resolveMixerParams } from './registry.js';

export interface LayerSpec {
  mixer: string;
  params?: Record<string, unknown>;
}

export interface ModelConfig {
  vocabSize: number;
  dModel: number;
  nLayers: number;
  /** Longest sequence (train or test): sizes position embeddings, KV caches, explicit filters. */
  maxSeqLen: number;
  /** Hybrid layer list: layer i uses layers[i % layers.length]. */
  layers: LayerSpec[];
  positionEmbeddings: boolean;
  /** The optional state mixer (MLP ×4, GELU) after each sequence mixer; the MQAR presets use none. */
  mlp: boolean;
  embeddingDropout: number;
  residualDropout: number;
  /**
   * JRT-RNN's masked-token objective on the prefix (Arora et al. 2024, "Just read twice"): in training, a
   * fraction `rate` of the prefix tokens is replaced by the mask token 0 and predicted, with loss weight `weight`
   * added to the LM loss (the paper: 15%, 0.25). Off when absent.
   */
  prefixMlm?: { rate: number; weight: number };
  seed: number;
}

interface Norm {
  gamma: tf.Variable;
  beta: tf.Variable;
}

interface Block {
  norm: Norm;
  mixer: Mixer;
  def: MixerDefinition;
  params: Record<string, unknown>;
  mlp?: { norm: Norm; fc: { w: tf.Variable; b: tf.Variable }; proj: { w: tf.Variable; b: tf.Variable } };
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

  constructor(readonly config: ModelConfig) {
    const { vocabSize, dModel: d, nLayers } = config;
    this.store = new ParamStore(config.seed, nLayers);
    const top = this.store.scope('model');
    this.embedding = top.param('embedding', [vocabSize, d], 0.02);
    if (config.positionEmbeddings) this.positions = top.param('positions', [config.maxSeqLen, d], 0.02);
    const norm = (scope: string): Norm => ({
      gamma: this.store.create(`${scope}.gamma`, [d], 'ones'),
      beta: this.store.create(`${scope}.beta`, [d], 'zeros'),
    });
    for (let i = 0; i < nLayers; i++) {
      const spec = config.layers[i % config.layers.length]!;
      const def = getMixer(spec.mixer);
      const params = resolveMixerParams(def, spec.params);
      const make = this.store.scope(`layer${i}.${def.name}`);
      const mixer = def.create(params, { dModel: d, maxSeqLen: config.maxSeqLen, layerIndex: i, nLayers }, make);
      const block: Block = { norm: norm(`layer${i}.norm`), mixer, def, params };
      if (config.mlp) {
        const m = this.store.scope(`layer${i}.mlp`);
        block.mlp = {
          norm: norm(`layer${i}.mlp.norm`),
          fc: { w: m.param('fc.weight', [d, 4 * d], 0.02), b: m.param('fc.bias', [4 * d], 'zeros') },
          proj: { w: m.param('proj.weight', [4 * d, d], m.outputStd), b: m.param('proj.bias', [d], 'zeros') },
        };
      }
      this.blocks.push(block);
    }
    this.finalNorm = norm('model.final_norm');
  }

  get variables(): tf.Variable[] {
    return this.store.variables;
  }

  get parameterCount(): number {
    return this.store.parameterCount;
  }

  /** tokens [B, T] int32 → final hidden states [B, T, d] (before the tied head). */
  forward(tokens: tf.Tensor2D, info: ForwardInfo): tf.Tensor3D {
    return tf.tidy(() => {
      const [B, T] = tokens.shape;
      let x: tf.Tensor = tf.gather(this.embedding, tokens); // [B, T, d]
      if (this.positions) x = tf.add(x, this.positions.slice([0, 0], [T, this.config.dModel]));
      const seed = info.dropoutSeed ?? 0;
      if (info.training && this.config.embeddingDropout > 0) x = dropout(x, this.config.embeddingDropout, seed);
      this.blocks.forEach((block, i) => {
        let y: tf.Tensor = block.mixer.forward(layerNorm(x, block.norm.gamma, block.norm.beta) as tf.Tensor3D, {
          training: info.training,
          prefixLength: info.prefixLength,
          dropoutSeed: seed + 7919 * (i + 1),
        });
        if (info.training && this.config.residualDropout > 0) y = dropout(y, this.config.residualDropout, seed + 104729 * (i + 1));
        x = tf.add(x, y);
        if (block.mlp) {
          const { norm, fc, proj } = block.mlp;
          const hidden = gelu(linearApply(layerNorm(x, norm.gamma, norm.beta), fc.w, fc.b));
          x = tf.add(x, linearApply(hidden, proj.w, proj.b));
        }
      });
      void B;
      return layerNorm(x, this.finalNorm.gamma, this.finalNorm.beta) as tf.Tensor3D;
    });
  }

  /** Sum of the mixers' auxiliary losses from the last training forward (Hedgehog, JRT-RNN MLM), if any. */
  auxLoss(): tf.Scalar | undefined {
    const losses = this.blocks.map((b) => b.mixer.auxLoss?.()).filter((l): l is tf.Tensor => l !== undefined);
    if (losses.length === 0) return undefined;
    return tf.addN(losses) as tf.Scalar;
  }

  /** State size summed over layers, in floats per example, both conventions. */
  stateFloats(): { measured: number; paper: number } {
    let measured = 0;
    let paper = 0;
    this.blocks.forEach((b, i) => {
      const s = b.def.stateFloats(b.params, { dModel: this.config.dModel, maxSeqLen: this.config.maxSeqLen, layerIndex: i, nLayers: this.config.nLayers });
      measured += s.measured;
      paper += s.paper;
    });
    return { measured, paper };
  }

  dispose(): void {
    this.store.dispose();
  }
}

/** GELU, tanh approximation (GPT-2), built from ops every backend has. */
export function gelu(x: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    const inner = tf.mul(Math.sqrt(2 / Math.PI), tf.add(x, tf.mul(0.044715, tf.pow(x, 3))));
    return tf.mul(tf.mul(0.5, x), tf.add(1, tf.tanh(inner)));
  });
}
