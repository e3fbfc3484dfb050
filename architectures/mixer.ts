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
   * Optional extra training loss (e.g. Hedgehog's distillation, JRT-RNN's masked prefix loss): returned by
   * the most recent forward in training mode, added to the LM loss by the model.
   */
  auxLoss?(): Tensor | undefined;
  /**
   * Optional, for mixers that read the prefix non-causally (`usesPrefix`, JRT-RNN): x [B, M, d] = the whole
   * prefix → its outputs [B, M, d] and the state to step from (position M on). Their recurrent view is
   * "prefill the prefix, then step"; the generic checks require it when `usesPrefix` is set.
   */
  prefill?(x: Tensor3D): { y: Tensor3D; state: MixerState };
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
