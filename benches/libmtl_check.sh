#!/usr/bin/env bash
# Runs benches/libmtl_check.py: awmt's gradient methods' hand-computed numbers against LibMTL 1.1.5's
# weighting code (MGDA, PCGrad, IMTL, GradNorm, CAGrad), torchjd's ports of the authors' Nash-MTL and
# Aligned-MTL, and a FAMO reference written from the paper. Python and packages: see
# benches/bench_python.sh (the bench venv, or $PYTHON untouched with target/bench-py). Skips,
# saying so, when they cannot be installed.
set -u
cd "$(dirname "$0")/.."
. benches/bench_python.sh
bench_python || exit 0
exec "$PY" benches/libmtl_check.py "$LIBMTL_DIR"
