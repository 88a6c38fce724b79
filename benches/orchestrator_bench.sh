#!/usr/bin/env bash
# Orchestrator overhead, side by side in one run: awmt vs DVC (`dvc repro`) vs Snakemake on the
# same generated DAG of 100 command stages, plus re-checking an unchanged 200,000-file tree
# (awmt vs `dvc status`). Installs DVC and Snakemake into a bench-only venv (.bench-venv).
# Usage: bash benches/orchestrator_bench.sh [STAGES] [TREE_FILES]   (defaults 100 and 200000)
set -euo pipefail
cd "$(dirname "$0")/.."
make -s build
VENV=.bench-venv
if [ ! -x "$VENV/bin/dvc" ] || [ ! -x "$VENV/bin/snakemake" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet dvc snakemake
fi
export PATH="$PWD/$VENV/bin:$PATH"
python3 benches/orchestrator_bench.py --awmt "$PWD/target/release/awmt" --stages "${1:-100}" --tree-files "${2:-200000}"
