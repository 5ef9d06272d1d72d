"""`multi_io`: several inputs (two float tensors and an int64 index) and nested outputs.

TorchScript features/traps exercised:
* Three inputs, one of them int64 (`index`, values in [0, 8)), all sharing a dynamic
  batch dimension; `torch.gather` with an integer index tensor.
* A nested output: a tuple whose second element is a `Dict[str, Tensor]`
  (pitfall A7). Scripting handles it from the return annotation. `torch.jit.trace`
  refuses a dict output by default ("Encountering a dict at the output of the tracer
  might cause the trace to be incorrect ... pass strict=False to trace()"); with
  `strict=False` the trace records the dict (its keys are constant here, so that is
  valid) and the exported graph reproduces the eager outputs at other batch sizes.
  The exporter therefore must trace this model with `strict=False`.
"""

from __future__ import annotations

from typing import Dict, Tuple

import torch
from torch import nn

from tsrt.spec import TensorSpec, Tolerance
from tsrt.zoo.entry import ZooEntry


class MultiIO(nn.Module):
    def __init__(self, features: int = 8, num_scores: int = 4) -> None:
        super().__init__()
        self.mix = nn.Linear(features, features)
        self.score = nn.Linear(features, num_scores)

    def forward(self, a: torch.Tensor, b: torch.Tensor,
                index: torch.Tensor) -> Tuple[torch.Tensor, Dict[str, torch.Tensor]]:
        summed = a + b
        mixed = torch.tanh(self.mix(summed)) * b
        # Row i picks column index[i]: [N, 8] x [N] -> [N].
        gathered = torch.gather(mixed, 1, index.unsqueeze(1)).squeeze(1)
        scores = torch.softmax(self.score(mixed - a), dim=-1)
        return summed, {"gathered": gathered, "scores": scores}


def make_multi_io() -> MultiIO:
    return MultiIO()


ENTRY = ZooEntry(
    name="multi_io",
    factory=make_multi_io,
    inputs=(
        TensorSpec("a", (3, 8), dynamic_dims=(0,)),
        TensorSpec("b", (3, 8), dynamic_dims=(0,)),
        TensorSpec("index", (3,), dtype=torch.int64, dynamic_dims=(0,), value_range=(0, 8)),
    ),
    # "trace" is valid only with torch.jit.trace(..., strict=False) (dict output).
    modes=("trace", "script"),
    tolerance=Tolerance(atol=1e-5, rtol=1e-4),
    description="Inputs a, b (float32) and index (int64); returns (a + b, {'gathered', 'scores'}).",
)
