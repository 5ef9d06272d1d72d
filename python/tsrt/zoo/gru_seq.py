"""`gru_seq`: a recurrent model with an explicit Python loop over time (`nn.GRUCell`).

TorchScript trap exercised (pitfall A2, the `LSTMCell`-loop case): tracing unrolls
`for t in range(x.size(1))` into as many GRU steps as the example had, so a traced
export fixes the sequence length (7). Scripting keeps a `prim::Loop` whose trip count
is read from the input, so both the batch (dim 0) and the time length (dim 1) may
vary. The model returns a tuple of two tensors (final hidden state, stacked
per-step outputs) and builds its initial state with `x.new_zeros(...)` so that no
device or shape constant is baked in.
"""

from __future__ import annotations

from typing import List, Tuple

import torch
from torch import nn

from tsrt.spec import TensorSpec, Tolerance
from tsrt.zoo.entry import ZooEntry


class GRUSeq(nn.Module):
    def __init__(self, features: int = 12, hidden_size: int = 16) -> None:
        super().__init__()
        self.hidden_size = hidden_size
        self.cell = nn.GRUCell(features, hidden_size)

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        # x: [batch, time, features]
        h = x.new_zeros((x.size(0), self.hidden_size))
        outputs: List[torch.Tensor] = []
        for t in range(x.size(1)):
            h = self.cell(x[:, t], h)
            outputs.append(h)
        return h, torch.stack(outputs, 1)


def make_gru_seq() -> GRUSeq:
    return GRUSeq()


ENTRY = ZooEntry(
    name="gru_seq",
    factory=make_gru_seq,
    inputs=(TensorSpec("x", (2, 7, 12), dynamic_dims=(0, 1)),),
    modes=("script",),  # trace unrolls the time loop and fixes the sequence length
    aoti=False,  # a Python loop over the sequence length fixes that dynamic dim
    tolerance=Tolerance(atol=1e-5, rtol=1e-4),
    description="GRUCell(12 -> 16) stepped over time in a loop; returns (h_final, outputs [B, T, 16]).",
)
