#!/usr/bin/env bash
# Issue 12 item 1: the same small grid swept on one GPU and on every GPU of the host, in one device call — are the
# results the same runs (ids, configs, and their numbers), and how many runs per hour does each give?
#   A: sweep --gpu 0       --concurrency PER_GPU
#   B: sweep --gpu 0 1 …   --concurrency PER_GPU × GPUs      (pinned through the Mesa 25 layer in .vk: carry it)
# Prints one line per sweep (runs, seconds, runs/hour) and a comparison (ids equal, configs equal, largest |Δ| of
# test accuracy and of final train loss), and leaves both folders' runs.jsonl under OUT.
#
#   host (carry .gpu .vk):  OUT=$OUT/multi bash bench/multi_gpu_check.sh
#   here, on the CPU:       RUN="npx tsx src/cli.ts" BACKEND=cpu GPUS_ALL="" PER_GPU=2 SCALE_DOWN=1 bash bench/multi_gpu_check.sh
set -u
out=${OUT:-$PWD/multi-out}
run=${RUN:-bash .gpu/run}
backend=${BACKEND:-webgpu}
per_gpu=${PER_GPU:-4}
mkdir -p "$out"
if [ -z "${GPUS_ALL+x}" ]; then GPUS_ALL=$(nvidia-smi --query-gpu=index --format=csv,noheader | tr -d ' ' | tr '\n' ' '); fi
n=$(wc -w <<<"$GPUS_ALL")
if [ "$n" -gt 1 ]; then source bench/gpu_pin.sh; use_vk_layer; fi
# 16 runs: 2 mixers × 2 widths × 4 lrs, MQAR L 64 K 4, the full grid (no halving: every run to its end)
grid=(--arch attention based --d-model 64 128 --lr 1e-4 4.6e-4 2.2e-3 1e-2 --setting 64:4 --train-examples "${TRAIN:-20000}"
  --test-examples 1000 --epochs "${EPOCHS:-4}" --batch-size 256 --search grid --no-report --quiet)
[ -n "${SCALE_DOWN:-}" ] && grid=(--arch attention --d-model 16 --lr 1e-3 1e-2 --setting 16:2 --vocab-size 64 --train-examples 64 --test-examples 32 --epochs 1 --batch-size 32 --search grid --no-report --quiet)
sweep() { # name, gpus, lanes
  local name=$1 gpus=$2 lanes=$3 start
  rm -rf "$out/$name"
  start=$(date +%s%N)
  # shellcheck disable=SC2086 # gpus is a word list
  $run sweep "${grid[@]}" --backend "$backend" ${gpus:+--gpu $gpus} --concurrency "$lanes" --out "$out/$name" > "$out/$name.log" 2>&1
  local rc=$? ms runs
  ms=$(( ($(date +%s%N) - start) / 1000000 ))
  runs=$(grep -c '"status"' "$out/$name/runs.jsonl" 2>/dev/null || echo 0)
  echo "$name: gpus [${gpus:-default}] × $lanes processes: $runs runs in $((ms / 1000)).$(( (ms % 1000) / 100 )) s = $(( runs * 3600000 / (ms > 0 ? ms : 1) )) runs/hour (rc $rc)"
}
sweep one "$(cut -d' ' -f1 <<<"$GPUS_ALL")" "$per_gpu"
if [ "$n" -gt 1 ]; then sweep all "$GPUS_ALL" $((per_gpu * n)); else echo "all: one GPU on this host (${GPUS_ALL:-none given}): swept again on it for the comparison"; sweep all "$GPUS_ALL" "$per_gpu"; fi
python3 - "$out/one/runs.jsonl" "$out/all/runs.jsonl" <<'PY'
import json, sys
def load(path):
    try: return {r['id']: r for r in map(json.loads, open(path)) if r.get('status') != 'failed'}
    except FileNotFoundError: return {}
a, b = load(sys.argv[1]), load(sys.argv[2])
same_ids = set(a) == set(b) and len(a) > 0
same_configs = same_ids and all(json.dumps(a[i]['config'], sort_keys=True) == json.dumps(b[i]['config'], sort_keys=True) for i in a)
common = set(a) & set(b)
dacc = max((abs(a[i]['testAccuracy'] - b[i]['testAccuracy']) for i in common), default=float('nan'))
devices = sorted({r.get('device', '').split('[')[-1].rstrip(']') for r in b.values()})
print(f"compare: {len(a)} / {len(b)} runs stored; ids equal: {same_ids}; configs equal: {same_configs}; largest |Δ test accuracy| {dacc:.2e}; devices of 'all': {devices}")
PY
