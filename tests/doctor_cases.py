"""Small models for `tsrt doctor`, each with exactly one TorchScript export problem.

Every problem line carries a marker comment, `# doctor: <kind>` (variants add
` @<Model>`), so tests find the line `diagnose()` must report by searching this
file's text rather than by hard-coded line numbers. All models take one float
input of shape (2, 4): `example_inputs()`.
"""

from __future__ import annotations

from typing import List, Optional, Set

import torch
from torch import nn


def example_inputs() -> tuple[torch.Tensor]:
    return (torch.randn(2, 4, generator=torch.Generator().manual_seed(0)),)


def _double(t: torch.Tensor) -> torch.Tensor:
    return t * 2


def _helper_with_lambda(x: torch.Tensor) -> torch.Tensor:
    scale = lambda t: t * 3  # noqa: E731  # doctor: lambda @FreeFunctionHelper
    return scale(x)


# --- one model per kind ---------------------------------------------------------------

class GeneratorExpression(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        xs = [x, x + 1]
        return torch.cat(tuple(p * 2 for p in xs))  # doctor: generator_expression


class ListComprehensionWithCondition(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        parts = [x * i for i in range(4) if i % 2 == 1]  # doctor: list_comprehension_with_condition
        return torch.stack(parts).sum(0)


class SetComprehension(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        residues = {i % 2 for i in range(4)}  # doctor: set_comprehension
        return x * len(residues)


class DictComprehension(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scaled = {str(i): x * i for i in range(3)}  # doctor: dict_comprehension
        return scaled["2"]


class SetType(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        count = len(set([1, 2, 2]))  # doctor: set_type
        return x * count


class Lambda(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        square = lambda t: t * t  # noqa: E731  # doctor: lambda
        return square(x)


class VarArgs(nn.Module):
    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:  # doctor: varargs
        return inputs[0] * 2


class ModuleListVariableIndex(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.layers = nn.ModuleList([nn.Linear(4, 4) for _ in range(3)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for i in range(len(self.layers)):
            x = self.layers[i](x)  # doctor: modulelist_variable_index
        return x


class UnresolvableSubmoduleCall(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.first = nn.Linear(4, 4)
        self.second = nn.Linear(4, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for name in ["first", "second"]:
            x = getattr(self, name)(x)  # doctor: unresolvable_submodule_call
        return x


class SuperCall(nn.Linear):
    def __init__(self) -> None:
        super().__init__(4, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x) * 2  # doctor: super_call


class NoneDefaultUnannotated(nn.Module):
    def forward(self, x: torch.Tensor, scale=None) -> torch.Tensor:  # doctor: none_default_unannotated
        if scale is not None:
            x = x * scale
        return x


def _built_by_exec() -> type:
    """A module class whose source inspect cannot find: it is compiled from a string."""
    namespace = {"nn": nn, "torch": torch, "__name__": __name__}
    exec(compile('''
class SourceUnavailable(nn.Module):  # doctor: source_unavailable
    def forward(self, x):
        return x * 2
''', "<doctor_cases exec>", "exec"), namespace)
    return namespace["SourceUnavailable"]


SourceUnavailable = _built_by_exec()


class TensorConstantInTrace(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weights = torch.tensor([1.0, 2.0, 3.0, 4.0])  # doctor: tensor_constant_in_trace
        return x * weights


class DeviceConstantInTrace(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        offset = torch.ones(x.shape, device=x.device)  # doctor: device_constant_in_trace
        return x + offset


class DataDependentControlFlow(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.sum() > 0:  # doctor: data_dependent_control_flow
            return x * 2
        return x - 1


class Clean(nn.Module):
    """Everything here scripts and traces correctly: ModuleList iteration, Optional
    with a default, a helper method, literal indices, a list comprehension."""

    def __init__(self) -> None:
        super().__init__()
        self.layers = nn.ModuleList([nn.Linear(4, 4) for _ in range(2)])
        self.heads = nn.ModuleDict({"main": nn.Linear(4, 4)})

    def forward(self, x: torch.Tensor, mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        for layer in self.layers:
            x = torch.relu(layer(x))
        x = self.heads["main"](x) + self.layers[0](x)
        if mask is not None:
            x = x * mask
        parts: List[torch.Tensor] = [x * float(i) for i in range(2)]
        return self._combine(parts) + torch.zeros_like(x)

    def _combine(self, parts: List[torch.Tensor]) -> torch.Tensor:
        return torch.stack(parts).sum(0)


CASES: dict[str, type] = {
    "generator_expression": GeneratorExpression,
    "list_comprehension_with_condition": ListComprehensionWithCondition,
    "set_comprehension": SetComprehension,
    "dict_comprehension": DictComprehension,
    "set_type": SetType,
    "lambda": Lambda,
    "varargs": VarArgs,
    "modulelist_variable_index": ModuleListVariableIndex,
    "unresolvable_submodule_call": UnresolvableSubmoduleCall,
    "super_call": SuperCall,
    "none_default_unannotated": NoneDefaultUnannotated,
    "source_unavailable": SourceUnavailable,
    "tensor_constant_in_trace": TensorConstantInTrace,
    "device_constant_in_trace": DeviceConstantInTrace,
    "data_dependent_control_flow": DataDependentControlFlow,
}


# --- variants: other spellings of the same problems -------------------------------------

class KeywordOnlyDefault(nn.Module):
    def forward(self, x: torch.Tensor, *, scale: float = 2.0) -> torch.Tensor:  # doctor: varargs @KeywordOnlyDefault
        return x * scale


class ModuleDictVariableKey(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.heads = nn.ModuleDict({"a": nn.Linear(4, 4), "b": nn.Linear(4, 4)})

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        key = "a"
        return self.heads[key](x)  # doctor: modulelist_variable_index @ModuleDictVariableKey


class SubmodulesInAList(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.first = nn.Linear(4, 4)
        self.second = nn.Linear(4, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in [self.first, self.second]:  # doctor: unresolvable_submodule_call @SubmodulesInAList
            x = layer(x)
        return x


class UnregisteredList(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.blocks = [nn.Linear(4, 4), nn.Linear(4, 4)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks[0](x)  # doctor: unresolvable_submodule_call @UnregisteredList


class SequentialSuperCall(nn.Sequential):
    def __init__(self) -> None:
        super().__init__(nn.Linear(4, 4), nn.ReLU())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x) + 1  # doctor: super_call @SequentialSuperCall


class _Base(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + 1


class InheritsUserModule(_Base):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x) * 2  # doctor: super_call @InheritsUserModule


class SetAnnotation(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        seen: Set[int] = {1, 2}  # doctor: set_type @SetAnnotation
        return x * len(seen)


class WrongNoneAnnotation(nn.Module):
    def forward(self, x: torch.Tensor, steps: int = None) -> torch.Tensor:  # doctor: none_default_unannotated @WrongNoneAnnotation
        return x


class ReachableHelper(nn.Module):
    """The problem is in a method forward calls, inside a submodule."""

    def __init__(self) -> None:
        super().__init__()
        self.inner = _InnerWithHelper()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.inner(x) + 1


class _InnerWithHelper(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._twice(x)

    def _twice(self, x: torch.Tensor) -> torch.Tensor:
        return torch.stack(list(_double(p) for p in [x, x])).sum(0)  # doctor: generator_expression @ReachableHelper


class ChildMethodCall(nn.Module):
    """forward calls a method of a submodule other than its forward."""

    def __init__(self) -> None:
        super().__init__()
        self.inner = _InnerWithMethod()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.inner.scaled(x)


class _InnerWithMethod(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x

    def scaled(self, x: torch.Tensor) -> torch.Tensor:
        factors = {2: 2.0 for _ in range(2)}  # doctor: dict_comprehension @ChildMethodCall
        return x * factors[2]


class FreeFunctionHelper(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _helper_with_lambda(x)


class IgnoredPythonOnly(nn.Module):
    """Python-only code behind @torch.jit.ignore is not compiled: nothing to report
    from the scan (scripting and tracing succeed too)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * 2

    @torch.jit.ignore
    def describe(self) -> str:
        return ", ".join(sorted({str(k) for k in range(3)}))


class TryExcept(nn.Module):
    """No kind of its own: the script error is reported as it is, at its line."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        try:  # doctor: script_error @TryExcept
            y = x * 2
        except RuntimeError:
            y = x
        return y


class RepeatedConstruct(nn.Module):
    """The same problem twice: each occurrence is reported, not just the first."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        add = lambda t: t + 1  # noqa: E731  # doctor: lambda @RepeatedConstruct
        mul = lambda t: t * 2  # noqa: E731  # doctor: lambda @RepeatedConstruct
        return mul(add(x))


class TwoProblems(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.layers = nn.ModuleList([nn.Linear(4, 4) for _ in range(2)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shift = lambda t: t + 1  # noqa: E731  # doctor: lambda @TwoProblems
        for i in range(2):
            x = self.layers[i](x)  # doctor: modulelist_variable_index @TwoProblems
        return shift(x)


# (model, kind): the variant's marker is `# doctor: <kind> @<model name>`.
VARIANTS: list[tuple[type, str]] = [
    (KeywordOnlyDefault, "varargs"),
    (ModuleDictVariableKey, "modulelist_variable_index"),
    (SubmodulesInAList, "unresolvable_submodule_call"),
    (UnregisteredList, "unresolvable_submodule_call"),
    (SequentialSuperCall, "super_call"),
    (InheritsUserModule, "super_call"),
    (SetAnnotation, "set_type"),
    (WrongNoneAnnotation, "none_default_unannotated"),
    (ReachableHelper, "generator_expression"),
    (ChildMethodCall, "dict_comprehension"),
    (FreeFunctionHelper, "lambda"),
    (TryExcept, "script_error"),
]
