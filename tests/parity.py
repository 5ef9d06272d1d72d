"""Numeric comparison of runtime outputs with eager PyTorch outputs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import torch

from tsrt.zoo.entry import ZooEntry


@dataclass
class Errors:
    max_abs: float = 0.0
    max_rel: float = 0.0  # max |a - e| / max(|e|, atol): relative error where it is meaningful

    def merge(self, other: "Errors") -> None:
        self.max_abs = max(self.max_abs, other.max_abs)
        self.max_rel = max(self.max_rel, other.max_rel)


def compare(actual: Any, expected: Any, atol: float, rtol: float, path: str = "output") -> Errors:
    """Asserts that two output structures match within atol + rtol*|expected| and returns the errors."""
    errors = Errors()
    if isinstance(expected, torch.Tensor):
        assert isinstance(actual, torch.Tensor), f"{path}: expected a tensor, got {type(actual).__name__}"
        assert actual.shape == expected.shape, f"{path}: shape {tuple(actual.shape)} != {tuple(expected.shape)}"
        assert actual.dtype == expected.dtype, f"{path}: dtype {actual.dtype} != {expected.dtype}"
        if expected.numel():
            diff = (actual.detach().cpu().double() - expected.double()).abs()
            errors.max_abs = diff.max().item()
            errors.max_rel = (diff / expected.double().abs().clamp_min(atol)).max().item()
        torch.testing.assert_close(actual.cpu(), expected, atol=atol, rtol=rtol, msg=lambda m: f"{path}: {m}")
    elif isinstance(expected, (tuple, list)):
        assert isinstance(actual, (tuple, list)) and len(actual) == len(expected), f"{path}: structure differs"
        for i, (a, e) in enumerate(zip(actual, expected)):
            errors.merge(compare(a, e, atol, rtol, f"{path}[{i}]"))
    elif isinstance(expected, dict):
        assert isinstance(actual, dict) and set(actual) == set(expected), f"{path}: dict keys differ"
        for key in expected:
            errors.merge(compare(actual[key], expected[key], atol, rtol, f"{path}[{key!r}]"))
    elif isinstance(expected, float):
        assert isinstance(actual, float) and abs(actual - expected) <= atol + rtol * abs(expected), f"{path}: {actual} != {expected}"
    else:
        assert actual == expected and type(actual) is type(expected), f"{path}: {actual!r} != {expected!r}"
    return errors


def shape_variants(entry: ZooEntry, specs=None) -> list[Mapping[str, Mapping[int, int]]]:
    """The example shape, a smaller and a larger one on every dynamic dimension.

    The same rule applies to every input, so dimensions that must agree across
    inputs (a shared batch) keep agreeing.
    """
    variants: list[dict[str, dict[int, int]]] = [{}]
    for resize in (lambda size: max(1, size // 2), lambda size: size + 3):
        variants.append({spec.name: {dim: resize(spec.shape[dim]) for dim in spec.dynamic_dims}
                         for spec in (specs or entry.inputs) if spec.dynamic_dims})
    return variants


def zoo_parity(loaded: Any, entry: ZooEntry, atol: float, rtol: float, seeds: tuple[int, ...],
               calls_per_input: int = 3) -> Errors:
    """Runs every method of `loaded` (forward and the entry's extra methods) on fresh
    inputs for each seed and shape variant, `calls_per_input` times each (TorchScript's
    profiling executor re-optimises on the 2nd call), against the eager model."""
    eager = entry.build()
    errors = Errors()
    for method, specs in [("forward", entry.inputs), *entry.methods.items()]:
        for sizes in shape_variants(entry, specs):
            for seed in seeds:
                inputs = entry.example_inputs(seed=seed, sizes=sizes, specs=specs)
                with torch.no_grad():
                    expected = getattr(eager, method)(*inputs)
                for _ in range(calls_per_input):
                    errors.merge(compare(loaded.run(method, *inputs), expected, atol, rtol))
    return errors
