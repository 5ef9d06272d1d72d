"""`mixed_outputs`: outputs that are not just tensors.

TorchScript features/traps exercised: `forward` returns
`Tuple[Tensor, Optional[Tensor], int, float, bool, List[Tensor]]`, i.e. a `None`,
Python scalars (int, float, bool) computed from tensor values and a list of tensors.
Scripting needs the return annotation; a C++ runtime sees these as IValues (None,
Int, Double, Bool, TensorList) inside a tuple and must convert each kind. Tracing
cannot export it: `None`/scalar outputs are rejected ("Only tensors, lists, tuples
of tensors, or dictionary of tensors can be output from traced functions", pitfall
A6), and `int(...)`/`float(...)`/`bool(...)` on tensors would be baked in as
constants anyway (pitfall A1). Only mode: "script".

The scalars are computed from the input `x` itself (not from the model output) so
that they are exact and never flip because of float rounding.
"""

from __future__ import annotations

from typing import List, Optional, Tuple

import torch
from torch import nn

from tsrt.spec import TensorSpec, Tolerance
from tsrt.zoo.entry import ZooEntry


class MixedOutputs(nn.Module):
    def __init__(self, features: int = 5, out_features: int = 3) -> None:
        super().__init__()
        self.linear = nn.Linear(features, out_features)

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, Optional[torch.Tensor], int, float, bool,
                                                  List[torch.Tensor]]:
        y = self.linear(x)
        nothing: Optional[torch.Tensor] = None
        count = int((x > 0).sum())
        mean = float(x.mean())
        positive = bool(x.sum() > 0)
        parts: List[torch.Tensor] = [torch.relu(y), y * 2.0 - 1.0]
        return y, nothing, count, mean, positive, parts


def make_mixed_outputs() -> MixedOutputs:
    return MixedOutputs()


ENTRY = ZooEntry(
    name="mixed_outputs",
    factory=make_mixed_outputs,
    inputs=(TensorSpec("x", (2, 5), dynamic_dims=(0,)),),
    modes=("script",),  # trace cannot return None / Python scalars
    aoti=False,  # int((x > 0).sum()) turns a tensor value into a Python int
    tolerance=Tolerance(atol=1e-5, rtol=1e-4),
    description="Returns (y, None, count: int, mean: float, positive: bool, [relu(y), 2y-1]).",
)
