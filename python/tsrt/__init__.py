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

import torch  # noqa: F401

from tsrt import _C
from tsrt._C import Error
from tsrt.exporter import ExportError, ExportReport, export
from tsrt.model import Model, load, set_num_threads
from tsrt.spec import TensorSpec, Tolerance
from tsrt.version import __version__

#: Put in CMAKE_PREFIX_PATH for find_package(tsrt): the directory holding include/tsrt,
#: lib/libtsrt.so and lib/cmake/tsrt. It is where the compiled parts were installed,
#: which an editable install keeps apart from the Python sources.
cmake_prefix_path: str = _os.path.dirname(_os.path.abspath(_C.__file__))

__all__ = ["Error", "ExportError", "ExportReport", "Model", "TensorSpec", "Tolerance", "__version__",
           "cmake_prefix_path", "export", "load", "set_num_threads"]
