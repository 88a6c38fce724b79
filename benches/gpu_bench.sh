#!/usr/bin/env bash
# Issue 4's GPU measurements, as one call on a CUDA machine (the H200 the device tool lends):
#  1. training-step throughput, ResNet-50 @ 224×224, batch 10 + 10 (as benches/train_bench.sh),
#     awmt vs PyTorch eager, fp32 / bf16 / bf16 + channels-last, and the projected wall time of
#     the paper's CelebA protocol (130,000 iterations);
#  2. packing: 1, 4 and 8 such trainings at once on the one GPU (images/s per training and in
#     total, and the projected wall time of Table 1's 42 trainings);
#  3. the `train` and `evaluate` stages themselves on the GPU (benches/gpu_check.yaml: bf16,
#     channels-last).
#
# Here (builds target/gpu/: stripped awmt, awmt-worker, train_step, packed as target/gpu.tar.xz):
#   make gpu-bench-bin
# There (carry target/gpu.tar.xz; the machine's own python3 must hold torch 2.11, whose libtorch
# the binaries load through LD_LIBRARY_PATH):
#   bash benches/gpu_bench.sh [steps=60] [out_dir=$OUT or a temp dir]
set -euo pipefail
cd "$(dirname "$0")/.."
STEPS=${1:-60}
RESULTS=${2:-${OUT:-$(mktemp -d)}}
mkdir -p "$RESULTS"
PY=${PYTHON:-python3}
TORCH_LIB=$("$PY" -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "lib"))')
export LD_LIBRARY_PATH="$TORCH_LIB${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
BIN=target/gpu
if [ ! -x "$BIN/train_step" ] && [ -f target/gpu.tar.xz ]; then
  tar -C target -xJf target/gpu.tar.xz
fi
for b in awmt awmt-worker train_step; do
  [ -x "$BIN/$b" ] || { echo "missing $BIN/$b: run 'make gpu-bench-bin' first and carry target/gpu.tar.xz" >&2; exit 2; }
done
{
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
  "$PY" -c 'import torch, torchvision; print("torch", torch.__version__, "torchvision", torchvision.__version__, "cuda", torch.version.cuda)'
  nproc
} | tee "$RESULTS/machine.txt"

RAW="$RESULTS/steps.jsonl"
: >"$RAW"
for flags in "--precision=fp32" "--precision=bf16" "--precision=bf16 --channels-last"; do
  # Alternate which side goes first; two rounds each.
  for round in 1 2; do
    if [ "$round" = 1 ]; then
      "$BIN/train_step" resnet50 224 "$STEPS" 8 --device=cuda $flags | tee -a "$RAW"
      "$PY" benches/train_bench.py resnet50 224 "$STEPS" 8 --device=cuda $flags | tee -a "$RAW"
    else
      "$PY" benches/train_bench.py resnet50 224 "$STEPS" 8 --device=cuda $flags | tee -a "$RAW"
      "$BIN/train_step" resnet50 224 "$STEPS" 8 --device=cuda $flags | tee -a "$RAW"
    fi
  done
done

# Packing (issue 15): P trainings at once on the one GPU, as `resources: {gpus: 1/P}` places them;
# bf16 + channels-last, each on 2 CPU threads. images/s per training and in total.
PACKED="$RESULTS/packed.jsonl"
: >"$PACKED"
for P in 1 4 8; do
  pids=()
  for i in $(seq "$P"); do
    "$BIN/train_step" resnet50 224 "$STEPS" 2 --device=cuda --precision=bf16 --channels-last \
      | sed "s/^{/{\"packed\":$P,/" >>"$PACKED" &
    pids+=($!)
  done
  for pid in "${pids[@]}"; do wait "$pid" || echo "a packed training ($P at once) FAILED"; done
done

# The real stage, end to end (its log and summary come back under $RESULTS).
start=$(date +%s)
AWMT_GPU_ITERATIONS=${AWMT_GPU_ITERATIONS:-300} "$BIN/awmt" run benches/gpu_check.yaml --cache "$PWD/.gpu-cache" \
  --json >"$RESULTS/gpu_check_run.json" 2>"$RESULTS/gpu_check_run.log" || echo "gpu_check pipeline FAILED (see gpu_check_run.log)"
echo "gpu_check pipeline: $(( $(date +%s) - start )) s"
cp reports/gpu_check/resnet50_bf16/train_summary.json "$RESULTS/" 2>/dev/null || true
cp reports/gpu_check/eval/metrics.json "$RESULTS/" 2>/dev/null || true

"$PY" - "$RAW" "$RESULTS" <<'PY'
import json, os, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
best = {}
for r in rows:
    key = (r["precision"], r["channels_last"], r["impl"])
    best[key] = max(best.get(key, 0), r["images_per_second"])
lines = ["| ResNet-50 @ 224x224, batch 10+10, H200 | awmt img/s | PyTorch eager img/s | awmt / PyTorch | awmt: 130k iterations |",
         "|---|---:|---:|---:|---:|"]
for prec, cl in (("fp32", False), ("bf16", False), ("bf16", True)):
    a, p = best.get((prec, cl, "awmt")), best.get((prec, cl, "pytorch"))
    if a is None or p is None:
        continue
    hours = 130000 * 20 / a / 3600
    lines.append(f"| {prec}{' + channels-last' if cl else ''} | {a:,.0f} | {p:,.0f} | {a / p:.2f}x | {hours:.2f} h |")
summary = os.path.join(sys.argv[2], "train_summary.json")
if os.path.exists(summary):
    s = json.load(open(summary))
    t = s.get("timing", {})
    lines.append(f"\ntrain stage (benches/gpu_check.yaml): {s.get('iterations')} iterations, "
                 f"{t.get('images_per_second', 0):,.0f} images/s, wall {t.get('wall_seconds', 0):.1f} s, device {s.get('device')}")
packed = [json.loads(l) for l in open(os.path.join(sys.argv[2], "packed.jsonl")) if l.startswith("{")]
if packed:
    lines += ["", "| trainings at once on one GPU (bf16 + channels-last) | img/s per training | img/s in total | 42 × 130k iterations |",
              "|---:|---:|---:|---:|"]
    for p in sorted({r["packed"] for r in packed}):
        runs = [r["images_per_second"] for r in packed if r["packed"] == p]
        total = sum(runs)
        hours = 42 * 130000 * 20 / total / 3600
        lines.append(f"| {p} ({len(runs)} finished) | {total / len(runs):,.0f} | {total:,.0f} | {hours:.1f} h |")
text = "\n".join(lines)
print(text)
open(os.path.join(sys.argv[2], "summary.md"), "w").write(text + "\n")
PY
