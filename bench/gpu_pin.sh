# Sourced by the GPU-host scripts (gpu_pin_probe.sh, multi_gpu_check.sh, campaign_stretch.sh, check_then_stretch.sh):
# the environment of Mesa 25's device-select layer, and pinning every GPU of a host through it (docs/scale-out.md).

# RECALLBENCH_VK_LAYER_DIR (default ./.vk: the layer's library and manifest) and the libraries it links (.vk/lib)
use_vk_layer() {
  export RECALLBENCH_VK_LAYER_DIR=${RECALLBENCH_VK_LAYER_DIR:-$PWD/.vk}
  case ":${LD_LIBRARY_PATH:-}:" in
    *":$RECALLBENCH_VK_LAYER_DIR/lib:"*) ;;
    *) export LD_LIBRARY_PATH=$RECALLBENCH_VK_LAYER_DIR/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH} ;;
  esac
}

# pin_all_gpus LOG: bench/gpu_pin_probe.sh into LOG; if every GPU pinned, export GPUS (all of them) and the layer's
# environment. Returns the probe's exit code.
pin_all_gpus() {
  timeout 150 bash bench/gpu_pin_probe.sh > "$1" 2>&1 || return $?
  GPUS=$(nvidia-smi --query-gpu=index --format=csv,noheader | tr -d ' ' | tr '\n' ' ')
  export GPUS
  use_vk_layer
}

# pin_env_to_gpu I: export, in the calling (sub)shell, what binds every GPU process started from it to GPU I (nvidia-smi's
# order) without a --gpu flag: the device-select layer's environment as engine/gpuSelect.ts sets it for `--gpu I` (the
# Vulkan side: Dawn, so the step bench too) and CUDA_VISIBLE_DEVICES (PyTorch). For checks that run beside a stretch.
pin_env_to_gpu() {
  use_vk_layer
  local bus uuid domain rest
  bus=$(nvidia-smi --query-gpu=pci.bus_id --format=csv,noheader -i "$1") || return 1
  uuid=$(nvidia-smi --query-gpu=uuid --format=csv,noheader -i "$1") || return 1
  bus=$(echo "$bus" | tr -d ' ' | tr '[:upper:]' '[:lower:]')
  [[ "$bus" =~ ^[0-9a-f]+:[0-9a-f]+:[0-9a-f]+\.[0-7]$ ]] || { echo "pin_env_to_gpu: no PCI address for GPU $1 ('$bus')" >&2; return 1; }
  domain=${bus%%:*}; rest=${bus#*:}
  export DRI_PRIME="pci-${domain: -4}_$(echo "$rest" | tr ':.' '__')"
  export MESA_VK_DEVICE_SELECT_FORCE_DEFAULT_DEVICE=1
  export VK_LAYER_PATH=$RECALLBENCH_VK_LAYER_DIR${VK_LAYER_PATH:+:$VK_LAYER_PATH}
  export VK_INSTANCE_LAYERS=VK_LAYER_MESA_device_select${VK_INSTANCE_LAYERS:+:$VK_INSTANCE_LAYERS}
  # as engine/gpuSelect.ts: these two would switch the layer off
  unset NODEVICE_SELECT MESA_VK_DEVICE_SELECT
  export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-/tmp/recallbench-xdg-$(id -u)}
  mkdir -p "$XDG_RUNTIME_DIR"
  # by UUID, as engine/gpuSelect.ts: CUDA's own order (fastest first) need not be nvidia-smi's
  export CUDA_VISIBLE_DEVICES=$(echo "$uuid" | tr -d ' ')
}
