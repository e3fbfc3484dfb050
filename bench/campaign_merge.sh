#!/usr/bin/env bash
# Bring one campaign stretch's results back into the committed folder (here, after the device call): the other half
# of bench/campaign_stretch.sh, done the same way every time so that nothing is forgotten (stretches 4–6's logs were).
#
#   bash bench/campaign_merge.sh FILES_AT N        FILES_AT: the device call's folder of files (files_at), holding
#                                                  c/results.tgz (or results.tgz) and the stretch's logs beside it;
#                                                  N: the stretch's number, for the logs' names
#
# 1. unpacks results.tgz (one folder, .campaign/<preset>[-scale<s>] on the host) and refuses — exit 2, nothing
#    changed — if it lacks any record the committed results/campaign/<folder> has (a stale seed, or the wrong call);
# 2. copies its runs.jsonl, runs.csv, commands.jsonl and reopened.jsonl (the whole record set: the device folder was
#    seeded from the committed one, so it holds every committed record plus the stretch's), its curves (added to the
#    committed ones) and its checkpoints/ (rung notes; no weights go into the tree) in place of the committed ones — none when
#    the device folder has none (its last runs finished: a committed note left behind would describe a finished run);
# 3. saves the call's logs as stretchN-stretch.txt, stretchN-sweep.txt, stretchN-nvidia-smi.txt (and stretchN-pin.txt);
# 4. keeps the call's checkpoint weights (weights.tar.00 to .02 beside results.tgz: campaign_stretch.sh's WEIGHTS_MIB —
#    and, under its WEIGHTS_REST=n, the parts bench/weights_rest.sh brought back in the calls after it: their files_at
#    folders in WEIGHTS_REST_AT, checked with the others against the stretch's "weights files" line) in
#    WEIGHTS_DIR/<folder>/ (default .weights, committed with the merge: a session's checkout has only what landed;
#    RESULTS_DIR/.weights when RESULTS_DIR is given), in place of
#    what it held, stamped with the merged folder's state (bench/campaign_state.sh: a fresh machine seeds them only
#    beside that very state — not if this merge is thrown away) — the next session's calls send .weights/<folder> with the
#    tree (bench/device_tree.sh <folder>); a call
#    without weights, or with a part missing or damaged, empties it (its rung notes are newer than any weights kept
#    from an earlier call);
# 5. prints the new records, one line each, and their totals (bench/campaign_new_records.ts), and — when the sweep log
#    has lane lines (RECALLBENCH_LANE_TIMES=1, set by campaign_stretch.sh) — where its lanes' time went
#    (bench/lane_times.ts);
# 6. runs `recallbench verify` (exit 1 if any record is invalid or failed: look before committing) and, unless
#    NO_REPORT=1, `recallbench report --png headline --no-detail-files` (the per-mixer curves drawn in index.html only,
#    no files of them: the tree a call carries stays small); prints the records before and after and the new ones.
# RESULTS_DIR (default results/campaign) is where the committed folders are. Nothing is committed: that stays a
# decision made after reading what it prints.
set -euo pipefail
at=${1:?usage: campaign_merge.sh FILES_AT N}
n=${2:?usage: campaign_merge.sh FILES_AT N (the stretch number)}
root=${RESULTS_DIR:-results/campaign}
[[ "$n" =~ ^[0-9]+$ ]] || { echo "campaign_merge: N must be a stretch number, got '$n'" >&2; exit 2; }
logs=$at/c
[ -f "$logs/results.tgz" ] || logs=$at
[ -f "$logs/results.tgz" ] || { echo "campaign_merge: no results.tgz in $at/c or $at" >&2; exit 2; }
# the later calls' folders of weights parts (WEIGHTS_REST_AT), each checked before anything changes
for d in ${WEIGHTS_REST_AT:-}; do
  [ -d "$d" ] || { echo "campaign_merge: WEIGHTS_REST_AT names $d, which is not a folder: nothing merged" >&2; exit 2; }
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
tar xzf "$logs/results.tgz" -C "$tmp"
folders=$(find "$tmp" -mindepth 1 -maxdepth 1 -type d -printf '%f\n')
[ "$(echo "$folders" | wc -l)" = 1 ] && [ -n "$folders" ] || { echo "campaign_merge: results.tgz should hold one folder, has: $folders" >&2; exit 2; }
src=$tmp/$folders
dst=$root/$folders
[ -f "$src/runs.jsonl" ] || { echo "campaign_merge: $folders in results.tgz has no runs.jsonl" >&2; exit 2; }
for f in stretch sweep nvidia-smi pin; do
  [ -e "$dst/stretch$n-$f.txt" ] && { echo "campaign_merge: $dst/stretch$n-$f.txt exists: stretch $n was merged already?" >&2; exit 2; }
done
ids() { [ -f "$1" ] && grep -o '"id":"[0-9a-f]*"' "$1" | sort -u || true; }
before=$(ids "$dst/runs.jsonl" | wc -l)
lost=$(comm -23 <(ids "$dst/runs.jsonl") <(ids "$src/runs.jsonl") | wc -l)
[ "$lost" = 0 ] || { echo "campaign_merge: results.tgz lacks $lost of the $before records committed in $dst: not merged (a stale seed, or another call's folder?)" >&2; exit 2; }
new=$(comm -13 <(ids "$dst/runs.jsonl") <(ids "$src/runs.jsonl") | sed 's/"id":"\(.*\)"/\1/')
mkdir -p "$dst/curves"
for f in runs.jsonl runs.csv commands.jsonl reopened.jsonl; do [ -f "$src/$f" ] && cp "$src/$f" "$dst/$f"; done
[ -d "$src/curves" ] && cp -r "$src/curves/." "$dst/curves/"
# the device folder's checkpoints/ is the whole truth: none there (every run finished) means no rung note is left
rm -rf "$dst/checkpoints"
[ -d "$src/checkpoints" ] && cp -r "$src/checkpoints" "$dst/checkpoints"
find "$dst/checkpoints" -name checkpoint.bin -delete 2>/dev/null || true   # weights never go into the tree
# a run between rungs has weights and no rung note: its folder is empty now (git keeps no empty folder; nor does this)
find "$dst/checkpoints" -mindepth 1 -type d -empty -delete 2>/dev/null || true
cp "$logs/stretch.txt" "$dst/stretch$n-stretch.txt" 2>/dev/null || true
cp "$logs/sweep.log" "$dst/stretch$n-sweep.txt" 2>/dev/null || true
cp "$logs/smi.log" "$dst/stretch$n-nvidia-smi.txt" 2>/dev/null || true
cp "$logs/pin.txt" "$dst/stretch$n-pin.txt" 2>/dev/null || true
source "$(dirname "$0")/campaign_state.sh"
weights=${WEIGHTS_DIR:-${RESULTS_DIR:+$RESULTS_DIR/.weights}}
weights=${weights:-.weights}/$folders
rm -rf "$weights"
# the parts: this call's, and those bench/weights_rest.sh brought back in the calls after it (WEIGHTS_REST_AT: their
# folders of files, each its files_at or the c/ in it), numbered on from this call's
part_dirs=("$logs")
for d in ${WEIGHTS_REST_AT:-}; do
  [ -d "$d/c" ] && ls "$d/c"/weights.tar.[0-9][0-9] > /dev/null 2>&1 && d=$d/c
  part_dirs+=("$d")
done
# each part once, wherever it lies (a folder named twice, or the stretch's own, counts its parts once)
count=$(find "${part_dirs[@]}" -maxdepth 1 -name 'weights.tar.[0-9][0-9]' -printf '%f\n' | sort -u | wc -l)
if [ "$count" -gt 0 ]; then
  # the parts in order, 00 to count − 1 without a gap (the device may leave a file out), then one tar stream
  parts=()
  for ((i = 0; i < count; i++)); do
    name=weights.tar.$(printf '%02d' "$i")
    where=$logs/$name
    for d in "${part_dirs[@]}"; do [ -f "$d/$name" ] && where=$d/$name; done
    parts+=("$where")
  done
  mkdir -p "$weights"
  # what campaign_stretch.sh sent ("weights files: N (B bytes)" in stretch.txt, since 2026-12-02): a last part lost on a
  # file's boundary leaves a tar that reads without an error
  # — and, since 2026-12-02 evening, the sha256 of the whole: parts of another stretch (a rest call's folder mixed up)
  # have the same count and sizes, and a 15 MiB part inside a checkpoint reads without a tar error
  line=$(grep -m1 '^weights files: ' "$logs/stretch.txt" 2>/dev/null || true)
  sent=$(echo "$line" | sed -nE 's/^weights files: ([0-9]+) \(([0-9]+) bytes(; sha256 [0-9a-f]{64})?\)$/\1 \2/p')
  got="$count $(stat -c %s "${parts[@]}" 2>/dev/null | awk '{ s += $1 } END { print s + 0 }' || true)"
  sum_sent=$(echo "$line" | sed -nE 's/^.*; sha256 ([0-9a-f]{64})\)$/\1/p')
  if [ -n "$sent" ] && [ "$sent" = "$got" ] && [ -n "$sum_sent" ]; then
    sum_got=$(cat "${parts[@]}" 2>/dev/null | sha256sum | cut -c1-64 || true)
    [ "$sum_got" = "$sum_sent" ] || sent="$sent sha256 $sum_sent" got="$got sha256 $sum_got"
  fi
  if [ -n "$sent" ] && [ "$sent" != "$got" ]; then
    echo "sent $sent (files, bytes), got $got" > "$tmp/weights.err"
  fi
  if [ ! -s "$tmp/weights.err" ] && ls "${parts[@]}" > /dev/null 2>&1 && cat "${parts[@]}" | tar xf - -C "$weights" 2> "$tmp/weights.err"; then
    campaign_state_hash "$dst" > "$weights/state.sha256"
    echo "campaign_merge: $(find "$weights" -name checkpoint.bin | wc -l) checkpoint weights ($(du -sm "$weights" | cut -f1) MiB) kept in $weights for the next session (carry $weights: bench/device_tree.sh <folder> says so)"
  else
    rm -rf "$weights"
    # a transfer cut short (the last parts never came back) still holds whole checkpoints in its first parts: keep
    # those, each checked by the sha256 in its own header (bench/checkpoints_intact.ts) — only from this call's own
    # folder's parts 00, 01, … in a row, which are this stretch's by construction (a later call's folder may be another's)
    own=()
    for ((i = 0; ; i++)); do
      name=$logs/weights.tar.$(printf '%02d' "$i")
      [ -f "$name" ] || break
      own+=("$name")
    done
    whole=""
    if [ "${#own[@]}" -gt 0 ]; then
      mkdir -p "$weights"
      cat "${own[@]}" | tar xf - -C "$weights" 2> /dev/null || true
      whole=$(node --import tsx "$(dirname "$0")/checkpoints_intact.ts" "$weights" | sed -nE 's/^([^:]+): whole \(epoch ([0-9]+)\)$/\1, epoch \2/p')
    fi
    if [ -n "$whole" ]; then
      campaign_state_hash "$dst" > "$weights/state.sha256"
      echo "campaign_merge: the call's weights came back in part ($(head -c 200 "$tmp/weights.err" 2>/dev/null)): $(echo "$whole" | wc -l) whole checkpoint(s) kept ($(echo "$whole" | paste -sd ';' | sed 's/;/; /g')), each checked by the sha256 in its header; the rest retrain from their rung notes (kept in $weights)"
    else
      rm -rf "$weights"
      echo "campaign_merge: the call's weights not kept — a part is missing or damaged ($count files: $(echo $(for d in "${part_dirs[@]}"; do (cd "$d" && echo weights.tar.*); done)); $(head -c 200 "$tmp/weights.err" 2>/dev/null)): those runs retrain from their rung notes" >&2
    fi
  fi
fi
after=$(ids "$dst/runs.jsonl" | wc -l)
echo "campaign_merge: $dst: $before → $after records ($(echo "$new" | grep -c . || true) new: $(echo $new))"
# the new records one line each, and their steps, tokens and process-hours (what the stretch's paragraph reports)
[ -z "$new" ] || node --import tsx "$(dirname "$0")/campaign_new_records.ts" "$dst" $new
if grep -q '^  lane [0-9]* at ' "$dst/stretch$n-sweep.txt" 2>/dev/null; then
  echo "lane times (npx tsx bench/lane_times.ts $dst/stretch$n-sweep.txt):"
  node --import tsx "$(dirname "$0")/lane_times.ts" "$dst/stretch$n-sweep.txt"
fi
cli=(node --import tsx src/cli.ts)
"${cli[@]}" verify "$dst"
[ "${NO_REPORT:-}" = 1 ] || "${cli[@]}" report "$dst" --png headline --no-detail-files --quiet
