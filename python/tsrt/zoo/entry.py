"""A model of the zoo: how to build it, its inputs, and how it may be exported."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

import torch

from tsrt.exporter import ExportReport, export
from tsrt.spec import TensorSpec, Tolerance


@dataclass(frozen=True)
class ZooEntry:
    """A model of the zoo: how to build it, its inputs, and how it may be exported."""

    name: str
    factory: Any  # Callable[[], torch.nn.Module]
    inputs: tuple[TensorSpec, ...]
    modes: tuple[str, ...]  # valid TorchScript export modes: "trace", "script"
    tolerance: Tolerance = Tolerance()
    # torch.export (hence format "aoti") captures it with its dynamic dims; tests/test_aoti.py checks the claim.
    aoti: bool = True
    # Extra methods exported with @torch.jit.export, each with its own inputs.
    methods: Mapping[str, tuple[TensorSpec, ...]] = field(default_factory=dict)
    description: str = ""

    def example_inputs(self, seed: int = 0, sizes: Mapping[str, Mapping[int, int]] | None = None,
                       specs: tuple[TensorSpec, ...] | None = None) -> tuple[torch.Tensor, ...]:
        """Fresh random inputs; `sizes` maps an input name to {dim: size} for dynamic dims."""
        generator = torch.Generator().manual_seed(seed)
        sizes = sizes or {}
        return tuple(spec.random(generator, sizes.get(spec.name)) for spec in (specs or self.inputs))

    def build(self) -> torch.nn.Module:
        """A new instance in eval mode, with deterministic weights."""
        torch.manual_seed(0)
        return self.factory().eval()

    def export(self, path: str | Path, mode: str = "auto", format: str = "torchscript",
               progress: Callable[[str], None] | None = None, **options: Any) -> ExportReport:
        """Exports this model with its declared inputs and tolerance; `options` go to
        tsrt.export (freeze=False, golden=0, ...)."""
        if format == "torchscript" and mode != "auto" and mode not in self.modes:
            raise ValueError(f"zoo model '{self.name}' cannot be exported with mode '{mode}'; "
                             f"valid: {', '.join(self.modes)}")
        return export(self.build(), self.example_inputs(), path, mode, format=format, input_specs=self.inputs,
                      method_specs=self.methods, tolerance=self.tolerance, progress=progress, **options)
