"""Normalising what the user passed as example inputs: their names, their order,
and their specs (dtype, shape, dimensions that vary)."""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import torch

from tsrt.spec import TensorSpec, default_dynamic_dims


class UsageError(ValueError):
    """Arguments to export that make no sense together (not a failure of the model):
    raised as they are, not wrapped into an ExportError."""


@dataclass
class ExampleInputs:
    """The example inputs in forward's parameter order.

    by_keyword: the module must be called with keywords (the names are not forward's
    leading parameters in order), so a wrapper passes them positionally.
    """

    names: list[str]
    values: tuple
    by_keyword: bool
    specs: tuple[TensorSpec, ...]

    def call(self, module: torch.nn.Module, values: tuple | None = None) -> Any:
        """Calls `module` on these inputs (or on `values` in the same order)."""
        values = self.values if values is None else values
        return module(**dict(zip(self.names, values))) if self.by_keyword else module(*values)


class NonTensorInput(TypeError):
    """An example input that is not a tensor: the file's contract (and libtsrt's input
    checks, ./infer's flags, the golden pairs) describes tensors."""

    def __init__(self, name: str, value: Any) -> None:
        kind = type(value).__name__
        if isinstance(value, (list, tuple)) and value and all(isinstance(v, torch.Tensor) for v in value):
            kind = f"{kind} of {len(value)} tensors"
            rewrite = (f"wrap the model so that '{name}' is one batched tensor, e.g. "
                       f"forward(self, {name}: Tensor) -> self.model(list({name.rstrip('s') or name} for "
                       f"{name.rstrip('s') or name} in {name}.unbind(0))), and return tensors (a detection "
                       "model's list of per-image dicts: pad each field to a fixed count, or return one image's)")
        else:
            rewrite = "give the argument a default inside the model, or pass it as a tensor"
        super().__init__(f"input '{name}' is a {kind}; a model file takes tensor inputs. Fix: {rewrite}")


def positional_names(module: torch.nn.Module, count: int) -> list[str]:
    """The names of forward's first `count` positional parameters (input_<i> when forward
    takes *args)."""
    parameters = list(inspect.signature(module.forward).parameters.values())
    names = [p.name for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return names[:count] if len(names) >= count else [f"input_{i}" for i in range(count)]


def specs_for(values: Sequence[Any], names: Sequence[str],
              dynamic: Mapping[str, Sequence[int]] | None) -> tuple[TensorSpec, ...]:
    """Specs from the example tensors; without a declaration, the batch dimension (0)
    of every tensor input may vary."""
    specs = []
    for name, tensor in zip(names, values):
        if not isinstance(tensor, torch.Tensor):
            raise NonTensorInput(name, tensor)
        dims = tuple(dynamic.get(name, ())) if dynamic is not None else default_dynamic_dims(tensor.dim())
        specs.append(TensorSpec(name, tuple(tensor.shape), tensor.dtype, dims))
    return tuple(specs)


def normalize_inputs(module: torch.nn.Module, example_inputs: Sequence[Any] | Mapping[str, Any],
                     input_specs: Sequence[TensorSpec] | None,
                     dynamic: Mapping[str, Sequence[int]] | None) -> ExampleInputs:
    """Orders keyword inputs as forward declares them and checks the specs' names."""
    names: list[str] | None = None
    by_keyword = isinstance(example_inputs, Mapping)
    if by_keyword:
        parameters = inspect.signature(module.forward).parameters
        takes_any = any(p.kind is p.VAR_KEYWORD for p in parameters.values())
        unknown = [name for name in example_inputs if name not in parameters]
        if unknown and not takes_any:
            raise UsageError(f"example inputs {unknown} are not parameters of "
                             f"{type(module).__name__}.forward({', '.join(parameters)}); name each example "
                             "input after the parameter it is for")
        # In forward's parameter order, so that positional calls (C++, script) line up.
        order = [p for p in parameters if p in example_inputs]
        names = order + [n for n in example_inputs if n not in order]
        values = tuple(example_inputs[n] for n in names)
        # Keywords that are forward's leading parameters, in order, pass positionally.
        by_keyword = names != positional_names(module, len(names))
    else:
        values = tuple(example_inputs)
    if input_specs:
        if not by_keyword and [spec.name for spec in input_specs] != positional_names(module, len(values)):
            # The runtime matches the file's specs to the method's arguments by name:
            # specs named otherwise would be silently ignored in C++.
            raise UsageError(f"input_specs are named {[spec.name for spec in input_specs]}, but forward's "
                             f"parameters are {positional_names(module, len(values))}; name each spec after "
                             "the parameter it describes")
        names = [spec.name for spec in input_specs]
    names = names or positional_names(module, len(values))
    specs = tuple(input_specs) if input_specs else specs_for(values, names, dynamic)
    return ExampleInputs(names, values, by_keyword, specs)
