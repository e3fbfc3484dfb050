#!/usr/bin/env bash
# One device call that clears the levers still off by default (accel/webgpu/index.ts PENDING_GPU_CHECK: delta,
# selectiveScan, attention, linearAttention) — or shows why not: GPU ≡ CPU of every layout whose mixers use them
# (fast path = every lever, pending ones included; plain = none), H2O's device-side selection and RWKV-7 (never run
# on a GPU yet), then the step benchmark of each fused kernel with its lever on and off. About 9 minutes on one H200.
#
#   Locally:  ../shared/gpu-host/pack bench/gpu_equiv.ts .gpu-c && cp -r runners/presets .gpu-c/presets
#             ../shared/gpu-host/pack bench/step.ts .gpu-s && cp .gpu-s/app.mjs .gpu-c/step.mjs && rm -rf .gpu-s
#             sed 's#/app.mjs#/step.mjs#' .gpu-c/run > .gpu-c/run-step
#   Host:     RECALLBENCH_COMMIT=<commit> bash bench/gpu_check_pending.sh      (carry .gpu-c; results under $OUT)
# Then: bench/RESULTS.md gets the table and the timings; a lever whose layouts all PASS and whose step is not slower
# than with it off leaves PENDING_GPU_CHECK (with the call named in the commit).
set -uo pipefail
OUT=${OUT:-$PWD/pending-out}
mkdir -p "$OUT"
MIXERS=${MIXERS:-"attention,attention (front),attention (zoology-fig2),attention (icll),based,based (front),based (icll),linear-attention causal,jrt-rnn,scatterbrain,deltanet,gated-deltanet,deltanet (icll),mamba,bounded-cache cache-h2o,rwkv7"}
echo "=== gpu-equiv ($(date -u +%H:%M:%S))"
timeout 330 bash .gpu-c/run --out "$OUT/gpu-equiv" --presets-dir .gpu-c/presets --jobs "$(( $(nproc) - 2 ))" --deadline-s 300 --mixers "$MIXERS" > "$OUT/equiv.log" 2>&1
echo "equiv exit $?" | tee -a "$OUT/equiv.log"
echo "=== recur ($(date -u +%H:%M:%S))"
STEPS=${STEPS:-8} BENCH_RUN="bash .gpu-c/run-step" OUT="$OUT" timeout 230 bash bench/gpu_session.sh info recur > "$OUT/session.log" 2>&1
echo "=== attention ($(date -u +%H:%M:%S))"
timeout 60 bash .gpu-c/run-step --mixers attention --batches 64,256 --variants fast,fast-attention --dropout 0 --steps "${STEPS:-8}" --warmup 3 --label attention --out "$OUT/tfjs.jsonl" >> "$OUT/session.log" 2>&1
grep -hE "ms/step|Error" "$OUT/session.log" | tail -40
tail -3 "$OUT/equiv.log"
