#!/usr/bin/env bash
# Per-iteration time of each gradient method, awmt (tch) vs LibMTL in PyTorch eager, side by side
# in the same run: same network (small_cnn @ 32×32 by default, frozen BN, one FC to 40 binary
# tasks), same 10 + 10 images, same threads; both modes. Rounds alternate the order of the two
# sides so that both see the same machine load; the summary keeps each side's best round.
# LibMTL 1.1.5 from PyPI (--no-deps, into target/libmtl); Nash-MTL, Aligned-MTL and FAMO are not
# in that release, CAGrad needs scipy, and LibMTL refuses PCGrad and CAGrad with representation
# gradients: those rows show awmt alone (the `equal` row is the floor both share).
# Usage: benches/grad_bench.sh [model] [size] [steps] [threads] [rounds]  (defaults small_cnn 32 10 1 2)
# Needs: PYTHON (default .bench-venv-torch/bin/python) with torch; AWMT_TRAIN_BENCH_BIN or a cargo build.
set -euo pipefail
cd "$(dirname "$0")/.."
MODEL=${1:-small_cnn}; SIZE=${2:-32}; STEPS=${3:-10}; THREADS=${4:-1}; ROUNDS=${5:-2}
PY=${PYTHON:-.bench-venv-torch/bin/python}
[ -d target/libmtl/LibMTL ] || "$PY" -m pip install --quiet --no-deps --target target/libmtl LibMTL==1.1.5
if [ -n "${AWMT_TRAIN_BENCH_BIN:-}" ]; then
    BIN=$AWMT_TRAIN_BENCH_BIN
else
    cargo build --release --bench train_step >&2
    BIN=$(ls -t target/release/deps/train_step-* | grep -v '\.d$' | head -1)
fi
HAS_SCIPY=$("$PY" -c 'import scipy' 2>/dev/null && echo 1 || echo 0)
OUT=$(mktemp)
awmt_run() { "$BIN" "$MODEL" "$SIZE" "$STEPS" "$THREADS" --weighting="$1" ${2:+--mode=$2} >> "$OUT"; }
libmtl_run() { "$PY" benches/grad_bench.py target/libmtl "$MODEL" "$SIZE" "$STEPS" "$THREADS" "$1" "$2" >> "$OUT" || echo "LibMTL $1 ($2) failed" >&2; }
pair() { # awmt-name LibMTL-name mode
    for round in $(seq "$ROUNDS"); do
        if [ $((round % 2)) = 1 ]; then awmt_run "$1" "$3"; libmtl_run "$2" "$3"; else libmtl_run "$2" "$3"; awmt_run "$1" "$3"; fi
    done
}
pair equal EW parameters
for mode in parameters representation; do
    pair mgda MGDA $mode
    # LibMTL refuses PCGrad and CAGrad with representation gradients.
    if [ $mode = parameters ]; then pair pcgrad PCGrad $mode; else for r in $(seq "$ROUNDS"); do awmt_run pcgrad $mode; done; fi
    pair gradnorm GradNorm $mode
    pair imtl IMTL $mode
    if [ "$HAS_SCIPY" = 1 ] && [ $mode = parameters ]; then pair cagrad CAGrad $mode; else for r in $(seq "$ROUNDS"); do awmt_run cagrad $mode; done; fi
    for r in $(seq "$ROUNDS"); do awmt_run nash_mtl $mode; awmt_run aligned_mtl $mode; done
done
for r in $(seq "$ROUNDS"); do awmt_run famo ""; done
cat "$OUT"
"$PY" - "$OUT" <<'PYEOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
best = {}
for r in rows:
    ms = r.get("ms_per_step") or 1000 * r["seconds"] / r["steps"]
    name = r["weighting"].lower().replace("ew", "equal")
    key = (name, r["mode"] or "parameters", r["impl"])
    best[key] = min(best.get(key, 1e18), ms)
print("\n| method | mode | awmt ms/iteration | LibMTL ms/iteration | awmt / LibMTL |")
print("|---|---|---|---|---|")
seen = []
for (name, mode, impl) in best:
    if impl == "awmt" and (name, mode) not in seen:
        seen.append((name, mode))
for name, mode in seen:
    a = best[(name, mode, "awmt")]
    l = best.get((name, mode, "libmtl"))
    ratio = f"{a / l:.2f}×" if l else "— (no LibMTL counterpart here)"
    print(f"| {name} | {mode if name != 'famo' else '—'} | {a:.1f} | {f'{l:.1f}' if l else '—'} | {ratio} |")
PYEOF
rm -f "$OUT"
