"""Shared fixtures: the zoo exported once per test session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tsrt import zoo
from tsrt.testing import corpus, torchvision_ops

# With torchvision installed (make setup, for the corpus), `import transformers` imports it
# too, and PyPI's CUDA-built torchvision needs its operators defined first.
if corpus.library_available("torchvision"):
    torchvision_ops.install()

ROOT = Path(__file__).resolve().parents[1]

# Small .pt2 models compile with Inductor's GEMM autotuning by default (3x the compile
# time); the suite compiles dozens, so it leaves that out (the CLI and export subprocesses
# it starts inherit this), and test_aoti's test of the default turns it back on.
os.environ.setdefault("TSRT_AOTI_AUTOTUNE", "0")

INFER = ROOT / "infer"


def zoo_cases() -> list[tuple[str, str]]:
    """(model name, export mode) for every valid combination in the zoo."""
    return [(name, mode) for name, entry in zoo.ZOO.items() for mode in entry.modes]


@pytest.fixture(scope="session")
def zoo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("zoo")
    for name, mode in zoo_cases():
        zoo.get(name).export(out / f"{name}.{mode}.pt", mode)
    return out


# ---- AOTInductor packages ----------------------------------------------------------
# Compiling takes 10-25 s a model on 2 cores, so the AOTI tests use a few models that
# stand for the zoo (plain layers and a second method; convs with dynamic spatial dims; attention with a
# dynamic sequence; several inputs with an int64 one and nested dict outputs), and keep
# the packages in build/aoti-cache keyed by what shapes them (the model's source,
# tsrt's export code, the torch version): a second run
# on the same checkout reuses them. A clean clone compiles them once.
AOTI_MODELS = ("extra_method", "resnet_cnn", "transformer_encoder", "multi_io")
AOTI_CACHE = ROOT / "build" / "aoti-cache"


def _aoti_key(name: str) -> str:
    import hashlib

    import torch

    digest = hashlib.sha256(torch.__version__.encode())
    # What shapes a package: the model, export and what it records (specs, output paths).
    package = ROOT / "python" / "tsrt"
    sources = [package / "zoo" / f"{name}.py", package / "spec.py", package / "contract.py",
               *sorted((package / "exporter").glob("*.py"))]
    for source in sources:
        digest.update(source.read_bytes())
    return digest.hexdigest()[:16]


@pytest.fixture(scope="session")
def aoti_packages() -> dict[str, Path]:
    """{name: .pt2} for AOTI_MODELS, exported with format="aoti" (each verified in C++ at export)."""
    import time

    AOTI_CACHE.mkdir(parents=True, exist_ok=True)
    packages = {}
    for name in AOTI_MODELS:
        package = AOTI_CACHE / f"{name}.{_aoti_key(name)}.pt2"
        if not package.exists():
            for stale in AOTI_CACHE.glob(f"{name}.*.pt2"):
                stale.unlink()
            partial = AOTI_CACHE / f"{name}.partial.pt2"  # renamed when complete: an interrupted run leaves no package
            started = time.perf_counter()
            zoo.get(name).export(partial, "auto", format="aoti")
            partial.replace(package)
            print(f"\ncompiled {name} to AOTI in {time.perf_counter() - started:.1f} s")
        packages[name] = package
    return packages


# ---- tsrt_serve ---------------------------------------------------------------------


@pytest.fixture(scope="session")
def serve_binary() -> Path:
    """examples/cpp_service's tsrt_serve, built once (skips where cpp-httplib is missing)."""
    from oip_server import build_serve, httplib_missing

    if httplib_missing():
        pytest.skip(httplib_missing())
    return build_serve()
