#!/usr/bin/env bash
# Runs benches/libmtl_check.py: LibMTL's weighting code on the Rust unit tests' hand-built
# gradients. Needs a Python with torch ($PYTHON, default python3); LibMTL is installed from PyPI
# with --no-deps into target/libmtl (nothing else is installed). Skips, saying so, when either is
# unavailable.
set -u
cd "$(dirname "$0")/.."
py=${PYTHON:-python3}
if ! "$py" -c "import torch" 2>/dev/null; then
    echo "skip: $py has no torch (set PYTHON to a Python with torch)"; exit 0
fi
dir=target/libmtl
if [ ! -d "$dir/LibMTL" ]; then
    "$py" -m pip install --quiet --no-deps --target "$dir" LibMTL==1.1.5 || { echo "skip: LibMTL could not be installed from PyPI"; exit 0; }
fi
exec "$py" benches/libmtl_check.py "$dir"
