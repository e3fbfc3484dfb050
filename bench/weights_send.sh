#!/usr/bin/env bash
# Committed checkpoint weights larger than one device call's room (a call carries 64 MiB: a fresh one ~20 MiB of
# weights beside the bundle, a warm one ~50; a d 512 model's checkpoint is 55–75 MiB), sent in slices over a session's
# chained calls: the weights (.weights/FOLDER: checkpoints/ and state.sha256, as campaign_merge.sh keeps them) as one
# tar, cut into one slice per call of the MiB given, each in .wsend/FOLDER/<k>/ (git-ignored: it travels only where
# carried) with a manifest of the whole (slices, bytes, sha256). The warm machine keeps what a call carried, so the
# slices gather there; campaign_stretch.sh seeds FOLDER from them once all are there and their sha256 is the
# manifest's — and refuses to start FOLDER without them (exit 4), so FOLDER's first stretch goes in the call that
# carries its last slice, or later.
# bench/device_tree.sh carries the slices named in SEND, and leaves .weights/FOLDER out of the cone when they are
# FOLDER's own.
#
#   here:  bash bench/weights_send.sh zoology-fig2 9 50      slice 1 ≤ 9 MiB, slice 2 ≤ 50 MiB (the rooms device_tree
#                                                           says a call has left); then per call:
#          SEND=zoology-fig2/1 bash bench/device_tree.sh jrt-sd          (fresh call 1: another preset's stretch)
#          WARM=1 SEND=zoology-fig2/2 bash bench/device_tree.sh zoology-fig2   (call 2: FOLDER's stretch, all slices there)
#          rm -rf .wsend after the session
#
# One line and exit 2 for bad arguments, no weights, or rooms that do not hold them.
set -euo pipefail
usage="usage: weights_send.sh FOLDER MIB [MIB ...] (one room a call, in MiB: the slices' sizes at most)"
folder=${1:?$usage}
shift
[ $# -ge 1 ] || { echo "weights_send: $usage" >&2; exit 2; }
for m in "$@"; do
  [[ "$m" =~ ^[0-9]+$ ]] && [ "$((10#$m))" -ge 1 ] || { echo "weights_send: each room is a whole number of MiB ≥ 1, got '$m'" >&2; exit 2; }
done
src=.weights/$folder
[ -d "$src/checkpoints" ] || { echo "weights_send: no $src/checkpoints here (campaign_merge.sh keeps a call's weights there)" >&2; exit 2; }
dst=.wsend/$folder
rm -rf "$dst"
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
tar cf "$tmp" -C "$src" .
total=$(stat -c %s "$tmp")
hash=$(sha256sum "$tmp" | cut -d' ' -f1)
mib() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1048576 }'; }
off=0
k=0
plan=""
for m in "$@"; do
  [ "$off" -lt "$total" ] || break
  k=$((k + 1))
  mkdir -p "$dst/$k"
  dd if="$tmp" of="$dst/$k/part" iflag=skip_bytes,count_bytes skip="$off" count=$((10#$m * 1048576)) status=none
  size=$(stat -c %s "$dst/$k/part")
  off=$((off + size))
  plan="$plan; call $k carries .wsend/$folder/$k ($(mib "$size") MiB)"
done
if [ "$off" -lt "$total" ]; then
  rm -rf "$dst"
  echo "weights_send: $src is $(mib "$total") MiB as a tar, the rooms given hold $(mib "$off"): give more, or more calls" >&2
  exit 2
fi
for ((i = 1; i <= k; i++)); do echo "slices $k; bytes $total; sha256 $hash" > "$dst/$i/manifest.txt"; done
echo "weights_send: $src ($(mib "$total") MiB) in $k slice(s)$plan — $folder's first stretch goes in the call of the last slice or later (SEND=$folder/<k> bash bench/device_tree.sh ...)"
