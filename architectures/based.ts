// "Based" as zoology names it (BASED, arXiv 2402.18668): linear attention with the 2nd-order Taylor feature map
//   φ(x) = [1, x/f^{1/4}, upper-triangle of x xᵀ/(√2·√f)],  φ(q)·φ(k) = 1 + s + s²/2,  s = q·k/√f,
// f = 16, one head. The MQAR recall-vs-state "Based" model is the hybrid [BaseConv k3, this] (runners/presets).
// State per layer: (d + H)·(1 + f + f(f+1)/2) floats. Same code as `linear-attention` with featureMap 'taylor'.
import { z } from 'zod';
import { createLinearAttention, linearAttentionStateFloats, type LinearAttentionParams } from './linearAttention.js';
import { defineMixer } from './mixer.js';

const params = z
  .object({
    featureDim: z.number().int().min(1).default(16).describe('f: query/key width per head before the Taylor map'),
    numHeads: z.number().int().min(1).default(1).describe('heads (d_model must be divisible by it)'),
    causal: z.boolean().default(true).describe('false = sums over the whole input (non-causal baseline)'),
  })
  .strict();

const asLinearAttention = (p: z.output<typeof params>): LinearAttentionParams => ({ ...p, featureMap: 'taylor', randomFeatures: 1, distillWeight: 0 });

export default defineMixer({
  name: 'based',
  description: 'Based: Taylor linear attention (f 16, 1 head), state (d+H)·(1+f+f(f+1)/2)',
  params,
  isCausal: (p) => p.causal,
  // projections through make.linear, a feature map without parameters (engine/stack.ts)
  stackable: () => true,
  create: (p, ctx, make) => createLinearAttention('based', asLinearAttention(p), ctx, make),
  stateFloats: (p, ctx) => linearAttentionStateFloats(asLinearAttention(p), ctx),
});
