#!/usr/bin/env bash
# Packed first: ../shared/gpu-host/pack src/cli.ts .gpu-b ; then on the GPU host: OUT=<dir> bash bench/memory_session.sh
# Per-process GPU memory (nvidia-smi) of a `sweep --concurrency 4` against each run's estimate (runners/memory.ts):
# jrt-rnn --scale 0.01 on webgpu, once with the buffer-pool cap (default) and once without (RECALLBENCH_POOL_LIMIT=0).
set -uo pipefail
OUT=${OUT:?}
SECS=${SECS:-100}
cli=(bash .gpu-b/run)
{ nvidia-smi --query-gpu=name,driver_version,memory.free,memory.total --format=csv; nproc; date -u; } > "$OUT/device.txt" 2>&1
"${cli[@]}" list tasks > "$OUT/list.txt" 2>&1 # unpacks Node and Dawn once
sample() {
  while true; do
    t=$(date +%s.%N)
    nvidia-smi --query-compute-apps=pid,used_memory --format=csv,noheader,nounits 2>/dev/null | sed "s/^/$t,/"
    nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits 2>/dev/null | sed "s/^/$t,total,/"
    echo "$t,children,$(pgrep -fc __run-job)"
    sleep 1
  done
}
for spec in capped:1 uncapped:0; do
  tag=${spec%%:*}
  sample > "$OUT/smi-$tag.csv" & sp=$!
  start=$(date +%s)
  RECALLBENCH_MEMORY_LOG=$OUT/mem-$tag.jsonl RECALLBENCH_POOL_LIMIT=${spec##*:} timeout -k 5 "$SECS" "${cli[@]}" sweep runners/presets/jrt-rnn.json --scale 0.01 --concurrency 4 --backend webgpu --out "results/_tmp-mem-$tag" > "$OUT/sweep-$tag.log" 2>&1
  echo "$tag: sweep exit $? after $(( $(date +%s) - start )) s" | tee -a "$OUT/summary.txt"
  sleep 3; kill $sp; wait $sp 2>/dev/null
  cp "results/_tmp-mem-$tag/runs.jsonl" "$OUT/runs-$tag.jsonl" 2>/dev/null
done
for tag in capped uncapped; do
  echo "== $tag" >> "$OUT/summary.txt"
  grep -v estimate "$OUT/mem-$tag.jsonl" >> "$OUT/summary.txt" 2>/dev/null
  awk -F, '$2!="total" && $2!="children" {if ($3>m[$2]) m[$2]=$3} $2=="total" {if ($3>tot) tot=$3} END {for (p in m) print "pid", p, "peak MiB", m[p]; print "total peak MiB", tot}' "$OUT/smi-$tag.csv" >> "$OUT/summary.txt"
done
cat "$OUT/summary.txt"; head -3 "$OUT/sweep-capped.log"
