#!/usr/bin/env bash
# Build .vk: Mesa 25's Vulkan device-select layer, which pins a WebGPU process to one GPU of a host of several
# (docs/scale-out.md), as a folder a device call carries beside .gpu. A session that rebuilt it by hand on 2026-11-29
# wrote the manifest's library_path without "./": the Vulkan loader then looked the library up on LD_LIBRARY_PATH,
# not beside the manifest, the layer did not load, and that call's sweep ran on one GPU of two. This script writes
# the folder the same way every time and checks it before a call spends device time on it.
#
#   here:  bash bench/make_vk.sh            (then carry .gpu .vk)
#
# Source: the Mesa 25 packages that .ci/setup-webgpu.sh downloads for the software adapter (bookworm-backports'
# mesa-vulkan-drivers holds the layer), in $RECALLBENCH_WEBGPU_DIR (default ~/.cache/recallbench/lavapipe).
# Layout: .vk/libVkLayer_MESA_device_select.so, .vk/VkLayer_MESA_device_select.json (library_path relative to it),
# .vk/lib/ the shared libraries the layer links that a bare GPU host may lack (bench/gpu_pin.sh puts them on
# LD_LIBRARY_PATH). Exit 2 with one line if a piece is missing.
set -euo pipefail
out=${VK_DIR:-.vk}
cache=${RECALLBENCH_WEBGPU_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/recallbench/lavapipe}
fail() { echo "make_vk: $*" >&2; exit 2; }
[ -d "$cache/root" ] || bash .ci/setup-webgpu.sh >/dev/null
lib=$cache/root/usr/lib/x86_64-linux-gnu/libVkLayer_MESA_device_select.so
manifest=$cache/root/usr/share/vulkan/implicit_layer.d/VkLayer_MESA_device_select.json
[ -f "$lib" ] && [ -f "$manifest" ] || fail "no device-select layer in $cache (did .ci/setup-webgpu.sh download mesa-vulkan-drivers?)"
# the marker engine/gpuSelect.ts tells a fixed layer (Mesa ≥ 25) by; 22.x's selects the wrong GPU
grep -qa MESA_VK_DEVICE_SELECT_DEBUG "$lib" || fail "$lib is not a Mesa ≥ 25 layer (no MESA_VK_DEVICE_SELECT_DEBUG)"
# what the layer links, but glibc's own (every host has those, and mixing glibcs breaks processes)
links=$(LD_LIBRARY_PATH=$cache/root/usr/lib/x86_64-linux-gnu ldd "$lib") || fail "ldd could not read $lib"
missing=$(awk '/not found/ {print $1}' <<<"$links")
[ -z "$missing" ] || fail "the layer links libraries this machine lacks too: $missing"
rm -rf "$out" && mkdir -p "$out/lib"
cp "$lib" "$out/"
python3 - "$manifest" "$out/VkLayer_MESA_device_select.json" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
m['layer']['library_path'] = './libVkLayer_MESA_device_select.so'  # beside the manifest, not a search on LD_LIBRARY_PATH
json.dump(m, open(sys.argv[2], 'w'), indent=2)
PY
awk '$3 ~ /^\// {print $1, $3}' <<<"$links" | while read -r name path; do
  case $name in libc.so*|libpthread.so*|libdl.so*|libm.so*|librt.so*|ld-linux*) continue ;; esac
  cp -L "$path" "$out/lib/$name"
done
# the folder as the loader will read it: the manifest's library resolves beside it
[ -f "$out/$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["layer"]["library_path"])' "$out/VkLayer_MESA_device_select.json")" ] || fail "the manifest's library_path does not resolve in $out"
echo "make_vk: $out ready ($(du -sh "$out" | cut -f1): the layer, its manifest, $(ls "$out/lib" | wc -l) libraries in $out/lib)"
