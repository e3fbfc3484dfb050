#!/usr/bin/env bash
# Is a GPU run reproducible? One run trained twice on one GPU with each fast path of REPRO_MODES (default: the
# default levers — since 2026-11-30 the gather gradient's tile partials summed in tile order, lever segmentSumOrdered —
# and default-segmentSumOrdered, the same partials added by float atomics), then each pair's curves compared epoch by
# epoch: identical bits, or the first field that differs and how far the two runs drifted by the last epoch.
# README.md ("Trusting the numbers") says a GPU run repeats bit for bit with segmentSumOrdered and not without it:
# this measures both claims.
#
#   host:  OUT=$OUT bash bench/gpu_repro.sh                     (the CLI from .gpu: bash bench/pack_gpu_all.sh)
#   here:  CLI="npx tsx src/cli.ts" BACKEND=cpu REPRO_EXAMPLES=256 REPRO_BATCH=32 REPRO_D=16 OUT=/tmp/r bash bench/gpu_repro.sh
#          (the plumbing on the CPU backend, where every mode must come out identical)
# Settings: REPRO_ARCH (attention), REPRO_D (64), REPRO_EXAMPLES (20000 training sequences of MQAR L 64, K 4, V 8192),
# REPRO_EPOCHS (3), REPRO_BATCH (512), REPRO_LR (1e-2: at 1e-3 both fast paths repeated bit for bit on an H200, at 1e-2
# runs of a two-GPU sweep did not — bench/RESULTS.md "Registers and a fused SiLU cleared"), zoology's block, dropout as
# the CLI's defaults. Back: $OUT/repro.txt.
set -uo pipefail
OUT=${OUT:?set OUT}
CLI=${CLI:-bash .gpu/run}
BACKEND=${BACKEND:-webgpu}
mkdir -p "$OUT"
log="$OUT/repro.txt"
modes=${REPRO_MODES:-default default-segmentSumOrdered}
# a mode may name Dawn device toggles after '@' (engine/dawnToggles.ts): default@none is the default levers without
# toggles, default@disable_robustness those with that one alone; a mode without '@' has the default toggles (both,
# since 2026-12-01). Each mode's first run is also compared with the first mode's (below)
toggles_of() { case $1 in *@*) echo "${1#*@}" ;; *) echo "" ;; esac; }
echo "settings: arch ${REPRO_ARCH:-attention}, d ${REPRO_D:-64}, ${REPRO_EXAMPLES:-20000} examples, ${REPRO_EPOCHS:-3} epochs, batch ${REPRO_BATCH:-512}, lr ${REPRO_LR:-1e-2}, backend $BACKEND" | tee -a "$log"
for mode in $modes; do
  for rep in 1 2; do
    dir="$OUT/repro/$mode-$rep"
    rm -rf "$dir"
    start=$(date +%s)
    RECALLBENCH_FAST_PATH=${mode%%@*} RECALLBENCH_DAWN_TOGGLES=$(toggles_of "$mode") $CLI train --backend "$BACKEND" --arch "${REPRO_ARCH:-attention}" --d-model "${REPRO_D:-64}" \
      --seq-len 64 --kv-pairs 4 --vocab-size 8192 --train-examples "${REPRO_EXAMPLES:-20000}" --test-examples 1000 \
      --epochs "${REPRO_EPOCHS:-3}" --batch-size "${REPRO_BATCH:-512}" --eval-batch-size 512 --lr "${REPRO_LR:-1e-2}" --block zoology \
      --positions --out "$dir" --quiet >> "$OUT/repro-train.log" 2>&1
    echo "$mode rep $rep: train rc $? in $(( $(date +%s) - start )) s" | tee -a "$log"
  done
done
python3 - "$OUT/repro" $modes <<'PY' | tee -a "$log"
import json, os, sys, math
root, modes = sys.argv[1], sys.argv[2:]
def curves(d):
    folder = os.path.join(d, 'curves')
    if not os.path.isdir(folder): return {}
    return {f: json.load(open(os.path.join(folder, f))) for f in sorted(os.listdir(folder)) if f.endswith('.json')}
def numbers(x, path=''):
    # every number of an epoch record but its timings
    if isinstance(x, dict):
        for k, v in x.items():
            if 'second' in k.lower() or k.lower().endswith('ms') or k in ('finishedAt', 'wall'): continue
            yield from numbers(v, f'{path}.{k}' if path else k)
    elif isinstance(x, list):
        for i, v in enumerate(x): yield from numbers(v, f'{path}[{i}]')
    elif isinstance(x, (int, float)) and not isinstance(x, bool):
        yield path, float(x)
def compare(label, a, b):
    for run in a:
        ea, eb = a[run], b[run]
        first, worst, fields = None, 0.0, 0
        for i, (x, y) in enumerate(zip(ea, eb)):
            for (p, u), (q, v) in zip(numbers(x), numbers(y)):
                fields += 1
                if p != q or u != v:
                    rel = abs(u - v) / max(abs(u), abs(v), 1e-30) if p == q else math.inf
                    if first is None: first = f'epoch {i + 1} {p}: {u!r} vs {v!r}'
                    if i == len(ea) - 1: worst = max(worst, rel)
        verdict = 'IDENTICAL' if first is None and len(ea) == len(eb) else 'DIFFERENT'
        tail = '' if first is None else f'; first difference {first}; largest relative difference at the last epoch {worst:.2e}'
        print(f'{label} {run[:-5]}: {verdict} ({len(ea)} / {len(eb)} epochs, {fields} numbers){tail}')
# every other mode's rep 1 against the first mode's: Dawn toggles (@…) and copy-only levers (splitConcat) must change
# nothing; a lever that sums in another order (default-segmentSumOrdered) may
first = modes[0]
for mode in modes[1:]:
    a, b = curves(os.path.join(root, f'{first}-1')), curves(os.path.join(root, f'{mode}-1'))
    if a and a.keys() == b.keys(): compare(f'{first} vs {mode}', a, b)
    else: print(f'{first} vs {mode}: no comparable curves')
for mode in modes:
    a, b = curves(os.path.join(root, f'{mode}-1')), curves(os.path.join(root, f'{mode}-2'))
    if not a or a.keys() != b.keys():
        print(f'{mode}: no comparable curves (rep 1: {len(a)} runs, rep 2: {len(b)})'); continue
    compare(mode, a, b)
PY
