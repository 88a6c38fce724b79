#!/usr/bin/env bash
# Training-step throughput, awmt (tch) vs PyTorch eager, same threads and shapes, side by side:
# the quickstart's small_cnn @ 32×32 on one thread (how the quickstart runs its trainings, two at a
# time), ResNet-18 @ 64×64 and ResNet-50 @ 224×224; 10 train + 10 val images forward, 10 backward.
# Creates a bench-only venv (.bench-venv-torch, shared with decode_bench.sh: torch==2.11.0 + torchvision 0.26.0 from PyPI) once.
# Usage: benches/train_bench.sh [threads] [steps18] [steps50] [rounds] [steps_small]   (defaults: 2, 20, 3, 4, 200)
set -euo pipefail
cd "$(dirname "$0")/.."
THREADS=${1:-2}
STEPS18=${2:-20}
STEPS50=${3:-3}
ROUNDS=${4:-4}
STEPS_SMALL=${5:-200}
VENV=.bench-venv-torch
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'import torch, torchvision' 2>/dev/null; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet torch==2.11.0 torchvision==0.26.0
fi
: "${LIBTORCH:=$(ls -d "$PWD"/.venv/lib/python3*/site-packages/torch 2>/dev/null | head -1)}"
export LIBTORCH
# AWMT_TRAIN_BENCH_BIN: an already built bench binary (skips the cargo build).
if [ -n "${AWMT_TRAIN_BENCH_BIN:-}" ]; then
    BIN=$AWMT_TRAIN_BENCH_BIN
else
    cargo build --release --locked -p awmt-torch --bench train_step >&2
    BIN=$(ls -t target/release/deps/train_step-* | grep -v '\.d$' | head -1)
fi

run_pair() { # model size steps [threads]: ROUNDS alternations, the order flipped every round, so both
    # sides sample the same machine load; the summary keeps each side's best run.
    for round in $(seq "$ROUNDS"); do
        if [ $((round % 2)) = 1 ]; then
            "$BIN" "$1" "$2" "$3" "${4:-$THREADS}"
            "$VENV/bin/python" benches/train_bench.py "$1" "$2" "$3" "${4:-$THREADS}"
        else
            "$VENV/bin/python" benches/train_bench.py "$1" "$2" "$3" "${4:-$THREADS}"
            "$BIN" "$1" "$2" "$3" "${4:-$THREADS}"
        fi
    done
}
RAW=$(mktemp)
{
    run_pair small_cnn 32 "$STEPS_SMALL" 1
    run_pair resnet18 64 "$STEPS18"
    run_pair resnet50 224 "$STEPS50"
} | tee "$RAW" >&2
python3 - "$RAW" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
best = {}
threads = {}
for r in rows:
    threads[(r["model"], r["size"])] = r["threads"]
    key = (r["model"], r["size"], r["impl"])
    best[key] = max(best.get(key, 0), r["images_per_second"])
runs = {}
for r in rows:
    runs.setdefault((r["model"], r["size"], r["impl"]), []).append(r["images_per_second"])
print("| model @ input | threads | awmt img/s (best; all runs) | PyTorch eager img/s (best; all runs) | awmt / PyTorch (best) |")
print("|---|---|---|---|---|")
for (model, size) in sorted({(m, s) for (m, s, _) in best}):
    a, p = best[(model, size, "awmt")], best[(model, size, "pytorch")]
    ra = ", ".join(f"{v:.1f}" for v in runs[(model, size, "awmt")])
    rp = ", ".join(f"{v:.1f}" for v in runs[(model, size, "pytorch")])
    print(f"| {model} @ {size}x{size} | {threads[(model, size)]} | {a:.1f} ({ra}) | {p:.1f} ({rp}) | {a / p:.2f}x |")
PY
rm -f "$RAW"
