#!/usr/bin/env bash
# Training-dynamics check of issue 17 (item 3), for the GPU host: recallbench with block "zoology" on a Figure-2
# cell, seeds 1 2 3 in parallel on one GPU (WebGPU), per-epoch test accuracy, then the table of epochs to leave
# the ~0.27 plateau (test accuracy > 0.4) and to reach 0.99 — the numbers issue 17 gives for zoology's own code.
#
# Here (once):   ../shared/gpu-host/pack bench/zoology_dynamics.ts .gpu-a        (.gpu*/ is git-ignored)
# GPU host:      CELL=L64 bash bench/zoology_dynamics.sh   (from the repository root; run tool: carry [".gpu-a"], kind nvidia-h200)
# Settings (environment):
#   CELL    L64 (L64 K4 d64 lr 4.64e-4, batch 512) | L256 (L256 K16 d128 lr 2.15e-3, batch 256)
#   SEEDS   "1 2 3";  BLOCKS "zoology" (add "prenorm" for the same-call comparison with the clean block)
#   EPOCHS  64 (the preset's; runs stop early at 0.99);  LIMIT  seconds before the runs are stopped (default 540, so
#           that a 600-second device call returns; every finished epoch is already on disk and is tabulated)
#   OUT     result folder (default $OUT of the device call, else .scratch-a/dynamics)
#   BACKEND webgpu;  EXTRA  more arguments for bench/zoology_dynamics.ts (smoke tests: "--train-examples 256 --test-examples 64")
# Prints a markdown table; the per-epoch curves are in $OUT/dynamics/*.jsonl, the logs beside them.
set -u
CELL=${CELL:-L64}
SEEDS=${SEEDS:-"1 2 3"}
BLOCKS=${BLOCKS:-zoology}
EPOCHS=${EPOCHS:-64}
LIMIT=${LIMIT:-540}
DEST=${OUT:-.scratch-a}/dynamics
RUNNER=${RUNNER:-.gpu-a/run}
BACKEND=${BACKEND:-webgpu}
EXTRA=${EXTRA:-}
mkdir -p "$DEST"
nvidia-smi --query-gpu=name,memory.used,memory.total --format=csv,noheader 2>/dev/null || true
pids=()
for block in $BLOCKS; do
  for seed in $SEEDS; do
    timeout "$LIMIT" bash "$RUNNER" --cell "$CELL" --seed "$seed" --block "$block" --epochs "$EPOCHS" --backend "$BACKEND" --out "$DEST" $EXTRA \
      >"$DEST/$CELL-$block-seed$seed.log" 2>&1 &
    pids+=($!)
    sleep 5 # the packed runner unpacks its libraries on each start: stagger them
  done
done
for p in "${pids[@]}"; do wait "$p"; done
python3 - "$DEST" "$CELL" <<'EOF'
import glob, json, os, sys
dest, cell = sys.argv[1], sys.argv[2]
print(f"\n| cell | block | seed | epochs run | test acc > 0.4 first at epoch | >= 0.99 first at epoch | last test acc | s/epoch |")
print("|---|---|---|---|---|---|---|---|")
for path in sorted(glob.glob(os.path.join(dest, f"{cell}-*-seed*.jsonl"))):
    rows = [json.loads(l) for l in open(path) if l.strip()]
    name = os.path.basename(path)[: -len(".jsonl")]
    _, block, seed = name.split("-")
    first = lambda ok: next((r["epoch"] for r in rows if ok(r["test"])), "not reached")
    last = f"{rows[-1]['test']:.3f}" if rows else "-"
    per_epoch = f"{sum(r['seconds'] for r in rows) / len(rows):.0f}" if rows else "-"
    print(f"| {cell} | {block} | {seed[4:]} | {len(rows)} | {first(lambda a: a > 0.4)} | {first(lambda a: a >= 0.99)} | {last} | {per_epoch} |")
EOF
