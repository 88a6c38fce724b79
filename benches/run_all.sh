#!/usr/bin/env bash
# `make bench`: every CPU benchmark of docs/BENCHMARKS.md, one after the other (each prints its
# Markdown table). Run on an idle machine: the figures are ratios against references measured in
# the same run, but two benchmarks sharing 2 cores would still disturb each other.
#   benches/run_all.sh            orchestrator, decode, training (about 10 minutes)
#   AWMT_BENCH_SLURM=1 benches/run_all.sh    also the Slurm executor (starts the test cluster)
set -euo pipefail
cd "$(dirname "$0")/.."
: "${LIBTORCH:=$(ls -d "$PWD"/.venv/lib/python3*/site-packages/torch 2>/dev/null | head -1)}"
export LIBTORCH
echo "## orchestrator (issue 2)"; bash benches/orchestrator_bench.sh 100 200000
echo "## decode (issue 3)"; bash benches/decode_bench.sh 2000
echo "## training step (issue 4)"; bash benches/train_bench.sh 2 20 3 4
if [ "${AWMT_BENCH_SLURM:-0}" = 1 ]; then
  echo "## slurm (issue 6)"; bash benches/slurm_bench.sh 100
fi
