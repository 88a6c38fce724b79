# Set-up, build, run and test. `make run` and `make test` work on a fresh machine: they create the
# project-local venv with the pinned torch wheel (libtorch comes only from PyPI), build the release
# binary with an rpath to that libtorch, then run the quickstart or the whole test suite.

PYTHON        ?= python3
TORCH_VERSION := 2.11.0
# The CUDA runtime pieces libtorch_cpu.so links against, at the versions torch 2.11.0 pins
# (cuda-toolkit 13.0.2). The rest of torch's CUDA dependencies are not needed on CPU.
CUDA_PIECES   := nvidia-cuda-runtime==13.0.96.* nvidia-cuda-cupti==13.0.85.*
VENV          := .venv
STAMP         := $(VENV)/.awmt-torch-$(TORCH_VERSION)
# Evaluated when a recipe runs, i.e. after the venv exists.
LIBTORCH       = $(abspath $(firstword $(wildcard $(VENV)/lib/python3*/site-packages/torch)))
CARGO_ENV      = LIBTORCH=$(LIBTORCH)
AWMT          := target/release/awmt
PIPELINE      ?= pipelines/quickstart.yaml

.PHONY: all setup build run test bench gpu-bench-bin clean-venv

all: build

setup: $(STAMP)

$(STAMP):
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --no-deps "torch==$(TORCH_VERSION)" $(CUDA_PIECES)
	touch $@

# Three binaries of one workspace: awmt-worker (crates/awmt-torch) links libtorch and runs training
# stages; the awmt front end and awmt-supervise (the root crate) have no libtorch dependency at all,
# so that the front end starts in milliseconds (see Cargo.toml).
build: $(STAMP)
	$(CARGO_ENV) cargo build --release --locked --workspace --bins

run: build
	$(AWMT) run $(PIPELINE)

# The last line checks what the workspace split guarantees: the front end links no libtorch.
test: build
	$(CARGO_ENV) cargo test --release --locked --workspace -- --test-threads=2
	@if ldd $(AWMT) | grep -q libtorch; then echo "error: $(AWMT) links libtorch" >&2; exit 1; fi

bench: build
	bash benches/run_all.sh

# The binaries benches/gpu_bench.sh runs on a CUDA machine, stripped and packed into
# target/gpu.tar.xz (~16 MB: small enough to carry to the device machine).
gpu-bench-bin: build
	$(CARGO_ENV) cargo build --release --locked -p awmt-torch --bench train_step
	mkdir -p target/gpu
	strip -o target/gpu/awmt target/release/awmt
	strip -o target/gpu/awmt-worker target/release/awmt-worker
	strip -o target/gpu/train_step $$(ls -t target/release/deps/train_step-* | grep -v '\.d$$' | head -1)
	tar -C target -cJf target/gpu.tar.xz gpu

clean-venv:
	rm -rf $(VENV)
