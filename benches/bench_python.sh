# Sourced by benches/libmtl_check.sh and benches/grad_bench.sh: sets PY to a Python with torch and
# the references' packages, and LIBMTL_DIR to LibMTL 1.1.5's source (PyPI, --no-deps, into
# target/libmtl). Without $PYTHON it uses the bench-only venv .bench-venv-torch (created as
# benches/train_bench.sh creates it: torch 2.11.0, torchvision 0.26.0) and installs the extras
# into it. With $PYTHON (someone's own Python with torch) nothing is installed into that Python:
# the extras go to target/bench-py (--no-deps, pinned; numpy comes from $PYTHON) and on PYTHONPATH.
# Extras: scipy (LibMTL's CAGrad), torchjd[nash_mtl] (cvxpy, ECOS: the Nash-MTL and Aligned-MTL
# references). Returns 1 (the caller skips, saying so) when something cannot be installed.
BENCH_EXTRAS="scipy==1.17.1 torchjd[nash_mtl]==0.18.0"
# The same set, flat, for --no-deps --target (torchjd[nash_mtl] and cvxpy's own dependencies).
BENCH_EXTRAS_FLAT="scipy==1.17.1 torchjd==0.18.0 cvxpy==1.9.3 ecos==2.0.14 clarabel==0.11.1 osqp==1.1.3 scs==3.3.1 highspy==1.16.0 qdldl==0.1.9.post1 sparsediffpy==0.6.1 cffi==2.1.1 pycparser==3.12 jinja2==3.1.6 markupsafe==3.0.4 joblib==1.6.0"
bench_python() {
    local have='import torch, scipy, cvxpy, ecos, torchjd'
    if [ -n "${PYTHON:-}" ]; then
        PY=$PYTHON
        "$PY" -c 'import torch' 2>/dev/null || { echo "skip: $PY has no torch (unset PYTHON to use the bench venv)"; return 1; }
        export PYTHONPATH="$PWD/target/bench-py${PYTHONPATH:+:$PYTHONPATH}"
        if ! "$PY" -c "$have" 2>/dev/null; then
            "$PY" -m pip install --quiet --no-deps --target target/bench-py $BENCH_EXTRAS_FLAT || { echo "skip: the references' packages could not be installed from PyPI"; return 1; }
        fi
    else
        local venv=.bench-venv-torch
        if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import torch, torchvision' 2>/dev/null; then
            python3 -m venv "$venv" && "$venv/bin/pip" install --quiet torch==2.11.0 torchvision==0.26.0 || { echo "skip: the bench venv could not be created"; return 1; }
        fi
        PY=$venv/bin/python
        if ! "$PY" -c "$have" 2>/dev/null; then
            "$PY" -m pip install --quiet $BENCH_EXTRAS || { echo "skip: the references' packages could not be installed from PyPI"; return 1; }
        fi
    fi
    LIBMTL_DIR=target/libmtl
    if [ ! -d "$LIBMTL_DIR/LibMTL" ]; then
        "$PY" -m pip install --quiet --no-deps --target "$LIBMTL_DIR" LibMTL==1.1.5 || { echo "skip: LibMTL could not be installed from PyPI"; return 1; }
    fi
}
