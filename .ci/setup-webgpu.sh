#!/usr/bin/env bash
# A software WebGPU adapter for the kernel tests (tests/kernels*.test.ts, tests/webgpu*.test.ts) on machines
# without a GPU: Mesa 25's lavapipe (a Vulkan driver on the CPU, from bookworm-backports) and the Vulkan loader,
# downloaded with a private apt configuration and unpacked into a folder — nothing is installed system-wide.
# Debian main's lavapipe (22.3) is refused by Dawn, hence backports.
#
# Usage (idempotent; the second call only prints):   eval "$(bash .ci/setup-webgpu.sh)"
# stdout: the `export` lines to eval (LD_LIBRARY_PATH, VK_ICD_FILENAMES, RECALLBENCH_WEBGPU_SOFTWARE=1);
# stderr: progress. If the download fails it prints nothing to stdout and exits 0: the tests then skip, saying why.
# Folder: $RECALLBENCH_WEBGPU_DIR, default ${XDG_CACHE_HOME:-$HOME/.cache}/recallbench/lavapipe.
set -uo pipefail
dir=${RECALLBENCH_WEBGPU_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/recallbench/lavapipe}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
root=$dir/root
lib=$root/usr/lib/x86_64-linux-gnu
icd=$dir/lvp_icd.json
log() { echo "setup-webgpu: $*" >&2; }

if [ "$(uname -m)" != x86_64 ]; then log "only x86-64 is supported (got $(uname -m)); WebGPU kernel tests will skip"; exit 0; fi

if [ ! -f "$icd" ] || [ ! -f "$lib/libvulkan_lvp.so" ] || [ ! -e "$lib/libvulkan.so.1" ]; then
  log "fetching Mesa lavapipe (bookworm-backports) and the Vulkan loader into $dir"
  rm -rf "$dir.tmp" && mkdir -p "$dir.tmp/lists/partial" "$dir.tmp/debs" || exit 0
  printf 'deb %s bookworm-backports main\ndeb %s bookworm main\n' "$mirror" "$mirror" > "$dir.tmp/sources.list"
  o=(-o "Dir::Etc::sourcelist=$dir.tmp/sources.list" -o Dir::Etc::sourceparts=/nonexistent
     -o "Dir::State::Lists=$dir.tmp/lists" -o APT::Architecture=amd64 -o APT::Architectures=amd64
     -o Debug::NoLocking=1 -o APT::Sandbox::User=root)
  if ! apt-get "${o[@]}" update >"$dir.tmp/apt.log" 2>&1; then log "apt-get update failed (see $dir.tmp/apt.log); tests will skip"; exit 0; fi
  if ! (cd "$dir.tmp/debs" && apt-get "${o[@]}" download mesa-vulkan-drivers/bookworm-backports libdrm2/bookworm-backports \
        libdrm-amdgpu1/bookworm-backports libvulkan1/bookworm >>"$dir.tmp/apt.log" 2>&1); then
    log "apt-get download failed (see $dir.tmp/apt.log); tests will skip"; exit 0
  fi
  mkdir -p "$dir.tmp/root"
  for f in "$dir.tmp"/debs/*.deb; do dpkg-deb -x "$f" "$dir.tmp/root" || { log "dpkg-deb -x $f failed"; exit 0; }; done
  rm -rf "$root" && mkdir -p "$dir" && mv "$dir.tmp/root" "$root" && rm -rf "$dir.tmp"
  # the ICD file names the driver by absolute path (the packaged one expects a system install)
  printf '{\n  "file_format_version": "1.0.0",\n  "ICD": { "library_path": "%s", "api_version": "1.3.0" }\n}\n' "$lib/libvulkan_lvp.so" > "$icd"
fi
log "software adapter ready: lavapipe $(ls "$dir"/root/usr/share/doc/mesa-vulkan-drivers >/dev/null 2>&1 && echo '(Mesa 25, backports)')"
echo "export LD_LIBRARY_PATH=\"$lib\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}\""
echo "export VK_ICD_FILENAMES=\"$icd\""
echo "export RECALLBENCH_WEBGPU_SOFTWARE=1"
