#!/usr/bin/env bash
# A session's first device call: the pending GPU measurements first, then a campaign stretch with what is left of the
# call (the stretch's later calls chain on the warm machine as usual: bench/campaign_stretch.sh).
#   1. lever matmulVec4 (bench/gpu_check_pending.sh matmul: tf.matMul tfjs / scalar / vec4 and steps at zoology's
#      L 64 shapes with it off and on),
#   2. stacks against processes at the campaign's shapes (zoology-fig2 L 64, B512, d 128: 1 and 4 processes, stacks of
#      1 and 4; bench/gpu_session.sh concstack) — since the run-axis kernels a stack is one set of dispatches,
#   3. the stretch (PRESET, ONLY, ONLY_DATA, … as campaign_stretch.sh takes them), LIMIT = what is left of TOTAL.
# On a host with several GPUs it first runs bench/gpu_pin_probe.sh (carry .vk too: the Mesa 25 device-select layer);
# only if every GPU pins, the stretch sweeps on all of them (GPUS), else on GPU 0 alone as before. MULTI=1 then also
# sweeps one small grid on one GPU and on all (bench/multi_gpu_check.sh) before the checks.
#
#   here:  bash bench/pack_gpu_all.sh                       (carry .gpu)
#   host:  TOTAL=560 PRESET=zoology-fig2 ONLY="attention baseconv based" ONLY_DATA="L128-K8" RECALLBENCH_COMMIT=<c> \
#            bash bench/check_then_stretch.sh "$OUT"
# Back (5 files): check.tgz (pin.txt, matmul.txt, concstack.txt …) (the checks' logs) and c/ (stretch.txt, smi.log, sweep.log, results.tgz).
set -u
out=${1:?usage: check_then_stretch.sh OUTDIR}
start=$(date +%s)
mkdir -p "$out/k"
if [ "$(nvidia-smi -L | wc -l)" -gt 1 ] && [ -z "${GPUS:-}" ]; then
  source bench/gpu_pin.sh
  pin_all_gpus "$out/k/pin.txt"
  pinned=$?
  echo "pin probe rc $pinned after $(( $(date +%s) - start )) s; GPUS=${GPUS:-}" >> "$out/k/pin.txt"
  # MULTI=1: the same small grid on one GPU and on all (bench/multi_gpu_check.sh: ids, configs, numbers, runs/hour)
  if [ "$pinned" = 0 ] && [ -n "${MULTI:-}" ]; then
    OUT="$out/k/multi" timeout "${MULTI_S:-300}" bash bench/multi_gpu_check.sh > "$out/k/multi.txt" 2>&1
    echo "multi-GPU check rc $? after $(( $(date +%s) - start )) s" >> "$out/k/multi.txt"
  fi
fi
BUNDLE=.gpu OUT="$out/k" timeout "${MATMUL_S:-170}" bash bench/gpu_check_pending.sh matmul > "$out/k/matmul.txt" 2>&1
echo "matmul check rc $? after $(( $(date +%s) - start )) s" >> "$out/k/matmul.txt"
BENCH_RUN="bash .gpu/run-step" OUT="$out/k" CONC_MIXERS="${CONC_MIXERS:-attention based}" CONC_STACKS="1 4" CONC_COUNTS="1 4" \
  CONC_SHAPE="--batches 512 --d-model 128 --seq-len 64 --kv 4 --vocab 8192" CONC_STEPS=20 CONC_TIMEOUT=60 \
  timeout "${CONC_S:-200}" bash bench/gpu_session.sh concstack > "$out/k/concstack.txt" 2>&1
echo "concstack rc $? after $(( $(date +%s) - start )) s" >> "$out/k/concstack.txt"
tar czf "$out/check.tgz" -C "$out" k && rm -rf "$out/k"
left=$(( ${TOTAL:-560} - ($(date +%s) - start) ))
if [ "$left" -lt 90 ]; then echo "check_then_stretch: $left s left of TOTAL: no stretch"; exit 0; fi
LIMIT=$left bash bench/campaign_stretch.sh "$out/c"
