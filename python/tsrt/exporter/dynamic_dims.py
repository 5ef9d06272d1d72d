"""Which input dimensions a captured model handles at other sizes.

A trace handles any sequence length when the model does, and a file must never be
stricter than what it can do: without a declaration, export probes every input
dimension besides the batch (which the capture check already varies). Dimensions of
the same size in different inputs (input_ids and attention_mask share the
sequence) are varied together. A group is dynamic when the capture matches eager at
two other sizes; it stays fixed when eager itself refuses those sizes (a ViT's
position table) or when the capture differs (a size baked in by the trace).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Callable, Sequence

import torch

from tsrt.exporter import check
from tsrt.exporter.report import ExportReport
from tsrt.spec import TensorSpec, Tolerance


def describe(specs: Sequence[TensorSpec]) -> str:
    """The dimensions that vary, as reports print them: "input_ids[0,1], attention_mask[0,1]", or "none"."""
    return ", ".join(f"{s.name}[{','.join(map(str, s.dynamic_dims))}]" for s in specs if s.dynamic_dims) or "none"


def trial_sizes(size: int) -> tuple[int, int]:
    """Two other sizes for a dimension of `size`, keeping its power-of-two factor (up
    to 32): a stride-32 network sees 224 as 192 and 256, a sequence of 16 as 8 and 24."""
    if size <= 1:
        return 2, 3
    step = 1
    while size % (step * 2) == 0 and step < 32 and step * 2 <= size // 2:
        step *= 2
    return size - step, size + step


def larger_sizes(size: int) -> tuple[int, int]:
    """Two sizes above `size`, for a dimension at its model's minimum (VGG at 32x32:
    16 pools to nothing), where the smaller of trial_sizes is refused by eager."""
    smaller, larger = trial_sizes(size)
    return larger, larger + (larger - size)


def candidate_groups(specs: Sequence[TensorSpec]) -> list[tuple[int, list[tuple[int, int]]]]:
    """(size, [(input index, dim)]) for every size that a non-dynamic dimension has,
    largest first; each group is probed as one."""
    groups: dict[int, list[tuple[int, int]]] = {}
    for index, spec in enumerate(specs):
        for dim, size in enumerate(spec.shape):
            if dim not in spec.dynamic_dims:
                groups.setdefault(size, []).append((index, dim))
    return sorted(groups.items(), key=lambda item: -item[0])


def resized_inputs(specs: Sequence[TensorSpec], example: tuple, members: list[tuple[int, int]],
                   sizes: Sequence[int]) -> list[tuple]:
    """One fresh input tuple per size, with the group's dimensions at that size."""
    inputs = []
    for trial, seed in zip(sizes, (201, 202)):
        generator = torch.Generator().manual_seed(seed)
        resized: dict[str, dict[int, int]] = {specs[i].name: {} for i, _ in members}
        for i, d in members:
            resized[specs[i].name][d] = trial
        inputs.append(tuple(check.fresh_like(spec, value, generator, resized.get(spec.name, {}), any_dim=True)
                            for spec, value in zip(specs, example)))
    return inputs


def eager_trials(eager: Callable[..., Any], specs: Sequence[TensorSpec], example: tuple,
                 members: list[tuple[int, int]], sizes: Sequence[int]):
    """The inputs at `sizes` and eager's outputs on them (fewer cases: eager refused some)."""
    inputs = resized_inputs(specs, example, members, sizes)
    return inputs, check.reference(eager, inputs)


def probe(candidate: Callable[..., Any], eager: Callable[..., Any], specs: Sequence[TensorSpec],
          example: tuple, tolerance: Tolerance, report: ExportReport) -> tuple[TensorSpec, ...]:
    """The specs with every dimension that passed made dynamic; report.dynamic lists
    each group tried, the sizes, and the verdict."""
    specs = list(specs)
    tried = []
    for size, members in candidate_groups(specs):
        sizes = trial_sizes(size)
        inputs, expected = eager_trials(eager, specs, example, members, sizes)
        if len(expected.cases) < len(inputs):
            sizes = larger_sizes(size)
            inputs, expected = eager_trials(eager, specs, example, members, sizes)
        if len(expected.cases) < len(inputs):
            verdict = "fixed: eager PyTorch refuses other sizes"
        else:
            problem = check.divergence(candidate, expected, tolerance, calls=1)
            verdict = f"fixed: the capture {problem}" if problem else "dynamic"
        if verdict == "dynamic":
            for i, d in members:
                specs[i] = replace(specs[i], dynamic_dims=tuple(sorted({*specs[i].dynamic_dims, d})))
        tried.append({"dims": [f"{specs[i].name}[{d}]" for i, d in members], "size": size, "tried": list(sizes),
                      "verdict": verdict})
    report.dynamic = {"probed": tried, "summary": describe(specs) + (
        f" (probed {len(tried)} group(s) of other dimensions; {sum(t['verdict'] == 'dynamic' for t in tried)} vary)")}
    return tuple(specs)
