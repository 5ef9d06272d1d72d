"""Making any module traceable: outputs flattened to a tuple of tensors with their
names recorded, keyword inputs passed positionally.

Tracing accepts only tensors and tuples/lists of them as outputs (pitfalls 6 and
7): dicts, HuggingFace ModelOutputs, namedtuples and None are refused or need
strict=False. tsrt wraps the model instead, so users write no wrapper.
"""

from __future__ import annotations

from typing import Any, Sequence

import torch


def _is_namedtuple(value: Any) -> bool:
    return isinstance(value, tuple) and hasattr(value, "_fields")


def structure(output: Any) -> str:
    """The type of an output structure, written as TorchScript would:
    'Tuple[Tensor, Dict[str, Tensor]]', 'Optional' for None, 'int' for ints."""
    if isinstance(output, torch.Tensor):
        return "Tensor"
    if output is None:
        return "None"
    if isinstance(output, dict):
        values = sorted({structure(v) for v in output.values()})
        return f"Dict[str, {values[0] if len(values) == 1 else 'Any'}]"
    if _is_namedtuple(output):
        return f"{type(output).__name__}({', '.join(f'{k}: {structure(getattr(output, k))}' for k in output._fields)})"
    if isinstance(output, tuple):
        return f"Tuple[{', '.join(structure(v) for v in output)}]"
    if isinstance(output, list):
        values = sorted({structure(v) for v in output})
        return f"List[{values[0] if len(values) == 1 else 'Any'}]"
    return type(output).__name__


def named_tensor_leaves(output: Any, prefix: str = "") -> list[tuple[str, torch.Tensor]]:
    """The non-None tensor leaves of `output` with their names: dict keys and
    namedtuple fields joined with '.', indices for plain sequences."""
    def join(key: str) -> str:
        return f"{prefix}.{key}" if prefix else key

    if isinstance(output, torch.Tensor):
        return [(prefix or "output", output)]
    if output is None:
        return []
    if isinstance(output, dict):  # also HF ModelOutput (an OrderedDict)
        return [leaf for key, value in output.items() for leaf in named_tensor_leaves(value, join(str(key)))]
    if _is_namedtuple(output):
        return [leaf for key in output._fields for leaf in named_tensor_leaves(getattr(output, key), join(key))]
    if isinstance(output, (tuple, list)):
        return [leaf for i, value in enumerate(output)
                for leaf in named_tensor_leaves(value, join(f"output_{i}" if not prefix else str(i)))]
    raise TypeError(f"output leaf of type {type(output).__name__} cannot be exported; return tensors")


def leaf_names(output: Any) -> list[str]:
    """Names of the non-None tensor leaves of `output`, in flattening order."""
    return [name for name, _ in named_tensor_leaves(output)]


def flatten_tensors(output: Any) -> list[torch.Tensor]:
    """The non-None tensor leaves of `output`, in the order of leaf_names."""
    return [tensor for _, tensor in named_tensor_leaves(output)]


def has_scalar_leaves(output: Any) -> bool:
    """True when `output` holds ints, floats, bools or strings: a trace would
    freeze them as constants, so such models must be scripted."""
    if isinstance(output, torch.Tensor) or output is None:
        return False
    if isinstance(output, dict):
        return any(has_scalar_leaves(v) for v in output.values())
    if isinstance(output, (tuple, list)):
        return any(has_scalar_leaves(v) for v in output)
    return True


def needs_flattening(output: Any) -> bool:
    """True when tracing would refuse or mangle `output`'s structure: None,
    namedtuples and non-tensor leaves. (Dicts with str keys trace with strict=False.)"""
    if isinstance(output, torch.Tensor):
        return False
    if output is None or _is_namedtuple(output):
        return True
    if isinstance(output, dict):
        return any(not isinstance(k, str) or needs_flattening(v) for k, v in output.items())
    if isinstance(output, (tuple, list)):
        return any(needs_flattening(value) for value in output)
    return True


class FlatOutputs(torch.nn.Module):
    """Calls `module` with positional inputs (mapped to `input_names` as keywords
    when `by_keyword`) and returns its tensor leaves as a flat tuple."""

    def __init__(self, module: torch.nn.Module, input_names: Sequence[str], by_keyword: bool) -> None:
        super().__init__()
        self.module = module
        self.input_names = list(input_names)
        self.by_keyword = by_keyword

    def forward(self, *inputs: torch.Tensor):  # traced only, never scripted
        if self.by_keyword:
            output = self.module(**dict(zip(self.input_names, inputs)))
        else:
            output = self.module(*inputs)
        leaves = flatten_tensors(output)
        return leaves[0] if len(leaves) == 1 else tuple(leaves)
