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
