#!/usr/bin/env bash
# One device call on a GPU host (no Node there): the `quick` preset on WebGPU, each mixer's training-step time
# (d 128, L 256, batch 64), then the scaled paper presets side by side (one process group per preset, resumable),
# everything logged under $OUT and the results folders packed into $OUT/results.tgz.
# Locally first:  ../shared/gpu-host/pack src/cli.ts .gpu   and bundle bench/step.ts as .gpu/bench.mjs (.gpu/run-bench)
set -uo pipefail
OUT=${OUT:-$PWD/gpu-out}
LOGS=$PWD/gpu-logs              # packed into the tarball with the results ($OUT takes at most 8 files)
BACKEND=${BACKEND:-webgpu}
BUDGET=${BUDGET:-380}          # seconds for the preset sweeps
SCALE=${SCALE:-0.01}
mkdir -p "$OUT" "$LOGS"
cli=(bash .gpu/run)
{ nvidia-smi -L; nproc; date -u; } > "$LOGS/device.txt" 2>&1
"${cli[@]}" list architectures > "$LOGS/list.txt" 2>&1    # also unpacks Node and Dawn once, before the parallel part
echo "== quick $(date -u +%T)"
[ -z "${SKIP_QUICK:-}" ] && timeout 75 "${cli[@]}" sweep runners/presets/quick.json --backend "$BACKEND" --out results/quick-webgpu > "$LOGS/quick.log" 2>&1
echo "== steps $(date -u +%T)"
[ -z "${SKIP_STEPS:-}" ] && [ -f .gpu/run-bench ] && timeout 110 bash .gpu/run-bench --backend "$BACKEND" --mixers "${MIXERS:-attention,based,sliding-window,linear-attention,jrt-rnn,baseconv,h3,hyena,mamba,deltanet,gla,rwkv}" \
  --batches 64 --variants fast --steps 5 --warmup 2 --label mixers --out "$LOGS/steps.jsonl" > "$LOGS/steps.log" 2>&1
echo "== presets $(date -u +%T)"
for spec in ${PRESETS:-based-fig2:4 zoology-fig2:4 jrt-sd:2 jrt-prompt:3 jrt-rnn:3}; do
  name=${spec%%:*}; conc=${spec##*:}
  timeout "$BUDGET" "${cli[@]}" sweep "runners/presets/$name.json" --scale "$SCALE" --concurrency "$conc" --backend "$BACKEND" --quiet --out "results/$name" > "$LOGS/$name.log" 2>&1 &
  sleep 4   # .gpu/run unpacks the Vulkan loader on every start where ldconfig lacks it: never two unpacks at once
done
wait
echo "== done $(date -u +%T)"
tar czf "$OUT/results.tgz" --exclude='checkpoints' --exclude='locks' results/ gpu-logs/ 2>/dev/null
cat "$LOGS/device.txt"; grep -E '^\|| ms' "$LOGS/steps.log" | tail -n 30
for f in "$LOGS"/*.log; do echo "--- $f"; grep -vE '^\s+config ' "$f" | tail -n 5 | cut -c1-300; done
