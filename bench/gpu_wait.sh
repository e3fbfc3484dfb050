#!/usr/bin/env bash
# wait_for_earlier_apps LOG: a device call chained on a warm machine can start while the call before's processes (its
# killed sweep's workers, its checks) still release their GPU memory — 24 GiB at the start of 2026-12-02's second call,
# none 15 s later. Timing checks would share the GPU with them and `--concurrency auto` would plan on what they hold:
# wait until nvidia-smi lists no compute process (Vulkan ones included: engine/gpuSelect.ts), up to APPS_WAIT_S (60)
# seconds, and append what was waited for to LOG. Source it (bench/check_then_stretch.sh, bench/campaign_stretch.sh).
wait_for_earlier_apps() {
  local waited=0 left
  while [ -n "$(nvidia-smi --query-compute-apps=pid --format=csv,noheader 2>/dev/null | tr -d ' \n')" ] && [ "$waited" -lt "${APPS_WAIT_S:-60}" ]; do
    sleep 3
    waited=$((waited + 3))
  done
  left=$(nvidia-smi --query-compute-apps=pid,used_memory --format=csv,noheader 2>/dev/null | grep . | tr '\n' ';' || true)
  [ "$waited" = 0 ] || echo "waited $waited s for earlier processes on the GPU to end (left: ${left:-none})" | tee -a "$1"
}
