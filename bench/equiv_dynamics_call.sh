#!/usr/bin/env bash
# Locally first (from a clean worktree of the commit to test): ../shared/gpu-host/pack bench/zoology_dynamics.ts .gpu-a; bundle
# bench/gpu_equiv.ts with esbuild as the pack script does into .gpu-a/equiv/app.mjs.xz. Run tool: carry [".gpu-a"].
# One device call: the 5 mixers the first GPU≡CPU call left uncompared, and issue 17's dynamics cells, side by side.
set -u
G=.gpu-a; rt=/tmp/gpu-host; mkdir -p $rt/root $G/node_modules/webgpu/dist/linux-x64 $G/equiv
xz -dc $G/node.xz > $rt/node && chmod +x $rt/node
xz -dc $G/node_modules/webgpu/dawn.node.xz > $G/node_modules/webgpu/dist/linux-x64/dawn.node
for f in $G/debs/*.deb; do dpkg -x $f $rt/root; done
xz -dc $G/equiv/app.mjs.xz > $G/equiv/app.mjs && ln -sfn ../node_modules $G/equiv/node_modules
sed 's#"$dir/app.mjs"#"$dir/equiv/app.mjs"#' $G/run > $G/run-equiv
nvidia-smi -L
(bash $G/run-equiv --out /tmp/eq/gpu-equiv --mixers 'hyena,h3,baseconv (zoology-fig2),deltanet,gla' --jobs 5 --deadline-s 285 > /tmp/eq.log 2>&1; echo "equiv rc=$?" >> /tmp/eq.log) &
sleep 5
(CELL=L64 LIMIT=290 OUT=/tmp/dyn bash bench/zoology_dynamics.sh > /tmp/dyn-L64.md 2>&1) &
sleep 5
(CELL=L256 LIMIT=280 OUT=/tmp/dyn bash bench/zoology_dynamics.sh > /tmp/dyn-L256.md 2>&1) &
wait
tar czf $OUT/call.tgz /tmp/eq /tmp/eq.log /tmp/dyn /tmp/dyn-L64.md /tmp/dyn-L256.md 2>/dev/null
grep '|' /tmp/dyn-L64.md /tmp/dyn-L256.md; tail -5 /tmp/eq.log; cat /tmp/eq/gpu-equiv.md 2>/dev/null | tail -12
