#!/usr/bin/env bash
# Root cause of the impossible committed numbers (issue 11), in one device call on a GPU host:
#   A. the code that made them (commit 0d94b95, bundle .gpu/app-old.mjs) under the concurrency of
#      results/gpu-session.sh: the five scaled presets side by side (16 sweep processes), fresh results folders,
#      GPU memory sampled every 5 s, each process's stderr kept (Dawn prints the errors nobody captured);
#   B. today's code (.gpu/app.mjs) under the same concurrency: every fault must become a failed run;
#   C. the bad configurations alone, with the old code (do they look sane without memory pressure?);
#   then `verify` over every folder. Everything lands in $OUT/fault-repro.tgz, a summary on stdout.
# Locally first:
#   ../shared/gpu-host/pack src/cli.ts .gpu            (today's code)
#   git worktree add /tmp/rb-old 0d94b95 && ln -s $PWD/node_modules /tmp/rb-old/node_modules
#   (cd /tmp/rb-old && node_modules/.bin/esbuild src/cli.ts --bundle ...) → .gpu/app-old.mjs  (see bench/fault_repro_pack.sh)
#   .scratch-repro/presets-old/*.json (git show 0d94b95:runners/presets/NAME.json), .scratch-repro/configs/<id>.json
set -uo pipefail
OUT=${OUT:-$PWD/repro-out}
W=/tmp/repro; rm -rf "$W"; mkdir -p "$W/logs" "$OUT"
PHASE_SECONDS=${PHASE_SECONDS:-150}
SPECS=${SPECS:-"based-fig2:4 zoology-fig2:4 jrt-sd:2 jrt-prompt:3 jrt-rnn:3"}
# the old bundle as .gpu/old/app.mjs: the CLI runs its main only when its file is named cli.* or app.mjs
mkdir -p .gpu/old && { [ -f .gpu/old/app.mjs ] || xz -dc .gpu/app-old.mjs.xz > .gpu/old/app.mjs; } && ln -sfn ../node_modules .gpu/old/node_modules
sed 's#"$dir/app.mjs"#"$dir/old/app.mjs"#' .gpu/run > .gpu/run-old
{ nvidia-smi -L; nvidia-smi --query-gpu=memory.total,driver_version --format=csv; date -u; } > "$W/logs/device.txt" 2>&1
bash .gpu/run list architectures > "$W/logs/unpack.txt" 2>&1   # unpacks Node and Dawn once

sample() {   # $1 = phase: total used memory and per-process memory every 5 s
  while true; do
    echo "$(date -u +%T) total $(nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits) MiB procs $(nvidia-smi --query-compute-apps=used_memory --format=csv,noheader,nounits | tr '\n' ' ')"
    sleep 5
  done >> "$W/logs/memory-$1.txt" 2>&1
}

phase() {    # $1 = label, $2 = runner script, $3 = preset folder
  echo "== phase $1 $(date -u +%T)"
  sample "$1" & local sampler=$!
  local pids=()
  for spec in $SPECS; do
    name=${spec%%:*}; conc=${spec##*:}
    timeout "$PHASE_SECONDS" bash "$2" sweep "$3/$name.json" --scale 0.01 --concurrency "$conc" --backend webgpu --quiet \
      --out "$W/$1/$name" > "$W/logs/$1-$name.log" 2>&1 &
    pids+=($!)
    sleep 4   # never two unpacks at once
  done
  wait "${pids[@]}" 2>/dev/null
  kill $sampler 2>/dev/null; wait $sampler 2>/dev/null
  pkill -f 'app.mjs'; sleep 3
  echo "   peak $(sort -k3 -n "$W/logs/memory-$1.txt" | tail -1)"
}

[ -z "${SKIP_A:-}" ] && phase old .gpu/run-old .scratch-repro/presets-old
[ -z "${SKIP_B:-}" ] && RECALLBENCH_COMMIT=${RECALLBENCH_COMMIT:-unknown} phase new .gpu/run runners/presets

echo "== phase alone (old code, one process) $(date -u +%T)"
for f in .scratch-repro/configs/*.json; do
  id=$(basename "$f" .json)
  timeout "${ALONE_SECONDS:-45}" bash .gpu/run-old train --config "$f" --backend webgpu --quiet --out "$W/alone/$id" > "$W/logs/alone-$id.log" 2>&1
  echo "   $id rc=$?"
done

echo "== verify $(date -u +%T)"
for phase in old new alone; do
  [ -d "$W/$phase" ] || continue
  bash .gpu/run verify "$W/$phase"/* > "$W/logs/verify-$phase.txt" 2>&1
  echo "--- $phase: $(grep -c . "$W/logs/verify-$phase.txt") lines"; grep -E 'runs, ' "$W/logs/verify-$phase.txt"
done
echo "== failures recorded by today's code"
cat "$W"/new/*/runs.jsonl 2>/dev/null | grep -o '"error":"[^"]*"' | cut -c1-200 | sort | uniq -c | sort -rn | head -20
echo "== errors Dawn printed (stderr of every process)"
for phase in old new; do echo "--- $phase"; cat "$W"/logs/$phase-*.log 2>/dev/null | grep -oE '(GPU[A-Za-z]*Error|Out of memory|out of memory|OutOfMemory|VK_ERROR_[A-Z_]+|[Vv]alidation[^.]{0,100}|exceeds[^.]{0,100}|destroyed[^.]{0,60})' | sort | uniq -c | sort -rn | head -15; done
tar czf "$OUT/fault-repro.tgz" -C "$W" --exclude='checkpoints' --exclude='locks' . 2>/dev/null
echo "== done $(date -u +%T)"
