"""Stage 1 of the doctor: a static scan (ast) of the source of every function
TorchScript would compile for a module.

That is the forward of the module and of each submodule, their
@torch.jit.export methods, and the methods (`self.name(...)`, `self.child.name(...)`)
and plain functions they call, each read once; torch's own code and
@torch.jit.ignore'd functions are skipped, as the compiler skips them. What is
wrong inside each function is `doctor.constructs`' job; a class whose source
cannot be read is reported here.
"""

from __future__ import annotations

import ast
import os
import re
import sys
import types
from typing import Any

import torch
from torch._jit_internal import FunctionModifiers, get_torchscript_modifier, is_ignored_fn

from tsrt.doctor.constructs import check_function
from tsrt.doctor.diagnosis import Diagnosis
from tsrt.doctor.findings import Findings
from tsrt.doctor.source import FunctionSource, normalize_path, source_of


class Scanner:
    """Walks every function TorchScript would compile for a module and records the
    constructs it cannot compile (or compiles wrongly)."""

    def __init__(self) -> None:
        self.findings = Findings()
        self.device_sites: list[tuple[str, str]] = []  # (location, construct) of .to(...)/device=
        self._seen_code: set[types.CodeType] = set()
        self._unavailable: set[type] = set()

    def scan_module(self, module: torch.nn.Module) -> None:
        """Scans the forward and @torch.jit.export methods of each class of module in
        `module` (once a class), and what they call."""
        classes: set[type] = set()
        for submodule in module.modules():
            cls = type(submodule)
            if cls in classes or isinstance(submodule, torch.jit.ScriptModule) or _is_torch(cls.__module__):
                continue
            classes.add(cls)
            names = ["forward"] + [name for name, value in _class_functions(cls)
                                   if get_torchscript_modifier(value) is FunctionModifiers.EXPORT]
            for name in dict.fromkeys(names):
                self._scan_method(submodule, name)

    def _scan_method(self, owner: torch.nn.Module, name: str) -> None:
        raw = _static_attribute(type(owner), name)
        if raw is None or name in owner._modules:
            return
        function = raw.__func__ if isinstance(raw, (staticmethod, classmethod)) else raw
        if not isinstance(function, types.FunctionType):
            return
        self._scan_function(function, owner, has_self=not isinstance(raw, staticmethod))

    def _scan_function(self, function: types.FunctionType, owner: torch.nn.Module | None, has_self: bool) -> None:
        function = _unwrap(function)
        if function.__code__ in self._seen_code or _is_torch(function.__module__) or is_ignored_fn(function):
            return
        self._seen_code.add(function.__code__)
        source = source_of(function)
        if source is None:
            if owner is not None:
                self._source_unavailable(type(owner), function)
            return
        self.findings.spans.append((source.file, source.first_line, source.first_line + source.text.count("\n")))
        definition = source.definition
        self_name = None
        if definition is not None and owner is not None and has_self and definition.args.args:
            self_name = definition.args.args[0].arg
        check_function(source, owner, self_name, self.findings, self.device_sites)
        self._follow_calls(source, function, owner, self_name)

    def _follow_calls(self, source: FunctionSource, function: types.FunctionType, owner: torch.nn.Module | None,
                      self_name: str | None) -> None:
        """Scans what this function calls: self.method(...) and plain functions."""
        for node in ast.walk(source.tree):
            if not isinstance(node, ast.Call):
                continue
            target = node.func
            if (isinstance(target, ast.Attribute) and isinstance(target.value, ast.Attribute)
                    and isinstance(target.value.value, ast.Name) and target.value.value.id == self_name
                    and owner is not None):
                # self.child.method(...): compiled as part of the child
                child = owner._modules.get(target.value.attr)
                if child is not None and not isinstance(child, torch.jit.ScriptModule) \
                        and not _is_torch(type(child).__module__):
                    self._scan_method(child, target.attr)
            elif isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name):
                if owner is not None and target.value.id == self_name:
                    self._scan_method(owner, target.attr)
                    continue
                namespace = function.__globals__.get(target.value.id)
                if isinstance(namespace, types.ModuleType) and not _is_torch(namespace.__name__):
                    callee = getattr(namespace, target.attr, None)
                    if isinstance(callee, types.FunctionType):
                        self._scan_function(callee, None, has_self=False)
            elif isinstance(target, ast.Name):
                callee = function.__globals__.get(target.id)
                if isinstance(callee, types.FunctionType):
                    self._scan_function(callee, None, has_self=False)

    def _source_unavailable(self, cls: type, function: types.FunctionType) -> None:
        if cls in self._unavailable:
            return
        self._unavailable.add(cls)
        where = function.__code__.co_filename
        self.findings.add(Diagnosis(
            "source_unavailable", _class_definition(cls), f"class {cls.__qualname__}, compiled from {where!r}",
            "define the class in an importable .py file instead of exec() or a REPL/notebook cell, and "
            "export where the .py sources are present (TorchScript recompiles from source)"))


# --- helpers ---------------------------------------------------------------------------

def _is_torch(module_name: str | None) -> bool:
    return bool(module_name) and (module_name == "torch" or module_name.startswith("torch."))


def _class_functions(cls: type) -> list[tuple[str, Any]]:
    """Functions defined by `cls` and its user-defined bases (not torch's)."""
    seen: dict[str, Any] = {}
    for klass in cls.__mro__:
        if klass is object or _is_torch(klass.__module__):
            continue
        for name, value in vars(klass).items():
            if name not in seen and isinstance(value, (types.FunctionType, staticmethod, classmethod)):
                seen[name] = value.__func__ if isinstance(value, (staticmethod, classmethod)) else value
    return list(seen.items())


def _static_attribute(cls: type, name: str) -> Any:
    for klass in cls.__mro__:
        if name in vars(klass):
            return vars(klass)[name]
    return None


def _unwrap(function: types.FunctionType) -> types.FunctionType:
    seen = 0
    while hasattr(function, "__wrapped__") and seen < 10 and isinstance(function.__wrapped__, types.FunctionType):
        function = function.__wrapped__
        seen += 1
    return function


def _class_definition(cls: type) -> str:
    """file:line of `class Name` in the file of the class's module, when it occurs
    there exactly once (e.g. inside the string given to exec()); '' otherwise."""
    module = sys.modules.get(cls.__module__)
    path = getattr(module, "__file__", None)
    if not path or not os.path.exists(path):
        return ""
    pattern = re.compile(rf"^\s*class\s+{re.escape(cls.__name__)}\b")
    try:
        with open(path, encoding="utf-8") as handle:
            lines = [n for n, text in enumerate(handle, start=1) if pattern.match(text)]
    except OSError:
        return ""
    return f"{normalize_path(path)}:{lines[0]}" if len(lines) == 1 else ""
