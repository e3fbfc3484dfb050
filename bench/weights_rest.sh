#!/usr/bin/env bash
# The rest of a stretch's checkpoint weights, in a device call chained on the warm machine after the stretch's own:
# bench/campaign_stretch.sh with WEIGHTS_REST=n split the checkpoints of the runs in flight into parts of 15 MiB, sent
# WEIGHTS_MIB's worth back with its call and left the others in .campaign/.weights-out/<folder>. This call sends the
# next 4 of them (60 MiB: a call returns 8 files, 64 MiB in all), numbered as the stretch numbered them, so that
# campaign_merge.sh reads the parts of both calls as one tar (WEIGHTS_REST_AT names this call's folder) and checks them
# against the stretch's "weights files: N (B bytes)". Nothing trains: a call of seconds.
#
#   GPU host:  PRESET=zoology-fig2 [SCALE=s] [FROM=k] bash bench/weights_rest.sh "$OUT"     (again while parts are left;
#              FROM=k sends from part k again: a call whose files did not come back)
#   here:      WEIGHTS_REST_AT=<this call's files_at> bash bench/campaign_merge.sh <the stretch's files_at> N
#
# Exit 3, one line, when no parts wait on this machine (a fresh machine: the warm one was given back; or none were left).
set -u
out=${1:?usage: weights_rest.sh OUTDIR}
preset=${PRESET:?PRESET=name of runners/presets/<name>.json}
folder=$preset${SCALE:+-scale$SCALE}
stash=.campaign/.weights-out/$folder
mkdir -p "$out"
count=$(find "$stash" -maxdepth 1 -name 'weights.tar.[0-9][0-9]' 2>/dev/null | wc -l)
sent=$(cat "$stash/sent" 2>/dev/null || echo 0)
if [ -n "${FROM:-}" ]; then
  [[ "$FROM" =~ ^[0-9]+$ ]] || { echo "weights_rest: FROM must be a part number, got '$FROM'" | tee "$out/rest.txt" >&2; exit 2; }
  sent=$((10#$FROM))
fi
if [ "$count" = 0 ] || [ "$sent" -ge "$count" ]; then
  echo "weights_rest: no parts of $folder's weights wait on this machine ($count made, $sent sent): a fresh machine, or all sent already" | tee "$out/rest.txt" >&2
  exit 3
fi
last=$((sent + 4 < count ? sent + 4 : count))
for ((i = sent; i < last; i++)); do cp "$stash/weights.tar.$(printf '%02d' "$i")" "$out/"; done
echo "$last" > "$stash/sent"
echo "weights_rest: $folder's parts $(printf '%02d' "$sent")–$(printf '%02d' $((last - 1))) of $count here$([ "$last" -lt "$count" ] && echo "; $((count - last)) left: call again")" | tee "$out/rest.txt"
