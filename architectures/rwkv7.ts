// RWKV-7 "Goose" time mixing (Peng et al. 2025, arXiv 2503.14456), the layer of flash-linear-attention's
// fla/layers/rwkv7.py (RWKV7Attention), per head h (H heads of d_k = d_v = d/H):
//
//   x'_t = x_{t−1} (token shift, x_{−1} = 0);   x^c = x + (x' − x) ⊙ μ_c   for c ∈ {r, w, k, v, a, g}
//   r = x^r W_r,  k = x^k W_k,  v = x^v W_v
//   w = −e^{−½} · σ(tanh(x^w D_w) U_w + b_w)        log decay per key channel, in (−0.607, 0)
//   α = σ((x^a D_a) U_a + b_a)                       in-context learning rate per key channel
//   g = σ(x^g D_g) U_g                               output gate (no bias)         (D_c U_c: rank-r LoRAs)
//   κ̂ = L2norm(k ⊙ k_k) per head,   k ← k ⊙ (1 + (α − 1) ⊙ k_a)                  removal key, write key
//   S_t = (diag(e^{w_t}) − (κ̂_t ⊙ α_t) κ̂_tᵀ) S_{t−1} + k_t v_tᵀ,   o_t = S_tᵀ r_t
//                                   (the generalized delta rule, ops/generalizedDeltaRule/, a = −κ̂, b = κ̂ ⊙ α)
//   o ← GroupNorm_H(o) + (Σ_i r_i k_i r_k,i) v   per head (the "bonus": the current token's value, read at once)
//   y = (o ⊙ g) W_o
//
// The keys (w, α, k, κ̂ → a, b) and the output (bonus, gate) are ops/rwkv7Token: one fused pass each way per token
// and head on webgpu with the lever `rwkv7Token`.
// The parallel forward is the chunked generalized delta rule (ops/generalizedDeltaRule/chunk.ts): batched within
// chunks of `chunkSize` tokens, a loop over the T/chunkSize chunks carries S. On webgpu with the lever
// `generalizedDelta` on, the op runs its fused kernel instead (accel/webgpu/generalizedDeltaRule.ts: no [C, C, d_k]
// pairwise tensors; off by default until checked on a real GPU).
// State per layer: paper H·d_k·d_v = d²/H; measured from the step view: S plus the token-shift carry x_{t−1} (d
// floats). zoology's RWKV7Attention.state_size() counts num_heads·key_dim·value_dim = H·d² (key_dim = value_dim =
// d, the whole width, not the head's): H² times the state its own recurrence holds (architectures.md: "4–16× too
// large"); the paper count here is the recurrence's.
//
// Simplified against fla's layer:
//   - No value residual ("v_first"): fla's layers after the first mix their v with the first layer's v
//     (v ← lerp(v, v_first, σ(LoRA_v(x^v)))). The mixer interface passes nothing between layers, so every layer
//     here is fla's layer 0 (no v_lora). zoology's wrapper never passes v_first either: its layers are the same.
//   - LoRA ranks: fla's formula max(32, round(c·√d·f / 32)·32) (c = 2.5 decay and α, 5 gate; f = d_k/64 for decay
//     and α) with a floor and granularity of 8 instead of 32, for small d (d 64, 4 heads: 8, 8, 40; fla: 32, 32, 32).
//   - Init: fla's per-layer ratios for μ_c, k_k, k_a, r_k, b_w, b_a and the GroupNorm weight, except that fla's
//     zero inits are replaced (the generic suite requires every parameter to get a gradient at init, and a zero
//     W_o gives nothing else one): W_o ~ N(0, 0.02/√(2·n_layers)) and the LoRA down-projections D_c ~ N(0, 0.02)
//     instead of zeros. fla's orthogonal inits (W_r, W_v gain 1, W_k gain 0.1, U_c gain 0.1) are Gaussians of the
//     same scale (std gain/√d).
//   - L2 norm of κ̂ as zoology's (fla.modules.l2_norm: x/√(Σx² + 1e-6)); fla's layer uses F.normalize (clamp 1e-12).
//   - fla's "safe gate" chunk kernel bounds w from below by −e^{−½}, which the sigmoid form already guarantees.
//   - Heads default to 4 (as DeltaNet and Gated DeltaNet here); fla's head_dim 64 = one head at d 64.
// Under block 'zoology', zoology's mixers/rwkv7.py instead: every nn.Linear (projections and LoRA layers) xavier-
// uniform with gain 2^{−2.5} and zero bias, μ_c, k_k, k_a, r_k zeros (κ̂ = 0 at init: no removal until k_k moves),
// GroupNorm weight 1, LoRA ranks 64 / 64 / 128 (decay / α / gate) unless given.
import * as tf from '@tensorflow/tfjs';
import { z } from 'zod';
import { defineMixer, type MixerContext } from './mixer.js';
import { generalizedDeltaRule, generalizedDeltaRuleStep } from '../ops/generalizedDeltaRule/index.js';
import { linearApply } from '../ops/linear/index.js';
import { layerNorm } from '../ops/layerNorm/index.js';
import { rwkv7Keys, rwkv7Output } from '../ops/rwkv7Token/index.js';
import { mixWithPrevious, tokenShiftMix } from '../ops/tokenShift/index.js';
import { splitHeads } from './nn.js';

const rank = () => z.number().int().positive().optional();
const params = z
  .object({
    numHeads: z.number().int().positive().default(4).describe('heads H; d_k = d_v = d_model / H'),
    decayRank: rank().describe("rank of the decay LoRA (default: fla's formula, floor and granularity 8; zoology 64)"),
    aRank: rank().describe('rank of the in-context learning rate LoRA (default as decayRank; zoology 64)'),
    gateRank: rank().describe("rank of the output gate LoRA (default: fla's formula, floor and granularity 8; zoology 128)"),
    chunkSize: z.number().int().positive().default(8).describe('tokens per chunk of the parallel form (8: fastest on wasm, see the op)'),
  })
  .strict();

export type Rwkv7Params = z.output<typeof params>;

const NORM_EPS = 1e-5; // GroupNorm eps = d_k · 1e-5 (fla: head_dim · norm_eps)
const ZOOLOGY_GAIN = 2 ** -2.5;

/** fla's LoRA rank formula max(32, round(c·√d·f/32)·32), with 8 in place of 32. */
const flaRank = (c: number, d: number, f: number) => Math.max(8, Math.round((c * Math.sqrt(d) * f) / 8) * 8);

export function rwkv7Dims(p: Rwkv7Params, ctx: MixerContext) {
  const H = p.numHeads;
  const d = ctx.dModel;
  if (d % H !== 0) throw new Error(`rwkv7: d_model ${d} must be divisible by numHeads ${H}`);
  const dk = d / H;
  if (dk < 2) throw new Error(`rwkv7: d_k = d_model / numHeads must be at least 2 (got ${dk})`);
  const zoology = ctx.block === 'zoology';
  const f = dk / 64;
  return {
    H,
    dk,
    decayRank: p.decayRank ?? (zoology ? 64 : flaRank(2.5, d, f)),
    aRank: p.aRank ?? (zoology ? 64 : flaRank(2.5, d, f)),
    gateRank: p.gateRank ?? (zoology ? 128 : flaRank(5, d, 1)),
  };
}

export default defineMixer({
  name: 'rwkv7',
  description: 'RWKV-7 "Goose": generalized delta rule with vector decay, removal key and in-context learning rate, token shift, bonus, group norm, output gate; chunked form',
  params,
  create(p, ctx, make) {
    const d = ctx.dModel;
    const { H, dk, decayRank, aRank, gateRank } = rwkv7Dims(p, ctx);
    const zoology = ctx.block === 'zoology';
    const layer = ctx.layerIndex;
    const ratio0To1 = ctx.nLayers > 1 ? layer / (ctx.nLayers - 1) : 0;
    const ratio1ToAlmost0 = 1 - layer / ctx.nLayers;
    const ch = Array.from({ length: d }, (_, n) => n);
    const linearRamp = ch.map((n) => n / (d - 1) - 0.5);
    const zigzag = ch.map((n) => {
      const z0 = ((n % dk) - (dk - 1) / 2) / ((dk - 1) / 2);
      return z0 * Math.abs(z0);
    });
    const vector = (values: number[]) => (t: typeof tf) => t.tensor1d(values);
    const fill = (shape: number[], value: number) => (t: typeof tf) => t.fill(shape, value);

    // token-shift mixes μ_c = 1 − (n/d)^{p·ratio} (fla); zeros under zoology
    const mix = (name: string, power: number) => make.param(name, [d], zoology ? 'zeros' : vector(ch.map((n) => 1 - Math.pow(n / d, power * ratio1ToAlmost0))));
    const [xR, xW, xK, xV, xA, xG] = [mix('x_r', 0.2), mix('x_w', 0.9), mix('x_k', 0.7), mix('x_v', 0.7), mix('x_a', 0.9), mix('x_g', 0.2)];
    const kK = make.param('k_k', [d], zoology ? 'zeros' : vector(linearRamp.map((l) => 0.71 - l * 0.1)));
    const kA = make.param('k_a', [d], zoology ? 'zeros' : fill([d], 1.02));
    const rK = make.param('r_k', [H, dk], zoology ? 'zeros' : fill([H, dk], -0.04));

    /** A linear layer: zoology's xavier-uniform (gain 2^{−2.5}), else N(0, std). */
    const linear = (name: string, inDim: number, outDim: number, std: number) =>
      zoology ? make.linear(name, inDim, outDim, { bias: false, uniform: ZOOLOGY_GAIN * Math.sqrt(6 / (inDim + outDim)) }) : make.linear(name, inDim, outDim, { bias: false, std });
    const rProj = linear('r_proj', d, d, 1 / Math.sqrt(d));
    const kProj = linear('k_proj', d, d, 0.1 / Math.sqrt(d));
    const vProj = linear('v_proj', d, d, 1 / Math.sqrt(d));
    const oProj = linear('o_proj', d, d, make.outputStd);

    /** LoRA x → act(x D) U (+ b): D [d, rank], U [rank, d] (fla's LoRA; U orthogonal 0.1 → std 0.1/√d). */
    const lora = (name: string, r: number, bias: ((t: typeof tf) => tf.Tensor) | undefined) => ({
      down: linear(`${name}.lora.0`, d, r, 0.02),
      up: linear(`${name}.lora.2`, r, d, 0.1 / Math.sqrt(d)),
      bias: bias ? make.param(`${name}.lora.2.bias`, [d], zoology ? 'zeros' : bias) : undefined,
    });
    const wBias = ch.map((n) => -6 + 6 * Math.pow(n / (d - 1), 1 + Math.pow(ratio0To1, 0.3)) + 0.5 + zigzag[n]! * 2.5);
    const wLora = lora('w_lora', decayRank, vector(wBias));
    const aLora = lora('a_lora', aRank, vector(ch.map((n) => -0.19 + zigzag[n]! * 0.3 + linearRamp[n]! * 0.4)));
    const gLora = lora('g_lora', gateRank, undefined);
    const normWeight = make.param('g_norm.weight', [d], zoology ? 'ones' : fill([d], Math.pow((layer + 1) / ctx.nLayers, 0.7)));
    const normBias = make.param('g_norm.bias', [d], 'zeros');

    /** The token-shift mixes' μ, in the order project() takes their x^c (the order the mixer computed them before the
     * op existed: the gradients' sums into x keep their order, so the CPU backends train the same bits). */
    const mus = [xW, xA, xG, xR, xK, xV];
    /** From the mixed inputs x^c = x + (x' − x) ⊙ μ_c [..., d] (ops/tokenShift): everything per token, heads split on the last axis [..., H, d_k]. */
    const project = ([xw, xa, xg, xr, xk, xv]: tf.Tensor[]) => {
      const lead = xw!.shape.slice(0, -1);
      const heads = (y: tf.Tensor) => y.reshape([...lead, H, dk]);
      const r = rProj.apply(xr!);
      const wLogit = linearApply(tf.tanh(wLora.down.apply(xw!)), wLora.up.weight, wLora.bias);
      const k0 = kProj.apply(xk!);
      const v = vProj.apply(xv!);
      const aLogit = linearApply(aLora.down.apply(xa!), aLora.up.weight, aLora.bias);
      const g = gLora.up.apply(tf.sigmoid(gLora.down.apply(xg!)));
      // w, α, the write key k and the removal key κ̂ (a = −κ̂, b = κ̂ ⊙ α): ops/rwkv7Token, fused on the GPU
      const { w, k, a, b } = rwkv7Keys(wLogit, aLogit, k0, kK, kA, H);
      return { r: heads(r), w, k, v: heads(v), a, b, g };
    };
    /**
     * GroupNorm per head with its affine map, o [H, ..., d_v] → the same: LayerNorm over d_v with each head's own
     * weight and bias — ops/layerNorm's run-axis form with the heads as its runs (rows head-major, γ, β [H, d_v]), so
     * on webgpu one fused kernel each way (lever layerNorm) where the mean, variance and affine map were ~9 ops and
     * their gradients. The same sums per head row as GroupNorm's (mean, centred, mean of squares, rsqrt).
     */
    const groupNorm = (headsFirst: tf.Tensor) => layerNorm(headsFirst, normWeight.reshape([H, dk]), normBias.reshape([H, dk]), dk * NORM_EPS);
    /** GroupNorm's output [..., H, d_v] → y [..., d]: the bonus, the output gate, the out projection. */
    const output = (normed: tf.Tensor, pr: ReturnType<typeof project>) => oProj.apply(rwkv7Output(normed, pr.r, pr.k, pr.v, rK, pr.g));
    const c4 = (x: tf.Tensor) => x as tf.Tensor4D;

    return {
      forward(x) {
        return tf.tidy(() => {
          const pr = project(tokenShiftMix(x, mus));
          // the projections as they come, [B, T, H, ·]; o heads first, [H, B, T, d_v], for groupNorm → [B, T, H, d_v]
          const o = generalizedDeltaRule(c4(pr.r), c4(pr.w), c4(pr.k), c4(pr.v), c4(pr.a), c4(pr.b), p.chunkSize, { input: 'bthd', output: 'hbtd' });
          return output(groupNorm(o).transpose([1, 2, 0, 3]), pr) as tf.Tensor3D;
        });
      },
      initState(batch) {
        return { shift: tf.zeros([batch, d]), S: tf.zeros([batch, H, dk, dk]) };
      },
      step(state, x) {
        return tf.tidy(() => {
          const pr = project(mixWithPrevious(x, state.shift!, mus));
          const c = (t: tf.Tensor) => t as tf.Tensor3D;
          const s = generalizedDeltaRuleStep(state.S as tf.Tensor4D, c(pr.r), c(pr.w), c(pr.k), c(pr.v), c(pr.a), c(pr.b));
          const normed = groupNorm(s.o.transpose([1, 0, 2])).transpose([1, 0, 2]); // [B, H, d_v] → [H, B, d_v] and back
          return { y: output(normed, pr) as tf.Tensor2D, state: { shift: tf.clone(x), S: s.S } };
        });
      },
    };
  },
  stateFloats(p, ctx) {
    const { H, dk } = rwkv7Dims(p, ctx);
    const memory = H * dk * dk;
    // paper: the recurrence's H·d_k·d_v (zoology's state_size() gives H·d², see the header); measured adds x_{t−1}
    return { measured: memory + ctx.dModel, paper: memory };
  },
});
