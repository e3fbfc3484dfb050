#!/usr/bin/env bash
# Does `--gpu` pin a WebGPU process to its GPU on this host? (docs/scale-out.md, "Use a Mesa ≥ 25 layer")
# One short training run per GPU, all at once, each with --gpu i through the device-select layer in
# RECALLBENCH_VK_LAYER_DIR (default ./.vk: Mesa 25's libVkLayer_MESA_device_select.so, its manifest, and the
# libraries it links in .vk/lib). Every run checks where it landed itself (engine/gpuSelect.ts checkPlacement: it
# stops before training if the driver put it elsewhere), and nvidia-smi's process list is sampled meanwhile.
# Exit 0 only if every run finished and its record says "placement checked" on the GPU it asked for.
#
#   GPU host (carry .gpu .vk):  source bench/gpu_pin.sh; pin_all_gpus $OUT/pin.txt   (exports GPUS and the layer's environment)
set -u
source bench/gpu_pin.sh
use_vk_layer
gpus=$(nvidia-smi --query-gpu=index --format=csv,noheader | tr -d ' ')
echo "layer: $RECALLBENCH_VK_LAYER_DIR ($(strings "$RECALLBENCH_VK_LAYER_DIR/libVkLayer_MESA_device_select.so" 2>/dev/null | grep -c MESA_VK_DEVICE_SELECT_DEBUG) = Mesa ≥ 25 marker)"
nvidia-smi --query-gpu=index,pci.bus_id,name --format=csv,noheader
dir=$(mktemp -d)
declare -A pid
for g in $gpus; do
  bash .gpu/run train --backend webgpu --gpu "$g" --arch attention --d-model 256 --seq-len 64 --kv-pairs 4 \
    --train-examples 40000 --test-examples 1000 --epochs 2 --batch-size 256 --out "$dir/gpu$g" > "$dir/gpu$g.log" 2>&1 &
  pid[$g]=$!
done
for i in $(seq 1 40); do
  sleep 3
  running=0
  for g in $gpus; do kill -0 "${pid[$g]}" 2>/dev/null && running=1; done
  echo "t+$((i * 3))s $(nvidia-smi --query-compute-apps=pid,gpu_bus_id,used_memory --format=csv,noheader | tr '\n' ';')"
  [ "$running" = 0 ] && break
done
ok=0
for g in $gpus; do
  wait "${pid[$g]}"; rc=$?
  device=$(grep -ho '"device":"[^"]*"' "$dir/gpu$g"/runs.jsonl 2>/dev/null | tail -1)
  echo "--gpu $g: rc $rc, $device"
  tail -3 "$dir/gpu$g.log" | sed 's/^/    /'
  if [ "$rc" != 0 ] || ! grep -q "gpu $g, .*placement checked" <<<"$device"; then ok=1; fi
done
# the one failure with a known fix: the loader could not open the layer (a hand-made .vk; stretch 4 of based-fig2)
grep -qsE "cannot open shared object file|would not load" "$dir"/gpu*.log &&
  echo "pin probe: the layer (or a library it links) did not load — rebuild .vk with bash bench/make_vk.sh (its libraries go on LD_LIBRARY_PATH from .vk/lib)"
echo "pin probe: $([ $ok = 0 ] && echo PINNED || echo NOT PINNED)"
exit $ok
