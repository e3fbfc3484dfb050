#!/usr/bin/env bash
# A session's first device call: the pending GPU measurements first, then a campaign stretch with what is left of the
# call (the stretch's later calls chain on the warm machine as usual: bench/campaign_stretch.sh).
#   1. CHECKS (default "equiv"; "campaign" in a second call: both do not fit one), each a mode of
#      bench/gpu_check_pending.sh under its own time limit (<MODE>_S seconds: EQUIV_S 420 with EQUIV_DEADLINE_S 280 —
#      ceilings: with its references on tfjs-wasm, since 2026-11-29 evening, the check should take a fraction of them —
#      CAMPAIGN_S 390, MATMUL_S 330, SPEED_S 300; 0 skips it):
#        campaign  the campaign's models at zoology-fig2's L 64, 256 and 512 shapes, default levers vs the pending ones, profiled;
#        equiv     GPU ≡ CPU of the campaign's layouts (EQUIV_MIXERS; every lever on, pending ones included);
#        repro     one small run trained twice per fast path, compared bit for bit (REPRO_S; about a minute);
#        table     issue 13's per-mixer table against PyTorch, the slowest mixers profiled (TABLE_S 560; 87 s on 2026-11-30);
#        memory    lever poolBestFit: a mixture preset's slice swept with and without it, pools and records compared (MEMORY_S 360);
#        hostwait  attention and Based at B256 with each default lever off in turn, a CPU profile, GPU time (HOSTWAIT_S 290);
#      CONC_S > 0 adds stacks against processes at the campaign's shapes (bench/gpu_session.sh concstack; CONC_MIXERS,
#      CONC_STACKS, CONC_COUNTS, CONC_VARIANTS, CONC_SHAPE, CONC_STEPS, CONC_TIMEOUT as it takes them);
#   2. the stretch (PRESET, ONLY, ONLY_DATA, … as campaign_stretch.sh takes them), LIMIT = what is left of TOTAL —
#      none if less than 90 s is left. When the only check is repro, the stretch starts first and it runs beside
#      (CONCURRENT=0 turns that off); every other check runs alone, before the stretch.
# On a host with several GPUs it first runs bench/gpu_pin_probe.sh (carry .vk too: the Mesa 25 device-select layer);
# only if every GPU pins, the stretch sweeps on all of them (GPUS), else on GPU 0 alone as before. MULTI=1 then also
# sweeps one small grid on one GPU and on all (bench/multi_gpu_check.sh) before the checks; BESIDE=1 runs the checks
# on the first GPU, pinned, while the stretch runs on the others from the start (below).
#
#   here:  bash bench/pack_gpu_all.sh                       (carry .gpu)
#   host:  TOTAL=560 PRESET=zoology-fig2 ONLY="attention baseconv based" ONLY_DATA="L128-K8" RECALLBENCH_COMMIT=<c> \
#            bash bench/check_then_stretch.sh "$OUT"
# Back: check.tgz (pin.txt, <mode>.txt and the checks' own logs) and, if a stretch ran, c/ (stretch.txt, smi.log,
# sweep.log, results.tgz).
set -u
out=${1:?usage: check_then_stretch.sh OUTDIR}
# the bundle first (bench/call_start.sh: exit 3 at once without it)
source bench/call_start.sh
require_bundle check_then_stretch "$out"
start=$(date +%s)
mkdir -p "$out/k"
# the call before's processes first off the GPU (bench/call_start.sh): the checks time the GPU alone
wait_for_earlier_apps "$out/k/apps-wait.txt"
listed_at=$(date +%s)
gpu_count=$(nvidia-smi -L | wc -l)
list_s=$(( $(date +%s) - listed_at ))
[ "$list_s" -ge 2 ] && echo "nvidia-smi -L took $list_s s" | tee -a "$out/k/apps-wait.txt"
if [ "$gpu_count" -gt 1 ] && [ -z "${GPUS:-}" ]; then
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
# BESIDE=1 on a pinned host of several GPUs: the checks run on the first GPU alone (pinned through the layer and
# CUDA_VISIBLE_DEVICES: bench/gpu_pin.sh pin_env_to_gpu), the stretch at once on the others. A timing check stays fair
# (both sides of each ratio on the same GPU, under the same host load; 32 cores against a few stretch processes) and no
# GPU waits through a check. k/apps.log samples where every GPU process runs.
beside_gpu=
# in a check's subshell: pin it to the BESIDE GPU (if any), or end the subshell saying why it did not run
pin_beside() {
  [ -z "$beside_gpu" ] || pin_env_to_gpu "$beside_gpu" || { echo "$1: could not pin GPU $beside_gpu: not run"; exit 97; }
}
if [ -n "${BESIDE:-}" ] && { [ "${pinned:-1}" != 0 ] || [ "$(echo ${GPUS:-} | wc -w)" -lt 2 ]; }; then
  echo "BESIDE ignored: it needs every GPU pinned and at least two (pin probe rc ${pinned:-not run}, GPUS=${GPUS:-})" | tee -a "$out/k/pin.txt"
elif [ -n "${BESIDE:-}" ]; then
  beside_gpu=$(echo $GPUS | cut -d' ' -f1)
  GPUS=$(echo $GPUS | cut -d' ' -f2-)
  export GPUS
  echo "BESIDE: checks on GPU $beside_gpu, the stretch on GPU(s) $GPUS" >> "$out/k/pin.txt"
  ( while sleep 10; do echo "t $(date +%s) $(nvidia-smi --query-compute-apps=pid,gpu_bus_id,used_memory --format=csv,noheader | tr '\n' ';')"; done ) > "$out/k/apps.log" 2>&1 &
  apps_pid=$!
fi
# the campaign's layouts as bench/gpu_equiv.ts names them (zoology-fig2, based-fig2, jrt-sd)
EQUIV_MIXERS=${EQUIV_MIXERS:-"attention,attention (zoology-fig2),based,baseconv (zoology-fig2),sliding-window,hyena,h3,rwkv,mamba,linear-attention causal,linear-attention non-causal"}
# The repeat-run check (repro) runs beside the stretch, which starts at once with the whole of TOTAL (CONCURRENT=0:
# after it). Every other check runs first, alone: the timing checks (campaign, speed, matmul, concstack) need the GPU
# to themselves, and so does equiv — beside a 6-process stretch its every-lever-off runs slowed to 21–142 s per mixer
# and it compared 2 of 15 (2026-11-29 23:19 UTC, bench/RESULTS.md).
concurrent=${CONCURRENT:-1}
for mode in ${CHECKS-equiv}; do case $mode in repro) ;; *) concurrent=0 ;; esac; done
[ "${CONC_S:-0}" -gt 0 ] && concurrent=0
[ -n "$beside_gpu" ] && concurrent=1
stretch_pid=
if [ "$concurrent" = 1 ]; then
  elapsed=$(( $(date +%s) - start ))
  left=$(( ${TOTAL:-560} - elapsed ))
  echo "check_then_stretch: checks (${CHECKS-equiv}) beside the stretch; LIMIT $left s ($elapsed s after the call's start)"
  LIMIT=$left APPS_WAIT_S=0 bash bench/campaign_stretch.sh "$out/c" &
  stretch_pid=$!
fi
for mode in ${CHECKS-equiv}; do
  var="$(echo "$mode" | tr '[:lower:]' '[:upper:]')_S"
  case $mode in hostwait) default=290 ;; campaign) default=390 ;; equiv) default=420 ;; matmul) default=330 ;; table) default=560 ;; memory) default=360 ;; *) default=300 ;; esac
  limit=${!var:-$default}
  [ "$limit" = 0 ] && continue
  # never past TOTAL (the device call's own limit is 600 s: a call cut there brings nothing back): a check that would
  # run over is cut to what is left, and one with under 30 s left is skipped, saying so
  room=$(( ${TOTAL:-560} - ($(date +%s) - start) - 15 ))
  if [ "$room" -lt 30 ]; then echo "$mode: skipped, $room s left of TOTAL" >> "$out/k/$mode.txt"; continue; fi
  [ "$limit" -gt "$room" ] && limit=$room
  ( pin_beside "$mode"
    EQUIV_DEADLINE_S=${EQUIV_DEADLINE_S:-280} MIXERS="$EQUIV_MIXERS" MIXERS_D256="${MIXERS_D256:-mamba,h3,attention (zoology-fig2),based}" BUNDLE=.gpu OUT="$out/k" \
      timeout "$limit" bash bench/gpu_check_pending.sh "$mode" > "$out/k/$mode.txt" 2>&1 )
  echo "$mode check rc $? after $(( $(date +%s) - start )) s${stretch_pid:+ (beside the stretch)}" >> "$out/k/$mode.txt"
done
if [ "${CONC_S:-0}" -gt 0 ]; then
  ( pin_beside concstack
  BENCH_RUN="bash .gpu/run-step" OUT="$out/k" CONC_MIXERS="${CONC_MIXERS:-attention based}" CONC_STACKS="${CONC_STACKS:-1 4}" \
    CONC_COUNTS="${CONC_COUNTS:-1 4}" CONC_VARIANTS="${CONC_VARIANTS:-default}" \
    CONC_SHAPE="${CONC_SHAPE:---batches 512 --d-model 128 --seq-len 64 --kv 4 --vocab 8192}" CONC_STEPS="${CONC_STEPS:-20}" CONC_TIMEOUT="${CONC_TIMEOUT:-60}" \
    timeout "$CONC_S" bash bench/gpu_session.sh concstack > "$out/k/concstack.txt" 2>&1
  echo "concstack rc $? after $(( $(date +%s) - start )) s" >> "$out/k/concstack.txt" )
fi
[ -n "${apps_pid:-}" ] && kill "$apps_pid" 2>/dev/null
tar czf "$out/check.tgz" -C "$out" k && rm -rf "$out/k"
if [ -n "$stretch_pid" ]; then wait "$stretch_pid"; exit $?; fi
left=$(( ${TOTAL:-560} - ($(date +%s) - start) ))
if [ "$left" -lt 90 ]; then echo "check_then_stretch: $left s left of TOTAL: no stretch"; exit 0; fi
LIMIT=$left bash bench/campaign_stretch.sh "$out/c"
