"""Diagnosing why a model will not export to TorchScript (`tsrt doctor`).

`diagnose(module, example_inputs)` looks three ways and merges what it finds into
one `Diagnosis` per construct: its kind, file:line in the user's source, the
construct as written, and the concrete rewrite.

1. A static scan (ast) of the source of every function TorchScript would compile:
   the forward of the module and of each submodule, their @torch.jit.export methods,
   and the methods (`self.name(...)`) and plain functions they call. It finds every
   occurrence, not just the first, of constructs the TorchScript frontend rejects or
   compiles wrongly: generator expressions, comprehension ifs, sets, lambdas,
   *args/**kwargs, containers of submodules indexed by a variable, super(), `x=None`
   without Optional, source that cannot be read.
2. `torch.jit.script(module)` (through `capture.script`): the compiler stops at the
   first error; its message is classified by TorchScript's own texts (both the old
   and the current wordings), which adds what the scan cannot see.
3. With example inputs, a trace with TracerWarnings recorded (`capture.trace`):
   Python decisions the tracer froze (data-dependent control flow, torch.tensor
   constants), and device constants left in the traced graph.

    from tsrt.doctor import diagnose, format_report
    print(format_report(diagnose(model, (torch.randn(2, 4),))))
"""

from __future__ import annotations

import ast
import os
import re
import sys
import types
from typing import Any, Iterable

import torch
from torch._jit_internal import FunctionModifiers, get_torchscript_modifier, is_ignored_fn

from tsrt.doctor.diagnosis import DEFAULT_REWRITE, KINDS, Diagnosis
from tsrt.doctor.findings import Findings
from tsrt.doctor.script_errors import add_script_findings, classify_script_error
from tsrt.doctor.source import FunctionSource, normalize_path, shorten, source_of
from tsrt.doctor.tracing import add_trace_findings

__all__ = ["Diagnosis", "KINDS", "classify_script_error", "diagnose", "format_report"]


def diagnose(module: torch.nn.Module, example_inputs: tuple | None = None) -> list[Diagnosis]:
    """Why `module` will not export to TorchScript: every problem found by a scan of
    its source, by scripting it, and (given example inputs) by tracing it, ordered
    by file and line. Empty when it scripts and traces correctly."""
    scanner = _Scanner()
    scanner.scan_module(module)
    found = scanner.findings
    add_script_findings(found, module)
    if example_inputs is not None:
        add_trace_findings(found, module, example_inputs, scanner.device_sites)
    return found.in_order()


def format_report(diagnoses: list[Diagnosis]) -> str:
    """A human-readable report: one line per diagnosis."""
    if not diagnoses:
        return "no problems found: the model scripts and traces correctly"
    count = len(diagnoses)
    lines = [f"{count} TorchScript export problem{'s' if count != 1 else ''} found:"]
    lines += [f"  {diagnosis}" for diagnosis in diagnoses]
    return "\n".join(lines)


# --- 1. static scan ------------------------------------------------------------------

_SET_ANNOTATION = re.compile(r"\b(set|Set|AbstractSet|MutableSet|frozenset|FrozenSet)\b")
_CONTAINERS = (torch.nn.ModuleList, torch.nn.Sequential, torch.nn.ModuleDict)


class _Scanner:
    """Walks every function TorchScript would compile for a module and records the
    constructs it cannot compile (or compiles wrongly)."""

    def __init__(self) -> None:
        self.findings = Findings()
        self.device_sites: list[tuple[str, str]] = []  # (location, construct) of .to(...)/device=
        self._seen_code: set[types.CodeType] = set()
        self._unavailable: set[type] = set()

    def scan_module(self, module: torch.nn.Module) -> None:
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
        definition = source.tree.body[0] if source.tree.body else None
        self_name = None
        if isinstance(definition, (ast.FunctionDef, ast.AsyncFunctionDef)):
            if owner is not None and has_self and definition.args.args:
                self_name = definition.args.args[0].arg
            self._check_signature(source, definition)
        _Visitor(self, source, owner, self_name).visit(source.tree)
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

    def _check_signature(self, source: FunctionSource, definition: ast.FunctionDef) -> None:
        args = definition.args
        name = definition.name
        if args.vararg or args.kwarg or any(d is not None for d in args.kw_defaults):
            positional = [a.arg for a in args.posonlyargs + args.args]
            keyword_only = [f"{a.arg}={ast.unparse(d)}" if d is not None else a.arg
                            for a, d in zip(args.kwonlyargs, args.kw_defaults)]
            if args.vararg or args.kwarg:
                node = args.vararg or args.kwarg
                named = [f"{args.vararg.arg}_0", f"{args.vararg.arg}_1"] if args.vararg else []
                named += [f"{args.kwarg.arg}_key=None"] if args.kwarg else []
                fix = (f"name each input: `def {name}({', '.join(positional + keyword_only + named)})` "
                       "and pass them positionally; wrap the module if callers need *args/**kwargs")
            else:
                node = next(a for a, d in zip(args.kwonlyargs, args.kw_defaults) if d is not None)
                fix = f"make them positional: `def {name}({', '.join(positional + keyword_only)})`"
            self.findings.add(Diagnosis("varargs", source.location(node), shorten(f"def {name}({ast.unparse(args)})"),
                                        fix))
        positional_args = args.posonlyargs + args.args
        defaults = [None] * (len(positional_args) - len(args.defaults)) + list(args.defaults)
        for arg, default in list(zip(positional_args, defaults)) + list(zip(args.kwonlyargs, args.kw_defaults)):
            if not (isinstance(default, ast.Constant) and default.value is None):
                continue
            annotation = ast.unparse(arg.annotation) if arg.annotation is not None else ""
            if re.search(r"\b(Optional|None|Any)\b", annotation):
                continue
            inner = annotation or "torch.Tensor"
            written = f"{arg.arg}: {annotation} = None" if annotation else f"{arg.arg}=None"
            if inner in ("torch.Tensor", "Tensor"):
                why = (f"otherwise TorchScript types `{arg.arg}` as Tensor, compiles `{arg.arg} is None` as False, "
                       "and a call without it fails")
            else:
                why = f"TorchScript rejects None as the default of a `{inner}`"
            self.findings.add(Diagnosis(
                "none_default_unannotated", source.location(arg), written,
                f"annotate it `{arg.arg}: Optional[{inner}] = None` (from typing import Optional): {why}"))

    def _source_unavailable(self, cls: type, function: types.FunctionType) -> None:
        if cls in self._unavailable:
            return
        self._unavailable.add(cls)
        where = function.__code__.co_filename
        self.findings.add(Diagnosis(
            "source_unavailable", _class_definition(cls), f"class {cls.__qualname__}, compiled from {where!r}",
            "define the class in an importable .py file instead of exec() or a REPL/notebook cell, and "
            "export where the .py sources are present (TorchScript recompiles from source)"))


class _Visitor(ast.NodeVisitor):
    """Checks the nodes of one function; `parents` lets a check quote the whole
    construct (`tuple(p for p in xs)`, `super().forward(x)`)."""

    def __init__(self, scanner: _Scanner, source: FunctionSource, owner: torch.nn.Module | None,
                 self_name: str | None) -> None:
        self.scanner = scanner
        self.source = source
        self.owner = owner
        self.self_name = self_name
        self.parents: dict[ast.AST, ast.AST] = {}
        for parent in ast.walk(source.tree):
            for child in ast.iter_child_nodes(parent):
                self.parents[child] = parent

    def add(self, kind: str, node: ast.AST, rewrite: str, construct: ast.AST | None = None) -> None:
        self.scanner.findings.add(Diagnosis(kind, self.source.location(node), self.source.segment(construct or node),
                                            rewrite))

    # comprehensions -------------------------------------------------------------

    def visit_GeneratorExp(self, node: ast.GeneratorExp) -> None:
        listcomp = ast.unparse(ast.ListComp(elt=node.elt, generators=node.generators))
        parent = self.parents.get(node)
        quoted = parent if isinstance(parent, ast.Call) and parent.args == [node] and not parent.keywords else node
        rewrite = f"use a list comprehension: {listcomp}"
        if isinstance(quoted, ast.Call) and isinstance(quoted.func, ast.Name) and quoted.func.id == "tuple":
            rewrite += " (TorchScript cannot build a tuple of unknown length: keep the List)"
        elif isinstance(quoted, ast.Call) and isinstance(quoted.func, ast.Name) and quoted.func.id == "sum":
            rewrite = f"sum a list: torch.stack({listcomp}).sum(0) for tensors, or a for loop"
        self.add("generator_expression", node, rewrite, quoted)
        self._comprehension(node)
        self.generic_visit(node)

    def visit_ListComp(self, node: ast.ListComp) -> None:
        self._comprehension(node)
        self.generic_visit(node)

    def visit_SetComp(self, node: ast.SetComp) -> None:
        listcomp = ast.unparse(ast.ListComp(elt=node.elt, generators=node.generators))
        self.add("set_comprehension", node,
                 f"use a list: {listcomp}, and drop duplicates in a loop (`if v not in out: out.append(v)`) "
                 "if they matter")
        self._comprehension(node)
        self.generic_visit(node)

    def visit_DictComp(self, node: ast.DictComp) -> None:
        name = self._assigned_name(node, "d")
        loop = self._loop(node.generators, f"{name}[{ast.unparse(node.key)}] = {ast.unparse(node.value)}")
        self.add("dict_comprehension", node,
                 f"build it in a loop (older TorchScript rejects DictComp): `{name} = {{}}` then `{loop}`")
        self._comprehension(node)
        self.generic_visit(node)

    def _comprehension(self, node: ast.ListComp | ast.SetComp | ast.DictComp | ast.GeneratorExp) -> None:
        if not any(generator.ifs for generator in node.generators):
            return
        name = self._assigned_name(node, "out")
        if isinstance(node, ast.DictComp):
            start, body = f"{name} = {{}}", f"{name}[{ast.unparse(node.key)}] = {ast.unparse(node.value)}"
        else:
            start, body = f"{name} = []", f"{name}.append({ast.unparse(node.elt)})"
        self.add("list_comprehension_with_condition", node,
                 f"use a for loop: `{start}` then `{self._loop(node.generators, body)}` "
                 "(annotate `List[T]` when the items are not tensors)")

    def _assigned_name(self, node: ast.AST, default: str) -> str:
        parent = self.parents.get(node)
        if isinstance(parent, ast.Assign) and len(parent.targets) == 1 and isinstance(parent.targets[0], ast.Name):
            return parent.targets[0].id
        if isinstance(parent, ast.AnnAssign) and isinstance(parent.target, ast.Name):
            return parent.target.id
        return default

    @staticmethod
    def _loop(generators: list[ast.comprehension], body: str) -> str:
        parts = []
        for generator in generators:
            parts.append(f"for {ast.unparse(generator.target)} in {ast.unparse(generator.iter)}:")
            parts += [f"if {ast.unparse(condition)}:" for condition in generator.ifs]
        return " ".join(parts + [body])

    # sets and lambdas -------------------------------------------------------------

    def visit_Set(self, node: ast.Set) -> None:
        self.add("set_type", node, f"use a list: [{', '.join(ast.unparse(e) for e in node.elts)}] "
                                   "(membership with `in` works on lists)")
        self.generic_visit(node)

    def visit_Lambda(self, node: ast.Lambda) -> None:
        name = self._assigned_name(node, "fn")
        self.add("lambda", node, f"define a named function instead: `def {name}({ast.unparse(node.args)}): "
                                 f"return {ast.unparse(node.body)}` (a method or module-level def) and call it")
        self.generic_visit(node)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        self._annotation(node.annotation)
        self.generic_visit(node)

    def visit_arg(self, node: ast.arg) -> None:
        if node.annotation is not None:
            self._annotation(node.annotation)
        self.generic_visit(node)

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        if node.returns is not None:
            self._annotation(node.returns)
        self.generic_visit(node)

    def _annotation(self, annotation: ast.expr) -> None:
        written = ast.unparse(annotation)
        if _SET_ANNOTATION.search(written):
            replaced = _SET_ANNOTATION.sub("List", written)
            self.add("set_type", annotation, f"annotate with `{replaced}` (typing.List) and use a list")

    # calls --------------------------------------------------------------------------

    def visit_Call(self, node: ast.Call) -> None:
        target = node.func
        if isinstance(target, ast.Name) and target.id in ("set", "frozenset"):
            argument = ast.unparse(node.args[0]) if node.args else ""
            self.add("set_type", node, f"use a list{': ' + argument if argument else ' `[]`'} "
                                       "(drop duplicates in a loop with `if v not in out`, membership with `in`)")
        elif isinstance(target, ast.Name) and target.id == "super":
            self._super(node)
        elif (isinstance(target, ast.Name) and target.id == "getattr" and len(node.args) >= 2
              and self._is_self(node.args[0])
              and not (isinstance(node.args[1], ast.Constant) and isinstance(node.args[1].value, str))):
            self.add("unresolvable_submodule_call", node,
                     "getattr needs a string literal: register the submodules in an nn.ModuleList/ModuleDict and "
                     "iterate it (`for name, m in self.blocks.items(): ...`), or call each one by attribute",
                     self._call_around(node))
        if isinstance(target, ast.Attribute) and target.attr in ("to", "cuda", "cpu") \
                or any(keyword.arg == "device" for keyword in node.keywords):
            self.scanner.device_sites.append((self.source.location(node), self.source.segment(node)))
        self.generic_visit(node)

    def _super(self, node: ast.Call) -> None:
        outer: ast.AST = node
        while isinstance(self.parents.get(outer), (ast.Attribute, ast.Call)):
            parent = self.parents[outer]
            if isinstance(parent, ast.Call) and parent.func is not outer:
                break
            outer = parent
        base = _parent_module_class(type(self.owner)) if self.owner is not None else None
        if base is not None:
            rewrite = (f"TorchScript cannot call the parent class: inline what `{base.__name__}.forward` does here, "
                       f"or use composition (hold a `{base.__name__}` as a submodule, e.g. `self.inner`, and call "
                       "`self.inner(x)`)")
        else:
            rewrite = DEFAULT_REWRITE["super_call"]
        self.add("super_call", node, rewrite, outer)

    def _call_around(self, node: ast.AST) -> ast.AST:
        parent = self.parents.get(node)
        return parent if isinstance(parent, ast.Call) and parent.func is node else node

    # module containers ------------------------------------------------------------

    def visit_Subscript(self, node: ast.Subscript) -> None:
        attribute = self._self_attribute(node.value)
        container = self._submodule(attribute) if attribute else None
        if isinstance(container, _CONTAINERS):
            index = node.slice
            if isinstance(container, torch.nn.ModuleDict):
                literal = isinstance(index, ast.Constant) and isinstance(index.value, str)
                fix = (f"iterate it: `for name, m in self.{attribute}.items(): if name == "
                       f"{ast.unparse(index)}: ...`, or index with a string literal")
            else:
                literal = _int_literal(index)
                if isinstance(index, ast.Slice):
                    start = ast.unparse(index.lower) if index.lower is not None else "0"
                    fix = (f"a slice of a ModuleList cannot be called: iterate it all and skip by index: "
                           f"`for i, layer in enumerate(self.{attribute}): if i >= {start}: ...`")
                else:
                    fix = (f"iterate instead: `for i, layer in enumerate(self.{attribute}): x = layer(x)`, or index "
                           "with an integer literal; for a chosen index, annotate the element with a "
                           "@torch.jit.interface type")
            if not literal:
                self.add("modulelist_variable_index", node, fix, self._call_around(node))
        self.generic_visit(node)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        if self._is_self(node.value) and node.attr == "_modules":
            self.add("unresolvable_submodule_call", node,
                     "TorchScript has no `self._modules`: call the submodule by attribute, or iterate "
                     "`self.named_children()` / an nn.ModuleDict", self._call_around(node))
        elif self._is_self(node.value) and self.owner is not None:
            value = self.owner.__dict__.get(node.attr)
            if isinstance(value, (list, tuple, dict)) and _holds_modules(value):
                holder = "nn.ModuleDict" if isinstance(value, dict) else "nn.ModuleList"
                self.add("unresolvable_submodule_call", node,
                         f"`self.{node.attr}` is a plain {type(value).__name__}, invisible to TorchScript: register it "
                         f"in __init__ as `self.{node.attr} = {holder}(...)` and iterate it")
        self.generic_visit(node)

    def visit_List(self, node: ast.List) -> None:
        self._module_values(node, node.elts)

    def visit_Tuple(self, node: ast.Tuple) -> None:
        self._module_values(node, node.elts)

    def visit_Dict(self, node: ast.Dict) -> None:
        self._module_values(node, node.values)

    def visit_IfExp(self, node: ast.IfExp) -> None:
        self._module_values(node, [node.body, node.orelse])

    def visit_BoolOp(self, node: ast.BoolOp) -> None:
        self._module_values(node, node.values)

    def _module_values(self, node: ast.AST, values: Iterable[ast.AST]) -> None:
        names = [self._self_attribute(v) for v in values]
        modules = [n for n in names if n and self._submodule(n) is not None]
        if modules:
            self.add("unresolvable_submodule_call", node,
                     "a submodule held in a list/tuple/dict or chosen by an expression has no static type: call "
                     f"each one by attribute (`self.{modules[0]}(x)`), or register them in an nn.ModuleList and "
                     "iterate it")
        self.generic_visit(node)

    def _is_self(self, node: ast.AST) -> bool:
        return self.self_name is not None and isinstance(node, ast.Name) and node.id == self.self_name

    def _self_attribute(self, node: ast.AST) -> str | None:
        return node.attr if isinstance(node, ast.Attribute) and self._is_self(node.value) else None

    def _submodule(self, name: str) -> torch.nn.Module | None:
        return self.owner._modules.get(name) if self.owner is not None else None


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


def _parent_module_class(cls: type) -> type | None:
    """The next nn.Module class in the MRO, the one super() would reach."""
    for klass in cls.__mro__[1:]:
        if issubclass(klass, torch.nn.Module):
            return klass
    return None


def _holds_modules(value: list | tuple | dict) -> bool:
    items = value.values() if isinstance(value, dict) else value
    return any(isinstance(item, torch.nn.Module) for item in items)


def _int_literal(node: ast.AST) -> bool:
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        node = node.operand
    return isinstance(node, ast.Constant) and isinstance(node.value, int) and not isinstance(node.value, bool)
