"""Normalising what the user passed as example inputs: their names, their order,
and their specs (dtype, shape, dimensions that vary)."""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import torch

from tsrt.input_tree import InputNode, InputTrees, UnsupportedInput
from tsrt.spec import TensorSpec, default_dynamic_dims


class UsageError(ValueError):
    """Arguments to export that make no sense together (not a failure of the model):
    raised as they are, not wrapped into an ExportError."""


@dataclass
class ExampleInputs:
    """The example inputs in forward's parameter order.

    by_keyword: the module must be called with keywords (the names are not forward's
    leading parameters in order), so a wrapper passes them positionally.
    trees: set when an argument is not a plain tensor (a dict, tuple, list, scalar or
    None): `values` and `specs` are then the flat tensor leaves (named by path), and
    the arguments are rebuilt from them for every call.
    """

    names: list[str]
    values: tuple
    by_keyword: bool
    specs: tuple[TensorSpec, ...]
    trees: InputTrees | None = None

    def arguments(self, values: tuple | None = None) -> tuple:
        """Every argument of a call, rebuilt from flat `values` (default: the example's)."""
        values = self.values if values is None else values
        return self.trees.arguments(values) if self.trees is not None else tuple(values)

    def call(self, module: torch.nn.Module, values: tuple | None = None) -> Any:
        """Calls `module` (eager, or scripted) on these inputs (or on flat `values` in the same order)."""
        arguments = self.arguments(values)
        return module(**dict(zip(self.names, arguments))) if self.by_keyword else module(*arguments)

    def runner(self, module: Any, traced: bool) -> Any:
        """`module` as a callable on the flat values: a trace (or a wrapper made to be
        traced) takes the arguments without the bound ones, positionally; anything else
        takes them all, as eager does."""
        if self.trees is None:
            return module
        if traced:
            return lambda *values: module(*self.trees.traced_arguments(values))
        return lambda *values: self.call(module, values)

    def contract_inputs(self) -> tuple:
        """What the contract records: the trees, or the tensor specs when all are tensors."""
        if self.trees is None:
            return self.specs
        return tuple(self.trees.with_leaf_specs(self.specs).nodes)


class NonTensorInput(TypeError):
    """An example input that the contract cannot describe (a str, a custom object, a
    dict with non-str keys): the contract's trees (tsrt.input_tree) hold tensors,
    dicts, tuples, lists, int/float/bool and None."""

    def __init__(self, name: str, value: Any) -> None:
        super().__init__(f"input '{name}' is a {type(value).__name__}; a model file takes tensors, dicts/tuples/"
                         "lists of them, int/float/bool and None. Fix: pass it as one of those, or give the "
                         "argument a default inside the model")

    @classmethod
    def from_message(cls, message: str) -> "NonTensorInput":
        error = cls.__new__(cls)
        TypeError.__init__(error, message)
        return error


def positional_names(module: torch.nn.Module, count: int) -> list[str]:
    """The names of forward's first `count` positional parameters (input_<i> when forward
    takes *args)."""
    parameters = list(inspect.signature(module.forward).parameters.values())
    names = [p.name for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return names[:count] if len(names) >= count else [f"input_{i}" for i in range(count)]


def trees_for(values: Sequence[Any], names: Sequence[str],
              dynamic: Mapping[str, Sequence[int]] | None) -> InputTrees:
    """The trees of the example arguments (see tsrt.input_tree)."""
    try:
        return InputTrees([InputNode.from_example(name, value, (dynamic or {}).get(name) if dynamic else None)
                           for name, value in zip(names, values)])
    except UnsupportedInput as error:
        raise NonTensorInput.from_message(str(error)) from None


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
    if not input_specs and not all(isinstance(v, torch.Tensor) for v in values):
        trees = trees_for(values, names, dynamic)
        leaves = tuple(leaf for value in values for leaf in _tensor_leaves(value))
        return ExampleInputs(names, leaves, by_keyword, trees.leaf_specs, trees)
    specs = tuple(input_specs) if input_specs else specs_for(values, names, dynamic)
    return ExampleInputs(names, values, by_keyword, specs)


def _tensor_leaves(value: Any) -> list[torch.Tensor]:
    """The tensors inside an example argument, in InputNode.leaves order."""
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, Mapping):
        return [t for v in value.values() for t in _tensor_leaves(v)]
    if isinstance(value, (tuple, list)):
        return [t for v in value for t in _tensor_leaves(v)]
    return []
