#!/usr/bin/env bash
# Issue 13 goal 3 in one device call: what stacked runs give a sweep on one GPU.
#   1. bench/gpu_session.sh concstack: n processes × stacks of R at based-fig2's shapes (summed run-steps/s)
#   2. a fixed slice of a preset swept twice for the same wall time, without and with --stack (the runs/hour a user
#      gets): `sweep PRESET --scale SCALE --only LABELS --concurrency auto [--stack 4]`, each stopped by SIGINT after
#      SLICE_LIMIT s, then `verify` of what it stored, the records tarred back.
#   here:  ../shared/gpu-host/pack src/cli.ts .gpu, plus the step bundle as .gpu/run-step (see bench/pack_gpu_check.sh)
#   host:  bash bench/stack_throughput.sh     (carry .gpu; logs under $OUT)
set -u
OUT=${OUT:-$PWD/stack-out}
mkdir -p "$OUT"
PRESET=${PRESET:-based-fig2}
BENCH_RUN="bash .gpu/run-step" CONC_MIXERS="${CONC_MIXERS:-based mamba}" CONC_COUNTS="${CONC_COUNTS:-1 8}" OUT="$OUT" bash bench/gpu_session.sh concstack > "$OUT/concstack-session.log" 2>&1
grep -h "^concstack" "$OUT/concstack.log"
for stack in ${SLICE_STACKS:-1 4}; do
  dir=/tmp/slice-stack$stack
  rm -rf "$dir"
  start=$(date +%s.%N)
  # shellcheck disable=SC2086 # ONLY is a word list
  timeout -s INT -k 20 "${SLICE_LIMIT:-100}" bash .gpu/run sweep "runners/presets/$PRESET.json" --backend "${SLICE_BACKEND:-webgpu}" --scale "${SCALE:-0.01}" --only ${ONLY:-attention based} --concurrency auto --stack "$stack" --out "$dir" --no-report > "$OUT/slice-stack$stack.log" 2>&1
  rc=$?
  wall=$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }')
  bash .gpu/run verify "$dir" >> "$OUT/slice-stack$stack.log" 2>&1
  counts=$(python3 -c "
import json, sys
recs = [json.loads(l) for l in open('$dir/runs.jsonl')] if __import__('os').path.exists('$dir/runs.jsonl') else []
by = {}
for r in recs: by[r['status']] = by.get(r['status'], 0) + 1
epochs = sum(r['epochs'] for r in recs if r['status'] != 'failed')
print(f'{len(recs)} records {by}, {epochs} epochs in records, {sum(1 for r in recs if r.get(\"stack\"))} stacked')")
  echo "slice --stack $stack: sweep rc $rc after $wall s: $counts" | tee -a "$OUT/slice.log"
  tar czf "$OUT/slice-stack$stack.tgz" --exclude=checkpoint.bin -C /tmp "slice-stack$stack"
done
