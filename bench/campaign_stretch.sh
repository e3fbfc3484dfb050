#!/usr/bin/env bash
# One stretch of the reproduction campaign (issue 12) on a GPU host: sweep a preset — or some of its architecture
# labels — on every GPU of the host, stop cleanly before the device call's limit (SIGINT: runs in progress keep
# their last epoch checkpoint, finished runs are stored), and bring back the results folder (rung notes included,
# checkpoint weights left out of it) and a per-GPU nvidia-smi log — and, with WEIGHTS_MIB, the weights that fit.
#
#   here:      ../shared/gpu-host/pack src/cli.ts .gpu   (or bash bench/pack_gpu_all.sh: the CLI, bench/step.ts and the GPU ≡ CPU check in one .gpu)
#   GPU host:  PRESET=based-fig2 ONLY="attention based" [ONLY_DATA="L64-K4"] [ONLY_SEEDS="0"] [GPUS="0 1 2 3": default all, if pinned] [SCALE=0.1] [STACK=4] [PER_GPU=2] [WEIGHTS_MIB=20 [WEIGHTS_REST=100]] LIMIT=480 RECALLBENCH_COMMIT=<commit> \
#              bash bench/campaign_stretch.sh "$OUT"
#   here:      tar xzf <files_at>/results.tgz -C <somewhere>; recallbench verify ...; recallbench report ...
#
# The sweep works in .campaign/<preset> (git-ignored). A fresh machine seeds it from the committed
# results/campaign/<preset> (records and rung notes) and the checkpoint weights the last session brought back
# (.weights/<preset>/, WEIGHTS_MIB below; carry .weights/<preset>, as bench/device_tree.sh <preset> says): a paused run without them retrains from its start. The device
# machine keeps ignored files between calls while it is warm (about 30 s after a call; the device notes say so, not
# yet seen here — stretch.txt says which case a call met), so calls made back to back
# find .campaign/ as the last one left it, checkpoint weights included: paused runs resume from their rung. Chain a
# session's stretches without pausing between them, and commit what results.tgz brings back after each.
# A call killed from outside before the end (its device time ran out under TOTAL: 2026-12-02's stretch 5) still
# brings back results.tgz as of the last snapshot, taken every SNAPSHOT_S seconds (default 60; 0: none) while the
# sweep runs — its records and rung notes, no weights. Any instant of the folder is a state the sweep itself reads
# back after a kill (runners/results.ts: records appended whole, a torn last line ignored; curves, checkpoints and
# rung notes replaced by rename), and a file caught between two of them errs the safe way (a record with its
# checkpoint still there; a run with neither: trained again).
set -u
out=${1:?usage: campaign_stretch.sh OUTDIR}
# the bundle first (bench/call_start.sh: exit 3 at once without it)
source bench/call_start.sh
require_bundle campaign_stretch "$out"
preset=${PRESET:?PRESET=name of runners/presets/<name>.json}
# SCALE=s: the preset at --scale s (runners/scale.ts: data and epochs × √s, sizes kept at the ends of each list), in
# its own folder, <preset>-scale<s>: a budget cut the records say (preset "<name>@scale=<s>")
folder=$preset${SCALE:+-scale$SCALE}
dir=.campaign/$folder
mkdir -p "$out"
# an earlier stretch's parts still waiting for bench/weights_rest.sh (WEIGHTS_REST) describe weights this stretch
# trains on: they go now, said if some were never sent
stash=.campaign/.weights-out/$folder
dropped=""
if [ -d "$stash" ]; then
  made=$(find "$stash" -maxdepth 1 -name 'weights.tar.[0-9][0-9]' | wc -l)
  was_sent=$(cat "$stash/sent" 2>/dev/null || echo 0)
  [ "$was_sent" -lt "$made" ] && dropped="campaign_stretch: the last stretch's weights parts not all brought back ($was_sent of $made sent): dropped"
  rm -rf "$stash"
fi
# ids of the records in a folder's runs.jsonl, sorted
ids() { [ -f "$1/runs.jsonl" ] && grep -o '"id":"[0-9a-f]*"' "$1/runs.jsonl" | sort -u; }
# resume a warm copy only if it was seeded completely (.seeded, written after the copy) and holds every committed
# record (else the committed folder changed since — a set-aside, a record removed to retrain — and wins)
missing=""
if [ -f "$dir/.seeded" ]; then missing=$(comm -23 <(ids "results/campaign/$folder") <(ids "$dir") | wc -l); fi
if [ -f "$dir/.seeded" ] && [ "$missing" = 0 ]; then
  echo "resuming $dir as the last call on this machine left it ($(find "$dir" -name checkpoint.bin | wc -l) checkpoint weights)" | tee "$out/stretch.txt"
else
  why="fresh machine"
  [ -d "$dir" ] && why="warm copy not used (${missing:-no .seeded marker}${missing:+ committed records missing from it})"
  weights=${WEIGHTS_DIR:-.weights}/$folder
  # weights too large for one call come by slices over the session's calls (bench/weights_send.sh: .wsend/<folder>/<k>,
  # kept by the warm machine): all of them, whole, or the folder is not started — started without them, its runs in
  # flight would train from epoch 0 and the warm copy would never take the weights after
  if [ -d ".wsend/$folder" ]; then
    manifest=$(cat ".wsend/$folder"/*/manifest.txt 2>/dev/null | sort -u)
    slices=$(echo "$manifest" | sed -n 's/^slices \([0-9]*\); bytes \([0-9]*\); sha256 \([0-9a-f]*\)$/\1/p')
    slices_here=$(find ".wsend/$folder" -mindepth 2 -maxdepth 2 -name part | wc -l)
    if [ "$(echo "$manifest" | grep -c .)" != 1 ] || [ -z "$slices" ] || [ "$slices_here" -lt "$slices" ]; then
      echo "campaign_stretch: $slices_here of ${slices:-?} slices of $folder's weights on this machine (.wsend/$folder, bench/weights_send.sh): not started without the rest — carry them first (exit 4)" | tee -a "$out/stretch.txt" >&2
      exit 4
    fi
    whole=$(seq 1 "$slices" | sed "s|.*|.wsend/$folder/&/part|")
    # shellcheck disable=SC2086 # whole: paths without spaces
    if [ "$(cat $whole | sha256sum | cut -d' ' -f1)" != "$(echo "$manifest" | sed 's/.*sha256 //')" ]; then
      echo "campaign_stretch: the $slices slices of $folder's weights (.wsend/$folder) are not the tar their manifest names (sha256): not started (exit 4)" | tee -a "$out/stretch.txt" >&2
      exit 4
    fi
    weights=.campaign/.weights-in/$folder
    rm -rf "$weights" && mkdir -p "$weights"
    # shellcheck disable=SC2086
    cat $whole | tar xf - -C "$weights"
  fi
  rm -rf "$dir" && mkdir -p .campaign
  if [ -d "results/campaign/$folder" ]; then cp -r "results/campaign/$folder" "$dir"; else mkdir -p "$dir"; fi
  # the weights campaign_merge.sh kept from the last session's last call, only beside the records and rung notes they
  # came back with (its stamp: bench/campaign_state.sh); each file names its run and holds its data's sha256, so one
  # that fits no run of the grid, or is damaged, is ignored by the sweep
  source bench/campaign_state.sh
  seeded=0
  what="records and rung notes, no weights"
  if [ -d "$weights/checkpoints" ]; then
    if [ "$(cat "$weights/state.sha256" 2>/dev/null)" = "$(campaign_state_hash "results/campaign/$folder")" ]; then
      for f in "$weights"/checkpoints/*/checkpoint.bin; do
        [ -f "$f" ] || continue
        run=$(basename "$(dirname "$f")")
        mkdir -p "$dir/checkpoints/$run" && cp "$f" "$dir/checkpoints/$run/" && seeded=$((seeded + 1))
      done
      what="records, rung notes and $seeded checkpoint weights from $weights"
    else
      what="records and rung notes; the weights in $weights not seeded: their stamp is not this folder's state (a merge not committed, or a later one)"
    fi
  fi
  touch "$dir/.seeded"
  echo "$why: $dir seeded from results/campaign/$folder ($what)" | tee "$out/stretch.txt"
fi
[ -z "$dropped" ] || echo "$dropped" | tee -a "$out/stretch.txt"
# several GPUs: sweep on all of them if each can be pinned (bench/gpu_pin_probe.sh with the Mesa 25 device-select layer
# in .vk — carry it), else on the default GPU alone; GPUS set by the caller wins
if [ -z "${GPUS:-}" ] && [ "$(nvidia-smi -L | wc -l)" -gt 1 ] && [ -d .vk ]; then
  source bench/gpu_pin.sh
  pin_all_gpus "$out/pin.txt"
  echo "$(tail -1 "$out/pin.txt"); GPUS=${GPUS:-default}" | tee -a "$out/stretch.txt"
fi
# PER_GPU=n: n processes on each GPU the sweep uses (CONCURRENCY = n × GPUs; CONCURRENCY given wins): for GPU-bound
# mixers one process per GPU is already as fast as eight, and fewer reach each rung sooner (docs/campaign.md)
if [ -n "${PER_GPU:-}" ] && [ -z "${CONCURRENCY:-}" ]; then
  gpus_used=$(echo ${GPUS:-0} | wc -w)
  CONCURRENCY=$(( PER_GPU * gpus_used ))
  echo "PER_GPU=$PER_GPU on $gpus_used GPU(s): --concurrency $CONCURRENCY" | tee -a "$out/stretch.txt"
fi
# the levers: the bundle's default unless RECALLBENCH_FAST_PATH edits it (e.g. default+longSum: a lever the call before
# cleared, turned on without re-packing — the warm machine keeps its checkpoints); each record's provenance names them
echo "fast path: RECALLBENCH_FAST_PATH=${RECALLBENCH_FAST_PATH:-default}" | tee -a "$out/stretch.txt"
# the bundle's own stamp (bench/pack_gpu_all.sh), beside the commit the caller names for the records: a warm call runs
# the bundle the machine kept, which a re-pack here does not change
bundle=$(cat .gpu/commit.txt 2>/dev/null || echo "unknown (packed before 2026-12-02 afternoon)")
echo "bundle: packed at $bundle${RECALLBENCH_COMMIT:+; RECALLBENCH_COMMIT=$RECALLBENCH_COMMIT}" | tee -a "$out/stretch.txt"
# the records' code version (runners/provenance.ts: the host has no .git) is the bundle's: its commit, and whether its
# tracked files matched it when packed ("-dirty" in the stamp) — without RECALLBENCH_DIRTY a record says "(dirty?)".
# Only when RECALLBENCH_COMMIT (if given) names the bundle's commit: a caller naming another keeps the question open.
if [ -z "${RECALLBENCH_DIRTY:-}" ] && [[ "$bundle" =~ ^([0-9a-f]{7,40})(-dirty)?$ ]]; then
  packed=${BASH_REMATCH[1]}
  dirty_mark=${BASH_REMATCH[2]}
  given=${RECALLBENCH_COMMIT:-$packed}
  if [[ "$given" == "$packed"* || "$packed" == "$given"* ]]; then
    export RECALLBENCH_COMMIT=$given
    RECALLBENCH_DIRTY=$([ -n "$dirty_mark" ] && echo 1 || echo 0)
    export RECALLBENCH_DIRTY
    echo "records: commit $given, RECALLBENCH_DIRTY=$RECALLBENCH_DIRTY (the bundle's stamp)" | tee -a "$out/stretch.txt"
  fi
fi
# WEIGHTS_MIB (below, after the sweep) checked now: a whole number of MiB, 0 to 44 (three files of 15 MiB back, with
# tar's headers: check.tgz and c/'s results.tgz, smi.log, stretch.txt and sweep.log are the other five of the 8 files
# a call returns; 29, two files, when this script's own pin probe leaves c/pin.txt too); 10# so that a leading zero is
# not read as octal
weights_mib=${WEIGHTS_MIB:-0}
if [[ "$weights_mib" =~ ^[0-9]+$ ]] && [ "$((10#$weights_mib))" -le 44 ]; then weights_mib=$((10#$weights_mib)); else
  echo "campaign_stretch: WEIGHTS_MIB must be 0 to 44 (three files back, with tar's headers), got '$weights_mib': none will be brought back" | tee -a "$out/stretch.txt"
  weights_mib=0
fi
# the call before's processes still on the GPU (bench/call_start.sh) — unless this sweep leaves a GPU to others (BESIDE's
# checks run there) or runs beside a check started with it (check_then_stretch passes APPS_WAIT_S=0 then)
if [ -z "${GPUS:-}" ] || [ "$(echo ${GPUS} | wc -w)" -ge "$(nvidia-smi -L | wc -l)" ]; then
  wait_for_earlier_apps "$out/stretch.txt"
fi
nvidia-smi --query-gpu=index,name,memory.total --format=csv,noheader > "$out/smi.log"
( while sleep 15; do echo "t $(date +%s)"; nvidia-smi --query-gpu=index,utilization.gpu,memory.used --format=csv,noheader; done ) >> "$out/smi.log" 2>&1 &
smi=$!
start=$(date +%s)
# sweep CONCURRENCY SECONDS: the sweep, its log appended to sweep.log
sweep() {
  # shellcheck disable=SC2086 # GPUS, ONLY, ONLY_DATA and ONLY_SEEDS are word lists
  # RECALLBENCH_LANE_TIMES=1: a line per lane event in sweep.log, for bench/lane_times.ts (where the lanes' time went)
  RECALLBENCH_LANE_TIMES=1 timeout -s INT -k 40 "$2" bash .gpu/run sweep "runners/presets/$preset.json" --backend webgpu ${SCALE:+--scale $SCALE} ${GPUS:+--gpu $GPUS} \
    --concurrency "$1" ${STACK:+--stack $STACK} --out "$dir" --no-report ${ONLY:+--only $ONLY} ${ONLY_DATA:+--only-data $ONLY_DATA} ${ONLY_SEEDS:+--only-seeds $ONLY_SEEDS} >> "$out/sweep.log" 2>&1
}
: > "$out/sweep.log"
# results.tgz as of now, through a temporary file (PART) renamed over it: a kill mid-tar leaves the last whole one
pack_results() {
  tar czf "$1" --exclude=checkpoint.bin --exclude=.seeded --exclude='*.tmp-*' -C .campaign "$folder" 2>/dev/null
  [ $? -le 1 ] && mv -f "$1" "$out/results.tgz"   # tar's 1: a file changed while read (the sweep writes on)
}
snapshot_s=${SNAPSHOT_S:-60}
snapshots=
if [[ "$snapshot_s" =~ ^[0-9]+$ ]] && [ "$snapshot_s" -gt 0 ]; then
  # stopped by TERM after the sweep: between two commands, so never after a tar and before its rename (the final pack
  # follows); it also ends if this script is gone (a kill of the whole call)
  ( sleeper=
    trap 'kill $sleeper 2>/dev/null; exit 0' TERM
    while :; do
      sleep "$snapshot_s" & sleeper=$!
      wait $sleeper
      kill -0 $$ 2>/dev/null || exit 0
      pack_results "$out/results.tgz.snap"
    done ) > /dev/null 2>&1 &
  snapshots=$!
fi
# a PER_GPU / CONCURRENCY with some run larger than an equal share of a GPU is packed by the runs' estimates, at most
# that many at a time (runners/concurrency.ts planConcurrency; until 2026-12-01 the sweep refused it and this script
# retried with as many as the largest run allowed: stretches 28–30 ran one at a time for it)
sweep "${CONCURRENCY:-auto}" "${LIMIT:-480}"
rc=$?
echo "sweep rc $rc after $(( $(date +%s) - start )) s" >> "$out/sweep.log"
# how the sweep shared the GPUs (its memory line: equal shares, or packed by the runs' estimates), beside the summary
grep -m1 '^sweep: memory:' "$out/sweep.log" >> "$out/stretch.txt"
kill "$smi" 2>/dev/null
[ -n "$snapshots" ] && { kill "$snapshots" 2>/dev/null; wait "$snapshots" 2>/dev/null; }
pack_results "$out/results.tgz.part"
rm -f "$out/results.tgz.snap"
# WEIGHTS_MIB=n: the checkpoint weights of the runs not finished come back too, as weights.tar.00, .01, .02 (15 MiB a
# file: the device returns 8 files of ≤ 16 MiB) — as many as fit n MiB, those holding the most training time per byte
# first (elapsedSeconds in the file's header / its size) — for the next session's machine to resume them instead of
# retraining from the start (campaign_merge.sh keeps them in .weights/<folder>/, committed; they travel in the tree).
# A call carries 64 MiB in all: bench/device_tree.sh trims the tree and says what is left for them — ~20 MiB beside
# .gpu on a fresh machine, ~50 on a warm one that keeps .gpu from the call before (WARM=1: a d 256 model's checkpoint,
# parameters and both Adam moments, is ~32 MiB). 0 (default): none.
# The pin probe's log (several GPUs) is a sixth file beside the weights: two parts then, not three.
if [ -f "$out/pin.txt" ] && [ "$weights_mib" -gt 29 ]; then
  echo "campaign_stretch: WEIGHTS_MIB $weights_mib → 29: pin.txt takes the third part's place among the 8 files a call returns" | tee -a "$out/stretch.txt"
  weights_mib=29
fi
# WEIGHTS_REST=n: the checkpoints that fit n MiB come back (the same order), not only WEIGHTS_MIB's — WEIGHTS_MIB's
# parts in this call, the others kept on the machine (.campaign/.weights-out/<folder>) for bench/weights_rest.sh to
# bring back in the calls that follow (4 parts, 60 MiB, a call), chained while the machine is warm: a d 512 model's
# checkpoint (55–75 MiB) fits no one call. n: what the next session can send (bench/weights_send.sh's rooms).
if [ "$weights_mib" -gt 0 ] && [ -d "$dir/checkpoints" ]; then
  rest=${WEIGHTS_REST:-}
  # at most 1,400 MiB: split names parts 00–99 (1,500 MiB of 15)
  if [ -n "$rest" ] && ! [[ "$rest" =~ ^[0-9]+$ && "$((10#$rest))" -ge "$weights_mib" && "$((10#$rest))" -le 1400 ]]; then
    echo "campaign_stretch: WEIGHTS_REST must be a whole number of MiB from WEIGHTS_MIB ($weights_mib) to 1400, got '$rest': WEIGHTS_MIB's alone come back" | tee -a "$out/stretch.txt"
    rest=""
  fi
  [ -n "$rest" ] && rest=$((10#$rest))
  all=$(find "$dir/checkpoints" -name checkpoint.bin | LC_ALL=C sort)
  picks=$(echo "$all" | while read -r f; do
      [ -n "$f" ] || continue
      bytes=$(stat -c %s "$f")
      secs=$(head -c 262144 "$f" | grep -ao '"elapsedSeconds":[0-9.e+-]*' | head -1 | cut -d: -f2)
      echo "$(awk -v s="${secs:-0}" -v b="$bytes" 'BEGIN { printf "%.12f", s / b }') $bytes ${f#"$dir"/}"
    done | LC_ALL=C sort -k1,1gr -k3 | awk -v cap=$(( ${rest:-0} ? ${rest:-0} * 1048576 - 65536 : weights_mib * 1048576 )) '$2 + t <= cap { t += $2; print $3 }')
  # (WEIGHTS_REST's cap leaves 64 KiB for tar's headers and state.sha256: weights_send.sh's slices of the same MiB hold it)
  # the parts are made where they wait (the stash, under WEIGHTS_REST; emptied at this script's start) or where they come back
  parts_dir=$out
  [ -n "$rest" ] && parts_dir=$stash && mkdir -p "$stash"
  if [ -n "$picks" ]; then
    # shellcheck disable=SC2086 # picks: paths without spaces (checkpoints/<id>/checkpoint.bin)
    tar cf - -C "$dir" $picks | split -b 15m -d -a 2 - "$parts_dir/weights.tar."
  fi
  # the parts' sizes, once: their sum for the lines below
  sizes=$(stat -c %s "$parts_dir"/weights.tar.[0-9][0-9] 2>/dev/null || true)
  count=$(echo "$sizes" | grep -c . || true)
  here=""
  if [ -n "$rest" ] && [ "$count" -gt 0 ]; then
    # WEIGHTS_MIB's parts of 15 MiB come back now, rounded up (44: three, 45 MiB — beside ≤ 19 MiB of results and logs,
    # within the 64 a call returns; 29: two); bench/weights_rest.sh reads `sent` for where to go on
    now=$(( (weights_mib + 14) / 15 ))
    [ "$now" -gt "$count" ] && now=$count
    for ((i = 0; i < now; i++)); do cp "$stash/weights.tar.$(printf '%02d' "$i")" "$out/"; done
    echo "$now" > "$stash/sent"
    here=": parts 00–$(printf '%02d' $((now - 1))) of $count here$([ "$now" -lt "$count" ] && echo ", the other $((count - now)) by bench/weights_rest.sh in the calls that follow")"
  fi
  echo "weights: $(echo "$picks" | grep -c . || true) of $(echo "$all" | grep -c . || true) checkpoint weights brought back ($(echo "$sizes" | awk '{ s += $1 } END { printf "%.1f", s / 1048576 }') MiB of WEIGHTS_MIB=$weights_mib${rest:+, WEIGHTS_REST=$rest})$here" | tee -a "$out/stretch.txt"
  # what was sent — every part, those still waiting included —, for campaign_merge.sh to check against what came back:
  # a lost last part can end on a file's boundary, where tar reads the rest without an error
  # shellcheck disable=SC2086 # the parts' paths: no spaces
  [ -n "$picks" ] && echo "weights files: $count ($(echo "$sizes" | awk '{ s += $1 } END { print s }') bytes; sha256 $(cat "$parts_dir"/weights.tar.[0-9][0-9] | sha256sum | cut -c1-64))" >> "$out/stretch.txt"
fi
