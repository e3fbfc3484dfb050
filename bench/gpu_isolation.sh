#!/usr/bin/env bash
# Probe (issue 12, several GPUs): can a process be confined to one GPU of a multi-GPU host for WebGPU (Dawn on
# NVIDIA's Vulkan ICD, which ignores CUDA_VISIBLE_DEVICES)? Each probe hides the other GPUs' device nodes in a
# private mount namespace (the way container runtimes confine a container to its GPUs) and trains a short
# attention step benchmark there, while nvidia-smi samples every GPU's memory: the GPU whose memory rises is where
# the process landed.
#   Locally: ../shared/gpu-host/pack bench/step.ts .gpu-bench     Host: bash bench/gpu_isolation.sh  (logs in $OUT)
set -uo pipefail
OUT=${OUT:-$PWD/iso-out}; mkdir -p "$OUT"; log=$OUT/isolation.log
exec > >(tee -a "$log") 2>&1
echo "uid $(id -u); unshare: $(command -v unshare || echo none)"
nvidia-smi --query-gpu=index,pci.bus_id,memory.used --format=csv
ls -l /dev/nvidia* /proc/driver/nvidia/gpus/ 2>&1
gpus=$(nvidia-smi --query-gpu=index --format=csv,noheader | wc -l)
# every GPU's memory and load every 4 s; once, the processes nvidia-smi attributes to each GPU (whether Vulkan
# contexts are listed there decides whether a run can check where it landed)
sample() {
  for i in 1 2 3 4 5 6; do
    sleep 4; echo "  t+$(( (SECONDS - t0) ))s $(nvidia-smi --query-gpu=index,memory.used,utilization.gpu --format=csv,noheader | tr '\n' ';')"
    if [ "$i" = 3 ]; then
      echo "  compute-apps: $(nvidia-smi --query-compute-apps=pid,gpu_bus_id,used_memory --format=csv,noheader | tr '\n' ';')"
      nvidia-smi | sed -n '/Processes/,$p' | sed 's/^/  | /'
    fi
  done
}
# PROBE_CMD: any GPU workload instead (e.g. a short `bash .gpu/run train ...` from the CLI bundle)
if [ -n "${PROBE_CMD:-}" ]; then read -r -a bench <<<"$PROBE_CMD"; else
  bench=(${BENCH_RUN:-bash .gpu-bench/run} --mixers attention --batches 256 --variants fast --steps 60 --warmup 3 --label iso); fi
# KEEP: which GPUs to probe (default all); HOWS: how the others are hidden —
#   devnull       /dev/null bound over their /dev/nvidiaN (the node opens, the driver's ioctls on it fail)
#   devnull+proc  that, and their /proc/driver/nvidia/gpus/<pci> folders emptied
#   devtmpfs      a private /dev holding only nvidiactl, nvidia-uvm*, nvidia-caps and the kept nvidiaN (the others'
#                 nodes absent, as in a container), with nvidia-modprobe masked so the driver cannot recreate them
for keep in ${KEEP:-$(seq 0 $((gpus - 1)))}; do
  for how in ${HOWS:-devnull devnull+proc devtmpfs}; do
    hide=""; for g in $(seq 0 $((gpus - 1))); do [ "$g" = "$keep" ] || hide="$hide $g"; done
    mounts=""
    if [ "$how" = devtmpfs ]; then
      mounts="mkdir -p /tmp/iso-dev && mount -t tmpfs none /tmp/iso-dev && for n in null zero full random urandom tty nvidiactl nvidia-uvm nvidia-uvm-tools nvidia$keep; do cp -a /dev/\$n /tmp/iso-dev/; done && cp -a /dev/nvidia-caps /tmp/iso-dev/ && mkdir -p /tmp/iso-dev/shm && mount --bind /dev/shm /tmp/iso-dev/shm && ln -s /proc/self/fd /tmp/iso-dev/fd && mount --bind /tmp/iso-dev /dev && { [ ! -e /usr/bin/nvidia-modprobe ] || mount --bind /bin/false /usr/bin/nvidia-modprobe; } && ls /dev &&"
      hide=""
    fi
    for g in $hide; do
      mounts="$mounts mount --bind /dev/null /dev/nvidia$g &&"
      if [ "$how" = devnull+proc ]; then
        bus=$(nvidia-smi -i "$g" --query-gpu=pci.bus_id --format=csv,noheader | tr 'A-F' 'a-f')
        bus=${bus: -12}   # 00000000:18:00.0 -> 0000:18:00.0, /proc's spelling
        [ -d "/proc/driver/nvidia/gpus/$bus" ] && mounts="$mounts mount -t tmpfs none /proc/driver/nvidia/gpus/$bus &&"
      fi
    done
    echo "=== keep GPU $keep, hide [$hide] by $how: $mounts"
    t0=$SECONDS
    unshare --mount --propagation private bash -c "$mounts exec \"\$@\"" probe "${bench[@]}" > "$OUT/iso-$keep-$how.log" 2>&1 &
    pid=$!
    sample
    wait $pid; echo "  exit $? ; $(grep -hE 'ms/step|Error|error' "$OUT/iso-$keep-$how.log" | head -3 | tr '\n' ' ')"
  done
done
