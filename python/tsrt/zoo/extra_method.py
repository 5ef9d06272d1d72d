"""`extra_method`: a module with a second exported method, `embed`, besides `forward`.

TorchScript features/traps exercised:
* `@torch.jit.export` compiles `embed` into the TorchScript module next to `forward`.
  This holds for both modes: `torch.jit.script` compiles it, and `torch.jit.trace`
  traces `forward` but compiles `@torch.jit.export` methods with the script compiler
  (verified with torch 2.13: the traced module has `embed`, and it matches eager at
  other batch sizes). So both "trace" and "script" are valid modes.
* `torch.jit.freeze` drops every method except `forward` unless it is listed in
  `preserved_attrs` (the exporter passes `list(ENTRY.methods)`); a frozen model
  without `embed` is the failure this catches. The C++ side must call it with
  `module.get_method("embed")` / `run_method("embed", ...)`.
* `forward` and `embed` share the encoder weights but return different tensors
  (class logits [N, 5] vs. an L2-normalised embedding [N, 12]).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from tsrt.spec import TensorSpec, Tolerance
from tsrt.zoo.entry import ZooEntry


class ExtraMethod(nn.Module):
    def __init__(self, features: int = 20, embed_dim: int = 12, num_classes: int = 5) -> None:
        super().__init__()
        self.encoder = nn.Linear(features, embed_dim)
        self.head = nn.Linear(embed_dim, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.relu(self.encoder(x)))

    @torch.jit.export
    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.encoder(x), p=2.0, dim=1)


def make_extra_method() -> ExtraMethod:
    return ExtraMethod()


ENTRY = ZooEntry(
    name="extra_method",
    factory=make_extra_method,
    inputs=(TensorSpec("x", (4, 20), dynamic_dims=(0,)),),
    # Both verified: trace records forward and script-compiles the exported embed.
    modes=("trace", "script"),
    tolerance=Tolerance(atol=1e-5, rtol=1e-4),
    methods={"embed": (TensorSpec("x", (4, 20), dynamic_dims=(0,)),)},
    description="forward(x) -> logits [N, 5]; exported embed(x) -> unit-norm embedding [N, 12].",
)
