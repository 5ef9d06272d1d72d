# The README's commands. Each target does its own set-up and is idempotent:
# a second run reuses .venv, torch and the build tree.
#
#   make demo    set up, build, export the default model, ./infer it
#   make test    set up, build, run pytest and the C++ tests (ctest)
#   make bench   the side-by-side benchmark (scripts/bench_compare.py; BENCH_ARGS=...)
#
# Variables:
#   PYTHON=python3         interpreter that creates .venv
#   TORCH_SPEC=torch==2.13.0   what pip installs when .venv has no torch
#   SYSTEM_TORCH=1         reuse the torch already installed in PYTHON (e.g. a
#                          GPU machine's CUDA build): .venv sees its site-packages

PYTHON ?= python3
TORCH_SPEC ?= torch==2.13.0
SYSTEM_TORCH ?= 0
VENV := .venv
PY := $(VENV)/bin/python
DEMO_MODEL ?= resnet_cnn
ARTIFACTS := artifacts

CPP_SOURCES := $(shell find cpp cmake -type f) CMakeLists.txt pyproject.toml
PY_SOURCES := $(shell find python -name '*.py')

.PHONY: setup build demo test test-cpp test-py bench clean

# --- set-up: .venv with torch and the build tools -------------------------------
$(VENV)/.setup-stamp:
ifeq ($(SYSTEM_TORCH),1)
	$(PYTHON) -m venv --system-site-packages $(VENV)
else
	$(PYTHON) -m venv $(VENV)
endif
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install -q "$(TORCH_SPEC)"
	$(PY) -m pip install -q numpy pytest scikit-build-core pybind11 nlohmann-json cmake ninja
	# transformers: BERT built from a config (random weights, no download) for the export
	# tests. Machines without a package index (GPU boxes) go on without it; that test skips.
	$(PY) -m pip install -q transformers || echo "warning: transformers not installed; the BERT export test will skip"
	touch $@

setup: $(VENV)/.setup-stamp

# --- build: libtsrt, infer, tsrt._C into .venv (editable: python/ is used in place)
$(VENV)/.build-stamp: $(VENV)/.setup-stamp $(CPP_SOURCES)
	$(PY) -m pip install -q --no-build-isolation --no-deps -e .
	touch $@

build: $(VENV)/.build-stamp

# --- the main job -------------------------------------------------------------
$(ARTIFACTS)/$(DEMO_MODEL).pt: $(VENV)/.build-stamp $(PY_SOURCES) models/$(DEMO_MODEL).py
	$(PY) -m tsrt.cli export --zoo $(DEMO_MODEL) -o $@

demo: $(ARTIFACTS)/$(DEMO_MODEL).pt
	./infer $<
	./infer $< --verify

# --- tests ----------------------------------------------------------------------
test-py: build
	$(PY) -m pytest -q

# The C++ tests were built with the package, in scikit-build-core's build tree.
test-cpp: build
	$(VENV)/bin/ctest --test-dir $(firstword $(wildcard build/cp*)) --output-on-failure

test: test-py test-cpp

# --- benchmarks: tsrt beside eager, TorchScript, ONNX Runtime and torch.compile -----
# The peers are needed only here: onnx + onnxruntime for ONNX Runtime, matplotlib
# for the chart.
$(VENV)/.bench-stamp: $(VENV)/.setup-stamp
	$(PY) -m pip install -q onnx onnxruntime matplotlib
	touch $@

bench: build $(VENV)/.bench-stamp
	$(PY) scripts/bench_compare.py $(BENCH_ARGS)

clean:
	rm -rf build $(ARTIFACTS) $(VENV)
