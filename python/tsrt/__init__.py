"""tsrt: run PyTorch models from C++, and prove they match eager PyTorch.

    import tsrt
    model = tsrt.load("model.pt", device="cpu")   # C++-backed (libtsrt); .pt2 packages too
    outputs = model(x)                            # torch tensors, in the model's output structure

C++ programs link libtsrt through its CMake package, installed inside this one:
`cmake -DCMAKE_PREFIX_PATH=<tsrt.cmake_prefix_path> ...` then find_package(tsrt).

Errors from the runtime raise `tsrt.Error`, whose `.code` says what kind of
failure it was ("invalid_argument", "io", "invalid_model", "runtime", "unsupported").
"""

# torch first: tsrt._C links libtorch, which `import torch` loads with the right flags.
import os as _os
import sys as _sys

from tsrt.infer_launcher import OPENMP_WAIT_DEFAULT as _OPENMP_WAIT_DEFAULT
from tsrt.infer_launcher import OPENMP_WAIT_VARIABLES as _OPENMP_WAIT_VARIABLES

# LibTorch's OpenMP reads how its threads wait once, as torch loads. When this import
# is what loads torch and the environment does not choose, choose as ./infer does
# (GOMP_SPINCOUNT=1000: spin ~10 us at a barrier, then sleep; OpenMP's own default spins
# ~3 ms, 8-13x slower for 2 threads on a busy machine; docs/speed.md). Imported after
# torch, tsrt cannot change it: set GOMP_SPINCOUNT=1000 in the environment instead.
if "torch" not in _sys.modules and not _os.environ.keys() & _OPENMP_WAIT_VARIABLES:
    _os.environ[_OPENMP_WAIT_DEFAULT[0]] = _OPENMP_WAIT_DEFAULT[1]

import torch  # noqa: E402, F401

from tsrt import _C
from tsrt._C import Error
from tsrt.exporter import ExportError, ExportReport, export
from tsrt.model import Model, load, set_num_threads, torchvision_ops_library
from tsrt.spec import TensorSpec, Tolerance
from tsrt.version import __version__

#: Put in CMAKE_PREFIX_PATH for find_package(tsrt): the directory holding include/tsrt,
#: lib/libtsrt.so and lib/cmake/tsrt. It is where the compiled parts were installed,
#: which an editable install keeps apart from the Python sources.
cmake_prefix_path: str = _os.path.dirname(_os.path.abspath(_C.__file__))

__all__ = ["Error", "ExportError", "ExportReport", "Model", "TensorSpec", "Tolerance", "__version__",
           "cmake_prefix_path", "export", "load", "set_num_threads", "torchvision_ops_library"]
