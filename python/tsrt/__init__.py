"""tsrt: run PyTorch models from C++, and prove they match eager PyTorch.

    import tsrt
    model = tsrt.load("model.pt", device="cpu")   # C++-backed (libtsrt); .pt2 packages too
    outputs = model(x)                            # torch tensors, in the model's output structure

C++ programs link libtsrt through its CMake package, installed inside this one:
`cmake -DCMAKE_PREFIX_PATH=<tsrt.cmake_prefix_path> ...` then find_package(tsrt).

Errors from the runtime raise `tsrt.Error`, whose `.code` says what kind of
failure it was ("invalid_argument", "io", "invalid_model", "runtime", "unsupported").

`import tsrt` itself is cheap: torch (seconds to import) and the compiled module load
on first use of an attribute that needs them (PEP 562 module __getattr__), so that
`tsrt --help`, `tsrt cmake-prefix` and the `infer` launcher start in a fraction of a second.
"""

import importlib as _importlib
from importlib.util import find_spec as _find_spec
import os as _os
import sys as _sys
import warnings as _warnings
from typing import TYPE_CHECKING as _TYPE_CHECKING

from tsrt.infer_launcher import OPENMP_WAIT_DEFAULT as _OPENMP_WAIT_DEFAULT
from tsrt.infer_launcher import OPENMP_WAIT_VARIABLES as _OPENMP_WAIT_VARIABLES
from tsrt.version import __version__

# LibTorch's OpenMP reads how its threads wait once, as torch loads. When torch is not
# loaded yet and the environment does not choose, choose as ./infer does (GOMP_SPINCOUNT=1000:
# spin ~10 us at a barrier, then sleep; OpenMP's own default spins ~3 ms, 8-13x slower for
# 2 threads on a busy machine; docs/speed.md). Set here, at `import tsrt`, it holds for
# the torch that tsrt (or the user) imports later. Imported after torch, tsrt cannot change
# it any more (libgomp offers no call for it): say so once, with the fix.
if not _os.environ.keys() & set(_OPENMP_WAIT_VARIABLES):
    if "torch" in _sys.modules:
        _warnings.warn(
            "tsrt was imported after torch, so LibTorch's OpenMP threads keep OpenMP's default ~3 ms spin "
            "at each barrier (8-13x slower for 2 threads on a busy machine; docs/speed.md). Import tsrt "
            "before torch, or set GOMP_SPINCOUNT=1000 (tsrt's default) or OMP_WAIT_POLICY in the environment "
            "to choose and silence this.", RuntimeWarning, stacklevel=2)
    else:
        _os.environ[_OPENMP_WAIT_DEFAULT[0]] = _OPENMP_WAIT_DEFAULT[1]

if _TYPE_CHECKING:  # type checkers and IDEs see the lazy names
    from tsrt._C import Error  # noqa: F401
    from tsrt.exporter import ExportError, ExportReport, export  # noqa: F401
    from tsrt.generation import Generator, export_causal_lm  # noqa: F401
    from tsrt.model import Model, load, set_num_threads, torchvision_ops_library  # noqa: F401
    from tsrt.spec import TensorSpec, Tolerance  # noqa: F401

# Public name -> the submodule that defines it, imported on first access.
_LAZY = {
    "Error": "tsrt._C",
    "ExportError": "tsrt.exporter",
    "ExportReport": "tsrt.exporter",
    "export": "tsrt.exporter",
    "export_causal_lm": "tsrt.generation",
    "Generator": "tsrt.generation",
    "Model": "tsrt.model",
    "load": "tsrt.model",
    "set_num_threads": "tsrt.model",
    "torchvision_ops_library": "tsrt.model",
    "TensorSpec": "tsrt.spec",
    "Tolerance": "tsrt.spec",
}


def _compiled_dir() -> str:
    """Where the compiled parts (tsrt._C, include/, lib/, bin/) were installed, found
    without loading them: an editable install keeps them apart from the Python sources."""
    spec = _find_spec("tsrt._C")
    if spec is None or not spec.origin:
        raise ImportError("tsrt's compiled module tsrt._C is not installed: reinstall tsrt")
    return _os.path.dirname(_os.path.abspath(spec.origin))


def __getattr__(name: str):
    if name == "_C":
        # torch first: tsrt._C links libtorch, which `import torch` loads with the right flags.
        import torch  # noqa: F401

        value = _importlib.import_module("tsrt._C")
    elif name == "cmake_prefix_path":
        #: Put in CMAKE_PREFIX_PATH for find_package(tsrt): the directory holding include/tsrt,
        #: lib/libtsrt.so and lib/cmake/tsrt.
        value = _compiled_dir()
    elif name in _LAZY:
        import torch  # noqa: F401, F811  (before any module that loads tsrt._C)

        value = getattr(_importlib.import_module(_LAZY[name]), name)
    elif not name.startswith("_") and _find_spec(f"tsrt.{name}") is not None:
        value = _importlib.import_module(f"tsrt.{name}")  # a subpackage: tsrt.zoo, tsrt.testing, ...
    else:
        raise AttributeError(f"module 'tsrt' has no attribute '{name}'")
    globals()[name] = value  # later accesses skip __getattr__
    return value


def __dir__() -> list:
    return sorted(set(globals()) | set(__all__))


__all__ = ["Error", "ExportError", "ExportReport", "Generator", "Model", "TensorSpec", "Tolerance", "__version__",
           "cmake_prefix_path", "export", "export_causal_lm", "load", "set_num_threads", "torchvision_ops_library"]
