#!/usr/bin/env bash
# Per-stage overhead under Slurm (submit → published) vs the local executor, on the same 100
# trivial command stages, in one run. Starts the one-node test cluster (tests/slurm/up.sh, root).
# Usage: bash benches/slurm_bench.sh [STAGES]
set -euo pipefail
cd "$(dirname "$0")/.."
make -s build
bash tests/slurm/up.sh
python3 benches/slurm_bench.py --awmt "$PWD/target/release/awmt" --stages "${1:-100}"
