"""tsrt: run PyTorch models from C++, and prove they match eager PyTorch.

    import tsrt
    model = tsrt.load("model.pt", device="cpu")   # C++-backed (libtsrt); .pt2 packages too
    outputs = model(x)                            # torch tensors, in the model's output structure

Errors from the runtime raise `tsrt.Error`, whose `.code` says what kind of
failure it was ("invalid_argument", "io", "invalid_model", "runtime", "unsupported").
"""

# torch first: tsrt._C links libtorch, which `import torch` loads with the right flags.
import torch  # noqa: F401

from tsrt._C import Error
from tsrt.export import export
from tsrt.model import Model, load
from tsrt.spec import TensorSpec, Tolerance

__all__ = ["Error", "Model", "TensorSpec", "Tolerance", "export", "load"]
__version__ = "0.1.0"
