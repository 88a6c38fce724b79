#!/usr/bin/env bash
# The heavy fault-injection run: many more SIGKILLs and byte flips than `make test` does
# (tests/it/fault_injection.rs; see README.md, "Development"). Usage: benches/fault_injection.sh
# [KILLS] [FLIPS] [SEED]. Needs the release build (`make build`).
set -euo pipefail
cd "$(dirname "$0")/.."
export AWMT_FAULT_KILLS="${1:-300}" AWMT_FAULT_FLIPS="${2:-200}" AWMT_FAULT_SEED="${3:-12}"
export LIBTORCH="${LIBTORCH:-$(ls -d "$PWD"/.venv/lib/python3*/site-packages/torch | head -1)}"
cargo test --release --locked --test it fault_injection:: -- --test-threads=1 --nocapture
