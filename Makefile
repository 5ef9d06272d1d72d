# The README's commands. Each target does its own set-up and is idempotent:
# a second run reuses .venv, torch and the build tree.
#
#   make demo    set up, build, export the default model, ./infer it
#   make test    set up, build, run pytest and the C++ tests (ctest)
#   make bench   the side-by-side benchmark (scripts/bench_compare.py; BENCH_ARGS=...)
#   make corpus  export every model of the corpus (torchvision, timm, Hugging Face) in
#                auto mode and to .pt2, run each at two other shapes: bench_results/corpus.{md,json}
#                (CORPUS_ARGS=--models resnet50,hf_bert or --quick)
#   make examples  build examples/hello_tsrt and examples/cpp_service (tsrt_serve)
#                  with find_package(tsrt) into build/examples/ (the tests build them too)
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

.PHONY: setup build demo test test-cpp test-py bench corpus examples clean

# --- set-up: .venv with torch and the build tools -------------------------------
# Redone when this Makefile changes, so that an existing .venv gets what was added here.
$(VENV)/.setup-stamp: Makefile
ifeq ($(SYSTEM_TORCH),1)
	$(PYTHON) -m venv --system-site-packages $(VENV)
else
	$(PYTHON) -m venv $(VENV)
endif
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install -q "$(TORCH_SPEC)"
	$(PY) -m pip install -q numpy pytest scikit-build-core pybind11 nlohmann-json cmake ninja
	# jsonschema: tests check tsrt.json documents against docs/tsrt.schema.json.
	$(PY) -m pip install -q jsonschema
	# transformers: BERT built from a config (random weights, no download) for the export
	# tests. Machines without a package index (GPU boxes) go on without it; that test skips.
	$(PY) -m pip install -q transformers || echo "warning: transformers not installed; the BERT export test will skip"
	# torchvision and timm: real architectures for the corpus (scripts/corpus.py, tests/test_corpus.py).
	# torchvision 0.28.0 is the release for torch 2.13; --no-deps so that pip never replaces the
	# CPU torch (PyPI's wheel is the CUDA build: its _C.so does not load here, and
	# tsrt.testing.torchvision_ops defines its operators before the import). timm likewise,
	# with its own dependencies named. Without an index the corpus tests skip.
	$(PY) -m pip install -q --no-deps torchvision==0.28.0 timm || echo "warning: torchvision/timm not installed; the corpus tests will skip"
	$(PY) -m pip install -q huggingface_hub safetensors pyyaml pillow || echo "warning: timm's dependencies not installed"
	# Triton's model-config protobuf schema (tritonclient.grpc.model_config_pb2), which the
	# tests parse generated config.pbtxt files with; its grpc module needs the [grpc] extra.
	$(PY) -m pip install -q "tritonclient[grpc]" || echo "warning: tritonclient not installed; the Triton config test will skip"
	# tritonclient.http: the Open Inference Protocol's own client, which tests/test_service.py talks to tsrt_serve with.
	$(PY) -m pip install -q "tritonclient[http]"
	# prometheus_client: its text-format parser checks tsrt_serve's /metrics in tests/test_service.py.
	$(PY) -m pip install -q prometheus_client
	# cpp-httplib for examples/cpp_service: Debian's libcpp-httplib-dev, found with pkg-config.
	# Skipped when both are there; without apt-get the service is not built and its tests skip.
	@if [ -e /usr/include/httplib.h ] && command -v pkg-config >/dev/null; then :; \
	elif command -v apt-get >/dev/null; then \
	  echo "apt-get install libcpp-httplib-dev pkg-config"; \
	  apt-get install -y -q libcpp-httplib-dev pkg-config >/dev/null 2>&1 || \
	  { apt-get update -q >/dev/null && apt-get install -y -q libcpp-httplib-dev pkg-config >/dev/null; } || \
	  echo "warning: apt-get could not install libcpp-httplib-dev; examples/cpp_service and its tests will skip"; \
	else echo "warning: no apt-get: install cpp-httplib to build examples/cpp_service; its tests will skip"; fi
	touch $@

setup: $(VENV)/.setup-stamp

# --- build: libtsrt, infer, tsrt._C into .venv (editable: python/ is used in place)
$(VENV)/.build-stamp: $(VENV)/.setup-stamp $(CPP_SOURCES)
	$(PY) -m pip install -q --no-build-isolation --no-deps -e .
	touch $@

build: $(VENV)/.build-stamp

# --- the main job -------------------------------------------------------------
$(ARTIFACTS)/$(DEMO_MODEL).pt: $(VENV)/.build-stamp $(PY_SOURCES)
	$(PY) -m tsrt.cli export --zoo $(DEMO_MODEL) -o $@

demo: $(ARTIFACTS)/$(DEMO_MODEL).pt
	./infer $<
	./infer $< --verify

# --- examples: separate CMake projects on the installed package, as a user builds them
examples: build
	for example in hello_tsrt cpp_service; do \
	  $(VENV)/bin/cmake -S examples/$$example -B build/examples/$$example -G Ninja \
	    -DCMAKE_MAKE_PROGRAM=$(abspath $(VENV)/bin/ninja) -DCMAKE_BUILD_TYPE=Release \
	    -DCMAKE_PREFIX_PATH="$$($(PY) -m tsrt.cli cmake-prefix)" -DPython_EXECUTABLE=$(abspath $(PY)) && \
	  $(VENV)/bin/cmake --build build/examples/$$example || exit 1; \
	done

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

# The .pt2 packages are compiled once (minutes each) and reused by the next run, quiet or
# --busy (TSRT_AOTI_CACHE: the key covers model, weights, settings and CPU; docs/speed.md).
bench: build $(VENV)/.bench-stamp
	TSRT_AOTI_CACHE=$${TSRT_AOTI_CACHE:-build/aoti-bench-cache} $(PY) scripts/bench_compare.py $(BENCH_ARGS)

# --- the corpus: real architectures, every one exported and run (slow: tens of minutes)
corpus: build
	$(PY) scripts/corpus.py $(CORPUS_ARGS)

clean:
	rm -rf build $(ARTIFACTS) $(VENV)
