#!/usr/bin/env bash
# Pack the CLI, the step benchmark and the GPU ≡ CPU check into ONE folder, .gpu, so that one device call can check a
# pending lever (bench/gpu_check_pending.sh) and then run a campaign stretch (bench/campaign_stretch.sh) — and the
# calls after it, chained on the warm machine, find everything in place. The three entries share one Node and one
# Dawn (the packs' node_modules are the same files); each entry travels xz-compressed (≈ 1 MB instead of 6–9) and is
# unpacked next to the runner on first use, which keeps .gpu + the tracked tree well inside the 64 MiB a call carries.
#
#   here:  bash bench/pack_gpu_all.sh
#   host:  bash .gpu/run sweep …                      (recallbench's CLI, as ../shared/gpu-host/pack src/cli.ts makes it)
#          bash .gpu/run-step …                       (bench/step.ts)
#          bash .gpu/run-equiv …                      (bench/gpu_equiv.ts; its presets in .gpu/presets)
#          BUNDLE=.gpu bash bench/gpu_check_pending.sh equiv|speed|matmul
set -euo pipefail
rm -rf .gpu .gpu-pack-s .gpu-pack-e
../shared/gpu-host/pack src/cli.ts .gpu >/dev/null
# the commit the bundle was packed at (+ "-dirty" with uncommitted changes to tracked files): campaign_stretch.sh prints
# it, so a warm call that reuses the machine's bundle says which code trained it
echo "$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- 2>/dev/null || echo -dirty)" > .gpu/commit.txt
# Node travels without its debug sections and static symbol table (strip keeps .dynsym, which addons such as Dawn
# link against) and at xz -9e: 24.2 → 21.9 MB of the 64 MiB a call carries (2026-11-30; the WebGPU tests pass under
# the stripped binary). Cached beside pack's own copy; without strip here, pack's copy travels as it is.
node_cache=${GPU_HOST_CACHE:-$HOME/.cache/gpu-host}/node-$(node --version)-stripped.xz
if [ ! -f "$node_cache" ] && command -v strip >/dev/null; then
  node_tmp=$(mktemp)
  cp "$(readlink -f "$(command -v node)")" "$node_tmp" && chmod +x "$node_tmp" && strip "$node_tmp" && "$node_tmp" --version >/dev/null &&
    xz -T2 -9e -c "$node_tmp" > "$node_cache.part" && mv "$node_cache.part" "$node_cache"
  rm -f "$node_tmp" "$node_cache.part"
fi
[ -f "$node_cache" ] && cp "$node_cache" .gpu/node.xz
../shared/gpu-host/pack bench/step.ts .gpu-pack-s >/dev/null
../shared/gpu-host/pack bench/gpu_equiv.ts .gpu-pack-e >/dev/null
# The GPU ≡ CPU check's references train on tfjs-wasm, which pack leaves out (an external import the GPU host, with
# no node_modules, cannot resolve: its first call fell back to tfjs-cpu, 266 s). Its bundle is built again here with
# the wasm backend inlined (the same esbuild flags as pack's, that external dropped), __dirname defined for the
# backend's Emscripten loader, and the backend's SIMD .wasm binary beside it in .gpu, where that loader looks.
# (pack's flags, ../shared/gpu-host/pack step 1, but for that external: keep the two in step)
node_modules/.bin/esbuild bench/gpu_equiv.ts --bundle --platform=node --format=esm --target=node20 \
  --outfile=.gpu-pack-e/app.mjs --log-level=warning \
  --external:webgpu --external:@tensorflow/tfjs-node --external:@tensorflow/tfjs-node-gpu \
  --banner:js="import {createRequire as __cr} from 'module'; import {fileURLToPath as __fu} from 'url'; import {dirname as __dn} from 'path'; const require = __cr(import.meta.url); const __filename = __fu(import.meta.url); const __dirname = __dn(__filename);"
grep -q 'tfjs-backend-wasm-simd.wasm' .gpu-pack-e/app.mjs || { echo "pack_gpu_all: the wasm backend is not in the check's bundle" >&2; exit 1; }
# the banner's names are invisible to esbuild: a module of our own declaring __dirname would clash only at load time
node --check .gpu-pack-e/app.mjs || { echo "pack_gpu_all: the check's bundle does not parse (a name clashing with the banner's?)" >&2; exit 1; }
for side in .gpu-pack-s .gpu-pack-e; do
  diff -rq .gpu/node_modules "$side/node_modules" >/dev/null || { echo "pack_gpu_all: $side's node_modules differ from the CLI's: pack them apart (bench/pack_gpu_check.sh)" >&2; exit 1; }
done
xz -9 -c .gpu/app.mjs > .gpu/app.mjs.xz && rm .gpu/app.mjs   # keeps its name: the CLI knows its bundle by it
xz -9 -c .gpu-pack-s/app.mjs > .gpu/step.mjs.xz
xz -9 -c .gpu-pack-e/app.mjs > .gpu/equiv.mjs.xz
rm -rf .gpu-pack-s .gpu-pack-e
cp -r runners/presets .gpu/presets
# only the SIMD binary: Node loads that one (checked: the check starts wasm with it alone; the threaded and plain ones
# would add 0.75 MB to what every call carries)
cp node_modules/@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm .gpu/
# run / run-step / run-equiv: pack's runner with its last line pointed at the entry, unpacked on first use
line='exec "$rt/node" "$dir/app.mjs" "$@"'
grep -qxF "$line" .gpu/run || { echo "pack_gpu_all: pack's runner no longer ends in: $line" >&2; exit 1; }
# (unpacked through a temporary file and a rename: a call killed mid-unpack leaves no truncated entry behind)
for pair in run:app run-step:step run-equiv:equiv; do
  name=${pair%%:*} entry=${pair#*:}
  sed "s#^exec \"\$rt/node\" \"\$dir/app.mjs\" \"\$@\"\$#[ -f \"\$dir/$entry.mjs\" ] || { xz -dc \"\$dir/$entry.mjs.xz\" > \"\$dir/$entry.mjs.tmp.\$\$\" \&\& mv -f \"\$dir/$entry.mjs.tmp.\$\$\" \"\$dir/$entry.mjs\"; }\nexec \"\$rt/node\" \"\$dir/$entry.mjs\" \"\$@\"#" .gpu/run > ".gpu/$name.new"
done
for name in run run-step run-equiv; do mv ".gpu/$name.new" ".gpu/$name"; done
# the runner unpacks its Vulkan/GL debs on every start where ldconfig lacks them, all into one folder: runners started
# at once (gpu_session.sh concstack's processes) raced there ("File exists") and 3 of 4 died on 2026-11-29. Each now
# unpacks into a folder of its own and renames it into place once; later starts find the marker. Node and dawn.node
# (unpacked on a fresh machine's first start, as the pin probe's two runners do at once) go through temporary files
# of their own and a rename too, so a runner never executes a file another one is still writing.
python3 - .gpu/run .gpu/run-step .gpu/run-equiv <<'PY' || { echo "pack_gpu_all: could not make the runners' unpacking atomic" >&2; exit 1; }
import sys
edits = [
    ('  for f in "$dir"/debs/*.deb; do dpkg -x "$f" "$rt/root"; done\n',
     '  [ -f "$rt/root/.unpacked" ] || { t=$(mktemp -d "$rt/root.XXXXXX"); for f in "$dir"/debs/*.deb; do dpkg -x "$f" "$t"; done; '
     'touch "$t/.unpacked"; mv -T "$t" "$rt/root" 2>/dev/null || rm -rf "$t"; }\n'),
    ('  xz -dc "$dir/node.xz" > "$rt/node.tmp" && chmod +x "$rt/node.tmp" && mv "$rt/node.tmp" "$rt/node"\n',
     '  xz -dc "$dir/node.xz" > "$rt/node.tmp.$$" && chmod +x "$rt/node.tmp.$$" && mv -f "$rt/node.tmp.$$" "$rt/node"\n'),
    ('  mkdir -p "$w" && xz -dc "$dir/node_modules/webgpu/dawn.node.xz" > "$w/dawn.node"\n',
     '  mkdir -p "$w" && xz -dc "$dir/node_modules/webgpu/dawn.node.xz" > "$w/dawn.node.tmp.$$" && mv -f "$w/dawn.node.tmp.$$" "$w/dawn.node"\n'),
]
for path in sys.argv[1:]:
    text = open(path).read()
    for old, new in edits:
        if text.count(old) != 1: sys.exit(f"{path}: a line it unpacks with is not pack's any more: {old.strip()}")
        text = text.replace(old, new)
    open(path, 'w').write(text)
PY
grep -q 'app.mjs.xz' .gpu/run && grep -q 'step.mjs' .gpu/run-step && grep -q 'equiv.mjs' .gpu/run-equiv || { echo "pack_gpu_all: could not derive the runners" >&2; exit 1; }
# what travels: tracked and untracked-not-ignored files that exist (a deleted, not yet committed file does not), summed
# by one du (through xargs, a long list would be summed in parts and only the last part's total read)
tracked=$(git ls-files -z --cached --others --exclude-standard | while IFS= read -r -d '' f; do [ -f "$f" ] && printf '%s\0' "$f"; done | du -cb --files0-from=- | tail -1 | cut -f1)
bundle=$(du -sb .gpu | cut -f1)
echo "pack_gpu_all: .gpu $((bundle / 1048576)) MiB + tracked tree $((tracked / 1048576)) MiB = $(((bundle + tracked) / 1048576)) MiB of the 64 MiB a call may carry"
