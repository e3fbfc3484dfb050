#!/usr/bin/env bash
# What a device call checks at its start, for its entry scripts (bench/check_then_stretch.sh, bench/campaign_stretch.sh)
# to source.
#
# require_bundle NAME OUT: exit 3 at once, in one line (also OUT/no-bundle.txt), when .gpu/run is missing. The bundle is
# carried on a fresh machine and kept from the call before on a warm one (WARM=1 bash bench/device_tree.sh leaves it
# home to make room for weights): without it nothing runs, so say so now, not after the call's time.
require_bundle() {
  [ -f .gpu/run ] && return 0
  mkdir -p "$2"
  echo "$1: no .gpu/run on this machine (a fresh one: the call before was not within ~30 s, or .gpu was not carried) — carry .gpu (bash bench/pack_gpu_all.sh)" | tee "$2/no-bundle.txt" >&2
  exit 3
}

# wait_for_earlier_apps LOG: a device call chained on a warm machine can start while the call before's processes (its
# killed sweep's workers, its checks) still release their GPU memory — 24 GiB at the start of 2026-12-02's second call,
# none 15 s later. Timing checks would share the GPU with them and `--concurrency auto` would plan on what they hold:
# wait until nvidia-smi lists no compute process (Vulkan ones included: engine/gpuSelect.ts), up to APPS_WAIT_S (60)
# seconds, and append what was waited for to LOG. The seconds by the clock go beside the sleeps' sum: nvidia-smi's own
# queries took most of the ~42 s between a chained call's start and its LIMIT on 2026-12-03 (9 s of sleeps counted).
wait_for_earlier_apps() {
  local waited=0 left t0 clock
  t0=$(date +%s)
  while [ -n "$(nvidia-smi --query-compute-apps=pid --format=csv,noheader 2>/dev/null | tr -d ' \n')" ] && [ "$waited" -lt "${APPS_WAIT_S:-60}" ]; do
    sleep 3
    waited=$((waited + 3))
  done
  clock=$(( $(date +%s) - t0 ))
  if [ "$waited" = 0 ]; then
    # no wait: none listed, or APPS_WAIT_S=0 (a stretch beside a check) — say only what the listing cost
    [ "$clock" -ge 2 ] && echo "no wait for earlier processes; reading the GPU's process list took $clock s" | tee -a "$1"
    return 0
  fi
  left=$(nvidia-smi --query-compute-apps=pid,used_memory --format=csv,noheader 2>/dev/null | grep . | tr '\n' ';' || true)
  echo "waited $waited s for earlier processes on the GPU to end (left: ${left:-none}); $(( $(date +%s) - t0 )) s by the clock, nvidia-smi's queries included" | tee -a "$1"
}
