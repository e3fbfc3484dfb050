// Inputs of implicit long-conv filters h = MLP(PosEmb(t)) (BaseConv-long implicit, Hyena), as zoology builds them
// (zoology/mixers/convolution.py, hyena.py: PositionalEmbedding, ExponentialModulation). Constants, not parameters.
import * as tf from '@tensorflow/tfjs';

/**
 * zoology's PositionalEmbedding(emb_dim, seq_len) → [seqLen, embDim]:
 *   columns [t, cos(f_k·w), −sin(f_k·w)] with t = linspace(0, 1, L), w = 2π·i/L (i = 0 … L−1),
 *   f = linspace(1e-4, bands − 1, bands), bands = (embDim − 1)/2.
 * Note the reference's quirk, kept for comparability: with embDim 3 (its default) there is one band of frequency
 * f = 1e-4, so the cos/sin columns are ≈ 1 and ≈ −1e-4·w — the MLP effectively sees only the ramp t.
 * Positions are normalised by `seqLen` (the model's longest sequence), so a shorter input uses the first rows.
 */
export function positionalEmbedding(seqLen: number, embDim = 3): tf.Tensor2D {
  if (embDim < 3 || embDim % 2 === 0) throw new Error(`positionalEmbedding: embDim must be odd and ≥ 3, got ${embDim}`);
  const bands = (embDim - 1) / 2;
  const freqs = bands === 1 ? [1e-4] : Array.from({ length: bands }, (_, k) => 1e-4 + (k * (bands - 1 - 1e-4)) / (bands - 1));
  const data = new Float32Array(seqLen * embDim);
  for (let i = 0; i < seqLen; i++) {
    const t = seqLen === 1 ? 0 : i / (seqLen - 1);
    const w = (2 * Math.PI * i) / seqLen;
    data[i * embDim] = t;
    freqs.forEach((f, k) => {
      data[i * embDim + 1 + k] = Math.cos(f * w);
      data[i * embDim + 1 + bands + k] = -Math.sin(f * w);
    });
  }
  return tf.tensor2d(data, [seqLen, embDim]);
}

/**
 * Hyena's ExponentialModulation window → [seqLen, d]: exp(−t·|δ_c|), t = linspace(0, 1, L),
 * δ = linspace(ln(target)/slowDecayPct, ln(target)/fastDecayPct, d) (channel c decays to `target` after a
 * fraction between fast and slow of the sequence). zoology registers δ with lr 0: a constant.
 */
export function exponentialDecayWindow(seqLen: number, d: number, opts: { fastDecayPct?: number; slowDecayPct?: number; target?: number } = {}): tf.Tensor2D {
  const { fastDecayPct = 0.3, slowDecayPct = 1.5, target = 1e-2 } = opts;
  const maxDecay = Math.log(target) / fastDecayPct;
  const minDecay = Math.log(target) / slowDecayPct;
  const data = new Float32Array(seqLen * d);
  for (let i = 0; i < seqLen; i++) {
    const t = seqLen === 1 ? 0 : i / (seqLen - 1);
    for (let c = 0; c < d; c++) {
      const delta = d === 1 ? minDecay : minDecay + ((maxDecay - minDecay) * c) / (d - 1);
      data[i * d + c] = Math.exp(-t * Math.abs(delta));
    }
  }
  return tf.tensor2d(data, [seqLen, d]);
}
