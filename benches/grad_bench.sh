#!/usr/bin/env bash
# Per-iteration time of each gradient method (and FAMO), awmt (tch) vs its reference in PyTorch
# eager, side by side in the same run: same network (small_cnn @ 32×32 by default, frozen BN, one
# FC to 40 binary tasks), same 10 + 10 images, same threads; both gradient modes. References
# (benches/grad_bench.py says which code each is): LibMTL 1.1.5 for EW, MGDA, PCGrad, GradNorm,
# IMTL and CAGrad (its three-task reshape generalised); LibMTL's gradient plumbing around torchjd
# 0.18's ports of the authors' Nash-MTL and Aligned-MTL; a FAMO reference written from the paper.
# LibMTL refuses PCGrad and CAGrad with representation gradients: those rows show awmt alone.
# Each round runs every pair back to back, the order of the two sides flipped every round, so both
# see the same machine load; the summary gives each side's median over the rounds and the median
# of the per-round ratios (awmt / reference), the figure to quote on a loaded machine.
# Usage: benches/grad_bench.sh [model] [size] [steps] [threads] [rounds] [cheap_steps]
#   (defaults small_cnn 32 10 1 5 and 10 × steps: the timed iterations of `equal` and FAMO, whose
#   iterations are ~20× cheaper, so that their timings are not dominated by noise)
# GRAD_BENCH_ONLY="equal famo ..." (awmt names) restricts the run to those rows.
# Needs: benches/bench_python.sh's Python (the bench venv, or $PYTHON); AWMT_TRAIN_BENCH_BIN or a cargo build.
set -euo pipefail
cd "$(dirname "$0")/.."
MODEL=${1:-small_cnn}; SIZE=${2:-32}; STEPS=${3:-10}; THREADS=${4:-1}; ROUNDS=${5:-5}; CHEAP_STEPS=${6:-$((10 * STEPS))}
ONLY=${GRAD_BENCH_ONLY:-}
. benches/bench_python.sh
bench_python || exit 1
if [ -n "${AWMT_TRAIN_BENCH_BIN:-}" ]; then
    BIN=$AWMT_TRAIN_BENCH_BIN
else
    cargo build --release --locked -p awmt-torch --bench train_step >&2
    BIN=$(ls -t target/release/deps/train_step-* | grep -v '\.d$' | head -1)
fi
OUT=$(mktemp)
steps_of() { case $1 in equal|EW|famo|FAMO) echo "$CHEAP_STEPS" ;; *) echo "$STEPS" ;; esac; }
awmt_run() { # FAMO is loss-based: no --mode
    if [ -n "$ONLY" ] && [[ " $ONLY " != *" $1 "* ]]; then return 0; fi
    local mode=$2; [ "$1" = famo ] && mode=
    "$BIN" "$MODEL" "$SIZE" "$(steps_of "$1")" "$THREADS" --weighting="$1" ${mode:+--mode=$mode} | sed "s/}\$/,\"round\":$round}/" >> "$OUT"; }
ref_run() { "$PY" benches/grad_bench.py "$LIBMTL_DIR" "$MODEL" "$SIZE" "$(steps_of "$1")" "$THREADS" "$1" "$2" | sed "s/}\$/, \"round\": $round}/" >> "$OUT" || echo "reference $1 ($2) failed" >&2; }
pair() { # awmt-name reference-name mode
    if [ -n "$ONLY" ] && [[ " $ONLY " != *" $1 "* ]]; then return 0; fi
    if [ $((round % 2)) = 1 ]; then awmt_run "$1" "$3"; ref_run "$2" "$3"; else ref_run "$2" "$3"; awmt_run "$1" "$3"; fi
}
for round in $(seq "$ROUNDS"); do
    echo "round $round of $ROUNDS ($(date -u +%H:%M:%S), load $(cut -d' ' -f1-3 /proc/loadavg))" >&2
    pair equal EW parameters
    for mode in parameters representation; do
        pair mgda MGDA $mode
        if [ $mode = parameters ]; then pair pcgrad PCGrad $mode; pair cagrad CAGrad $mode; else awmt_run pcgrad $mode; awmt_run cagrad $mode; fi
        pair gradnorm GradNorm $mode
        pair imtl IMTL $mode
        pair nash_mtl NashMTL $mode
        pair aligned_mtl AlignedMTL $mode
    done
    pair famo FAMO parameters
done
cat "$OUT"
"$PY" - "$OUT" <<'PYEOF'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
names = {"ew": "equal", "nashmtl": "nash_mtl", "alignedmtl": "aligned_mtl"}
runs = {}
for r in rows:
    ms = r.get("ms_per_step") or 1000 * r["seconds"] / r["steps"]
    name = r["weighting"].lower()
    name = names.get(name, name)
    mode = "—" if name in ("equal", "famo") else (r["mode"] or "parameters")
    runs.setdefault((name, mode), {}).setdefault(r["impl"], {})[r["round"]] = ms
print("\n| method | mode | awmt ms/iteration (median) | reference ms/iteration (median) | awmt / reference (median of per-round ratios; all rounds) |")
print("|---|---|---|---|---|")
for (name, mode), sides in runs.items():
    a = sides.get("awmt", {})
    ref = sides.get("reference", {})
    med_a = statistics.median(a.values())
    if ref:
        ratios = [a[k] / ref[k] for k in sorted(a) if k in ref]
        cell = f"**{statistics.median(ratios):.2f}×** ({', '.join(f'{x:.2f}' for x in ratios)})"
        print(f"| {name} | {mode} | {med_a:.1f} | {statistics.median(ref.values()):.1f} | {cell} |")
    else:
        print(f"| {name} | {mode} | {med_a:.1f} | — | — (no reference for this mode) |")
PYEOF
rm -f "$OUT"
