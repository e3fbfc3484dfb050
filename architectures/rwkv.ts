// RWKV-4 time mixing (Peng et al. 2023, arXiv 2305.13048), as zoology's rwkv.py (RWKVTimeMixer) uses it:
//
//   x'_t = x_{t−1} (token shift, x_{−1} = 0);   x^k = μ_k ⊙ x + (1 − μ_k) ⊙ x'   (x^v, x^r alike)
//   k = x^k W_k,  v = x^v W_v,  r = sigmoid(x^r W_r)
//   wkv_t = (Σ_{i<t} e^{−(t−1−i)w + k_i} v_i + e^{u+k_t} v_t) / (Σ_{i<t} e^{−(t−1−i)w + k_i} + e^{u+k_t}),  w = e^{time_decay}
//   y = (r ⊙ wkv) W_o
//
// WKV runs in parallel over T (ops/wkv/). The step view holds x_{t−1} and, per channel, WKV's
// numerator and denominator in scaled form with their shared log scale: 4·d floats. The "paper" count is the
// recurrence's own state, numerator and denominator (2·d; zoology gives no RWKV-4 formula, and its RWKV-7
// formula over-counts 4–16×). Init: RWKV's "fancy" time_decay / time_first / time_mix per layer (as in
// zoology's file); linear weights N(0, 0.02), output 0.02/√(2·n_layers).
// Under block 'zoology', zoology's exact init: its RWKVTimeMixer is built without n_layer, so the fancy init uses
// its default n_layer = 12 whatever the model's depth, and `output` (not named out_proj) keeps N(0, 0.02).
// Not reproduced: zoology's CUDA WKV runs with RWKV_FLOAT_MODE=bf16, so its wkv output (and the gradients into
// w, u, k, v) are rounded to bfloat16; here everything stays fp32.
import * as tf from '@tensorflow/tfjs';
import { z } from 'zod';
import { defineMixer } from './mixer.js';
import { mixWithPrevious, tokenShiftMix } from '../ops/tokenShift/index.js';
import { wkv, wkvInitState, wkvStep } from '../ops/wkv/index.js';

const params = z.object({}).strict();

/** RWKVTimeMixer's default n_layer, which zoology never overrides. */
const ZOOLOGY_N_LAYER = 12;

export default defineMixer({
  name: 'rwkv',
  description: 'RWKV-4 time mixing (token shift, WKV with decay w and bonus u), parallel scan',
  params,
  // time-mix μ, decay and bonus take a run axis (the token shift's mix, ops/wkv: both its forms read each example's
  // run's w and u), the projections are make.linear (engine/stack.ts)
  stackable: () => true,
  create(_p, ctx, make) {
    const d = ctx.dModel;
    const zoology = ctx.block === 'zoology';
    const layer = ctx.layerIndex;
    const nLayers = zoology ? ZOOLOGY_N_LAYER : ctx.nLayers;
    const ratio0To1 = nLayers > 1 ? layer / (nLayers - 1) : 0;
    const ratio1ToAlmost0 = 1 - layer / nLayers;
    const channelFrac = Array.from({ length: d }, (_, i) => i / d);
    const vector = (values: number[]) => (t: typeof tf) => t.tensor1d(values);
    // time_decay_h = −5 + 8 (h/(d−1))^{0.7 + 1.3·ratio}: slow to fast decays across channels
    const timeDecay = make.param('time_decay', [d], vector(channelFrac.map((_, h) => -5 + 8 * (h / Math.max(1, d - 1)) ** (0.7 + 1.3 * ratio0To1))));
    // time_first = log 0.3 + zigzag((h + 1) mod 3 − 1)·0.5
    const timeFirst = make.param('time_first', [d], vector(channelFrac.map((_, h) => Math.log(0.3) + (((h + 1) % 3) - 1) * 0.5)));
    const mixK = make.param('time_mix_k', [d], vector(channelFrac.map((x) => x ** ratio1ToAlmost0)));
    const mixV = make.param('time_mix_v', [d], vector(channelFrac.map((x) => x ** ratio1ToAlmost0 + 0.3 * ratio0To1)));
    const mixR = make.param('time_mix_r', [d], vector(channelFrac.map((x) => x ** (0.5 * ratio1ToAlmost0))));
    const key = make.linear('key', d, d, { bias: false });
    const value = make.linear('value', d, d, { bias: false });
    const receptance = make.linear('receptance', d, d, { bias: false });
    const output = make.linear('output', d, d, { bias: false, std: zoology ? 0.02 : make.outputStd });

    // token shift's interpolation x ⊙ μ + x' ⊙ (1 − μ) (ops/tokenShift, form rwkv4); a stack's μ [R, d]
    // (engine/stack.ts) mixes its own run's rows
    const mus = [mixK, mixV, mixR];
    const project = ([xk, xv, xr]: tf.Tensor[]) => ({
      k: key.apply(xk!),
      v: value.apply(xv!),
      r: tf.sigmoid(receptance.apply(xr!)),
    });
    const decayRate = () => tf.exp(timeDecay) as tf.Tensor1D;

    return {
      forward(x) {
        return tf.tidy(() => {
          const { k, v, r } = project(tokenShiftMix(x, mus, 'rwkv4'));
          const mixed = wkv(decayRate(), timeFirst as tf.Tensor1D, k as tf.Tensor3D, v as tf.Tensor3D);
          return output.apply(tf.mul(r, mixed)) as tf.Tensor3D;
        });
      },
      initState(batch) {
        return { shift: tf.zeros([batch, d]), ...wkvInitState(batch, d) };
      },
      step(state, x) {
        return tf.tidy(() => {
          const { k, v, r } = project(mixWithPrevious(x, state.shift!, mus, 'rwkv4'));
          const out = wkvStep({ m: state.m as tf.Tensor2D, a: state.a as tf.Tensor2D, b: state.b as tf.Tensor2D }, decayRate(), timeFirst as tf.Tensor1D, k as tf.Tensor2D, v as tf.Tensor2D);
          return { y: output.apply(tf.mul(r, out.y)) as tf.Tensor2D, state: { shift: x.clone(), ...out.state } };
        });
      },
    };
  },
  stateFloats(_p, ctx) {
    return { measured: 4 * ctx.dModel, paper: 2 * ctx.dModel };
  },
});
