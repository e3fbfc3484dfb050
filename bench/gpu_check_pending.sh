#!/usr/bin/env bash
# Two device calls that clear (or not) a lever still off by default (accel/webgpu/index.ts OFF_BY_DEFAULT; a new
# fused kernel starts there; delta, selectiveScan and longConv were cleared by these calls on 2026-11-29):
#   equiv   GPU ≡ CPU of every layout whose mixers use them (fast path = every lever, pending ones included; plain =
#           none), H2O's device-side selection and RWKV-7 (never on a GPU yet) at the check's usual d 64; then the
#           kernels' larger tilings at d 256 (≥ 8 column blocks of partials, the case lavapipe's tests barely reach)
#           at a tiny batch and length, judged on the per-step losses and step-1 gradients only (--param-tol 1: after
#           5 Adam steps from a tiny batch, parameters whose gradient is zero in exact arithmetic — the key bias of
#           softmax attention — move by ±lr on the sign of rounding noise; on lavapipe zoology-fig2's attention
#           showed 8.6e-2 there with forward and gradients at 1e-7); then the delta rules at d 128 (d_k 32, where lever
#           deltaRegisters unrolls; MIXERS_D128). About 7 minutes on one H200 (9.5 at most). SENSITIVITY=1e-6
#           also trains each cpu reference with its embedding nudged (the model's own drift, beside the verdict) —
#           it doubles the cpu work: on 16 cores 10 of 20 layouts then missed a 270 s deadline (2026-11-29), so it
#           is off unless asked for. EQUIV_MODES=gpu-fast skips the all-levers-off runs (a lever's check needs only
#           gpu-fast: on 2026-11-30, beside 14 wasm references, H3's and Hyena's gpu-plain runs took 76–80 s against
#           ~1 s gpu-fast, and 4 of 9 layouts were run by the 280 s deadline).
#   speed   the step benchmark of each fused kernel with its lever on and off (recur), and attention at B64/B256.
#           About 5 minutes (recur: each mixer with its own levers on and off).
#   table   issue 13's per-mixer table: PyTorch eager (bench/torch_step.py, every mixer) and recallbench's default
#           step of the same mixers at d 128 L 256 B64 (attention, Based also B256) in one call, with ratios; then the
#           slowest mixers profiled. About 6–8 minutes (TABLE_S in check_then_stretch.sh).
#   submit  the host-bound B64 steps at WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE 15 (tfjs's), 60 and 240 (SUBMIT_SIZES,
#           SUBMIT_MIXERS): does fewer submits a step cut the host's time? Then a CPU profile of JRT-RNN's and RWKV-7's
#           default B64 steps (HOSTPROF_MIXERS; <mixer>-b64.cpuprofile). About 2.5 minutes with 3 rounds (SUBMIT_ROUNDS;
#           one round took 59 s on 2026-11-30; SUBMIT_S, default 300).
#   hostwait  attention and Based at B256 (and B64), each default lever off in turn, a CPU profile of the step and its
#           GPU time: why their host time reached the whole step on 2026-11-30 (below). About 3 minutes (HOSTWAIT_S).
#   matmul  tf.matMul alone at the step shapes and zoology-fig2's d 512 ones (tfjs / scalar / vec4 reads / vec4 with the
#           next tile read ahead, bench/step.ts --matmul), then training steps at the campaign's shapes (d 512 and d 128,
#           L 64, B512) with MATMUL_VARIANTS, alternating (default: default and default+matmulPrefetch, pending since
#           2026-11-30; matmulVec4 cleared 2026-11-29 this way); --matmul now also times prefetch at the 128-tile's K pass
#           16 and 32 (six kernels a shape, where it was three). About 4–6 minutes (MATMUL_S 330 in check_then_stretch).
#
#   campaign  the campaign's own models (bench/step.ts --preset: zoology-fig2's layers, block and dropout) at its L 64
#           shapes (B512, K 4) for d 64 and d 256, each mixer with today's default levers and with the pending ones
#           (CAMPAIGN_VARIANTS), --profile: which kernels fill the GPU at the shapes the campaign trains (at d 64 one
#           process already fills it: results/README.md, stretches 7–9), at the panels CAMPAIGN_SHAPES names (L:B:K,
#           default L 64, 256 and 512 with their batches 512, 256, 128); STEPS timed steps (default 5) after
#           CAMPAIGN_WARMUP unsynced ones (default 2: on lavapipe that leaves the first round's bind groups still being
#           made — bench/RESULTS.md 2026-11-30 midnight; 6 halves those misses). Pending now: longConvBlocks, headProduct and
#           shortFilter (built 2026-11-30 without a GPU; the first two GPU ≡ CPU checked that afternoon, when this
#           mode's set -u slip cost their timing): CAMPAIGN_MIXERS=h3,hyena,baseconv
#           CAMPAIGN_VARIANTS="default,default+longConvBlocks,default+shortFilter,default+longConvBlocks+headProduct+shortFilter"
#           CAMPAIGN_D=256 CAMPAIGN_SHAPES="512:128:64 256:256:16" (shortFilter changes nothing there: zoology-fig2's H3 has
#           N = L taps; it acts on based-fig2's H3, N = d/4: CAMPAIGN_PRESET=based-fig2 CAMPAIGN_SHAPES="256:256:16
#           128:256:8"), and LONGCONV_EXAMPLES="2 8" times its forward and dx
#           at 2 and 8 examples a thread too (RECALLBENCH_LONGCONV_EXAMPLES; the variant default+longConvBlocks alone,
#           for LONGCONV_MIXERS, default h3,hyena,baseconv; labels ending -E2, -E8). Before that, none (gla cleared
#           2026-11-30 06:47 with CHECKS="equiv speed" EQUIV_MIXERS="gla,mamba2" RECUR="gla:fast,fast-gla mamba2:fast,fast-gla";
#           ssd, Mamba-2 through the same kernel, measured 11x slower and left off: bench/RESULTS.md "GLA fused, and the
#           B256 host wait"), none among the campaign's models (selectiveScanRegisters,
#           deltaRegisters and segmentSumOrdered cleared 2026-11-30: bench/RESULTS.md "Three levers on an H200", which
#           timed CAMPAIGN_MIXERS=mamba,attention with default, default+selectiveScanRegisters, default+segmentSumOrdered;
#           the profiled GPU time repeats within ~0.1 ms), so CAMPAIGN_VARIANTS defaults to the default levers alone. The previous pending
#           pair, longConvRegisters and silu, took CAMPAIGN_MIXERS=h3,hyena,baseconv,mamba and three variants.
#           2026-11-29's check of longConvTiles, layerNormColumns, longSum and segmentSumOrdered (L 64 only, 5 mixers,
#           6 variants) took 27 s (one process per d). JRT_VARIANTS
#           (e.g. "default,default+shortConvCircular", cleared 2026-11-29) adds jrt-sd's causal and non-causal layouts
#           (JRT_TIMEOUT, default 90 s: raise CAMPAIGN_S by as much).
#           Under a minute without JRT_VARIANTS or LONGCONV_EXAMPLES at L 64 (CAMPAIGN_S 390 is its ceiling; L 512 and
#           256 at d 256 take ~10–20 s a mixer and variant, and each E of LONGCONV_EXAMPLES as much again).
#           CAMPAIGN_TOGGLES (e.g. "none disable_robustness,disable_workgroup_init none disable_robustness,disable_workgroup_init"):
#           Dawn's device toggles (engine/dawnToggles.ts) hold for a whole process, so instead of the one pass, one pass
#           per setting in the order given (none: no toggles; default: the default ones), CAMPAIGN_VARIANTS in each, labels ending -toggles-<setting>;
#           each process's header line says its toggles and its robustness probe (4: the clamp ran). In equiv,
#           EQUIV_DAWN_TOGGLES puts the GPU side of every run under those toggles.
#   repro   is a GPU run reproducible? One small run (attention d 64, MQAR L 64) trained twice with the default
#           levers (segmentSumOrdered on since 2026-11-30) and twice with the gather's atomics
#           (default-segmentSumOrdered), each pair's curves compared bit for bit (bench/gpu_repro.sh;
#           its REPRO_* settings). Needs the CLI: BUNDLE=.gpu from bench/pack_gpu_all.sh.
#
#   Locally:  bash bench/pack_gpu_check.sh      (.gpu-c: the equivalence and step bundles, within the carry limit)
#   Host:     RECALLBENCH_COMMIT=<commit> bash bench/gpu_check_pending.sh equiv|speed|matmul   (carry .gpu-c; out in $OUT)
#   Or with the CLI in the same call: bash bench/pack_gpu_all.sh here, carry .gpu, and BUNDLE=.gpu on the host.
# Then: bench/RESULTS.md gets the tables and the timings; a lever whose layouts all PASS and whose step is not
# slower than with it off leaves OFF_BY_DEFAULT (the call named in the commit).
set -uo pipefail
OUT=${OUT:-$PWD/pending-out}
mkdir -p "$OUT"
# the bundle: .gpu-c (pack_gpu_check.sh: run = the check, run-step) or .gpu (pack_gpu_all.sh: run-equiv, run-step)
B=${BUNDLE:-.gpu-c}
EQUIV="$B/run"; [ -f "$B/run-equiv" ] && EQUIV="$B/run-equiv"
STEP="$B/run-step"
[ -f "$STEP" ] || { echo "gpu_check_pending: $B has no run-step: pack it with bench/pack_gpu_check.sh (.gpu-c) or bench/pack_gpu_all.sh (.gpu)" >&2; exit 2; }
[ -f "$B/app.mjs.xz" ] && [ ! -f "$B/run-equiv" ] && { echo "gpu_check_pending: $B is a CLI bundle without run-equiv: pack it with bench/pack_gpu_all.sh" >&2; exit 2; }
MIXERS=${MIXERS:-"attention,attention (front),attention (zoology-fig2),attention (icll),based,based (front),based (icll),linear-attention causal,jrt-rnn,scatterbrain,deltanet,gated-deltanet,deltanet (icll),mamba,hyena,h3,baseconv (zoology-fig2),m2,bounded-cache cache-h2o,rwkv7,gla,mamba2"}
case "${1:-}" in
  equiv)
    # EQUIV_DAWN_TOGGLES: the GPU side's Dawn toggles (engine/dawnToggles.ts) for the whole check
    [ -n "${EQUIV_DAWN_TOGGLES:-}" ] && export RECALLBENCH_DAWN_TOGGLES=$EQUIV_DAWN_TOGGLES
    # EQUIV_FAST_PATH: gpu-fast's levers in RECALLBENCH_FAST_PATH's syntax (default all), e.g. all-attention: causal
    # attention's scores path and its fused softmax rather than the flash form (off by default)
    [ -n "${EQUIV_FAST_PATH:-}" ] && export RECALLBENCH_EQUIV_FAST_PATH=$EQUIV_FAST_PATH
    echo "=== gpu-equiv ($(date -u +%H:%M:%S))"
    timeout "$(( ${EQUIV_DEADLINE_S:-430} + 20 ))" bash "$EQUIV" --out "$OUT/gpu-equiv" --presets-dir "$B/presets" --jobs "$(( $(nproc) > 3 ? $(nproc) - 2 : 1 ))" --deadline-s "${EQUIV_DEADLINE_S:-430}" ${SENSITIVITY:+--sensitivity "$SENSITIVITY"} ${EQUIV_MODES:+--modes "$EQUIV_MODES"} --mixers "$MIXERS" > "$OUT/equiv.log" 2>&1
    echo "equiv exit $?" | tee -a "$OUT/equiv.log"
    echo "=== gpu-equiv d 256 ($(date -u +%H:%M:%S))"
    timeout 120 bash "$EQUIV" --out "$OUT/gpu-equiv-d256" --presets-dir "$B/presets" --jobs "$(( $(nproc) > 3 ? $(nproc) - 2 : 1 ))" --deadline-s 100 --d-model 256 --seq-lens 32 --batch 2 --steps 5 --param-tol 1 --mixers "${MIXERS_D256:-mamba,gated-deltanet,deltanet (icll),attention (zoology-fig2),based,rwkv7}" > "$OUT/equiv-d256.log" 2>&1
    echo "equiv d256 exit $?" | tee -a "$OUT/equiv-d256.log"
    # d 128: the delta rules at d_k 32 (4 heads), where lever deltaRegisters runs its unrolled kernels at the size the
    # benchmarks train (lavapipe cannot compile those in CI's time: the tests cover d_k ≤ 8)
    echo "=== gpu-equiv d 128 ($(date -u +%H:%M:%S))"
    timeout 120 bash "$EQUIV" --out "$OUT/gpu-equiv-d128" --presets-dir "$B/presets" --jobs "$(( $(nproc) > 3 ? $(nproc) - 2 : 1 ))" --deadline-s 100 --d-model 128 --seq-lens 32 --batch 2 --steps 5 --param-tol 1 --mixers "${MIXERS_D128:-deltanet,gated-deltanet,rwkv7}" > "$OUT/equiv-d128.log" 2>&1
    echo "equiv d128 exit $?" | tee -a "$OUT/equiv-d128.log"
    tail -n 2 "$OUT/equiv.log" "$OUT/equiv-d256.log" "$OUT/equiv-d128.log" ;;
  speed)
    echo "=== recur ($(date -u +%H:%M:%S))"
    STEPS=${STEPS:-6} BENCH_RUN="bash $STEP" OUT="$OUT" timeout 450 bash bench/gpu_session.sh info recur > "$OUT/session.log" 2>&1
    # where the fused GLA stops paying (accel/webgpu/gla.ts GLA_FAST_MAX_DK = 32: d_k 16 timed, N 128 of Mamba-2 11x
    # slower): d 256 and 512 at fla's expand_k 0.5 and 4 heads are d_k 32 and 64, the bound lifted for the timing
    echo "=== gla at d_k 32 and 64 ($(date -u +%H:%M:%S))"
    for d in 256 512; do
      RECALLBENCH_GLA_FAST_MAX_DK=512 timeout 60 bash "$STEP" --mixers gla --batches 64 --d-model "$d" --variants fast,fast-gla --dropout 0.1 --steps "${STEPS:-6}" --warmup 3 --label "gla-d$d" --out "$OUT/tfjs.jsonl" >> "$OUT/session.log" 2>&1
    done
    echo "=== attention ($(date -u +%H:%M:%S))"
    timeout 60 bash "$STEP" --mixers attention --batches 64,256 --variants fast,fast-attention --dropout 0 --steps "${STEPS:-8}" --warmup 3 --label attention --out "$OUT/tfjs.jsonl" >> "$OUT/session.log" 2>&1
    # sliding window's two parallel forms (architectures/slidingWindow.ts `form`, Scatterbrain's local part too): blocked and
    # masked (unset: masked up to MASKED_FORM_UP_TO tokens, blocked beyond)
    echo "=== sliding window, blocked and masked ($(date -u +%H:%M:%S))"
    timeout 90 bash "$STEP" --mixers sliding-window-blocked,sliding-window-masked,scatterbrain-blocked,scatterbrain-masked,attention --batches 64,256 --variants default --dropout 0.1 --steps "${STEPS:-8}" --warmup 3 --label swa-form --out "$OUT/tfjs.jsonl" >> "$OUT/session.log" 2>&1
    grep -hE "ms/step|Error" "$OUT/session.log" | tail -70 ;;
  hostwait)
    # 2026-11-30's table (bench/RESULTS.md "Every mixer against PyTorch, 2026-11-30"): attention and Based at d 128 L 256
    # B256 spent their whole step in the host (host 15.1 of 15.5 ms, 18.2 of 18.8), where 2026-11-29's call d had 4.3 of
    # 11.3 and 4.9 of 12.3 with PyTorch as fast in both calls — the host waits on the GPU somewhere. Each default lever
    # off in turn (bench/step.ts --variants default-each) says whether one of them is the wait; then one CPU profile of
    # the default step says where the host's time goes, and a profiled step its GPU time. About 3 minutes.
    timeout 150 bash "$STEP" --mixers attention,based --batches 256,64 --variants default-each --dropout 0.1 --steps 10 --warmup 3 --label hostwait --out "$OUT/tfjs.jsonl" > "$OUT/session.log" 2>&1
    timeout 60 bash "$STEP" --mixers attention --batches 256 --variants default --dropout 0.1 --steps 10 --warmup 3 --cpu-prof "$OUT/attention-b256.cpuprofile" --label hostwait-prof --out "$OUT/tfjs.jsonl" >> "$OUT/session.log" 2>&1
    # the GPU's own time for the same steps (tf.profile's timestamps): GPU time ≈ wall says the kernels got slower and
    # the host only waits for them (back-pressure); GPU time ≪ wall says the host itself blocks
    timeout 60 bash "$STEP" --mixers attention,based --batches 256 --variants default,default-matmulVec4 --dropout 0.1 --steps 5 --warmup 2 --profile --label hostwait-gpu --out "$OUT/tfjs.jsonl" >> "$OUT/session.log" 2>&1
    grep -hE "ms/step|Error" "$OUT/session.log" | tail -150 ;;
  table)
    # issue 13's per-mixer table in one call, through bench/gpu_session.sh's own modes: every mixer's PyTorch eager form
    # (torch: bench/torch_step.py, the supervised head, B64 and B256), then recallbench's step of every mixer with the
    # default levers at B64 (mixers; rwkv7 added to its list), ratios against torch.json; then attention and Based at
    # B256 and the mixers still slower than 2x attention (2026-11-30: GLA, Mamba-2, Gated DeltaNet, RWKV-7) profiled,
    # to say where their time goes. About 6–8 minutes.
    TORCH_FLAGS="--heads supervised" DROPOUT=0.1 STEPS=${STEPS:-10} BENCH_RUN="bash $STEP" OUT="$OUT" \
      MIXERS="${TABLE_MIXERS:-attention,based,baseconv,sliding-window,linear-attention,hyena,h3,jrt-rnn,gla,deltanet,gated-deltanet,rwkv,rwkv7,mamba,mamba2,m2,scatterbrain,bounded-cache}" \
      timeout 480 bash bench/gpu_session.sh info torch mixers > "$OUT/session.log" 2>&1
    echo "=== attention and Based at B256; profiles ($(date -u +%H:%M:%S))"
    timeout 60 bash "$STEP" --mixers attention,based --batches 256 --variants default --dropout 0.1 --steps "${STEPS:-10}" --warmup 3 --label table --torch "$OUT/torch.json" --out "$OUT/tfjs.jsonl" >> "$OUT/session.log" 2>&1
    timeout 120 bash "$STEP" --mixers "${PROFILE_MIXERS:-gla,mamba2,gated-deltanet,rwkv7}" --batches 64 --variants default --dropout 0.1 --profile --steps 5 --warmup 2 --label table-profile --out "$OUT/tfjs.jsonl" >> "$OUT/session.log" 2>&1
    grep -hE "ms/step|top kernels|top programs|Error" "$OUT/session.log" | tail -60 ;;
  submit)
    # tfjs submits the command buffer every WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE dispatches (15): the host-bound B64 steps
    # of issue 13's table (every mixer but attention, BaseConv, Based, linear attention and Mamba above 2x attention's
    # step, host ≈ wall) at 15, 60 and 240, one process each, SUBMIT_ROUNDS (3) alternated passes (bench/gpu_session.sh
    # submit; one pass on 2026-11-30 spread too much to decide: bench/RESULTS.md). Here: bench/submit_summary.ts
    echo "=== submit batch ($(date -u +%H:%M:%S))"
    STEPS=${STEPS:-10} BENCH_RUN="bash $STEP" OUT="$OUT" SUBMIT_SIZES="${SUBMIT_SIZES:-15 60 240}" \
      SUBMIT_MIXERS="${SUBMIT_MIXERS:-attention,sliding-window,h3,hyena,jrt-rnn,gla,deltanet,gated-deltanet,rwkv,rwkv7,mamba2,m2,scatterbrain}" \
      bash bench/gpu_session.sh submit > "$OUT/session.log" 2>&1
    # where a host-bound step's host time goes (the one CPU profile so far, attention B256, was GPU-bound): one
    # process per mixer, its timed steps under V8's sampling profiler (summarise with python3 bench/cpuprof_top.py FILE)
    for m in ${HOSTPROF_MIXERS:-jrt-rnn rwkv7}; do
      timeout 90 bash "$STEP" --mixers "$m" --batches 64 --variants default --dropout 0.1 --steps 10 --warmup 3 --cpu-prof "$OUT/$m-b64.cpuprofile" --label "hostprof-$m" --out "$OUT/tfjs.jsonl" >> "$OUT/session.log" 2>&1
    done
    # every round's lines (13 mixers × 3 sizes × 3 rounds = 117 by default) and the profiles' two
    grep -hE "ms/step|FAULT|Error" "$OUT/session.log" | tail -200 ;;
  matmul)
    echo "=== matmul alone ($(date -u +%H:%M:%S))"
    timeout 220 bash "$STEP" --matmul --mixers attention --batches 64 --variants default --steps 5 --warmup 2 > "$OUT/matmul.log" 2>&1
    echo "=== steps at zoology-fig2's L64 shapes ($(date -u +%H:%M:%S))"
    for d in 512 128; do
      timeout 120 bash "$STEP" --mixers attention,based,baseconv --batches 512 --seq-len 64 --kv 4 --d-model "$d" --variants "${MATMUL_VARIANTS:-default,default+matmulPrefetch,default,default+matmulPrefetch}" --dropout 0.1 --steps "${STEPS:-8}" --warmup 3 --label "zoology-L64-d$d" --out "$OUT/matmul.jsonl" >> "$OUT/matmul.log" 2>&1
    done
    grep -hE "^matmul |ms/step|Error" "$OUT/matmul.log" | tail -40 ;;
  campaign)
    # one pass over the panels CAMPAIGN_SHAPES names (L:B:K) and CAMPAIGN_D: campaign_pass MIXERS VARIANTS [LABEL_SUFFIX]
    # (an assignment before the call, e.g. RECALLBENCH_LONGCONV_EXAMPLES, reaches the steps it runs)
    # CAMPAIGN_PRESET=none: bench/step.ts's own models (the zoology reference, each mixer's defaults) — for a mixer no
    # preset holds (GLA)
    preset_flag="--preset runners/presets/${CAMPAIGN_PRESET:-zoology-fig2}.json"
    [ "${CAMPAIGN_PRESET:-}" = none ] && preset_flag=
    campaign_pass() {
      local suffix=${3:-} # set -u: the default pass has no label suffix
      # CAMPAIGN_FLAGS: more of bench/step.ts's flags, as words (jrt-sd: "--vocab 2048 --param featureDim=24 --stacks 1,3")
      # shellcheck disable=SC2086 # CAMPAIGN_FLAGS is a word list
      for shape in ${CAMPAIGN_SHAPES:-64:512:4 256:256:16 512:128:64}; do
        IFS=: read -r L Bsz K <<< "$shape"
        for d in ${CAMPAIGN_D:-64 256}; do
          echo "=== campaign shapes, L $L B$Bsz K $K, d $d${suffix:+ ($suffix)} ($(date -u +%H:%M:%S))"
          timeout "${CAMPAIGN_TIMEOUT:-180}" bash "$STEP" $preset_flag --mixers "$1" --batches "$Bsz" --seq-len "$L" --kv "$K" --d-model "$d" --variants "$2" --steps "${STEPS:-5}" --warmup "${CAMPAIGN_WARMUP:-2}" --profile --label "campaign-L$L-d$d$suffix" --out "$OUT/campaign.jsonl" ${CAMPAIGN_FLAGS:-} >> "$OUT/campaign.log" 2>&1
        done
      done
    }
    if [ -n "${CAMPAIGN_TOGGLES:-}" ]; then
      # Dawn's device toggles (engine/dawnToggles.ts) hold for a whole process: one pass per setting, in the order
      # given — alternate them, "none disable_robustness none disable_robustness" — each labelled with its setting
      for toggles in $CAMPAIGN_TOGGLES; do
        RECALLBENCH_DAWN_TOGGLES=$toggles campaign_pass "${CAMPAIGN_MIXERS:-mamba,attention}" "${CAMPAIGN_VARIANTS:-default}" "-toggles-$toggles"
      done
    else
      campaign_pass "${CAMPAIGN_MIXERS:-mamba,attention}" "${CAMPAIGN_VARIANTS:-default}"
    fi
    # lever longConvBlocks at other examples a thread: the blocked variant alone, per E (default E is 4)
    for E in ${LONGCONV_EXAMPLES:-}; do
      RECALLBENCH_LONGCONV_EXAMPLES=$E campaign_pass "${LONGCONV_MIXERS:-h3,hyena,baseconv}" default+longConvBlocks "-E$E"
    done
    # jrt-sd's two layouts (4 layers, BaseConv k3 + Taylor linear attention; MQAR data of the same length), with
    # JRT_VARIANTS (shortConvCircular's check on 2026-11-29: "default,default+shortConvCircular")
    [ -n "${JRT_VARIANTS:-}" ] && echo "=== jrt-sd layouts, d 64 ($(date -u +%H:%M:%S))" &&
    timeout "${JRT_TIMEOUT:-90}" bash "$STEP" --preset runners/presets/jrt-sd.json --mixers non-causal,causal --batches 128 --seq-len 160 --kv 4 --d-model 64 --variants "$JRT_VARIANTS" --steps "${STEPS:-5}" --warmup 2 --profile --label "campaign-jrt-sd-d64" --out "$OUT/campaign.jsonl" >> "$OUT/campaign.log" 2>&1
    grep -hE "^===|dawn toggles:|robustness probe|ms/step|top kernels|top programs|FAULT|Error" "$OUT/campaign.log" | tail -400 ;; # all of a six-round, two-batch, six-mixer check (2026-12-01 night: 90 lines kept lost most B64 rows)
  repro)
    # one run trained twice per fast path (default: the gather gradient in tile order; -segmentSumOrdered: atomics),
    # compared bit for bit (bench/gpu_repro.sh); needs the CLI in the bundle (pack_gpu_all.sh). About a minute.
    [ -f "$B/run" ] && [ -f "$B/app.mjs.xz" ] || { echo "gpu_check_pending repro: $B has no CLI: pack it with bench/pack_gpu_all.sh" >&2; exit 2; }
    echo "=== repro ($(date -u +%H:%M:%S))"
    CLI="bash $B/run" OUT="$OUT" bash bench/gpu_repro.sh > "$OUT/repro.log" 2>&1
    tail -n 12 "$OUT/repro.txt" ;;
  memory)
    # lever poolBestFit (accel/webgpu/bufferPool.ts): a mixture preset's slice swept with the default levers, then with
    # default+poolBestFit, MEM_CONC processes each; per process the pool's peaks and fitted requests
    # (RECALLBENCH_MEMORY_LOG) and nvidia-smi's memory each second beside the sweep's estimate line; then the two
    # sweeps' records compared (every number but timings: best fit must change no result). MEM_PRESET (jrt-sd),
    # MEM_SCALE (0.01), MEM_ONLY (a --only list), MEM_CONC (4), MEM_S (130 s a sweep). A job's pool is logged when it ends: runs cut off
    # at MEM_S say nothing of theirs;
    # MEM_BACKEND=cpu tries the plumbing without a GPU (no pools then: the records' comparison only).
    [ -f "$B/run" ] && [ -f "$B/app.mjs.xz" ] || { echo "gpu_check_pending memory: $B has no CLI: pack it with bench/pack_gpu_all.sh" >&2; exit 2; }
    for mode in default default+poolBestFit; do
      tag=${mode//+/-}
      echo "=== memory $mode ($(date -u +%H:%M:%S))"
      ( while sleep 1; do t=$(date +%s); nvidia-smi --query-compute-apps=pid,used_memory --format=csv,noheader,nounits 2>/dev/null | sed "s/^/$t,/"; done ) > "$OUT/memory-smi-$tag.csv" &
      sp=$!
      rm -rf "$OUT/memory-$tag"
      RECALLBENCH_FAST_PATH=$mode RECALLBENCH_MEMORY_LOG="$OUT/memory-log-$tag.jsonl" timeout -s INT -k 20 "${MEM_S:-130}" bash "$B/run" sweep "runners/presets/${MEM_PRESET:-jrt-sd}.json" --scale "${MEM_SCALE:-0.01}" ${MEM_ONLY:+--only $MEM_ONLY} \
        --concurrency "${MEM_CONC:-4}" --backend "${MEM_BACKEND:-webgpu}" --out "$OUT/memory-$tag" > "$OUT/memory-sweep-$tag.log" 2>&1
      echo "memory $mode: sweep rc $?" | tee -a "$OUT/memory.txt"
      kill $sp; wait $sp 2>/dev/null
      grep -m1 "memory:" "$OUT/memory-sweep-$tag.log" | tee -a "$OUT/memory.txt"
      awk -F, '{ if ($3 > m[$2]) m[$2] = $3 } END { n = 0; for (p in m) { s += m[p]; if (m[p] > top) top = m[p]; n++ } printf "nvidia-smi: %d processes, largest %d MiB, mean %d MiB\n", n, top, n ? s / n : 0 }' "$OUT/memory-smi-$tag.csv" | tee -a "$OUT/memory.txt"
    done
    python3 - "$OUT" <<'PY' | tee -a "$OUT/memory.txt"
import json, os, sys
out = sys.argv[1]
def log(tag):
    path = os.path.join(out, f'memory-log-{tag}.jsonl')
    return [json.loads(l) for l in open(path)] if os.path.exists(path) else []
for tag in ('default', 'default-poolBestFit'):
    jobs = [j for j in log(tag) if 'peakAllocatedBytes' in j]
    if jobs:
        gib = lambda b: b / 2 ** 30
        print(f"{tag}: {len(jobs)} jobs, pool peak allocated GiB max {gib(max(j['peakAllocatedBytes'] for j in jobs)):.2f} mean {gib(sum(j['peakAllocatedBytes'] for j in jobs) / len(jobs)):.2f}, in use at most {gib(max(j['peakUsedBytes'] for j in jobs)):.2f} (a fitted buffer at its own size), fitted {sum(j.get('fittedRequests', 0) for j in jobs)}")
def records(tag):
    path = os.path.join(out, f'memory-{tag}', 'runs.jsonl')
    return {r['id']: r for r in (json.loads(l) for l in open(path))} if os.path.exists(path) else {}
def curve(tag, run):
    path = os.path.join(out, f'memory-{tag}', 'curves', f'{run}.json')
    return json.load(open(path)) if os.path.exists(path) else None
SKIP = {'wallSeconds', 'msPerStep', 'finishedAt', 'startedAt', 'provenance', 'worker', 'seconds', 'versions'}
def numbers(x, path=''):
    # every number of a record or curve but its timings and where it ran
    if isinstance(x, dict):
        for k, v in x.items():
            if k in SKIP or k.lower().endswith('seconds') or k.lower().endswith('ms'): continue
            yield from numbers(v, f'{path}.{k}' if path else k)
    elif isinstance(x, list):
        for i, v in enumerate(x): yield from numbers(v, f'{path}[{i}]')
    elif isinstance(x, (int, float)) and not isinstance(x, bool):
        yield path, x
a, b = records('default'), records('default-poolBestFit')
both = sorted(set(a) & set(b))
differ = [i for i in both if dict(numbers(a[i])) != dict(numbers(b[i])) or dict(numbers(curve('default', i))) != dict(numbers(curve('default-poolBestFit', i)))]
print(f"records: {len(a)} default, {len(b)} with poolBestFit, {len(both)} in both, {len(differ)} differ (records and curves)" + (f" (first: {differ[0]})" if differ else ""))
PY
    rm -rf "$OUT"/memory-default*/checkpoints ;; # the runs cut off at the time limit: their weights need not come back
  *) echo "usage: bash bench/gpu_check_pending.sh equiv|speed|table|hostwait|submit|matmul|campaign|repro|memory" >&2; exit 2 ;;
esac
