"""`mlp`: a plain Linear-ReLU-Linear-ReLU-Linear stack.

TorchScript feature exercised: the baseline. No control flow and no shape logic, so
tracing and scripting both produce the same graph and both generalise to any batch
size. `torch.jit.freeze` inlines the weights as constants. If this model fails, the
problem is in the export/load path itself, not in the model.
"""

from __future__ import annotations

import torch
from torch import nn

from tsrt.spec import TensorSpec, Tolerance
from tsrt.zoo.entry import ZooEntry


class MLP(nn.Module):
    def __init__(self, in_features: int = 64, hidden: int = 32, out_features: int = 10) -> None:
        super().__init__()
        self.fc1 = nn.Linear(in_features, hidden)
        self.fc2 = nn.Linear(hidden, hidden)
        self.fc3 = nn.Linear(hidden, out_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.fc1(x))
        x = torch.relu(self.fc2(x))
        return self.fc3(x)


def make_mlp() -> MLP:
    return MLP()


ENTRY = ZooEntry(
    name="mlp",
    factory=make_mlp,
    inputs=(TensorSpec("x", (4, 64), dynamic_dims=(0,)),),
    modes=("trace", "script"),
    tolerance=Tolerance(atol=1e-5, rtol=1e-4),
    description="Linear-ReLU-Linear-ReLU-Linear, 64 -> 32 -> 32 -> 10.",
)
