// The sequence-mixer plugin interface. A mixer is one object: its hyperparameters (a zod schema with
// defaults), a parallel forward over [batch, time, d_model], a recurrent step view that holds its state
// explicitly, and its state size. Built-in mixers and user plugins (`--plugin file.ts`) are the same thing.
import type { z } from 'zod';

export type { Tf, Tensor, Tensor2D, Tensor3D, Variable, ParamFactory, Linear } from '../core/types.js';
import type { Tf, Tensor, Tensor2D, Tensor3D, Variable, ParamFactory } from '../core/types.js';

/** What a mixer knows about the model it sits in. */
export interface MixerContext {
  dModel: number;
  /** Longest sequence the mixer will see (longest test length): sizes attention's KV cache, explicit long filters. */
  maxSeqLen: number;
  layerIndex: number;
  nLayers: number;
  /**
   * The model part of the run config (engine/config.ts modelSchema), for a model-level switch that a mixer's
   * objective reads (JRT-RNN: `prefixMlm`). Absent outside a model (tests, check-plugin).
   */
  model?: Readonly<Record<string, unknown>>;
  /**
   * The model's block (engine/model.ts). Under 'zoology' (the paper presets) a mixer that exists in zoology builds
   * zoology's module exactly, its quirks included (init, extra or missing parameters; each file says which).
   * Absent = 'prenorm'.
   */
  block?: 'zoology' | 'prenorm';
}

/** Per-call information for the parallel forward. */
export interface ForwardOptions {
  training: boolean;
  /** Length of the context part of each example (JRT-RNN reads it non-causally). */
  prefixLength?: number;
  /** Seed for dropout masks (deterministic per step). */
  dropoutSeed?: number;
}

/** A mixer's recurrent state: named tensors, each with a leading batch dimension. */
export type MixerState = Record<string, Tensor>;

export interface Mixer {
  /** Parallel (training) forward: x [B, T, d] → y [B, T, d]. */
  forward(x: Tensor3D, opts: ForwardOptions): Tensor3D;
  /** Fresh state for a batch (what the step view holds before the first token). */
  initState(batch: number): MixerState;
  /** One token: x [B, d] at position `position` (0-based) → y [B, d] and the next state. */
  step(state: MixerState, x: Tensor2D, position: number): { y: Tensor2D; state: MixerState };
  /**
   * Optional auxiliary training objective: the one hook for any extra training loss (AuxObjective below). Each
   * training step calls it on every layer, before the forward, with the batch (AuxBatch); it returns undefined
   * (nothing this step) or an objective whose `loss(out)` the step calls after the forward and adds to the LM loss.
   * Hedgehog's distillation returns the loss its own training forward computed; JRT-RNN's masked prefix feeds masked
   * inputs (`tokens`) and returns the head's cross-entropy at the masked positions (`out.crossEntropy`).
   */
  auxObjective?(batch: AuxBatch): AuxObjective | undefined;
  /**
   * Optional, for mixers that read the prefix non-causally (`usesPrefix`, JRT-RNN): x [B, M, d] = the whole
   * prefix → its outputs [B, M, d] and the state to step from (position M on). Their recurrent view is
   * "prefill the prefix, then step"; the generic checks require it when `usesPrefix` is set.
   */
  prefill?(x: Tensor3D): { y: Tensor3D; state: MixerState };
}

/** What a training step tells the auxiliary objectives (Mixer.auxObjective) about its batch, before the forward. */
export interface AuxBatch {
  /** The input tokens [B·T], row-major. Read only: an objective that feeds other inputs copies them (`tokens`). */
  tokens: Int32Array;
  /** B */
  batchSize: number;
  /** T */
  seqLen: number;
  /** Length of each example's context part (the task's prefix; 0 = none). */
  prefixLength: number;
  /** The step's seed (the step's dropout masks derive from it too): draw the objective's randomness from it. */
  seed: number;
}

/** What the model gives an auxiliary objective after the forward. */
export interface AuxOutputs {
  /** The model's final hidden states [B·T, d] (after the final norm, before the tied LM head); row b·T + t. */
  hidden: Tensor2D;
  /** Mean cross-entropy of the tied LM head at these rows of `hidden` against `labels` (the LM loss's function). */
  crossEntropy(rows: Int32Array, labels: Int32Array): Tensor;
}

/**
 * One step's auxiliary objective, returned by Mixer.auxObjective. The training loss is
 *   LM loss + Σ_objectives loss(out)
 * with each `loss` already weighted by the objective's own weight. A layer's own objective (Hedgehog's distillation)
 * counts once per layer; a model-level one that every layer of a mixer declares (JRT-RNN's masked prefix) names
 * itself in `shared` and counts once per model (the first layer's).
 */
export interface AuxObjective {
  /** A model-level objective's name: objectives with the same name count once per step (the first layer's). */
  shared?: string;
  /** The inputs [B·T] the step feeds instead of the batch's (e.g. a masked copy). At most one objective per step. */
  tokens?: Int32Array;
  /** After the forward: the weighted loss (a scalar), or undefined for none this step. */
  loss(out: AuxOutputs): Tensor | undefined;
}

/** State size in floats per layer, both conventions (architectures.md). */
export interface StateFloats {
  /** Counted from the tensors the step view holds (per example). */
  measured: number;
  /** The paper's / zoology's formula, to compare with published plots. */
  paper: number;
}

export interface MixerDefinition<P extends Record<string, unknown> = Record<string, any>> {
  name: string;
  /** One line for `recallbench list`. */
  description: string;
  /** Hyperparameters: a strict zod object with defaults (unknown keys rejected). */
  params: z.ZodType<P>;
  /**
   * Whether the mixer is causal with these hyperparameters (output t reads tokens ≤ t only). Absent = causal.
   * Non-causal baselines (a `causal: false` switch, or a mixer that always reads the whole sequence:
   * `isCausal: () => false`) have no step view; the causality check skips them.
   */
  isCausal?(p: P): boolean;
  /** true when outputs may depend on every token of the prefix (JRT-RNN): causal after the prefix only. */
  usesPrefix?: boolean;
  /**
   * Whether runs of this mixer can train stacked (engine/stack.ts: R runs as one model whose parameters carry a
   * leading run axis, the runs folded into the batch axis, runs outermost). True only for a mixer that treats every
   * leading axis as batch, draws dropout through ops/dropout, and uses each parameter through `make.linear`'s
   * `apply`, through an op that takes a run axis (ops/shortConv, ops/selectiveScan, ops/wkv, ops/rmsNorm: a
   * parameter [R, ...] there is each run's own), or with nn's mulByRun / addByRun (Mamba's D, RWKV's μ). Absent =
   * not stackable: its runs train alone. Tests: tests/stack.test.ts (records equal the runs alone).
   */
  stackable?(p: P): boolean;
  create(p: P, ctx: MixerContext, make: ParamFactory): Mixer;
  stateFloats(p: P, ctx: MixerContext): StateFloats;
}

/** Define a mixer with its parameter type inferred from the schema. */
export function defineMixer<S extends z.ZodType<Record<string, unknown>>>(def: MixerDefinition<z.output<S>> & { params: S }): MixerDefinition<z.output<S>> {
  return def;
}

/** Causality of a definition with resolved hyperparameters: its `isCausal`, causal when absent. */
export function mixerIsCausal<P extends Record<string, unknown>>(def: MixerDefinition<P>, p: P): boolean {
  return def.isCausal ? def.isCausal(p) : true;
}

/** The shared helpers a mixer needs (architectures/nn.ts): silu, rmsNorm, heads split/merge, short conv. */
export type Nn = typeof import('./nn.js');

/** What a plugin's factory receives: everything a mixer needs, the same modules recallbench itself uses. */
export interface PluginApi {
  /** The tfjs module recallbench runs on (its backend already chosen). */
  tf: Tf;
  /** zod, for the hyperparameter schema. */
  z: typeof z;
  /** Identity helper that types `create` / `stateFloats` from the schema. */
  defineMixer: typeof defineMixer;
  /** Shared layers: silu, rmsNorm, splitHeads / mergeHeads, shortConv / shortConvStep. */
  nn: Nn;
  /** The project's dropout, dropout(x, rate, seed): the mask a function of the seed; a fused kernel on webgpu. */
  dropout: (x: Tensor, rate: number, seed: number) => Tensor;
}

/**
 * A plugin file's default export: a mixer definition, or a function of the PluginApi that returns one (so a
 * plugin outside this package needs no imports of its own).
 */
export type PluginExport = MixerDefinition | ((api: PluginApi) => MixerDefinition | Promise<MixerDefinition>);
