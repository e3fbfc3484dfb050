#!/usr/bin/env bash
# One stretch of the reproduction campaign (issue 12) on a GPU host: sweep a preset — or some of its architecture
# labels — on every GPU of the host, stop cleanly before the device call's limit (SIGINT: runs in progress keep
# their last epoch checkpoint, finished runs are stored), and bring back the results folder (rung notes included,
# checkpoint weights left out: too large to carry) and a per-GPU nvidia-smi log.
#
#   here:      ../shared/gpu-host/pack src/cli.ts .gpu
#   GPU host:  PRESET=based-fig2 ONLY="attention based" [GPUS="0 1 2 3"] LIMIT=480 RECALLBENCH_COMMIT=<commit> \
#              bash bench/campaign_stretch.sh "$OUT"
#   here:      tar xzf <files_at>/results.tgz -C <somewhere>; recallbench verify ...; recallbench report ...
set -u
out=${1:?usage: campaign_stretch.sh OUTDIR}
preset=${PRESET:?PRESET=name of runners/presets/<name>.json}
dir=campaign/$preset
mkdir -p "$dir" "$out"
nvidia-smi --query-gpu=index,name,memory.total --format=csv,noheader > "$out/smi.log"
( while sleep 15; do echo "t $(date +%s)"; nvidia-smi --query-gpu=index,utilization.gpu,memory.used --format=csv,noheader; done ) >> "$out/smi.log" 2>&1 &
smi=$!
start=$(date +%s)
# shellcheck disable=SC2086 # GPUS and ONLY are word lists
timeout -s INT -k 40 "${LIMIT:-480}" bash .gpu/run sweep "runners/presets/$preset.json" --backend webgpu ${GPUS:+--gpu $GPUS} \
  --concurrency "${CONCURRENCY:-auto}" --out "$dir" --no-report ${ONLY:+--only $ONLY} > "$out/sweep.log" 2>&1
echo "sweep rc $? after $(( $(date +%s) - start )) s" >> "$out/sweep.log"
kill "$smi" 2>/dev/null
tar czf "$out/results.tgz" --exclude=checkpoint.bin "$dir"
