#!/usr/bin/env bash
# `evaluate` throughput, awmt vs PyTorch eager (issue 15): a ResNet-50 at 224×224 scoring the
# same prepared test images, same threads, batch (64) and precision (fp32), side by side.
#
#   benches/eval_bench.sh [threads=2] [rounds=3] [images=3000] [model=resnet50]
#
# 1. Renders `images` procedural faces (80% of the identities in the test split, so ~0.8×images
#    test images), splits them, prepares them at 224×224 and trains the model for one iteration
#    (throughput does not depend on the weights).
# 2. Each round runs the real `evaluate` stage (`awmt run --force eval`; its wall time from
#    `run --json`, which also counts starting awmt-worker, loading libtorch and the model, and
#    writing predictions.parquet/csv and the metrics) and benches/eval_bench.py on the prepared
#    file, the order flipped every round so both sides sample the same machine load.
# Prints images/s per run and the best of each side with their ratio.
# Python: $PYTHON if set (must hold torch 2.11 + torchvision), else the bench-only venv
# .bench-venv-torch that benches/train_bench.sh creates. Knobs: AWMT (a built front end; else
# `make build`), EVAL_BENCH_WORK (keep the work folder).
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
THREADS=${1:-2}
ROUNDS=${2:-3}
IMAGES=${3:-3000}
MODEL=${4:-resnet50}
if [ -z "${PYTHON:-}" ]; then
    VENV=.bench-venv-torch
    if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'import torch, torchvision' 2>/dev/null; then
        python3 -m venv "$VENV"
        "$VENV/bin/pip" install --quiet torch==2.11.0 torchvision==0.26.0
    fi
    PYTHON=$REPO/$VENV/bin/python
fi
if [ -z "${AWMT:-}" ]; then
    make -s build >&2
    AWMT=$REPO/target/release/awmt
fi
if [ -n "${EVAL_BENCH_WORK:-}" ]; then
    WORK=$EVAL_BENCH_WORK
    mkdir -p "$WORK"
else
    WORK=$(mktemp -d)
    trap 'rm -rf "$WORK"' EXIT
fi
cd "$WORK"
cat >eval_bench.yaml <<YAML
name: eval_bench
stages:
  faces:
    kind: synth
    with: {style: faces, images: $IMAGES, images_per_identity: 10, val_fraction: 0.1, test_fraction: 0.8, seed: 1}
  split:
    kind: split
    inputs: {root: faces}
    with: {format: celeba}
  data:
    kind: prepare
    inputs: {split: split, root: faces}
    with: {size: [224, 224]}
  model:
    kind: train
    inputs: {data: data}
    with: {model: $MODEL, iterations: 1, freeze_bn: false, milestones: [], seed: 1}
    resources: {cpus: $THREADS}
  eval:
    kind: evaluate
    inputs: {model: model, data: data}
    resources: {cpus: $THREADS}
YAML
"$AWMT" run eval_bench.yaml --cache "$WORK/cache" --reports "$WORK/reports" -q
PREPARED=$(dirname "$(find "$WORK/cache/stages" -path '*/out/prepared.json' | head -1)")
N=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["splits"]["test"])' "$PREPARED/prepared.json")
echo "== $MODEL @ 224, $N test images, $THREADS threads, batch 64, fp32, $ROUNDS rounds" >&2

RAW=$WORK/eval_bench.jsonl
: >"$RAW"
awmt_side() {
    "$AWMT" run eval_bench.yaml --cache "$WORK/cache" --reports "$WORK/reports" --force eval -q --json \
        | python3 -c '
import json, sys
n, threads, model = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
s = [s for s in json.load(sys.stdin)["stages"] if s["name"] == "eval"][0]
assert s["status"] == "ran", s
print(json.dumps({"impl": "awmt", "model": model, "size": 224, "threads": threads, "images": n,
                  "seconds": round(s["seconds"], 3), "images_per_second": round(n / s["seconds"], 3)}))' "$N" "$THREADS" "$MODEL"
}
python_side() {
    "$PYTHON" "$REPO/benches/eval_bench.py" "$PREPARED" test "$THREADS" "$MODEL"
}
for round in $(seq "$ROUNDS"); do
    if [ $((round % 2)) = 1 ]; then
        awmt_side | tee -a "$RAW"
        python_side | tee -a "$RAW"
    else
        python_side | tee -a "$RAW"
        awmt_side | tee -a "$RAW"
    fi
done
python3 - "$RAW" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
best = {}
for r in rows:
    best[r["impl"]] = max(best.get(r["impl"], 0), r["images_per_second"])
a, p = best["awmt"], best["pytorch"]
print(f"best of {len(rows) // 2} rounds: awmt {a:.2f} img/s, PyTorch eager {p:.2f} img/s, awmt / PyTorch = {a / p:.2f}x")
PY
