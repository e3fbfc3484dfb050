// The tensor and parameter types every layer above core shares (type-only: no runtime import of tfjs here). The
// ops need ParamFactory to build their own parameters (ops/ssmKernel/); architectures/mixer.ts re-exports all of
// them as the plugin interface.
import type * as tfTypes from '@tensorflow/tfjs';

export type Tf = typeof tfTypes;
export type Tensor = tfTypes.Tensor;
export type Tensor2D = tfTypes.Tensor2D;
export type Tensor3D = tfTypes.Tensor3D;
export type Variable = tfTypes.Variable;

/** Creates the mixer's trainable parameters, initialised the zoology way; names are scoped per layer. */
export interface ParamFactory {
  /**
   * Weight [inDim, outDim] ~ N(0, std) (default 0.02), or ~ U(±uniform) when `uniform` is given (torch's default
   * Linear init is U(±1/√inDim)), and optional zero bias [outDim].
   */
  linear(name: string, inDim: number, outDim: number, opts?: { bias?: boolean; std?: number; uniform?: number }): Linear;
  /** Any tensor parameter: `init` is 'zeros' | 'ones' | a std for N(0, std) | a function of the tf module. */
  param(name: string, shape: number[], init: 'zeros' | 'ones' | number | ((tf: Tf) => Tensor)): Variable;
  /** std for output projections: 0.02 / sqrt(2 · nLayers) (GPT-2 / zoology). */
  readonly outputStd: number;
  /** A fresh deterministic seed for anything random in the mixer's construction (Performer features, ...): each call returns the next one. */
  seed(): number;
}

export interface Linear {
  weight: Variable;
  bias?: Variable;
  /** x [..., inDim] → [..., outDim] */
  apply(x: Tensor): Tensor;
}
