"""Input specifications: a named tensor's dtype, example shape and varying dimensions.

A `TensorSpec` is what tsrt records in a model file about each input, what the zoo
declares for its models, and what makes fresh random inputs for parity checks.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Mapping

import torch

from tsrt.contract import dtype_from_name, dtype_name

def default_dynamic_dims(rank: int) -> tuple[int, ...]:
    """The dims that vary when an input's are not declared: the batch dimension (0)
    of every input that has one."""
    return (0,) if rank else ()


@dataclass(frozen=True)
class TensorSpec:
    """One tensor input of a model.

    shape: the example shape. dynamic_dims: the dimensions whose size may differ
    at run time (the batch dimension, a sequence length). value_range: [low, high)
    of random values; integer inputs such as token ids need one.
    """

    name: str
    shape: tuple[int, ...]
    dtype: torch.dtype = torch.float32
    dynamic_dims: tuple[int, ...] = ()
    value_range: tuple[float, float] | None = None

    def with_sizes(self, sizes: Mapping[int, int]) -> tuple[int, ...]:
        """The example shape with the dynamic dimensions in `sizes` replaced."""
        shape = list(self.shape)
        for dim, size in sizes.items():
            if dim not in self.dynamic_dims:
                raise ValueError(f"input '{self.name}': dimension {dim} is not dynamic")
            shape[dim] = size
        return tuple(shape)

    def random(self, generator: torch.Generator, sizes: Mapping[int, int] | None = None) -> torch.Tensor:
        """A fresh random tensor of this spec (dynamic dimensions resized by `sizes`)."""
        shape = self.with_sizes(sizes or {})
        if self.dtype == torch.bool:
            return torch.randint(0, 2, shape, generator=generator).bool()
        if self.dtype.is_floating_point or self.dtype.is_complex:
            low, high = self.value_range or (-1.0, 1.0)
            values = torch.rand(shape, generator=generator, dtype=torch.float64) * (high - low) + low
            return values.to(self.dtype)
        low, high = self.value_range or (0, 10)
        return torch.randint(int(low), int(high), shape, generator=generator, dtype=self.dtype)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "dtype": dtype_name(self.dtype),
            "shape": list(self.shape),
            "dynamic_dims": list(self.dynamic_dims),
        }
        if self.value_range is not None:
            out["value_range"] = list(self.value_range)
        return out

    @staticmethod
    def from_json(obj: Mapping[str, Any]) -> "TensorSpec":
        value_range = obj.get("value_range")
        return TensorSpec(
            name=obj["name"],
            shape=tuple(obj["shape"]),
            dtype=dtype_from_name(obj["dtype"]),
            dynamic_dims=tuple(obj.get("dynamic_dims", ())),
            value_range=tuple(value_range) if value_range is not None else None,
        )

    @staticmethod
    def parse(text: str) -> "TensorSpec":
        """Parses 'NAME=1x3x224x224:float32' (the dtype defaults to float32)."""
        match = re.fullmatch(r"([A-Za-z_][A-Za-z0-9_]*)=(\d+(?:x\d+)*)?(?::([a-z0-9]+))?", text.strip())
        if not match:
            raise ValueError(f"bad input spec '{text}': expected NAME=DIMxDIM...:DTYPE, e.g. x=1x3x224x224:float32")
        name, dims, dtype = match.groups()
        shape = tuple(int(d) for d in dims.split("x")) if dims else ()
        return TensorSpec(name, shape, dtype_from_name(dtype or "float32"))


@dataclass(frozen=True)
class Tolerance:
    """Parity tolerance: |actual - expected| <= atol + rtol * |expected|, elementwise."""

    atol: float = 1e-5
    rtol: float = 1e-4

    def to_json(self) -> dict[str, float]:
        return {"atol": self.atol, "rtol": self.rtol}
