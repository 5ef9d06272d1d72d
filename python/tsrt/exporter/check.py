"""Checking a captured module against eager PyTorch on inputs it did not see: new
values at the example shape, then smaller and larger sizes of every dynamic dimension."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

import torch

from tsrt.contract import flatten_outputs
from tsrt.capture import first_line
from tsrt.spec import TensorSpec, Tolerance


def check_inputs(specs: Sequence[TensorSpec], example_inputs: tuple, seeds: Sequence[int] = (101, 102)) -> list[tuple]:
    """Fresh inputs for checking a capture: new values at the example shape, then
    smaller and larger sizes on every dynamic dimension."""
    variants: list[dict[str, dict[int, int]]] = [{}]
    for resize in (lambda s: max(1, s // 2) if s > 1 else 2, lambda s: s + 3):
        variants.append({spec.name: {d: resize(spec.shape[d]) for d in spec.dynamic_dims} for spec in specs})
    inputs = []
    for sizes in variants:
        for seed in seeds:
            generator = torch.Generator().manual_seed(seed)
            inputs.append(tuple(fresh_like(spec, example, generator, sizes.get(spec.name, {}))
                                for spec, example in zip(specs, example_inputs)))
    return inputs


def fresh_like(spec: TensorSpec, example: torch.Tensor, generator: torch.Generator, sizes: dict[int, int],
               any_dim: bool = False) -> torch.Tensor:
    """A random tensor like `example`, resized by `sizes` ({dim: size}; any dim with
    `any_dim`, else only dynamic ones): integers stay within the example's range
    (token ids, indices, masks)."""
    if spec.value_range is None and not spec.dtype.is_floating_point and spec.dtype != torch.bool and example.numel():
        low, high = int(example.min()), int(example.max()) + 1
        spec = TensorSpec(spec.name, spec.shape, spec.dtype, spec.dynamic_dims, (low, max(high, low + 1)))
    if any_dim:
        spec = TensorSpec(spec.name, spec.shape, spec.dtype, tuple(sorted({*spec.dynamic_dims, *sizes})),
                          spec.value_range)
    return spec.random(generator, sizes)


@dataclass
class Reference:
    """Eager PyTorch's outputs on the check inputs, computed once: every candidate
    capture is compared with the same answers, and submodules swapped in during the
    search cannot change them."""

    cases: list[tuple[tuple, list[tuple[str, Any]]]]


def reference(eager: Callable[..., Any], inputs: list[tuple]) -> Reference:
    """Runs eager on each input tuple; sizes eager itself refuses are left out."""
    cases = []
    with torch.no_grad():
        for args in inputs:
            try:
                cases.append((args, flatten_outputs(eager(*args))))
            except Exception:  # noqa: BLE001 - eager itself refuses this size: skip it
                continue
    return Reference(cases)


def divergence(candidate: Callable[..., Any], expected: Reference, tolerance: Tolerance, calls: int = 2) -> str:
    """'' when `candidate` matches eager on every input (each called `calls` times:
    the profiling executor re-optimises on the second call), else why not."""
    for args, wanted in expected.cases:
        shapes = ", ".join(str(tuple(a.shape)) for a in args)
        with torch.no_grad():
            for _ in range(calls):
                try:
                    actual = flatten_outputs(candidate(*args))
                except Exception as error:  # noqa: BLE001
                    return f"fails at inputs {shapes}: {first_line(error)}"
                if [path for path, _ in actual] != [path for path, _ in wanted]:
                    return (f"returns outputs {[p for p, _ in actual]} at inputs {shapes}, "
                            f"eager returns {[p for p, _ in wanted]}")
                for (path, a), (_, e) in zip(actual, wanted):
                    problem = _leaf_difference(a, e, tolerance)
                    if problem:
                        return f"{problem} in {path} at inputs {shapes}"
    return ""


def _leaf_difference(actual: Any, expected: Any, tolerance: Tolerance) -> str:
    if isinstance(expected, torch.Tensor):
        if not isinstance(actual, torch.Tensor):
            return f"returns {type(actual).__name__} where eager returns a tensor"
        if actual.shape != expected.shape:
            return f"has shape {tuple(actual.shape)} where eager has {tuple(expected.shape)}"
        if not torch.allclose(actual, expected, atol=tolerance.atol, rtol=tolerance.rtol, equal_nan=True):
            return f"differs from eager by {(actual.double() - expected.double()).abs().max().item():.3g}"
        return ""
    if isinstance(expected, float) and isinstance(actual, float):
        close = abs(actual - expected) <= tolerance.atol + tolerance.rtol * abs(expected)
        return "" if close else f"is {actual} where eager gives {expected}"
    return "" if actual == expected else f"is {actual!r} where eager gives {expected!r}"
