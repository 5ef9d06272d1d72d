"""`gated`: data-dependent control flow (an `if` on a tensor value and a `for` loop).

TorchScript trap exercised (pitfalls A1, A2, A5): `torch.jit.trace` evaluates
`if x.mean() > 0:` once and bakes the branch taken into the graph, and it unrolls
`for i in range(x.size(0))` into a fixed number of iterations. A traced export
therefore gives wrong results when the other branch should be taken and fails (or
is wrong) for another batch size. Only `torch.jit.script` keeps the real `prim::If`
and `prim::Loop`, so the only valid mode is "script".

The two branches compute clearly different things (ReLU of one projection vs. a
negated tanh of another), and the loop scales row i by i + 1, so a frozen branch or
a fixed loop count shows up as a large mismatch.
"""

from __future__ import annotations

from typing import List

import torch
from torch import nn

from tsrt.spec import TensorSpec, Tolerance
from tsrt.zoo.entry import ZooEntry


class Gated(nn.Module):
    def __init__(self, features: int = 16, out_features: int = 8) -> None:
        super().__init__()
        self.positive = nn.Linear(features, out_features)
        self.negative = nn.Linear(features, out_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.mean() > 0:
            y = torch.relu(self.positive(x)) + 1.0
        else:
            y = -torch.tanh(self.negative(x)) - 1.0
        rows: List[torch.Tensor] = []
        for i in range(x.size(0)):
            rows.append(y[i] * float(i + 1))
        return torch.stack(rows, 0)


def make_gated() -> Gated:
    return Gated()


ENTRY = ZooEntry(
    name="gated",
    factory=make_gated,
    inputs=(TensorSpec("x", (3, 16), dynamic_dims=(0,)),),
    modes=("script",),  # trace freezes the branch and unrolls the loop
    aoti=False,  # data-dependent `if x.mean() > 0`: torch.export cannot capture it (torch.cond could)
    tolerance=Tolerance(atol=1e-5, rtol=1e-4),
    description="if x.mean() > 0 picks one of two different heads; a loop scales row i by i+1.",
)
