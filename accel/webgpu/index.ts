/// <reference types="@webgpu/types" />
// The WebGPU fast path: its entries in the one fast-form registry (core/fastForms.ts), registered when the webgpu
// backend is chosen (engine/backend.ts loads this layer dynamically), and the switches that turn each lever on or
// off (bench/step.ts measures them one by one). Every fused kernel replaces a reference in ops/ and is tested
// against it (tests/webgpu-kernels.test.ts); every lever has at least one entry (tests/fastForms.test.ts lists them).
//
// Levers (on by default once checked on a real GPU — OFF_BY_DEFAULT below lists those still off and why; unset
// RECALLBENCH_FAST_PATH = that default, =all every lever, =0 none, a comma list such as "uploads,splitK" only those,
// or =default+lever-lever that default edited):
//   uploads      pooled small uploads through queue.writeBuffer (uploads.ts)
//   splitK       WEBGPU_THRESHOLD_TO_INCREASE_WORKGROUPS_FOR_MATMUL = RECALLBENCH_SPLITK_THRESHOLD (default 600,
//                ≈ 4 × the SM count of an H100): tall-skinny weight-gradient matmuls use SplitK
//   crossEntropy fused softmax cross-entropy with its gradient (crossEntropy.ts)
//   layerNorm    fused LayerNorm forward + backward (layerNorm.ts)
//   adamw        fused in-place AdamW, one dispatch per parameter (adamw.ts)
//   linearAttentionChunkedWide  with linearAttention: the walk declines F ≥ 256 on ≥ 256 batch·head rows (jrt-sd's f 24:
//                768 a process), so the op runs its chunked form's matmuls there (linearAttention.ts)
//   adamwPairs   with adamw: two parameters a dispatch (the 8 storage buffers a stage hold two p, m, v, g sets):
//                ⌈V/2⌉ + ⌈S/2⌉ dispatches for V parameters of whole vec4s and S others, the same bits (adamw.ts)
//   dropout      hashed dropout computed on the GPU (dropout.ts) for callers of ops/dropout/
//   bindGroups   cache of bind groups and bind-group layouts (bindGroups.ts): fewer Dawn objects per dispatch, each
//                dispatch's uniforms in a slot of its own
//   transposeViews  transposes that only move size-1 axes become views (transpose.ts): no copy, no dispatch
//   reduceGrads  Sum/Mean gradients broadcast dy on the device instead of multiplying by a CPU-made ones()
//   segmentSum   UnsortedSegmentSum (every tf.gather's gradient) by sorted tiles instead of contended atomics
//   scan         the diagonal scan (Mamba's selective scan, GLA's chunk carry) as one thread per lane walking time,
//                forward and backward one dispatch each (scan.ts)
//   wkv          RWKV-4's WKV likewise, in RWKV's scaled form, forward and backward one dispatch each (wkv.ts)
//   delta        the delta rule and the gated delta rule (DeltaNet, Gated DeltaNet) as one thread per state column
//                walking time, forward and backward one dispatch each (deltaRule.ts)
//   gla          gated linear attention (GLA) likewise, with a forget gate per key channel: one dispatch forward and
//                one backward for the chunked form's ~330 ops a step, up to d_k 32 (gla.ts GLA_FAST_MAX_DK)
//   ssd          Mamba-2's SSD through the same kernel, its decay one per head, the state's rows in blocks of 32
//                (gla.ts ssdWebGpu, SSD_ROW_BLOCK)
//   generalizedDelta  the generalized delta rule (RWKV-7) likewise, with a decay vector and separate removal keys
//                a, b: no [C, C, d_k] pairwise tensors of the chunked form (generalizedDeltaRule.ts)
//   selectiveScan  Mamba's selective scan with its readout as one thread per (batch, channel) holding h[N] on chip:
//                no [B, T, E, N] tensor, forward and backward one dispatch each (selectiveScan.ts)
//   linearAttention  causal linear attention (Based, linear-attention, Scatterbrain, JRT-RNN: its prefix as shared keys) as one
//                state walk per pass, a workgroup per (batch·head, block of outputs) whose threads split the block's
//                state (z: a ones column of v), forward one dispatch, backward four (linearAttention.ts)
//   attention    causal softmax attention, flash-style: per query tile, keys up to the diagonal only, online softmax,
//                attention dropout by ops/dropout's hashed mask (used with rate > 0 only while `dropout` is on);
//                forward one dispatch, backward two (attention.ts)
//   longConv     the causal long convolution (BaseConv-long, H3, Hyena, M2) as a direct O(T²) sum, one thread per
//                output; forward one dispatch, backward two (longConv.ts) in place of the blocked Toeplitz matmuls
//   shortConv    the depthwise causal short convolution (k ≤ 8 taps: BaseConv, DeltaNet, Gated DeltaNet, GLA, Mamba,
//                Mamba-2, Hyena, M2), bias included; forward one dispatch, backward two (shortConv.ts) in place of a
//                pad, k slices and k multiply-adds (~17 kernels forward, dozens in their gradients); circular: reference
//   matmul       BatchMatMul (every tf.matMul and its gradients) in 128 × 128 or 64 × 64 register-blocked tiles, K split
//                over workgroups when the output is small (matmul.ts) in place of tfjs's 32 × 32 tiles
//   matmulVec4   with matmul on: its kernel reads workgroup memory as vec4s — an 8 × 8 thread's 16 loads per k become 4
//                (matmul.ts matmulVec4Wgsl); same tiles, same plan, same sums in the same order
//   headProduct  H3's per-head outer product k ⊗ v and contraction q · z (head_dim > 1) fused (headProduct.ts): each one
//                dispatch forward and one backward, in place of broadcasting Multiplies, Sums and their gradients
//   taylorMap    BASED's Taylor feature map fused (taylorMap.ts): one dispatch forward (φ written once, the reference's
//                bits) and one backward, in place of two selection matmuls, products, a concat and their gradients
//   scaledSin    the implicit-filter MLPs' Sin activation sin(ω ⊙ x) (Hyena, M2) fused (scaledSin.ts): one dispatch
//                forward, one backward (dx and dω), in place of Multiply, Sin and their gradients' Cos, Multiplies, Sum
//   matmulPrefetch  with matmul and matmulVec4: each thread reads its share of the next K tile into registers while
//                the workgroup multiplies the current one (matmul.ts matmulVec4Wgsl prefetch); the same sums, bit for bit
//   ssmKernel    S4D's convolution kernel (H3's diagonal SSM): the discretisation and the Vandermonde product in one
//                dispatch, its gradient in one (+ a sum for log Δ) (s4dKernel.ts) in place of ~35 + ~70 small kernels
//   rmsNorm      RMSNorm (weight optional: DeltaNet, Gated DeltaNet, GLA, Mamba-2 output norms, the Mamba blocks'
//                pre-norm) and L2 normalisation (DeltaNet's and Gated DeltaNet's q, k; RWKV-7's κ̂) over the last axis,
//                forward one dispatch, backward one (no weight) or two (rmsNorm.ts) in place of 5–6 ops and ~10 gradients
//   shortConvCircular  the short convolution's non-causal (circular) form (JRT's non-causal BaseConv, jrt-sd): the
//                same kernels with the taps' time index wrapped mod T (shortConv.ts) in place of the reference's
//                concat, slices and multiply-adds
//   swizzle      the fused recurrences' backwards (selective scan, delta rules) read their per-step column-sum tables
//                through a permuted layout (dispatch.ts swizzleFn): no bank conflicts, the same sums
//   narrowSum    Sum where each output adds ≤ 64 values over adjacent axes (H3's head_dim-2 products and their
//                gradients): one thread per output reading x in place (narrowSum.ts) instead of a transpose and a
//                64-thread workgroup per output
//   longConvTiles  the long convolution's forward and dx read the filter through workgroup-memory tiles (coalesced,
//                the same sums bit for bit; C ≥ 64), and dh splits the batch into groups summed in a second pass
//                (longConv.ts): untiled, a warp reads 32 filter rows Lh floats apart, and dh has C·Lh lanes only
//   layerNormColumns  LayerNorm's backward sums its (dγ, dβ) partials 32 threads per column, over up to 4x the row
//                blocks (layerNorm.ts): unsplit, 2d threads each walk every block's partial
//   longSum      Sum where few outputs (≤ 16,384 a slice, ≤ 64 slices) each add many values (> 64: a [d] parameter's gradient over B·T
//                rows): two passes reading x in place (narrowSum.ts) instead of a transpose and a workgroup per output
//   segmentSumOrdered  with segmentSum: each tile's partials written in place and summed per output in tile order
//                (segmentSum.ts) instead of added by float atomics in whatever order tiles finish: reproducible
//   longConvRegisters  the long convolution with 8 outputs (forward, dx) or 8 taps (dh) per thread from a sliding
//                window in registers (longConv.ts; C ≥ 64): a tap is one load of x and one of h for 8 multiply-adds
//                instead of one; y and dx the same sums, dh within rounding. Takes precedence over longConvTiles
//   longConvBlocks  the long convolution as small register-blocked products (longConv.ts; C ≥ 64): forward and dx 8
//                times × 4 examples a thread (32 multiply-adds per read of h and 4 of x), dh 16 taps a thread, the
//                windows turned by renaming registers instead of moving them; each output's taps in the same order.
//                Takes precedence over longConvRegisters and longConvTiles
//   shortFilter  a long convolution whose filter has K < T taps (zero beyond: H3's shift SSM, N taps) through the fused
//                short convolution's kernels (shortConv.ts, K ≤ 64): T·K multiply-adds a row instead of the T²/2 of the
//                filter zero-padded to T
//   uniformSkip  with bindGroups: a dispatch's uniform slot written only when its uniforms differ from what the slot
//                holds (bindGroups.ts): ~80 % of the writes of a repeated step skipped, the same bits
//   tokenShift   RWKV's token shift with its mixes fused (tokenShift.ts): RWKV-7's six x + (x' − x) ⊙ μ_c, RWKV-4's three
//                x ⊙ μ_c + x' ⊙ (1 − μ_c) (stacks too); in groups of three, one dispatch forward and three backward a
//                group, in place of ~50 dispatches a layer (RWKV-7), ~45 (RWKV-4)
//   sinBias      with scaledSin: the preceding linear layer's bias added inside the Sin kernels (scaledSin.ts): the
//                filter MLPs' bias Adds and their gradients' Sums gone (Hyena, M2: 12 dispatches a step each)
//   performerFeatures  Scatterbrain's Performer features (cosh form) from their projections fused
//                (performerFeatures.ts): queries and keys one dispatch forward and one backward each, in place of ~20
//   stridedHeads  the fused recurrences (generalizedDelta, delta, gla) read their inputs and write their output in the
//                layouts their callers name (heads.ts: RWKV-7's projections [B, T, H, ·] in, o [H, B, T, d_v] out for
//                its GroupNorm; DeltaNet's, Gated DeltaNet's and GLA's [B, T, H, ·] both ways) instead of [B, H, T, ·]
//                with transposes around them: 10–14 dispatches a layer
//   h2oWorkgroup  H2O's cache selection (h2oMask.ts) walked by a workgroup per (example, head) instead of one thread:
//                the max and the eviction as tree reductions, the softmax total summed in slot order — the same mask
//   causalSoftmax  softmax(scores · scale + causal mask) of attention's [.., T, T] scores when the flash form is off
//                (causalSoftmax.ts): one dispatch forward, one backward, in place of Multiply, Add, Softmax and the
//                gradient's five ops, each a pass over the scores
//   bandSoftmax  the same kernels for the sliding window's masked scores (query i sees keys i − w … i; Scatterbrain's
//                local part too): softmax(scores · scale + band mask) in one dispatch each way, in place of Multiply,
//                Add, Softmax and the gradient's five ops
//   fusedProjections  several linear maps of one input (a mixer's q, k, v, gate projections) as one matmul by the
//                weights side by side, then a split (projections.ts): one matmul forward and two backward for the lot
//   causalNormalisers  linear attention's causal normalisers φq_i·Σ_{j≤i} φk_j, and over the tokens lag or more back
//                (causalNormalisers.ts; Scatterbrain's low-rank part): prefix sums in one walk, both dot products in one
//                pass, their gradients in two, in place of the cumsum and its transposes, the shift, products and sums
//   scatterbrainCombine  Scatterbrain's window part and low-rank part joined (scatterbrainCombine.ts): the low-rank
//                sums back from linear attention's normalised outputs, their clamp and ratio, in one dispatch forward
//                and one backward in place of ~13 ops and their gradients a layer
//   splitConcat  tf.split and tf.concat along the last axis (the q, k, v of one projection and their gradients) in one
//                pass each, vec4 where every part's width allows (splitConcat.ts), in place of a Slice a part
//   silu         SiLU x·σ(x) and the SiLU gate y·silu(z) (Mamba, the delta-rule mixers) fused (silu.ts): forward one
//                dispatch, backward one, in place of Sigmoid + Multiply (+ Multiply) and their ~5-op gradients
//   selectiveScanRegisters  with selectiveScan: N a shader constant and the loops over the state unrolled into
//                named scalars (selectiveScan.ts; N ≤ 32): the state in registers, not per-thread local memory
//   deltaRegisters  with delta and generalizedDelta: the same for the delta rules' state column (deltaRule.ts,
//                generalizedDeltaRule.ts; d_k ≤ 32)
//   deltaSplit   with generalizedDelta: each state column's d_k channels split over P threads of a workgroup, in
//                registers, the reductions over d_k summed through workgroup memory (generalizedDeltaRule.ts; d_k ≤
//                64): P times the threads (RWKV-7 d 128 B64: 8,192 → 65,536 forward, 32,768 backward); before deltaRegisters
//   poolBestFit  tfjs's buffer pool serves a storage request by the smallest free buffer within 4x of its size
//                (bufferPool.ts, core/bestFit.ts) instead of one of exactly its size: a mixture of sequence lengths
//                runs its smaller shapes in its larger shapes' buffers (runners/memory.ts replays the same rule)
//   linearAttentionWide  with linearAttention: the passes over F (forward, dv's gradient) give each thread several
//                output columns, so one workgroup walks every value column of a head and stages φq/φk once a step
//                (linearAttention.ts; jrt-sd's f 24 at d 36: 2 workgroups a head → 1; on since 2026-12-02 18:45)
//   linearAttentionColumns  with linearAttention: the gradient's dφq and dφk walks (state over the d_v + 1 columns
//                of [v, 1], d_v + 1 ≤ 72) with one thread per feature holding its whole row as named scalars, the
//                staged rows read as vec4s and each step's sum written by its one thread (linearAttention.ts;
//                on since 2026-12-03 06:07)
//   linearAttentionFit  with linearAttention: every walk's thread groups fitted to its row — as many a's a thread
//                or fewer, as many workgroups, whole warps — instead of the power of two at or above it (jrt-sd's f 24:
//                the columns form's 256 × 2 = 512 slots for F 325 → 192 × 2 = 384, the wide passes' 16 × 2 = 32 for
//                19 and 18 a's → 10 × 2 = 20; linearAttention.ts fitThreads)
//   linearAttentionVec4  with linearAttentionWide: in the passes over F each thread's R staged u, w entries are
//                contiguous, read as vec4s (⌈R/4⌉ workgroup loads each a step where the strided layout issues R);
//                the staged rows padded to an odd count of vec4s a thread (linearAttention.ts)
//   taylorMapConst  with taylorMap: f and F as WGSL constants (a pipeline per f) and the forward's pair (a, b) from the
//                quadratic's root instead of a walk over the triangle's rows (taylorMap.ts)
//   rwkv7Token   RWKV-7's per-token parts around its recurrence (rwkv7Token.ts): the keys (decay, write key, removal
//                key, in-context rate) and the output (the bonus and the gate), one pass per (token, head) each way
//                and a split, in place of ~17 small ops a layer and their gradients
//   savedViews   the tensors tfjs saves for the backward pass taken as views (savedViews.ts): a reference count and a
//                Tensor, in place of an Identity kernel through the whole of runKernel for each (host time only)
// Always on (fixes, not levers): reverse Cumsum without tfjs's stale-length shader, and Cumsum of rank > 4 along
// the last axis (cumsum.ts); PadV2 of rank > 4, whose stock shader does not compile (pad.ts); H2O's cache selection on the device (h2oMask.ts: its reference reads back
// synchronously, which webgpu cannot do in Node).
import * as tf from '@tensorflow/tfjs';
import { UserInputError } from '../../core/errors.js';
import { leverOn, registerFastForm, setLever } from '../../core/fastForms.js';
import { adamWOp } from '../../ops/adamw/index.js';
import { softmaxCrossEntropyByRunOp, softmaxCrossEntropyOp } from '../../ops/crossEntropy/index.js';
import { dropoutOp } from '../../ops/dropout/index.js';
import { layerNormOp } from '../../ops/layerNorm/index.js';
import { rmsNormOp } from '../../ops/rmsNorm/index.js';
import { siluGateOp, siluOp } from '../../ops/silu/index.js';
import { headContractOp, headOuterOp } from '../../ops/headProduct/index.js';
import { taylorMapOp } from '../../ops/taylorMap/index.js';
import { scaledSinOp } from '../../ops/scaledSin/index.js';
import { tokenShiftOp } from '../../ops/tokenShift/index.js';
import { performerKeyOp, performerQueryOp } from '../../ops/performerFeatures/index.js';
import { scatterbrainCombineOp } from '../../ops/scatterbrainCombine/index.js';
import { causalNormalisersOp } from '../../ops/causalNormalisers/index.js';
import { projectionsOp } from '../../ops/projections/index.js';
import { rwkv7KeysOp, rwkv7OutputOp } from '../../ops/rwkv7Token/index.js';
import { scanOp } from '../../ops/scan/index.js';
import { registerScanWebGpu, scanWebGpu } from './scan.js';
import { wkvOp } from '../../ops/wkv/index.js';
import { registerWkvWebGpu, wkvWebGpu } from './wkv.js';
import { deltaRuleOp } from '../../ops/deltaRule/index.js';
import { gatedDeltaRuleOp } from '../../ops/gatedDeltaRule/index.js';
import { deltaRuleWebGpu, gatedDeltaRuleWebGpu, registerDeltaRuleWebGpu, setDeltaRegisters } from './deltaRule.js';
import { glaOp } from '../../ops/gatedLinearAttention/index.js';
import { ssdOp } from '../../ops/ssd/index.js';
import { glaFastForm, registerGlaWebGpu, ssdWebGpu } from './gla.js';
import { generalizedDeltaRuleOp } from '../../ops/generalizedDeltaRule/index.js';
import { generalizedDeltaRuleWebGpu, registerGeneralizedDeltaRuleWebGpu, setDeltaSplit } from './generalizedDeltaRule.js';
import { setStridedHeads } from './heads.js';
import { selectiveScanOp } from '../../ops/selectiveScan/index.js';
import { registerSelectiveScanWebGpu, selectiveScanWebGpu, setSelectiveScanRegisters } from './selectiveScan.js';
import { causalLinearAttentionOp } from '../../ops/linearAttention/index.js';
import { causalLinearAttentionWebGpu, registerLinearAttentionWebGpu, setLinearAttentionChunkedWide, setLinearAttentionColumns, setLinearAttentionFit, setLinearAttentionVec4, setLinearAttentionWide } from './linearAttention.js';
import { causalAttentionOp } from '../../ops/causalAttention/index.js';
import { causalAttentionWebGpu, registerAttentionWebGpu } from './attention.js';
import { longConvOp } from '../../ops/longConv/index.js';
import { longConvWebGpu, registerLongConvWebGpu, setLongConvBlocks, setLongConvRegisters, setLongConvTiles, setShortFilter } from './longConv.js';
import { circularShortConvOp, shortConvOp } from '../../ops/shortConv/index.js';
import { circularShortConvWebGpu, registerShortConvWebGpu, shortConvWebGpu } from './shortConv.js';
import { dropoutWebGpu, registerDropoutWebGpu } from './dropout.js';
import { adamWWebGpu, registerAdamWWebGpu, setAdamWPairs } from './adamw.js';
import { registerSoftmaxCrossEntropyWebGpu, softmaxCrossEntropyByRunWebGpu, softmaxCrossEntropyWebGpu } from './crossEntropy.js';
import { layerNormWebGpu, registerLayerNormWebGpu, setLayerNormColumns } from './layerNorm.js';
import { registerRmsNormWebGpu, rmsNormWebGpu } from './rmsNorm.js';
import { registerSiluWebGpu, siluGateWebGpu, siluWebGpu } from './silu.js';
import { headContractWebGpu, headOuterWebGpu, registerHeadProductWebGpu } from './headProduct.js';
import { registerTaylorMapWebGpu, setTaylorMapConst, taylorMapWebGpu } from './taylorMap.js';
import { registerScaledSinWebGpu, scaledSinWebGpu, setSinBias } from './scaledSin.js';
import { registerTokenShiftWebGpu, tokenShiftMixWebGpu } from './tokenShift.js';
import { performerKeyWebGpu, performerQueryWebGpu, registerPerformerFeaturesWebGpu } from './performerFeatures.js';
import { registerScatterbrainCombineWebGpu, scatterbrainCombineWebGpu } from './scatterbrainCombine.js';
import { causalNormalisersWebGpu, registerCausalNormalisersWebGpu } from './causalNormalisers.js';
import { projectionsWebGpu } from './projections.js';
import { registerRwkv7TokenWebGpu, rwkv7KeysWebGpu, rwkv7OutputWebGpu } from './rwkv7Token.js';
import { setSavedViews } from './savedViews.js';
import { registerSegmentSumWebGpu, setSegmentSumOrdered, setSegmentSumWebGpu } from './segmentSum.js';
import { registerCumsumWebGpu } from './cumsum.js';
import { registerPadWebGpu } from './pad.js';
import { registerSplitConcatWebGpu, setSplitConcat } from './splitConcat.js';
import { bandSoftmaxWebGpu, causalSoftmaxWebGpu } from './causalSoftmax.js';
import { bandSoftmaxOp, causalSoftmaxOp } from '../../ops/causalSoftmax/index.js';
import { h2oMaskOp } from '../../ops/boundedCache/index.js';
import { h2oMaskWebGpu, registerH2oMaskWebGpu, setH2oWorkgroup } from './h2oMask.js';
import { registerTransposeViewsWebGpu, setTransposeViews } from './transpose.js';
import { registerReduceGradsWebGpu, setReduceGrads } from './reduceGrads.js';
import { registerNarrowSumWebGpu, setLongSumWebGpu, setNarrowSumWebGpu } from './narrowSum.js';
import { setSwizzle } from './dispatch.js';
import { setPooledUploads } from './uploads.js';
import { setBufferPoolBestFit } from './bufferPool.js';
import { registerMatmulWebGpu, setMatmulPrefetch, setMatmulVec4, setMatmulWebGpu } from './matmul.js';
import { s4dKernelOp } from '../../ops/ssmKernel/index.js';
import { registerS4dKernelWebGpu, s4dKernelWebGpu } from './s4dKernel.js';
import { setBindGroupCache, setSkipUnchangedUniforms, setUniformSlots } from './bindGroups.js';

export const LEVERS = ['uploads', 'splitK', 'crossEntropy', 'layerNorm', 'adamw', 'dropout', 'segmentSum', 'bindGroups', 'transposeViews', 'reduceGrads', 'scan', 'wkv', 'delta', 'generalizedDelta', 'selectiveScan', 'linearAttention', 'attention', 'longConv', 'shortConv', 'rmsNorm', 'matmul', 'matmulVec4', 'ssmKernel', 'narrowSum', 'shortConvCircular', 'swizzle', 'longConvTiles', 'layerNormColumns', 'longSum', 'segmentSumOrdered', 'longConvRegisters', 'silu', 'selectiveScanRegisters', 'deltaRegisters', 'gla', 'ssd', 'longConvBlocks', 'matmulPrefetch', 'headProduct', 'taylorMap', 'scaledSin', 'shortFilter', 'uniformSkip', 'tokenShift', 'performerFeatures', 'sinBias', 'stridedHeads', 'h2oWorkgroup', 'splitConcat', 'causalSoftmax', 'bandSoftmax', 'scatterbrainCombine', 'causalNormalisers', 'fusedProjections', 'poolBestFit', 'rwkv7Token', 'savedViews', 'deltaSplit', 'linearAttentionWide', 'linearAttentionColumns', 'taylorMapConst', 'linearAttentionVec4', 'linearAttentionFit', 'adamwPairs', 'linearAttentionChunkedWide'] as const;
export type Lever = (typeof LEVERS)[number];
export type FastPath = Record<Lever, boolean>;

const BACKEND = 'webgpu';
const SPLITK_FLAG = 'WEBGPU_THRESHOLD_TO_INCREASE_WORKGROUPS_FOR_MATMUL';

/**
 * Levers off by default, each with why. A new kernel starts here until a real GPU has checked it GPU ≡ CPU and timed
 * it against its lever-off form in one call (bench/gpu_check_pending.sh); it leaves only if it passes and is not
 * slower. RECALLBENCH_FAST_PATH=all, or a list naming them, turns them on — which is what the GPU ≡ CPU check
 * (bench/gpu_equiv.ts, mode gpu-fast) and the step benchmark (bench/step.ts, variant fast) do.
 */
export const OFF_BY_DEFAULT: Readonly<Partial<Record<Lever, string>>> = {
  // matmul left it on 2026-11-29 (bench/RESULTS.md "A register-blocked matmul"): GPU ≡ CPU PASS in 19 layouts (d 64
  // and d 256, fast path), attention B256 17.2 → 11.3 ms/step, BASED 17.2 → 12.3, B64 5.6 → 4.2 and 5.6 → 4.6
  // H200, 2026-11-29 (bench/RESULTS.md "Stacked runs and the last pending levers on an H200"): generalizedDelta,
  // shortConv, rmsNorm and linearAttention left this list that day — GPU ≡ CPU PASS (fast path), each step faster
  // with them than without (linearAttention: BASED B64 6.1 vs 11.0 ms, B256 17.2 vs 17.0, even)
  // matmulVec4 left it on 2026-11-29 13:41 (bench/RESULTS.md "vec4 reads, stacks at the campaign's shapes"): on an
  // H200 its products equal the scalar kernel's bit for bit at all 15 shapes of bench/step.ts --matmul (the scalar
  // kernel is GPU ≡ CPU checked), 13 of 15 as fast or faster (zoology d 512's weight gradient 7.09 → 2.44 ms), and
  // zoology's d 512 steps at L 64 B512: attention 28.0 → 25.8 ms, BaseConv 11.6 → 10.8, Based even within its spread
  // ssmKernel, narrowSum, shortConvCircular and swizzle left it on 2026-11-29 17:02 (bench/RESULTS.md "Four levers
  // checked on an H200"): GPU ≡ CPU PASS with every lever on in the campaign's layouts (H3, Hyena, non-causal BaseConv
  // d 64; Mamba, H3 d 256), and at zoology-fig2's L 64 B512 no step slower: H3 d 64 39.0 → 17.1 ms, d 256 79.9 →
  // 35.9; Mamba's selective-scan gradient d 64 3.35 → 2.20 ms, d 256 10.79 → 7.00; jrt-sd non-causal 368 → 290 dispatches
  // longConvTiles, layerNormColumns and longSum left it on 2026-11-29 19:12 (bench/RESULTS.md "Three levers cleared"):
  // GPU ≡ CPU PASS with every lever on (d 64: attention, BaseConv, Hyena, H3, RWKV, Based; d 256: Mamba, H3, attention,
  // Based), and at zoology-fig2's L 64 B512 no step slower (summed GPU kernel time): the long convolution's gradient H3
  // d 64 8.5 → 1.5 ms, d 256 15.2 → 6.7 (H3's step 16.5 → 8.4, 36.5 → 24.1; Hyena 11.1 → 7.5; BaseConv 6.3 → 4.4);
  // LayerNorm's backward 1.5 → 0.44 ms in every model; RWKV d 256's Sums 1.72 → 0.97
  // longConvRegisters and silu left it on 2026-11-29 21:25 (bench/RESULTS.md "Registers and a fused SiLU cleared"):
  // GPU ≡ CPU PASS with every lever on (the register kernels run for C ≥ 64: BaseConv, Hyena, H3 at d 64, H3 d 256;
  // silu in Mamba), and at zoology-fig2's L 64, 256 and 512 shapes no step's summed GPU kernel time slower: H3 d 256
  // L 512 B128 135.4 → 50.7 ms (its long convolutions 108.8 → 24.8), L 256 84.6 → 37.4; Hyena d 256 L 512 59.8 → 32.9;
  // BaseConv 28.5 → 15.4; silu: Mamba's dispatches 215 → 185, its GPU time 5–6 % less (d 256 L 256 53.1 → 50.1 ms)
  // selectiveScanRegisters, deltaRegisters and segmentSumOrdered left it on 2026-11-30 01:35 (bench/RESULTS.md "Three
  // levers on an H200"): GPU ≡ CPU PASS with every lever on (Mamba d 64 and d 256; DeltaNet, Gated DeltaNet d 64 and,
  // at d_k 32, d 128, where the register forms unroll; RWKV-7 d 128), and no step slower: Mamba d 256 L 256 B256's
  // selective-scan gradient 15.6 → 4.2 ms (its step 51.0 → 36.4 ms of GPU time), d 128 L 256 B64 13.1 → 10.1 ms a step;
  // DeltaNet 14.9 → 7.3, Gated DeltaNet 18.9 → 15.8, RWKV-7 even (27.1 / 27.3); the ordered gather gradient as fast as
  // the atomic one (0.56–0.72 ms against 0.53–0.79 in the same steps), and with it a GPU run repeats bit for bit
  attention:
    'GPU ≡ CPU PASS on an H200 (2026-11-29), but slower at large batch: d128 L256 B64 9.5 ms/step vs 10.2 without it, B256 31.7 vs 16.8 — GPU-bound, a B256 step loses more than B64 gains; again 2026-11-30 with every other lever on: B64 7.6 vs 8.6, B256 26.0 vs 10.5',
  // gla was taken out of this list 2026-11-30 07:00 (bench/RESULTS.md "GLA fused, and the B256 host wait, 2026-11-30"): GPU ≡ CPU PASS with every lever
  // on (GLA d 64, 128, 256), and GLA's d 128 L 256 B64 step 14.1 → 8.7 ms (328 → 196 dispatches)
  // taylorMap, scaledSin and uniformSkip left it 2026-11-30 16:43 (bench/RESULTS.md "Three host-side levers cleared,
  // and the new defaults at zoology-fig2's other shapes"): taylorMap and scaledSin GPU ≡ CPU PASS with every lever on
  // (2026-11-30 14:25: Based, JRT-RNN, Hyena, M2 d 64, Hyena d 256), uniformSkip with every lever on in RWKV-7's d 128
  // and d 256 layouts (its d 64 check within the CPU's own drift, as without it) and bit for bit on lavapipe; at
  // based-fig2's d 128 L 256, B64 and B256, two alternated rounds, the second (both warm) faster in every pair:
  // taylorMap + scaledSin Based B64 6.0 → 3.9 ms of host time a step (133 → 103 dispatches), Hyena 10.1 → 8.6
  // (266 → 230); uniformSkip Based 6.0 → 4.9, Hyena 10.1 → 8.3, Mamba 6.8 → 6.3; GPU time never higher
  // longConvBlocks and headProduct left it 2026-11-30 14:35 (bench/RESULTS.md "based-fig2 complete; longConvBlocks and
  // headProduct cleared"): GPU ≡ CPU PASS with every lever on (H3, Hyena, BaseConv d 64; H3, Hyena d 256), and at
  // zoology-fig2's L 512 d 256 B128 each step's summed GPU kernel time lower: longConvBlocks H3 50.9 → 37.5 ms (its long
  // convolutions' gradient 17.5 → 6.9), Hyena 31.7 → 27.7, BaseConv 15.0 → 13.2; headProduct H3 37.5 → 34.9 (Multiply×32
  // 3.7 ms gone, 209 → 195 dispatches). Timed at that one shape only: L 64 / 128 / 256 are the next check's
  // matmulPrefetch left it 2026-11-30 12:21 (bench/RESULTS.md "matmulPrefetch cleared"): on an H200 its products equal
  // the vec4 kernel's bit for bit at all 16 shapes of bench/step.ts --matmul, 15 of 16 faster (zoology d 512's qkv
  // x · W 4.37 → 2.62 ms, attention B64's scores 0.115 → 0.050; qkv dW 2.46 → 2.55, 0.96x), GPU ≡ CPU PASS with every
  // lever on (H3, Mamba d 256), and zoology-fig2's L 64 B512 steps even within their spread (Based, BaseConv d 512/128)
  // tokenShift left it 2026-11-30 night (bench/RESULTS.md "tokenShift on by default"): GPU ≡ CPU PASS with every lever
  // on (RWKV d 64 and d 256, RWKV-7 d 128 and d 256; RWKV-7 d 64 within the CPU's own drift, as without it), and at
  // zoology-fig2's RWKV shapes (L 64 B512, L 256 B256; d 64, 256), two alternated rounds, the warm round faster in all
  // four pairs (L 64 d 64 9.2 → 5.0 ms a step, d 256 13.6 → 8.7; L 256 d 64 8.8 → 6.1, d 256 20.2 → 16.1) and the
  // summed GPU time lower in all eight (425 → 241 kernels: L 256 d 256 21.4 → 16.7 ms); RWKV-4 236 → 142 dispatches
  // a step there, RWKV-7 470 → 380 at d 128 L 256 B64
  // sinBias left it 2026-11-30 midnight (bench/RESULTS.md "sinBias on by default"): GPU ≡ CPU PASS with every lever on
  // (2026-11-30 19:22: Hyena d 64 and d 256, M2 d 64), and at d 128 L 256, B64 and B256, two alternated rounds, the
  // warm round faster in all four pairs (Hyena B64 7.3 → 6.6 ms, B256 11.3 → 11.2; M2 9.9 → 8.5, 14.7 → 14.6) and the
  // summed GPU time lower in all eight (Hyena 5.9 → 5.7, 12.4 → 12.1–12.2; M2 7.2 → 7.0, 16.0–16.1 → 15.8–15.9 ms);
  // Hyena 210 → 192, M2 262 → 244 dispatches a step at B64
  shortFilter: 'GPU ≡ CPU PASS on an H200 (2026-11-30 14:25, H3 d 64 and d 256 with every lever on) but slower at all four of based-fig2\'s H3 shapes timed (L 256 / 128, B256, d 128 / 256: summed GPU kernel time 19.0 → 19.6, 37.4 → 43.9, 9.6 → 10.2, 17.4 → 22.2 ms): the short convolution\'s gradient at 16–64 taps (its per-tap arrays) costs more than the register long convolution it replaces (d 256 L 256: RecallbenchShortConvGrad×2 10.4 ms where the two shift-convolution gradients took ~3.3, LongConvGrad×4 9.6 → ×2 6.3)',
  ssd: 'GPU ≡ CPU PASS on an H200 (2026-11-30), but Mamba-2 at its default N 128 was 11x slower through one kernel call: d128 L256 B64 162.2 ms/step vs 14.9 without it (GPU-bound: a private column of 128 floats a thread, spilled to local memory). Since then the rows go in blocks of 32 (gla.ts SSD_ROW_BLOCK: 4 calls, 334 dispatches a step against the chunked form\'s 328), tested against ssdNaive on lavapipe; timed 2026-11-30 22:05 (two alternated rounds, d 128 L 256 B64): still slower, summed GPU time 12.3 → 50.2 and 50.3 ms a step in the two rounds (the SSD kernels 36.4 ms of it; the steps 11.3 → 48.5 and 13.2 → 48.3 ms), and at B256 the same kernels as without it (the SSD form not taken)',
  fusedProjections: 'several linear maps of one input as one matmul and a split (Gated DeltaNet\'s five or six projections a layer, DeltaNet\'s four, GLA\'s four or five, linear attention\'s, Based\'s and JRT-RNN\'s three): GPU ≡ CPU PASS on an H200 (2026-12-01 23:42, every lever on, d 64/128/256), and at d 128 L 256 faster in at least two of three alternated rounds at both batches for Gated DeltaNet, DeltaNet, GLA and linear attention, but not at B64 for Based (4.38 → 4.88, 2.82 → 2.93, 2.88 → 2.80 ms) nor JRT-RNN (5.25 → 5.30, 5.20 → 5.17, 5.18 → 5.26): host-bound steps within their spread (bench/RESULTS.md "Scatterbrain\'s levers and bandSoftmax on by default")',
  // linearAttentionWide left it 2026-12-02 18:45 (bench/RESULTS.md "linearAttentionWide on by default"; the rule
  // written before the call in docs/campaign.md): GPU ≡ CPU PASS with every lever on (jrt-sd's causal layout d 64 and
  // d 128, Based d 64 and d 256), and at jrt-sd's f 24, 276 tokens, B128, stacks of 3: 8 processes 107–108 → 118–119
  // run-steps a second summed in 3 of 3 alternated rounds; one process d 36 24.0 / 23.9 / 23.9 → 21.8 / 28.6 / 21.8 ms
  // a step, d 64 26.6 / 26.7 / 26.6 → 23.5 / 38.4 / 23.5 (2 of 3 each; the slow rounds' GPU time unchanged, 22.4 and
  // 24.1 ms: host stalls), the forward kernel 3.05 → 1.96 ms (d 36) and 4.50 → 2.42 (d 64)
  // linearAttentionColumns left it 2026-12-03 06:07 (bench/RESULTS.md "linearAttentionColumns on by default"; the rule
  // written before the call in docs/campaign.md): GPU ≡ CPU PASS with every lever on (jrt-sd's causal layout d 64 and
  // d 128, Based d 64 and d 256), and at jrt-sd's f 24, 276 tokens, B128, stacks of 3: 8 processes 119–120 → 135–138
  // run-steps a second summed in 3 of 3 alternated rounds; one process d 36 21.7 → 19.4–19.5 ms a step, d 64 23.4–23.5
  // → 21.7–21.8 (3 of 3 each), the gradient kernel 12.0–12.1 → 9.7 ms (d 36) and 12.2–12.4 → 10.5 (d 64)
  // adamwPairs left it 2026-12-03 17:50 (bench/RESULTS.md "linearAttentionChunkedWide stays off; adamwPairs on by
  // default"; the rule written before the call in docs/campaign.md): GPU ≡ CPU PASS with every lever on (the six d 64
  // layouts, RWKV-7 d 128, Based d 256), and at zoology-fig2's d 128 L 256 B64, one process, three alternated rounds:
  // attention 5.5 / 8.6 / 8.9 → 8.5 / 8.5 / 8.7 ms a step, Hyena 13.4 / 13.2 / 12.4 → 12.6 / 12.6 / 7.5, RWKV 8.1 / 4.5 /
  // 4.6 → 5.5 / 4.4 / 4.8, H3 6.4 / 6.2 / 6.3 → 6.0 / 5.9 / 6.3 (no slower in 2 of 3 for each, faster in 2 of 3 for all
  // four; the host ~2.5x slower than on 2026-12-02 for attention, so noisy), dispatches 116 → 106, 208 → 187, 138 → 124,
  // 194 → 177, AdamW's GPU time about halved; the same bits as one parameter a dispatch
  linearAttentionFit: 'GPU ≡ CPU PASS on an H200 (2026-12-03 15:28, every lever on) but slower (bench/RESULTS.md "linearAttentionFit stays off"): jrt-sd f 24 d 36 R3, one process 20.1 / 19.9 / 30.1 ms a step against the same round\'s default 19.2 / 19.1 / 19.1 (3 of 3), and 8 processes 131 / 133 / 132 run-steps a second against 139 / 140 / 139 (3 of 3); the columns form\'s dφq and dφk walks unchanged (3.72, 3.84 ms), the wide forward and dv passes slower (1.94 → 2.29, 1.89 → 2.23 ms)',
  linearAttentionChunkedWide: 'GPU ≡ CPU PASS on an H200 (2026-12-03 17:28, every lever on) but far slower (bench/RESULTS.md "linearAttentionChunkedWide stays off; adamwPairs on by default"): jrt-sd f 24 d 36 R3, one process 31.0 / 31.0 / 31.0 ms a step against the same round\'s default 19.2 / 19.2 / 19.2 (3 of 3; 202 → 366 dispatches, the chunked form\'s matmuls, pads, slices and cumsums 32 GPU ms where the walks took ~11), and 8 processes 77 / 80 / 79 run-steps a second against 138 / 142 / 138 (3 of 3): the walk wins at F 325 on 768 rows',
  linearAttentionVec4: 'GPU ≡ CPU PASS on an H200 (2026-12-03 09:09, every lever on) but not faster: jrt-sd f 24 d 36 R3, one process 19.4 / 19.4 / 37.6 ms a step against the same round\'s default 19.2 / 32.8 / 19.2 (slower in 2 of 3; its gradient walks unchanged, 3.79 ms each for dφq and dφk, the forward 1.93 → 1.99 ms), and 8 processes with it and taylorMapConst 139 / 139 / 139 run-steps a second against 139 / 140 / 138 (more in 1 of 3; the rule asks 2) — bench/RESULTS.md "taylorMapConst and linearAttentionVec4 stay off"',
  taylorMapConst: 'GPU ≡ CPU PASS on an H200 (2026-12-03 09:09, every lever on) and one process no slower (jrt-sd f 24 d 36 R3: 18.9 ms a step in 3 of 3 rounds against 19.2 / 32.8 / 19.2; its map 1.22 → 1.02 ms), but 8 processes with it and linearAttentionVec4 sum 139 / 139 / 139 run-steps a second against the same round\'s default 139 / 140 / 138 — more in 1 of 3 (the rule asks 2): 0.2 ms of a 19.5 GPU-ms step is below what 8 GPU-bound processes show — bench/RESULTS.md "taylorMapConst and linearAttentionVec4 stay off"',
  savedViews: 'GPU ≡ CPU PASS on an H200 (2026-12-02, every lever on) but not faster where it acts alone on host time: attention d128 L256 B64 3.21–3.40 ms/step vs 3.28–3.39 without it, B256 equal to 0.02 ms — faster in 1 of 3 alternated rounds at each batch (the rule asks 2); nor at RWKV-7\'s step (2026-12-02 12:41, 495 → 325 kernels a step): d128 L256 B64 12.3 / 13.9 / 16.0 ms against the same round\'s default 16.5 / 12.4 / 14.5 — faster in 1 of 3 rounds, host time as noisy as the difference — B256 34.2–34.3 both ways',
  // deltaSplit left it 2026-12-02 13:00 (bench/RESULTS.md "deltaSplit on by default"): GPU ≡ CPU PASS (2026-12-02
  // 07:25, RWKV-7 d 128 and d 256; d 64 within the CPU backends' own drift as without it), faster alone at B256 in 3
  // of 3 rounds (d 128 L 256: 33.2–33.4 → 26.5–26.6 ms a step) and even alone at B64 (host-bound: its kernels' 7.1 →
  // 4.6 ms of GPU time hidden), and as 8 processes sharing the GPU — as the campaign trains — RWKV-7 d 128 L 256 B64
  // summed 96 / 97 / 96 run-steps a second against the same round's default 79 / 80 / 77 in 3 of 3 rounds (the rule
  // set before the call asked 2): shared, the GPU's time is what a step waits for
  // rwkv7Token left it 2026-12-02 07:00 (bench/RESULTS.md "rwkv7Token on by default"): its coalesced kernels (a
  // workgroup per (token, head)) GPU ≡ CPU PASS with every lever on (RWKV-7 d 128 and d 256; d 64 within the CPU
  // backends' own drift, 9.0e-4 / 2.7e-1 against their 9.2e-4 / 2.6e-1, as without it), and at d 128 L 256, three
  // alternated rounds, faster in all three at both batches: B64 18.9 / 19.3 / 18.6 → 16.2 / 15.3 / 16.9 ms a step
  // (352 → 274 dispatches), B256 34.0 / 38.8 / 34.1 → 33.6 / 33.7 / 33.5
  // poolBestFit left it 2026-12-02 02:15 (bench/RESULTS.md "poolBestFit on by default"): GPU ≡ CPU PASS with every
  // lever on (attention, Based, linear attention both ways, Mamba d 64 over interleaved lengths; Scatterbrain d 128,
  // Based d 256), and a slice of jrt-sd (a mixture of lengths) swept 130 s with and without it, four processes: the
  // 18 records both finished equal with their curves, the processes' largest pool 23.21 → 3.93 GiB (mean 12.92 →
  // 2.29), each run's peak ≤ 0.40 of its estimate, 3.47 processes on the GPU on average against 2.27 (22 records
  // against 18), the median step 20.0 → 21.8 ms (within the rule's 10 %, with half again as many processes beside it)
  // scatterbrainCombine, causalNormalisers and bandSoftmax left it 2026-12-01 23:42 (bench/RESULTS.md "Scatterbrain's
  // levers and bandSoftmax on by default"): GPU ≡ CPU PASS with every lever on (Scatterbrain d 64, 128, 256; the
  // sliding window d 64), and at d 128 L 256, three alternated rounds after 8 warm-up steps, each step faster than the
  // same round's default in at least two of three rounds at B64 and B256 (the rule set before the call):
  // scatterbrainCombine + causalNormalisers Scatterbrain B64 14.6 / 14.8 / 14.1 → 11.0 / 9.6 / 8.9 ms, B256 22.7 / 22.7
  // / 22.8 → 17.6 / 17.7 / 17.7 (334 → 206 dispatches); bandSoftmax Scatterbrain B64 14.2, 16.7, 13.7 (one round
  // slower), B256 20.8 / 19.8 / 19.7; the sliding window B64 3.8 / 4.3 / 3.9 → 3.5 / 3.6 / 3.8, B256 8.2 / 8.2 / 8.1 →
  // 7.6 in each (110 → 98 dispatches)
  // splitConcat and causalSoftmax left it 2026-12-01 (bench/RESULTS.md "Dawn's toggles, splitConcat and causalSoftmax
  // on by default"): a run trained with splitConcat equalled the plain run bit for bit on an H200, GPU ≡ CPU PASS with
  // every lever but the flash attention on (so attention takes causalSoftmax), and at zoology-fig2's L 512 d 256 B128,
  // four alternated processes (two with Dawn's toggles), the step faster in all twelve pairs: H3 33.8 → 32.3, 31.0 →
  // 29.3 ms (splitConcat alone there), Mamba 36.2 → 34.1, 35.0 → 32.7, attention (both levers) 25.8 → 23.3, 25.2 →
  // 22.4; attention 132 → 116 dispatches
  // performerFeatures, stridedHeads and h2oWorkgroup left it 2026-12-01 00:13 (bench/RESULTS.md "Three levers on by
  // default"): GPU ≡ CPU PASS with every lever on (h2oWorkgroup: the bounded cache's H2O d 64; before, 2026-11-30:
  // Scatterbrain d 64 and d 256; DeltaNet, Gated DeltaNet, GLA d 64; DeltaNet, Gated DeltaNet, RWKV-7 d 128; DeltaNet,
  // RWKV-7, GLA d 256; RWKV-7 d 64 within the CPU's own drift, as without it), and at d 128 L 256, B64 and B256, two alternated rounds after 8 warm-up steps
  // (2 before), the warm round faster in every pair and the summed GPU time never higher. stridedHeads: RWKV-7 B64
  // 15.8 → 13.6 ms a step, its cold round too (20.1 → 15.7; the slowdown of 2026-11-30 came after 2 warm-up steps);
  // B256 40.2 → 36.2, its cold round slower (40.4 → 50.6, bind-group hits 93 %, 100 % by the warm round); DeltaNet,
  // Gated DeltaNet, GLA's warm rounds faster 2026-11-30. performerFeatures: Scatterbrain 15.4 → 12.8, 23.0 → 20.5.
  // h2oWorkgroup: the bounded cache 25.3 → 5.5, 35.8 → 12.5 (H2O's mask kernels 22.0 / 26.5 → 2.3 / 2.6 ms)
};

/** A fast path with each lever set by `on` (a fresh object). */
export function fastPathWhere(on: (lever: Lever) => boolean): FastPath {
  return Object.fromEntries(LEVERS.map((l) => [l, on(l)])) as FastPath;
}

/** Every lever on, those off by default included (the equivalence check's and the step benchmark's "fast"). */
export const allLevers = (on: boolean): FastPath => fastPathWhere(() => on);

/**
 * The default from the environment: every checked lever (unset, '1', 'default'), all ('all'), none ('0'), a comma
 * list (only those), or 'default' / 'all' with levers added or removed ('default+longSum-attention') — how a device
 * call turns on a lever its earlier call cleared without re-packing the bundle, so the warm machine keeps its
 * checkpoints (each record's provenance.fastPath names the levers it ran with).
 */
export function defaultFastPath(given?: string, source = 'RECALLBENCH_FAST_PATH'): FastPath {
  const raw = (given ?? (typeof process !== 'undefined' ? process.env.RECALLBENCH_FAST_PATH : undefined))?.trim();
  const known = (name: string) => {
    if (!(LEVERS as readonly string[]).includes(name)) throw new UserInputError(`${source}: unknown lever '${name}' (known: ${LEVERS.join(', ')})`);
    return name as Lever;
  };
  const checked = () => fastPathWhere((l) => !(l in OFF_BY_DEFAULT));
  if (raw === undefined || raw === '' || raw === '1' || raw === 'default') return checked();
  if (raw === 'all') return allLevers(true);
  const edit = '([+-])([A-Za-z][A-Za-z0-9]*)'; // +lever or -lever (lever names may hold digits: matmulVec4)
  const edited = new RegExp(`^(default|all)((?:${edit})+)$`).exec(raw);
  if (edited) {
    const path = edited[1] === 'all' ? allLevers(true) : checked();
    for (const [, sign, name] of edited[2]!.matchAll(new RegExp(edit, 'g'))) path[known(name!)] = sign === '+';
    return path;
  }
  if (/^(default|all)[+-]/.test(raw)) throw new UserInputError(`${source}: '${raw}' is neither a lever list nor 'default' / 'all' followed by +lever or -lever`);
  const on = new Set(raw === '0' || raw === 'none' ? [] : raw.split(',').map((s) => known(s.trim())));
  return fastPathWhere((l) => on.has(l));
}

let kernelsRegistered = false;

/**
 * The tfjs release whose private internals this layer patches (bind groups, uniforms, the buffer pool, uploads,
 * AdamW's in-place writes: dispatch.ts, bindGroups.ts, uploads.ts, adamw.ts). package.json pins it exactly; a
 * different tfjs may lay those internals out differently, and a silent mismatch would corrupt results.
 */
export const PATCHED_TFJS_VERSION = '4.22.0';

/** Refuse to patch a tfjs this layer was not written against (one line, exit 2 through the CLI). */
export function checkPatchedTfjsVersion(found: string = tf.version_core): void {
  if (found !== PATCHED_TFJS_VERSION) {
    throw new UserInputError(`the WebGPU fast path patches internals of tfjs ${PATCHED_TFJS_VERSION}, but tfjs ${found} is installed: install @tensorflow/tfjs@${PATCHED_TFJS_VERSION} and @tensorflow/tfjs-backend-webgpu@${PATCHED_TFJS_VERSION} (npm ci does), or use --backend wasm`);
  }
}

/** The webgpu backend instance once initialised (the upload and bind-group levers patch it), else undefined. */
function backendInstance(): (tf.KernelBackend & { device: GPUDevice }) | undefined {
  return (tf.findBackend(BACKEND) ?? undefined) as (tf.KernelBackend & { device: GPUDevice }) | undefined;
}

/**
 * Register the fused kernels with tfjs and every entry of the fast path in core/fastForms.ts (called by
 * engine/backend.ts once tfjs-backend-webgpu is loaded). The entries' levers start off; onWebGpuReady applies the
 * defaults.
 */
export function registerWebGpuKernels(): void {
  if (kernelsRegistered) return;
  checkPatchedTfjsVersion();
  kernelsRegistered = true;
  // the fused kernels under their own names (nothing calls them but their fast forms below)
  registerSoftmaxCrossEntropyWebGpu();
  registerLayerNormWebGpu();
  registerRmsNormWebGpu();
  registerSiluWebGpu();
  registerHeadProductWebGpu();
  registerTaylorMapWebGpu();
  registerScaledSinWebGpu();
  registerTokenShiftWebGpu();
  registerPerformerFeaturesWebGpu();
  registerScatterbrainCombineWebGpu();
  registerCausalNormalisersWebGpu();
  registerRwkv7TokenWebGpu();
  registerAdamWWebGpu();
  registerDropoutWebGpu();
  registerScanWebGpu();
  registerWkvWebGpu();
  registerDeltaRuleWebGpu();
  registerGeneralizedDeltaRuleWebGpu();
  registerGlaWebGpu();
  registerSelectiveScanWebGpu();
  registerLinearAttentionWebGpu();
  registerAttentionWebGpu();
  registerLongConvWebGpu();
  registerShortConvWebGpu();
  registerH2oMaskWebGpu();
  registerS4dKernelWebGpu();

  // fast forms the ops call in place of their reference while the lever is on (off: the op's own plain-tfjs path)
  registerFastForm({ op: softmaxCrossEntropyOp, backend: BACKEND, lever: 'crossEntropy', impl: softmaxCrossEntropyWebGpu });
  registerFastForm({ op: softmaxCrossEntropyByRunOp, backend: BACKEND, lever: 'crossEntropy', impl: softmaxCrossEntropyByRunWebGpu });
  registerFastForm({ op: layerNormOp, backend: BACKEND, lever: 'layerNorm', impl: layerNormWebGpu });
  registerFastForm({ op: rmsNormOp, backend: BACKEND, lever: 'rmsNorm', impl: rmsNormWebGpu });
  registerFastForm({ op: siluOp, backend: BACKEND, lever: 'silu', impl: siluWebGpu });
  registerFastForm({ op: siluGateOp, backend: BACKEND, lever: 'silu', impl: siluGateWebGpu });
  registerFastForm({ op: causalSoftmaxOp, backend: BACKEND, lever: 'causalSoftmax', impl: causalSoftmaxWebGpu });
  registerFastForm({ op: bandSoftmaxOp, backend: BACKEND, lever: 'bandSoftmax', impl: bandSoftmaxWebGpu });
  registerFastForm({ op: headOuterOp, backend: BACKEND, lever: 'headProduct', impl: headOuterWebGpu });
  registerFastForm({ op: headContractOp, backend: BACKEND, lever: 'headProduct', impl: headContractWebGpu });
  registerFastForm({ op: taylorMapOp, backend: BACKEND, lever: 'taylorMap', impl: taylorMapWebGpu });
  registerFastForm({ op: scaledSinOp, backend: BACKEND, lever: 'scaledSin', impl: scaledSinWebGpu });
  registerFastForm({ op: tokenShiftOp, backend: BACKEND, lever: 'tokenShift', impl: tokenShiftMixWebGpu });
  registerFastForm({ op: performerQueryOp, backend: BACKEND, lever: 'performerFeatures', impl: performerQueryWebGpu });
  registerFastForm({ op: performerKeyOp, backend: BACKEND, lever: 'performerFeatures', impl: performerKeyWebGpu });
  registerFastForm({ op: scatterbrainCombineOp, backend: BACKEND, lever: 'scatterbrainCombine', impl: scatterbrainCombineWebGpu });
  registerFastForm({ op: causalNormalisersOp, backend: BACKEND, lever: 'causalNormalisers', impl: causalNormalisersWebGpu });
  registerFastForm({ op: projectionsOp, backend: BACKEND, lever: 'fusedProjections', impl: projectionsWebGpu });
  registerFastForm({ op: rwkv7KeysOp, backend: BACKEND, lever: 'rwkv7Token', impl: rwkv7KeysWebGpu });
  registerFastForm({ op: rwkv7OutputOp, backend: BACKEND, lever: 'rwkv7Token', impl: rwkv7OutputWebGpu });
  registerFastForm({ op: scanOp, backend: BACKEND, lever: 'scan', impl: scanWebGpu });
  registerFastForm({ op: wkvOp, backend: BACKEND, lever: 'wkv', impl: wkvWebGpu });
  registerFastForm({ op: deltaRuleOp, backend: BACKEND, lever: 'delta', impl: deltaRuleWebGpu });
  registerFastForm({ op: gatedDeltaRuleOp, backend: BACKEND, lever: 'delta', impl: gatedDeltaRuleWebGpu });
  registerFastForm({ op: generalizedDeltaRuleOp, backend: BACKEND, lever: 'generalizedDelta', impl: generalizedDeltaRuleWebGpu });
  registerFastForm({ op: 'generalized delta rule (heads read and written in place)', backend: BACKEND, lever: 'stridedHeads', install: () => setStridedHeads(true), uninstall: () => setStridedHeads(false) });
  registerFastForm({ op: glaOp, backend: BACKEND, lever: 'gla', impl: glaFastForm });
  registerFastForm({ op: ssdOp, backend: BACKEND, lever: 'ssd', impl: ssdWebGpu });
  registerFastForm({ op: selectiveScanOp, backend: BACKEND, lever: 'selectiveScan', impl: selectiveScanWebGpu });
  registerFastForm({ op: causalLinearAttentionOp, backend: BACKEND, lever: 'linearAttention', impl: causalLinearAttentionWebGpu });
  registerFastForm({ op: causalAttentionOp, backend: BACKEND, lever: 'attention', impl: causalAttentionWebGpu });
  registerFastForm({ op: longConvOp, backend: BACKEND, lever: 'longConv', impl: longConvWebGpu });
  registerFastForm({ op: shortConvOp, backend: BACKEND, lever: 'shortConv', impl: shortConvWebGpu });
  registerFastForm({ op: circularShortConvOp, backend: BACKEND, lever: 'shortConvCircular', impl: circularShortConvWebGpu });
  registerFastForm({ op: dropoutOp, backend: BACKEND, lever: 'dropout', impl: dropoutWebGpu });
  registerFastForm({ op: s4dKernelOp, backend: BACKEND, lever: 'ssmKernel', impl: s4dKernelWebGpu });
  // no lever: the reference cannot run on webgpu (it reads the scores back synchronously)
  registerFastForm({ op: h2oMaskOp, backend: BACKEND, impl: h2oMaskWebGpu });
  registerFastForm({ op: 'H2O cache walk (a workgroup per example and head)', backend: BACKEND, lever: 'h2oWorkgroup', install: () => setH2oWorkgroup(true), uninstall: () => setH2oWorkgroup(false) });
  registerFastForm({ op: 'SplitV, Concat (last axis, one pass)', backend: BACKEND, lever: 'splitConcat', install: () => (registerSplitConcatWebGpu(), setSplitConcat(true)), uninstall: () => setSplitConcat(false) });
  // AdamW ↔ buffer pool: the fused update is the last dispatch of a training step and ends it (adamw.ts calls
  // bindGroups.ts endStep: submit, restart the uniform slots, and put the pool's free lists in a canonical order), so
  // that every step takes the same buffers in the same order — which the bind-group cache (lever bindGroups) needs
  // to hit. It writes in place only where a parameter and its moments are the sole owners of their buffers
  // (dispatch.ts soleOwner); otherwise it declines and ops/adamw runs the reference. With adamw off, nothing ends
  // the step early: the slots restart only when they run out, and the cache hits less (same numbers either way).
  registerFastForm({ op: adamWOp, backend: BACKEND, lever: 'adamw', impl: adamWWebGpu });
  registerFastForm({ op: 'causal linear attention (wide rows on many walks: the chunked form)', backend: BACKEND, lever: 'linearAttentionChunkedWide', install: () => setLinearAttentionChunkedWide(true), uninstall: () => setLinearAttentionChunkedWide(false) });
  registerFastForm({ op: 'AdamW (two parameters a dispatch)', backend: BACKEND, lever: 'adamwPairs', install: () => setAdamWPairs(true), uninstall: () => setAdamWPairs(false) });

  // overrides of what the ops reach through tfjs: installed while the lever is on, the stock behaviour otherwise
  registerFastForm({ op: 'UnsortedSegmentSum', backend: BACKEND, lever: 'segmentSum', install: () => (registerSegmentSumWebGpu(), setSegmentSumWebGpu(true)), uninstall: () => setSegmentSumWebGpu(false) });
  registerFastForm({ op: 'UnsortedSegmentSum (tile order)', backend: BACKEND, lever: 'segmentSumOrdered', install: () => (registerSegmentSumWebGpu(), setSegmentSumOrdered(true)), uninstall: () => setSegmentSumOrdered(false) });
  registerFastForm({ op: 'Transpose', backend: BACKEND, lever: 'transposeViews', install: () => (registerTransposeViewsWebGpu(), setTransposeViews(true)), uninstall: () => setTransposeViews(false) });
  registerFastForm({ op: 'BatchMatMul', backend: BACKEND, lever: 'matmul', install: () => (registerMatmulWebGpu(), setMatmulWebGpu(true)), uninstall: () => setMatmulWebGpu(false) });
  registerFastForm({ op: 'BatchMatMul (vec4 reads)', backend: BACKEND, lever: 'matmulVec4', install: () => setMatmulVec4(true), uninstall: () => setMatmulVec4(false) });
  registerFastForm({ op: 'BatchMatMul (next tile read ahead)', backend: BACKEND, lever: 'matmulPrefetch', install: () => setMatmulPrefetch(true), uninstall: () => setMatmulPrefetch(false) });
  registerFastForm({ op: 'Sum/Mean gradients', backend: BACKEND, lever: 'reduceGrads', install: () => (registerReduceGradsWebGpu(), setReduceGrads(true)), uninstall: () => setReduceGrads(false) });
  registerFastForm({ op: 'Sum', backend: BACKEND, lever: 'narrowSum', install: () => (registerNarrowSumWebGpu(), setNarrowSumWebGpu(true)), uninstall: () => setNarrowSumWebGpu(false) });
  registerFastForm({ op: 'Sum (long, few outputs)', backend: BACKEND, lever: 'longSum', install: () => (registerNarrowSumWebGpu(), setLongSumWebGpu(true)), uninstall: () => setLongSumWebGpu(false) });
  registerFastForm({ op: 'layerNorm (split column sums)', backend: BACKEND, lever: 'layerNormColumns', install: () => setLayerNormColumns(true), uninstall: () => setLayerNormColumns(false) });
  registerFastForm({ op: 'longConv (tiled filter, batch-split dh)', backend: BACKEND, lever: 'longConvTiles', install: () => setLongConvTiles(true), uninstall: () => setLongConvTiles(false) });
  registerFastForm({ op: 'longConv (8 outputs or taps a thread, registers)', backend: BACKEND, lever: 'longConvRegisters', install: () => setLongConvRegisters(true), uninstall: () => setLongConvRegisters(false) });
  registerFastForm({ op: 'longConv (8 times × E examples or 16 taps a thread, blocks)', backend: BACKEND, lever: 'longConvBlocks', install: () => setLongConvBlocks(true), uninstall: () => setLongConvBlocks(false) });
  registerFastForm({ op: 'uniform slot writes (skipped when unchanged)', backend: BACKEND, lever: 'uniformSkip', install: () => setSkipUnchangedUniforms(true), uninstall: () => setSkipUnchangedUniforms(false) });
  registerFastForm({ op: 'Sin activation (the linear layer\'s bias inside)', backend: BACKEND, lever: 'sinBias', install: () => setSinBias(true), uninstall: () => setSinBias(false) });
  registerFastForm({ op: 'longConv (a filter shorter than the sequence as a short FIR)', backend: BACKEND, lever: 'shortFilter', install: () => setShortFilter(true), uninstall: () => setShortFilter(false) });
  registerFastForm({ op: 'deltaRule, gatedDeltaRule, generalizedDeltaRule (state column in registers)', backend: BACKEND, lever: 'deltaRegisters', install: () => setDeltaRegisters(true), uninstall: () => setDeltaRegisters(false) });
  registerFastForm({ op: 'generalizedDeltaRule (state column split over threads)', backend: BACKEND, lever: 'deltaSplit', install: () => setDeltaSplit(true), uninstall: () => setDeltaSplit(false) });
  registerFastForm({ op: 'selectiveScan (state in registers)', backend: BACKEND, lever: 'selectiveScanRegisters', install: () => setSelectiveScanRegisters(true), uninstall: () => setSelectiveScanRegisters(false) });
  registerFastForm({ op: 'column-sum tables of the fused recurrences (swizzled)', backend: BACKEND, lever: 'swizzle', install: () => setSwizzle(true), uninstall: () => setSwizzle(false) });
  registerFastForm({
    op: 'BatchMatMul (SplitK threshold)',
    backend: BACKEND,
    lever: 'splitK',
    install: () => tf.env().set(SPLITK_FLAG, Number((typeof process !== 'undefined' ? process.env.RECALLBENCH_SPLITK_THRESHOLD : undefined) ?? 600)),
    uninstall: () => tf.env().set(SPLITK_FLAG, -1),
  });
  // the backend's own paths: need its instance, so they take effect once it is initialised (onWebGpuReady)
  const uploads = (on: boolean) => {
    const backend = backendInstance();
    if (backend) setPooledUploads(backend, on);
  };
  registerFastForm({ op: 'uploadToGPU', backend: BACKEND, lever: 'uploads', install: () => uploads(true), uninstall: () => uploads(false) });
  const poolBestFit = (on: boolean) => {
    const backend = backendInstance();
    if (backend) setBufferPoolBestFit(backend, on);
  };
  registerFastForm({ op: 'saved tensors (views)', backend: BACKEND, lever: 'savedViews', install: () => setSavedViews(true), uninstall: () => setSavedViews(false) });
  registerFastForm({ op: 'causal linear attention (several value columns a thread)', backend: BACKEND, lever: 'linearAttentionWide', install: () => setLinearAttentionWide(true), uninstall: () => setLinearAttentionWide(false) });
  registerFastForm({ op: 'causal linear attention (the dφq, dφk walks a feature a thread)', backend: BACKEND, lever: 'linearAttentionColumns', install: () => setLinearAttentionColumns(true), uninstall: () => setLinearAttentionColumns(false) });
  registerFastForm({ op: 'causal linear attention (every walk\'s threads fitted to its row)', backend: BACKEND, lever: 'linearAttentionFit', install: () => setLinearAttentionFit(true), uninstall: () => setLinearAttentionFit(false) });
  registerFastForm({ op: 'causal linear attention (the passes over F read vec4s)', backend: BACKEND, lever: 'linearAttentionVec4', install: () => setLinearAttentionVec4(true), uninstall: () => setLinearAttentionVec4(false) });
  registerFastForm({ op: 'Taylor feature map (f baked in, the pair by the closed form)', backend: BACKEND, lever: 'taylorMapConst', install: () => setTaylorMapConst(true), uninstall: () => setTaylorMapConst(false) });
  registerFastForm({ op: 'buffer pool (best fit)', backend: BACKEND, lever: 'poolBestFit', install: () => poolBestFit(true), uninstall: () => poolBestFit(false) });
  const bindGroups = (on: boolean) => {
    const backend = backendInstance();
    if (!backend) return;
    setBindGroupCache(backend.device, on);
    setUniformSlots(backend);
  };
  registerFastForm({ op: 'createBindGroup / makeUniforms', backend: BACKEND, lever: 'bindGroups', install: () => bindGroups(true), uninstall: () => bindGroups(false) });
  // always on (fixes, not levers): reverse cumsums without tfjs's stale-length shader; rank > 4 along the last axis
  registerFastForm({ op: 'Cumsum (reverse scans, rank > 4)', backend: BACKEND, install: registerCumsumWebGpu });
  // rank > 4 pads on a merged view of rank ≤ 4 (the stock rank-5 shader does not compile)
  registerFastForm({ op: 'PadV2 (rank > 4)', backend: BACKEND, install: registerPadWebGpu });
}

/** Called once the webgpu backend is initialised (engine/backend.ts): applies the default levers. */
export function onWebGpuReady(): void {
  registerWebGpuKernels();
  setFastPath(defaultFastPath());
}

/** Turn levers on or off (the others keep their state); every lever's entries are applied again. */
export function setFastPath(levers: Partial<FastPath>): FastPath {
  const next = { ...fastPath(), ...levers };
  for (const lever of LEVERS) setLever(lever, next[lever]);
  return fastPath();
}

export function fastPath(): FastPath {
  return Object.fromEntries(LEVERS.map((l) => [l, leverOn(l)])) as FastPath;
}
