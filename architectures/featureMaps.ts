// Feature maps φ for linear attention (zoology/mixers/feature_maps, BASED, Hedgehog). Each maps per-head
// queries or keys x [B, H, T, f] to features [B, H, T, F] so that φ(q)·φ(k) stands in for exp(q·k/√f):
//
//   taylor     φ(x) = [1, x/f^{1/4}, upper-triangle of x xᵀ/(√2·√f), off-diagonal ×√2]
//              → φ(q)·φ(k) = 1 + s + s²/2, s = q·k/√f;  F = 1 + f + f(f+1)/2        (BASED, zoology TaylorExp)
//   poselu     φ(x) = elu(x) + 1;  F = f                                             (Katharopoulos et al.)
//   relu       φ(x) = max(relu(x), 1e-12);  F = f                                     (zoology ReLU)
//   performer  φ(x) = exp(ω x' − |x'|²/2)/√m, x' = x/f^{1/4}, ω [m, f] fixed orthogonal random rows;  F = m
//   cosformer  φ(x_i) = [relu(x_i)·sin(π/2·(i+1)/M), relu(x_i)·cos(π/2·(i+1)/M)], M = maxSeqLen;  F = 2f
//              → φ(q_i)·φ(k_j) = relu(q_i)·relu(k_j)·cos(π/2·(i−j)/M)                (cosFormer)
//   hedgehog   φ(x) = softmax([x W + b, −(x W + b)]), W [H, f, f] = I, b = 0 at init, learned;  F = 2f
//              separate maps for queries and keys (Hedgehog, arXiv 2402.04347; fla's HedgehogFeatureMap)
//
// Performer's projection is not trained: it is a plain constant tensor (tf.keep), not a Variable, so optimisers
// and "every parameter gets a gradient" never see it.
import * as tf from '@tensorflow/tfjs';
import { z } from 'zod';
import { Rng } from '../core/prng.js';
import { taylorFeatureSize, taylorMap } from '../ops/taylorMap/index.js';
import type { ParamFactory } from './mixer.js';

export const FEATURE_MAPS = ['taylor', 'poselu', 'relu', 'performer', 'cosformer', 'hedgehog'] as const;
export type FeatureMapName = (typeof FEATURE_MAPS)[number];
export const featureMapSchema = z.enum(FEATURE_MAPS);

/** zoology's ReLU floor (keeps every feature, and so every denominator, positive). */
const RELU_FLOOR = 1e-12;

export interface FeatureMapOptions {
  /** f: the per-head width of the projected queries and keys. */
  featureDim: number;
  numHeads: number;
  /** Performer's number of random features m. */
  randomFeatures: number;
  /** CosFormer's M (positions are re-weighted by i/M): the longest sequence the model sees. */
  maxSeqLen: number;
}

/** One feature map: x [B, H, T, f] at positions [offset, offset + T) → φ(x) [B, H, T, F]. */
export interface FeatureMap {
  readonly size: number;
  apply(x: tf.Tensor4D, positionOffset?: number): tf.Tensor4D;
  /** φ(q)·φ(k) as an elementwise function of q·k, where the map has one (Taylor): a cheaper quadratic form. */
  pairScore?(qk: tf.Tensor): tf.Tensor;
}

/** F, the feature width, for each map. */
export function featureSize(name: FeatureMapName, featureDim: number, randomFeatures: number): number {
  switch (name) {
    case 'taylor':
      return taylorFeatureSize(featureDim);
    case 'poselu':
    case 'relu':
      return featureDim;
    case 'performer':
      return randomFeatures;
    case 'cosformer':
    case 'hedgehog':
      return 2 * featureDim;
  }
}

export { taylorFeatureSize };

// ---------------------------------------------------------------------------------------------- Taylor

/** BASED's Taylor feature map, any leading shape: x [..., f] → [..., 1 + f + f(f+1)/2] (ops/taylorMap). */
export function taylorFeatures(x: tf.Tensor): tf.Tensor {
  return taylorMap(x);
}

/** φ(q)·φ(k) of the Taylor map from q·k: 1 + s + s²/2 with s = q·k/√f. */
export function taylorKernel(qk: tf.Tensor, f: number): tf.Tensor {
  return tf.tidy(() => {
    const s = tf.div(qk, Math.sqrt(f));
    return tf.add(tf.add(s, 1), tf.mul(tf.square(s), 0.5));
  });
}

// ---------------------------------------------------------------------------------------------- Performer

/**
 * zoology's `orthogonal_gaussian(m, d)`: ⌈m/d⌉ blocks of d×d orthogonal matrices (QR of a Gaussian matrix, here
 * modified Gram–Schmidt in float64 from a seeded generator, so identical on every backend), stacked, the
 * last one cut to m rows, all divided by √(m/d).
 */
export function orthogonalGaussian(m: number, d: number, seed: number): Float32Array {
  const rng = new Rng(seed);
  const gaussian = () => {
    // Box–Muller
    const u = 1 - rng.nextFloat();
    const v = rng.nextFloat();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  };
  const orthogonalSquare = (): Float64Array[] => {
    const rows: Float64Array[] = [];
    while (rows.length < d) {
      const r = Float64Array.from({ length: d }, gaussian);
      for (const q of rows) {
        let dot = 0;
        for (let i = 0; i < d; i++) dot += r[i]! * q[i]!;
        for (let i = 0; i < d; i++) r[i]! -= dot * q[i]!;
      }
      let norm = 0;
      for (let i = 0; i < d; i++) norm += r[i]! * r[i]!;
      norm = Math.sqrt(norm);
      if (norm < 1e-6) continue; // (measure zero) a dependent draw: draw again
      for (let i = 0; i < d; i++) r[i]! /= norm;
      rows.push(r);
    }
    return rows;
  };
  const out = new Float32Array(m * d);
  const scale = 1 / Math.sqrt(Math.floor(m / d) + (m % d) / d);
  let row = 0;
  while (row < m) {
    for (const r of orthogonalSquare()) {
      if (row >= m) break;
      for (let i = 0; i < d; i++) out[row * d + i] = r[i]! * scale;
      row++;
    }
  }
  return out;
}

/** φ(x) = exp(x' ωᵀ − |x'|²/2)/√m, x' = x/f^{1/4}; projectionT [f, m]. */
export function performerFeatures(x: tf.Tensor, projectionT: tf.Tensor2D): tf.Tensor {
  return tf.tidy(() => {
    const f = x.shape[x.rank - 1]!;
    const m = projectionT.shape[1];
    const lead = x.shape.slice(0, -1);
    const xs = tf.div(x.reshape([-1, f]), Math.pow(f, 0.25));
    const halfNorm = tf.mul(tf.sum(tf.square(xs), 1, true), 0.5);
    return tf.div(tf.exp(tf.sub(tf.matMul(xs as tf.Tensor2D, projectionT), halfNorm)), Math.sqrt(m)).reshape([...lead, m]);
  });
}

// ---------------------------------------------------------------------------------------------- CosFormer

/** relu(x) re-weighted by sin and cos of π/2·(i+1)/M for positions i = offset … offset + T − 1. */
export function cosformerFeatures(x: tf.Tensor4D, positionOffset: number, maxSeqLen: number): tf.Tensor4D {
  return tf.tidy(() => {
    const T = x.shape[2];
    const angle = tf.mul(tf.range(positionOffset + 1, positionOffset + T + 1, 1, 'float32'), Math.PI / 2 / maxSeqLen).reshape([1, 1, T, 1]);
    const r = tf.relu(x);
    return tf.concat([tf.mul(r, tf.sin(angle)), tf.mul(r, tf.cos(angle))], 3) as tf.Tensor4D;
  });
}

// ---------------------------------------------------------------------------------------------- Hedgehog

/** softmax([x W + b, −(x W + b)]) per head: x [B, H, T, f], weight [H, f, f], bias [H, f] → [B, H, T, 2f]. */
export function hedgehogFeatures(x: tf.Tensor4D, weight: tf.Tensor3D, bias: tf.Tensor2D): tf.Tensor4D {
  return tf.tidy(() => {
    const [B, H, T, f] = x.shape;
    const perHead = x.transpose([1, 0, 2, 3]).reshape([H, B * T, f]);
    const projected = tf.add(tf.matMul(perHead, weight), bias.reshape([H, 1, f])).reshape([H, B, T, f]).transpose([1, 0, 2, 3]);
    return tf.softmax(tf.concat([projected, tf.neg(projected)], 3)) as tf.Tensor4D;
  });
}

// ---------------------------------------------------------------------------------------------- factory

/**
 * The query and key feature maps of one layer. Fixed maps are the same function for both; Performer shares
 * one random projection (the kernel estimate needs the same ω on both sides); Hedgehog learns one MLP each.
 */
export function createFeatureMaps(name: FeatureMapName, opts: FeatureMapOptions, make: ParamFactory): { q: FeatureMap; k: FeatureMap } {
  const { featureDim: f, numHeads: H } = opts;
  const size = featureSize(name, f, opts.randomFeatures);
  const fixed = (apply: (x: tf.Tensor4D, offset: number) => tf.Tensor) => {
    const map: FeatureMap = { size, apply: (x, offset = 0) => apply(x, offset) as tf.Tensor4D };
    return { q: map, k: map };
  };
  switch (name) {
    case 'taylor': {
      const maps = fixed((x) => taylorFeatures(x));
      maps.q.pairScore = (qk) => taylorKernel(qk, f);
      return maps;
    }
    case 'poselu':
      return fixed((x) => tf.tidy(() => tf.add(tf.elu(x), 1)));
    case 'relu':
      return fixed((x) => tf.maximum(x, RELU_FLOOR));
    case 'cosformer':
      return fixed((x, offset) => cosformerFeatures(x, offset, opts.maxSeqLen));
    case 'performer': {
      const m = opts.randomFeatures;
      const omega = orthogonalGaussian(m, f, make.seed());
      // stored transposed [f, m] for x' ωᵀ; a constant, never trained
      const projectionT = tf.keep(tf.tidy(() => tf.tensor2d(omega, [m, f]).transpose()) as tf.Tensor2D);
      return fixed((x) => performerFeatures(x, projectionT));
    }
    case 'hedgehog': {
      const mlp = (role: string): FeatureMap => {
        const weight = make.param(`feature_map_${role}.weight`, [H, f, f], (t) => t.tile(t.eye(f).expandDims(0), [H, 1, 1]));
        const bias = make.param(`feature_map_${role}.bias`, [H, f], 'zeros');
        return { size, apply: (x) => hedgehogFeatures(x, weight as tf.Tensor as tf.Tensor3D, bias as tf.Tensor as tf.Tensor2D) };
      };
      return { q: mlp('q'), k: mlp('k') };
    }
  }
}
