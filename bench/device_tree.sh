#!/usr/bin/env bash
# What a device call carries (issue 12): the working tree — tracked files and untracked ones git does not ignore —
# and the carried folders (.gpu, .vk), 64 MiB in all. A campaign stretch needs the code, its own preset's committed
# folder and its own preset's checkpoint weights (.weights/FOLDER, committed: campaign_merge.sh), not the other
# presets' results (16 of the tree's 26 MB) nor their weights; the room that frees is what the checkpoint weights of
# the last session can take (campaign_stretch.sh WEIGHTS_MIB).
#
#   bash bench/device_tree.sh FOLDER   a sparse checkout (cone): every top-level folder but results/, .weights/, tests/,
#                                      docs/ and bench/logs/ (the device reads none of them), of
#                                      results/ only results/campaign/FOLDER — the stretch's folder, <preset> or, with
#                                      SCALE, <preset>-scale<s> (what a fresh machine seeds from; a preset with no
#                                      folder yet, its first stretch: no results at all) — and of .weights/ only
#                                      .weights/FOLDER (what the stretch reads); then the sizes
#   bash bench/device_tree.sh off      the whole tree back (git sparse-checkout disable) — after the session's last call
#   bash bench/device_tree.sh          the sizes only
#   WARM=1 bash bench/device_tree.sh FOLDER   the same cone, for a call on the warm machine of the call before: it
#                                      keeps .gpu and .vk (ignored build outputs stay between calls unless carried), so
#                                      they are neither counted nor carried (carry []) — the room is the weights' (~50
#                                      MiB: a d 256 model's checkpoint is ~32); campaign_stretch.sh exits 3 at once if
#                                      the machine was fresh after all (no .gpu/run)
#   SEND="FOLDER/k ..." bash bench/device_tree.sh ...   also carry these slices of weights too large for one call
#                                      (bench/weights_send.sh: .wsend/FOLDER/k, git-ignored); when SEND names a slice
#                                      of the call's own FOLDER, .weights/FOLDER stays out of the cone — slices carry it
#
# Prints the tree, each carried folder and the sum against the limit; exit 1 when the sum is over it (the call would
# be refused: bring fewer weights, i.e. a smaller WEIGHTS_MIB last time, or leave more of the tree home).
set -euo pipefail
MIB=1048576
LIMIT_MIB=64
# SEND carries slices of the call's own FOLDER: its weights go by them, not in the tree (a .wsend/FOLDER left from an
# earlier session does not count)
own_by_slices=""
case "${1:-}" in ''|off|-*) ;; *) [[ " ${SEND:-} " == *" $1/"* ]] && own_by_slices=1 ;; esac
case "${1:-}" in
  off) git sparse-checkout disable; exit 0 ;;
  '') ;;
  -*) echo "device_tree: usage: device_tree.sh [FOLDER | off] (FOLDER: results/campaign/FOLDER, the stretch's)" >&2; exit 2 ;;
  *)
    # a preset's first stretch has no folder yet: its preset file is enough (then no results travel at all)
    git cat-file -e "HEAD:results/campaign/$1" 2>/dev/null || git cat-file -e "HEAD:runners/presets/${1%-scale*}.json" 2>/dev/null \
      || { echo "device_tree: no results/campaign/$1 in HEAD, nor a preset runners/presets/${1%-scale*}.json for a first stretch (the stretch's folder: <preset>, or <preset>-scale<s> with SCALE)" >&2; exit 2; }
    # the stretch's weights in the cone, unless this call's SEND carries them by slices (bench/weights_send.sh)
    own_weights=".weights/$1"
    [ -n "$own_by_slices" ] && own_weights=""
    # the device reads neither the tests, the docs nor the device calls' old logs (3.5 MiB on 2026-12-03: room for
    # weights) — bench's own files stay: cone mode takes the files directly in every folder above a named one, so the
    # cone names a folder of bench's that does not exist (bench/.cone) instead of bench with its logs
    # shellcheck disable=SC2046 # folder names: no spaces
    git sparse-checkout set --cone $(git ls-files | grep / | cut -d/ -f1 | sort -u | grep -vx -e results -e .weights -e tests -e docs -e bench) \
      bench/.cone "results/campaign/$1" $own_weights ;;
esac
# the files that travel: tracked ones present in the checkout (a sparse checkout leaves the others out) and untracked
# ones not ignored
tree=$( { git ls-files -z; git ls-files -z --others --exclude-standard; } | xargs -0 stat -c %s 2>/dev/null | awk '{ s += $1 } END { print s + 0 }' || true)
line="tree $(awk -v b="$tree" -v m=$MIB 'BEGIN { printf "%.1f", b / m }') MiB"
# of it the stretch's weights (committed, so in the tree): what WEIGHTS_MIB brought back last time
case "${1:-}" in
  ''|off) ;;
  *) if [ -d ".weights/$1" ]; then line="$line (of it .weights/$1 $(du -sb ".weights/$1" | awk -v m=$MIB '{ printf "%.1f", $1 / m }'))"
     elif [ -n "$own_by_slices" ]; then line="$line (.weights/$1 left out: it goes by slices, .wsend/$1)"; fi ;;
esac
sum=$tree
carried_folders='.gpu .vk'
[ "${WARM:-}" = 1 ] && { carried_folders=''; line="$line, nothing carried"; }
# SEND: slices of weights (bench/weights_send.sh), each a carried folder of its own
for slice in ${SEND:-}; do
  [ -f ".wsend/$slice/part" ] || { echo "device_tree: SEND names .wsend/$slice, which holds no slice (bench/weights_send.sh FOLDER MIB ... makes them)" >&2; exit 2; }
  carried_folders="$carried_folders .wsend/$slice"
done
# the run tool's carry list, from the carried folders
carry="[$(for c in $carried_folders; do printf '"%s", ' "$c"; done | sed 's/, $//')]"
[ "${WARM:-}" = 1 ] && carry="$carry (WARM=1: the warm machine keeps .gpu and .vk from the call before)"
for carried in $carried_folders; do
  [ -e "$carried" ] || continue
  bytes=$(du -sb "$carried" | cut -f1)
  sum=$((sum + bytes))
  line="$line + $carried $(awk -v b="$bytes" -v m=$MIB 'BEGIN { printf "%.1f", b / m }')"
done
left=$(awk -v s="$sum" -v m=$MIB -v l=$LIMIT_MIB 'BEGIN { printf "%.1f", l - s / m }')
echo "device_tree: $line = $(awk -v s="$sum" -v m=$MIB 'BEGIN { printf "%.1f", s / m }') MiB of $LIMIT_MIB ($left left)"
case "${1:-}" in ''|off) ;; *) echo "device_tree: carry $carry" ;; esac
[ "$sum" -le $((LIMIT_MIB * MIB)) ] || { echo "device_tree: over the $LIMIT_MIB MiB a call carries: bring back fewer weights (WEIGHTS_MIB) or leave more of the tree home" >&2; exit 1; }
