#!/usr/bin/env bash
# One device call's worth of benchmark runs on the GPU host (see bench/RESULTS.md for what each produced).
# Locally first:  ../shared/gpu-host/pack bench/step.ts .gpu-bench
# On the host:    bash bench/gpu_session.sh MODE...   (logs and JSON under $OUT, default ./bench-out)
#   info      GPU, driver, cores, torch version                         -> device.txt
#   torch     PyTorch eager comparator, every mixer/batch/head          -> torch.json
#   ladder    attention B64: stock, then each lever added in turn, with tf.profile attribution
#   stock     attention and BASED at B64 and B256, stock tfjs (few steps: it is slow)
#   fast      the same with the fast path, profiled (kernels, GPU time, busy fraction), ratios vs torch.json
#   nodrop    fast path with dropout 0 (what a GPU-side dropout leaves: see ops/dropout/), profiled
#   levers0   dropout 0, every lever removed in turn from the fast path (each lever's marginal effect)
#   accuracy  short MQAR training run, fast path vs reference path, same seed
#   prof      host-time attribution: node --cpu-prof of the fast path (dropout 0) for attention B64 and BASED B256,
#             summarised by bench/cpuprof_top.py
#   conc      sweep throughput: 1, 2, 4, 8 concurrent training processes (fast path, attention B64)
#   submit    WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE 15 (tfjs's default) / 60 / 240, one process each, per mixer at B64,
#             SUBMIT_ROUNDS (3) alternated passes
#   concstack n processes × stacks of R (CONC_MIXERS, CONC_STACKS, CONC_COUNTS; based-fig2's shapes), summed run-steps/s;
#             CONC_VARIANTS (default "default") fast paths in turn, each as given (repeat them to alternate rounds)
#   recur     the fused recurrences: Mamba, RWKV, GLA, DeltaNet, Gated DeltaNet, Based at B64 with the fast path, and with
#             the scan / wkv / delta / selectiveScan / linearAttention lever off; H3 and Hyena with and without longConv;
#             DeltaNet and BaseConv with and without shortConv
#   stack     stacked runs: R = 1, 2, 4, 8, 16 learning rates as one model (--stacks) for the stackable mixers, run-steps/s;
#             then --check-stack: each run of a stack of 4 against the run alone on this GPU (losses 1e-3, parameters 1e-2)
#   mixers    every registered mixer at B64 with the default fast path (the per-mixer step table: what a user gets;
#             VARIANTS=fast for every lever), ratios vs torch.json
#             (DROPOUT, default 0.1, is passed to both torch and mixers so that their rows compare like with like)
# BENCH_RUN overrides the bundle's runner (default `bash .gpu-bench/run`; e.g. `bash .gpu-c/run-step` for a step.ts
# bundle packed beside another entry).
set -uo pipefail
OUT=${OUT:-$PWD/bench-out}
mkdir -p "$OUT"
run=(${BENCH_RUN:-bash .gpu-bench/run})
steps=${STEPS:-8}
for mode in "$@"; do
  echo "=== $mode ($(date -u +%H:%M:%S))"
  case $mode in
    info)
      { nvidia-smi -L; nvidia-smi --query-gpu=driver_version,clocks.sm,clocks.mem --format=csv; nproc; python3 -c 'import torch; print("torch", torch.__version__)'; } 2>&1 | tee "$OUT/device.txt" ;;
    torch)
      PYTHONUNBUFFERED=1 timeout "${TORCH_TIMEOUT:-200}" python3 bench/torch_step.py --mixers "${TORCH_MIXERS:-all}" --dropout "${DROPOUT:-0.1}" --steps 30 --warmup 5 ${TORCH_FLAGS:-} --out "$OUT/torch.json" 2>&1 | tee "$OUT/torch.log" ;;
    recur)
      # each mixer with every lever on, then with each of its own fused kernels' levers off (one process per mixer)
      for spec in ${RECUR:-mamba:fast,fast-scan,fast-selectiveScan,fast-selectiveScanRegisters,fast-swizzle rwkv:fast,fast-wkv gla:fast,fast-gla,fast-scan deltanet:fast,fast-delta,fast-deltaRegisters,fast-shortConv,fast-rmsNorm,fast-swizzle gated-deltanet:fast,fast-delta,fast-deltaRegisters,fast-rmsNorm,fast-swizzle based:fast,fast-linearAttention h3:fast,fast-longConv,fast-ssmKernel,fast-narrowSum hyena:fast,fast-longConv baseconv:fast,fast-shortConv mamba2:fast,fast-ssd,fast-scan rwkv7:fast,fast-generalizedDelta,fast-deltaRegisters,fast-swizzle}; do
        timeout 150 "${run[@]}" --mixers "${spec%%:*}" --batches 64 --variants "${spec#*:}" --dropout 0 --steps "$steps" --warmup 3 --label recur --torch "$OUT/torch.json" --out "$OUT/tfjs.jsonl" 2>&1 | tee -a "$OUT/tfjs.log"
      done ;;
    mixers)
      timeout 400 "${run[@]}" --mixers "${MIXERS:-attention,based,baseconv,sliding-window,linear-attention,hyena,h3,jrt-rnn,gla,deltanet,gated-deltanet,rwkv,mamba,mamba2,m2,scatterbrain,bounded-cache}" --batches 64 --variants "${VARIANTS:-default}" --dropout "${DROPOUT:-0.1}" --steps "$steps" --warmup 3 --label mixers --torch "$OUT/torch.json" --out "$OUT/tfjs.jsonl" 2>&1 | tee -a "$OUT/tfjs.log" ;;
    ladder)
      timeout 240 "${run[@]}" --mixers attention --batches 64 --variants ladder --profile --steps "$steps" --warmup 2 --label ladder --out "$OUT/tfjs.jsonl" 2>&1 | tee -a "$OUT/tfjs.log" ;;
    stock)
      timeout 200 "${run[@]}" --mixers attention,based --batches 64,256 --variants stock --steps 3 --warmup 1 --label stock --torch "$OUT/torch.json" --out "$OUT/tfjs.jsonl" 2>&1 | tee -a "$OUT/tfjs.log" ;;
    fast)
      timeout 200 "${run[@]}" --mixers attention,based --batches 64,256 --variants fast --profile --steps "$steps" --warmup 3 --label fast --torch "$OUT/torch.json" --out "$OUT/tfjs.jsonl" 2>&1 | tee -a "$OUT/tfjs.log" ;;
    nodrop)
      timeout 200 "${run[@]}" --mixers attention,based --batches 64,256 --variants fast --dropout 0 --profile --steps "$steps" --warmup 3 --label nodrop --torch "$OUT/torch.json" --out "$OUT/tfjs.jsonl" 2>&1 | tee -a "$OUT/tfjs.log" ;;
    levers0)
      timeout 200 "${run[@]}" --mixers attention,based --batches 64 --variants drop-ladder --dropout 0 --steps "$steps" --warmup 3 --label levers0 --out "$OUT/tfjs.jsonl" 2>&1 | tee -a "$OUT/tfjs.log" ;;
    prof)
      for cfg in "attention 64" "based 256"; do
        set -- $cfg
        rm -rf /tmp/prof && mkdir -p /tmp/prof
        timeout 120 "${run[@]}" --mixers "$1" --batches "$2" --variants fast --dropout 0 --steps 40 --warmup 3 --label "prof-$1-$2" --cpu-prof /tmp/prof/step.cpuprofile > /tmp/prof.log 2>&1
        grep -E "ms/step|Error" /tmp/prof.log | tee -a "$OUT/prof.log"
        python3 bench/cpuprof_top.py /tmp/prof/step.cpuprofile 25 2>&1 | tee -a "$OUT/prof.log"
      done ;;
    accuracy)
      timeout 300 "${run[@]}" --mixers attention --batches 64 --variants fast --steps 2 --warmup 1 --check-accuracy --label accuracy --out "$OUT/tfjs.jsonl" 2>&1 | tee -a "$OUT/accuracy.log" ;;
    conc)
      for n in 1 2 4 8; do
        start=$(date +%s.%N)
        mkdir -p /tmp/conc
        for i in $(seq "$n"); do
          timeout "${CONC_TIMEOUT:-200}" "${run[@]}" --mixers attention --batches 64 --variants "${CONC_VARIANTS:-fast}" --steps 20 --warmup 3 --label "conc$n" > "/tmp/conc/conc$n-$i.log" 2>&1 &
        done
        wait
        end=$(date +%s.%N)
        echo "concurrency $n: $(awk -v s="$start" -v e="$end" -v n="$n" 'BEGIN{printf "%.1f s wall for %d x 24 steps (incl. start-up): %.2f steps/s", e-s, n, n*24/(e-s)}')" | tee -a "$OUT/conc.log"
        grep -h "ms/step" /tmp/conc/conc"$n"-*.log | tee -a "$OUT/conc.log"
      done ;;
    concstack)
      # several processes × stacks at the paper grids' shapes: n processes at once, each training stacks of R (R 1: runs
      # alone, today's sweep without --stack), summed run-steps/s over the processes (each timed after CONC_WARMUP_S s
      # of steps, so the others are past their start-up); CONC_SHAPE defaults to based-fig2's main slice
      for mixer in ${CONC_MIXERS:-attention based mamba}; do
        for R in ${CONC_STACKS:-1 4}; do
          for n in ${CONC_COUNTS:-1 4 8}; do
           for variant in ${CONC_VARIANTS:-default}; do
            mkdir -p /tmp/cs && rm -f /tmp/cs/*.log
            for i in $(seq "$n"); do
              timeout "${CONC_TIMEOUT:-90}" "${run[@]}" --mixers "$mixer" ${CONC_SHAPE:---batches 256 --d-model 64 --seq-len 64 --kv 4 --vocab 8192} --stacks "$R" --variants "$variant" --dropout 0 --steps "${CONC_STEPS:-30}" --warmup 3 --warmup-seconds "${CONC_WARMUP_S:-6}" --label "concstack-$mixer-R$R-n$n-$variant" > "/tmp/cs/$i.log" 2>&1 &
            done
            wait
            done_n=$(grep -l "ms/step" /tmp/cs/*.log | wc -l)
            sum=$(grep -h "ms/step" /tmp/cs/*.log | awk -v R="$R" '{ for (i = 1; i <= NF; i++) if ($i == "ms/step" || $i == "ms/step:") ms = $(i-1); rate = (R > 1) ? R * 1000 / ms : 1000 / ms; s += rate } END { printf "%.0f", s }')
            echo "concstack $mixer R$R x $n processes, $variant: $sum run-steps/s summed ($done_n of $n timed)" | tee -a "$OUT/concstack.log"
            grep -h "ms/step\|FAULT" /tmp/cs/*.log >> "$OUT/concstack.log"
            # a process that printed no timing: its last lines (2026-11-29: 2 of 8 untimed in every round, cause not seen)
            for f in $(grep -L "ms/step" /tmp/cs/*.log); do echo "untimed process $f:"; tail -n 5 "$f"; done >> "$OUT/concstack.log"
           done
          done
        done
      done ;;
    submit)
      # command-buffer batching: tfjs-backend-webgpu ends its compute pass and submits every
      # WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE dispatches (15 by default; accel/webgpu/dispatch.ts follows it); a host-bound
      # step pays each submit. One process per value, the same mixers, dropout 0 (the numbers do not change: only
      # when the GPU is told to start). SUBMIT_ROUNDS passes over the sizes, alternated (one pass on 2026-11-30 spread
      # by up to 4x between neighbours): npx tsx bench/submit_summary.ts submit.log takes each mixer's median per size
      for round in $(seq 1 "${SUBMIT_ROUNDS:-3}"); do
        for v in ${SUBMIT_SIZES:-15 60 240}; do
          timeout "${SUBMIT_TIMEOUT:-150}" "${run[@]}" --mixers "${SUBMIT_MIXERS:-attention,based,mamba,rwkv,rwkv7,deltanet,gla,hyena}" --batches "${SUBMIT_BATCHES:-64}" --variants default --dropout 0 --steps "$steps" --warmup 3 --tf-flag "WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE=$v" --label "submit-$v-r$round" --out "$OUT/tfjs.jsonl" 2>&1 | grep -E "ms/step|FAULT|rror|benchmark:" | tee -a "$OUT/submit.log"
        done
      done ;;
    stack)
      # stacked runs (engine/stack.ts): one process, the run alone then stacks of 2..16 learning rates, for the stackable
      # layouts of the paper grids (attention, the BASED hybrid's parts, sliding window); run-steps/s against R = 1 is
      # the throughput a sweep gains with --stack (compare with conc: several processes at once)
      timeout "${STACK_TIMEOUT:-400}" "${run[@]}" --mixers "${STACK_MIXERS:-attention,based,baseconv,sliding-window,mamba,rwkv}" --batches "${STACK_BATCHES:-64}" --variants default --steps "$steps" --warmup 2 --stacks "${STACKS:-1,2,4,8,16}" --dropout "${DROPOUT:-0.1}" --label stack --out "$OUT/tfjs.jsonl" 2>&1 | tee -a "$OUT/stack.log"
      # stack ≡ alone on this GPU: R = 4 learning rates stacked and each alone, 20 steps, the same batches
      timeout "${CHECK_TIMEOUT:-300}" "${run[@]}" --mixers "${STACK_MIXERS:-attention,based,baseconv,sliding-window,mamba,rwkv}" --batches 16 --stacks 4 --steps 20 --check-stack --variants default --dropout "${DROPOUT:-0.1}" --label stack-check --out "$OUT/tfjs.jsonl" 2>&1 | grep -E 'stack check|rror' | tee -a "$OUT/stack.log" ;;
    *) echo "unknown mode $mode" ;;
  esac
done
