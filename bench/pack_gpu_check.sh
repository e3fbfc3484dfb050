#!/usr/bin/env bash
# Pack the two entries bench/gpu_check_pending.sh (and gpu_session.sh via BENCH_RUN) run on the GPU host into one
# folder, .gpu-c, sharing one Node and one Dawn: bench/gpu_equiv.ts as app.mjs (`bash .gpu-c/run`) and bench/step.ts as
# step.mjs (`bash .gpu-c/run-step`). step.mjs travels xz-compressed and is unpacked on the host on first use: the
# call's carry limit is 64 MiB for the tracked tree and the bundle together, and they measured 63.7 MiB uncompressed
# (2026-11-29). Its check's references fall back to tfjs-cpu (pack leaves the wasm backend out); bench/pack_gpu_all.sh
# inlines it and is what the campaign's calls use.
set -euo pipefail
rm -rf .gpu-c .gpu-s
../shared/gpu-host/pack bench/gpu_equiv.ts .gpu-c
cp -r runners/presets .gpu-c/presets
../shared/gpu-host/pack bench/step.ts .gpu-s
xz -9 -c .gpu-s/app.mjs > .gpu-c/step.mjs.xz
rm -rf .gpu-s
# run-step: the same runner as `run`, with step.mjs (unpacked next to app.mjs, so its imports resolve the same way)
sed 's#^exec "$rt/node" "$dir/app.mjs" "$@"#[ -f "$dir/step.mjs" ] || xz -dc "$dir/step.mjs.xz" > "$dir/step.mjs"\nexec "$rt/node" "$dir/step.mjs" "$@"#' .gpu-c/run > .gpu-c/run-step
grep -q 'step.mjs' .gpu-c/run-step || { echo "pack_gpu_check: could not derive run-step from .gpu-c/run" >&2; exit 1; }
tracked=$(git ls-files -z | xargs -0 du -cb | tail -1 | cut -f1)
bundle=$(du -sb .gpu-c | cut -f1)
echo "pack_gpu_check: .gpu-c $((bundle / 1048576)) MiB + tracked tree $((tracked / 1048576)) MiB = $(((bundle + tracked) / 1048576)) MiB of the 64 MiB a call may carry"
