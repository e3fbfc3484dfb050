// Example plugin: RetNet's retention (Sun et al. 2023, arXiv 2307.08621), a linear attention with a fixed
// per-head exponential decay γ_h — written as a user would write their own mixer, outside the package.
//
//   parallel:   Y = (Q Kᵀ ⊙ D) V,   D[t, s] = γ^(t−s) for s ≤ t, else 0
//   recurrent:  S_t = γ S_{t−1} + k_tᵀ v_t,   y_t = q_t S_t
//   output:     out = (Y ⊙ swish(x W_g)) W_o       (RetNet's GroupNorm is left out for brevity)
//   state:      H · d_k · d_v floats per layer (d_k = d_v = d/H), both conventions
//
// Use it:  recallbench check-plugin examples/retention.ts      (the generic checks every built-in mixer passes)
//          recallbench train --plugin examples/retention.ts --arch retention
//          recallbench list --plugin examples/retention.ts
//
// The default export is a function of what recallbench hands a plugin — { tf, z, defineMixer, nn, dropout }: the
// tfjs module and zod it runs on, the typing helper, the shared layers (silu, rmsNorm, heads, short conv) and
// its dropout — so this file needs no imports of its own and works from any folder. The one import is of types
// (erased at run time): from outside the repo, add recallbench as a dependency and write the same line.
import type { PluginApi } from 'recallbench';

export default function retention({ tf, z, defineMixer, nn }: PluginApi) {
  const params = z
    .object({
      numHeads: z.number().int().positive().default(2).describe('heads, each with its own decay'),
    })
    .strict();

  /** RetNet's multi-scale decays: γ_h = 1 − 2^(−5−h). */
  const decays = (H: number) => Array.from({ length: H }, (_, h) => 1 - 2 ** (-5 - h));

  return defineMixer({
    name: 'retention',
    description: 'RetNet retention: linear attention with fixed multi-scale decay (example plugin)',
    params,
    // causal for every setting: no isCausal needed (a non-causal mixer declares isCausal: (p) => false)
    create(p, ctx, make) {
      const d = ctx.dModel;
      const H = p.numHeads;
      if (d % H !== 0) throw new Error(`retention: d_model ${d} is not divisible by numHeads ${H}`);
      const dh = d / H;
      const qkv = make.linear('Wqkv', d, 3 * d, { bias: false });
      const gate = make.linear('Wg', d, d, { bias: false });
      const out = make.linear('out_proj', d, d, { bias: false, std: make.outputStd });
      const gammas = decays(H);
      const scale = 1 / Math.sqrt(dh);

      /** D [H, T, T]: γ_h^(t−s) below the diagonal, 0 above. */
      const decayMask = (T: number) =>
        tf.tensor3d(
          gammas.flatMap((g) => Array.from({ length: T * T }, (_, i) => {
            const t = Math.floor(i / T);
            const s = i % T;
            return s <= t ? g ** (t - s) : 0;
          })),
          [H, T, T],
        );

      return {
        forward(x) {
          return tf.tidy(() => {
            const [q, k, v] = tf.split(qkv.apply(x), 3, 2);
            const T = x.shape[1];
            const scores = tf.mul(tf.mul(tf.matMul(nn.splitHeads(q, H), nn.splitHeads(k, H), false, true), scale), decayMask(T));
            const y = nn.mergeHeads(tf.matMul(scores, nn.splitHeads(v, H))); // [B, T, d]
            return out.apply(tf.mul(y, nn.silu(gate.apply(x)))) as typeof x;
          });
        },
        initState(batch) {
          return { S: tf.zeros([batch, H, dh, dh]) };
        },
        step(state, x) {
          return tf.tidy(() => {
            const B = x.shape[0];
            const [q, k, v] = tf.split(qkv.apply(x), 3, 1);
            const gamma = tf.tensor1d(gammas).reshape([1, H, 1, 1]);
            const kv = tf.matMul(k.reshape([B, H, dh, 1]), v.reshape([B, H, 1, dh])); // k_tᵀ v_t
            const S = tf.add(tf.mul(state.S!, gamma), kv);
            const y = tf.matMul(tf.mul(q, scale).reshape([B, H, 1, dh]), S).reshape([B, d]);
            return { y: out.apply(tf.mul(y, nn.silu(gate.apply(x)))) as typeof x, state: { S } };
          });
        },
      };
    },
    stateFloats(p, ctx) {
      const floats = p.numHeads * (ctx.dModel / p.numHeads) ** 2;
      return { measured: floats, paper: floats };
    },
  });
}
