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
import inspect
import io
import linecache
import os
import re
import sys
import textwrap
import tokenize
import types
from dataclasses import dataclass, field, replace
from typing import Any, Iterable

import torch
from torch._jit_internal import FunctionModifiers, get_torchscript_modifier, is_ignored_fn

from tsrt import capture
from tsrt.source_location import is_library_file

__all__ = ["Diagnosis", "KINDS", "classify_script_error", "diagnose", "format_report"]

# kind -> what the report calls it. Kinds are stable ids: tools may match on them.
KINDS: dict[str, str] = {
    "generator_expression": "generator expression",
    "list_comprehension_with_condition": "comprehension with `if`",
    "set_comprehension": "set comprehension",
    "dict_comprehension": "dict comprehension",
    "set_type": "set",
    "lambda": "lambda",
    "varargs": "variable or keyword-only arguments",
    "modulelist_variable_index": "module container indexed by a variable",
    "unresolvable_submodule_call": "submodule call the compiler cannot resolve",
    "super_call": "super() call",
    "none_default_unannotated": "None default without Optional",
    "source_unavailable": "source code unavailable",
    "tensor_constant_in_trace": "tensor constant baked into the trace",
    "device_constant_in_trace": "device constant baked into the trace",
    "data_dependent_control_flow": "data-dependent control flow under tracing",
    "script_error": "TorchScript cannot compile",
    "trace_failed": "tracing failed",
    "trace_warning": "trace warning",
}

# The rewrite when a finding comes without a node to tailor it to (script errors).
_DEFAULT_REWRITE: dict[str, str] = {
    "generator_expression": "use a list comprehension `[... for ... in ...]` or a for loop",
    "list_comprehension_with_condition": "use a for loop that appends when the condition holds",
    "set_comprehension": "use a list (comprehension), dropping duplicates in a loop with `if v not in out`",
    "dict_comprehension": "build the dict in a for loop: `d = {}` then `d[k] = v`",
    "set_type": "use a List (membership with `in`) or a Dict[K, bool]; annotate with typing.List/Dict",
    "lambda": "define a named function (a method, or a module-level def) and call it",
    "varargs": "give the compiled function an explicit positional signature (no *args/**kwargs, "
               "no keyword-only defaults); wrap the module if callers need keywords",
    "modulelist_variable_index": "iterate instead: `for i, layer in enumerate(self.layers): ...` "
                                 "(ModuleDict: `for name, m in self.heads.items(): ...`), or index with a literal",
    "unresolvable_submodule_call": "call each submodule by attribute (`self.fc(x)`), or register them in an "
                                   "nn.ModuleList/ModuleDict and iterate it; getattr(self, ...) needs a string literal",
    "super_call": "inline the parent's forward, or use composition: hold the parent module as a submodule "
                  "and call it",
    "none_default_unannotated": "annotate it `Optional[...]` (e.g. `mask: Optional[torch.Tensor] = None`)",
    "source_unavailable": "define the module in an importable .py file (not exec(), a REPL or a frozen app) and "
                          "export where the .py sources are present",
    "tensor_constant_in_trace": "register it as a buffer in __init__ "
                                "(`self.register_buffer('name', torch.tensor(...))`) or build it from an input",
    "device_constant_in_trace": "create tensors from an input (`torch.zeros_like(x)`, `x.new_zeros(shape)`) or a "
                                "registered buffer, script this helper, or trace on the deployment device",
    "data_dependent_control_flow": "script this code (torch.jit.script / @torch.jit.script_if_tracing) or use "
                                   "tensor ops (torch.where, masking) instead of Python control flow",
    "script_error": "rewrite the construct with TorchScript-supported Python, or mark a Python-only method "
                    "@torch.jit.ignore / @torch.jit.unused",
    "trace_failed": "the example inputs must run through the model eagerly, and a traced model may return only "
                    "tensors and tuples/lists/dicts of tensors; otherwise export with mode='script'",
    "trace_warning": "check that this value does not depend on the input, or script this code",
}



@dataclass(frozen=True)
class Diagnosis:
    """One reason a model will not export, or exports wrongly, and how to fix it."""

    kind: str        # stable id, one of KINDS
    location: str    # "path/to/file.py:LINE" in the user's source; "" only when truly unknown
    construct: str   # what was found, as written in the source
    rewrite: str     # the concrete fix

    def __str__(self) -> str:
        where = f"{_display_location(self.location)}: " if self.location else ""
        return f"{where}{KINDS.get(self.kind, self.kind)} `{self.construct}`: {self.rewrite}"


def diagnose(module: torch.nn.Module, example_inputs: tuple | None = None) -> list[Diagnosis]:
    """Why `module` will not export to TorchScript: every problem found by a scan of
    its source, by scripting it, and (given example inputs) by tracing it, ordered
    by file and line. Empty when it scripts and traces correctly."""
    scanner = _Scanner()
    scanner.scan_module(module)
    found = _Findings(scanner.found, scanner.spans)

    scripted = capture.script(module)
    for finding in scripted.findings:
        found.add_covered(_from_script_error(finding))

    if example_inputs is not None:
        if isinstance(example_inputs, torch.Tensor):
            example_inputs = (example_inputs,)
        # Trace in eval mode, as export does; the caller's modes are restored after.
        modes = [(m, m.training) for m in module.modules()]
        module.eval()
        try:
            traced = capture.trace(module, tuple(example_inputs))
        finally:
            for m, training in modes:
                m.training = training
        for finding in traced.findings:
            diagnosis = _from_trace_finding(finding)
            if diagnosis is None:
                continue
            if diagnosis.kind == "trace_failed" and classify_script_error(diagnosis.construct) != "script_error":
                # torch.jit.trace compiles @torch.jit.export methods: the same error as scripting's
                kind = classify_script_error(diagnosis.construct)
                found.add_covered(replace(diagnosis, kind=kind, rewrite=_DEFAULT_REWRITE[kind]))
            else:
                found.add(diagnosis)
        if traced.module is not None:
            for diagnosis in _device_constants(traced.module, scanner.device_sites, found.items):
                found.add(diagnosis)
    return sorted(found.items, key=_order)


def format_report(diagnoses: list[Diagnosis]) -> str:
    """A human-readable report: one line per diagnosis."""
    if not diagnoses:
        return "no problems found: the model scripts and traces correctly"
    count = len(diagnoses)
    lines = [f"{count} TorchScript export problem{'s' if count != 1 else ''} found:"]
    lines += [f"  {diagnosis}" for diagnosis in diagnoses]
    return "\n".join(lines)


# --- collecting and de-duplicating ---------------------------------------------------

@dataclass
class _Findings:
    items: list[Diagnosis]
    spans: list[tuple[str, int, int]]  # (file, first line, last line) of every scanned function
    _keys: set[tuple[str, str]] = field(default_factory=set)

    def __post_init__(self) -> None:
        self._keys = {(d.kind, d.location) for d in self.items}

    def add(self, diagnosis: Diagnosis) -> None:
        if (diagnosis.kind, diagnosis.location) not in self._keys:
            self._keys.add((diagnosis.kind, diagnosis.location))
            self.items.append(diagnosis)

    def add_covered(self, diagnosis: Diagnosis | None) -> None:
        """Adds a script-error finding unless the scan already reported it: anything at
        the same line, or the same kind inside the same function (the compiler may
        point at the call `f(x)`, the scan at the list `[self.a, self.b]` it came from)."""
        if diagnosis is None:
            return
        if not diagnosis.location:
            if any(d.kind == diagnosis.kind for d in self.items):
                return
        elif any(d.location == diagnosis.location for d in self.items):
            return
        else:
            span = self._span_of(diagnosis.location)
            if span and any(d.kind == diagnosis.kind and self._span_of(d.location) == span for d in self.items):
                return
        self.add(diagnosis)

    def _span_of(self, location: str) -> tuple[str, int, int] | None:
        file, line = _split_location(location)
        for span in self.spans:
            if span[0] == file and span[1] <= line <= span[2]:
                return span
        return None


def _order(diagnosis: Diagnosis) -> tuple[int, str, int]:
    if not diagnosis.location:
        return (1, "", 0)
    file, line = _split_location(diagnosis.location)
    return (0, file, line)


# --- 1. static scan ------------------------------------------------------------------

_SET_ANNOTATION = re.compile(r"\b(set|Set|AbstractSet|MutableSet|frozenset|FrozenSet)\b")
_CONTAINERS = (torch.nn.ModuleList, torch.nn.Sequential, torch.nn.ModuleDict)


@dataclass
class _Source:
    """The dedented source of one function and where it lies in its file."""

    file: str
    first_line: int
    text: str
    tree: ast.Module

    def location(self, node: ast.AST) -> str:
        return f"{self.file}:{self.first_line + node.lineno - 1}"

    def segment(self, node: ast.AST) -> str:
        text = ast.get_source_segment(self.text, node) or ast.unparse(node)
        return _shorten(" ".join(text.split()))


class _Scanner:
    """Walks every function TorchScript would compile for a module and records the
    constructs it cannot compile (or compiles wrongly)."""

    def __init__(self) -> None:
        self.found: list[Diagnosis] = []
        self.spans: list[tuple[str, int, int]] = []
        self.device_sites: list[tuple[str, str]] = []  # (location, construct) of .to(...)/device=
        self._keys: set[tuple[str, str]] = set()
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
        source = _source_of(function)
        if source is None:
            if owner is not None:
                self._source_unavailable(type(owner), function)
            return
        self.spans.append((source.file, source.first_line, source.first_line + source.text.count("\n")))
        definition = source.tree.body[0] if source.tree.body else None
        self_name = None
        if isinstance(definition, (ast.FunctionDef, ast.AsyncFunctionDef)):
            if owner is not None and has_self and definition.args.args:
                self_name = definition.args.args[0].arg
            self._check_signature(source, definition)
        _Visitor(self, source, owner, self_name).visit(source.tree)
        self._follow_calls(source, function, owner, self_name)

    def _follow_calls(self, source: _Source, function: types.FunctionType, owner: torch.nn.Module | None,
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

    def _check_signature(self, source: _Source, definition: ast.FunctionDef) -> None:
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
            self._add("varargs", source.location(node), _shorten(f"def {name}({ast.unparse(args)})"), fix)
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
            self._add("none_default_unannotated", source.location(arg), written,
                      f"annotate it `{arg.arg}: Optional[{inner}] = None` (from typing import Optional): {why}")

    def _source_unavailable(self, cls: type, function: types.FunctionType) -> None:
        if cls in self._unavailable:
            return
        self._unavailable.add(cls)
        where = function.__code__.co_filename
        self._add("source_unavailable", _class_definition(cls),
                  f"class {cls.__qualname__}, compiled from {where!r}",
                  "define the class in an importable .py file instead of exec() or a REPL/notebook cell, and "
                  "export where the .py sources are present (TorchScript recompiles from source)")

    def _add(self, kind: str, location: str, construct: str, rewrite: str) -> None:
        if (kind, location) not in self._keys:
            self._keys.add((kind, location))
            self.found.append(Diagnosis(kind, location, construct, rewrite))


class _Visitor(ast.NodeVisitor):
    """Checks the nodes of one function; `parents` lets a check quote the whole
    construct (`tuple(p for p in xs)`, `super().forward(x)`)."""

    def __init__(self, scanner: _Scanner, source: _Source, owner: torch.nn.Module | None,
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
        self.scanner._add(kind, self.source.location(node), self.source.segment(construct or node), rewrite)

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
            rewrite = _DEFAULT_REWRITE["super_call"]
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


# --- 2. script errors ------------------------------------------------------------------

# TorchScript's own texts, old and current wordings (torchscript-pitfalls.md, section B).
_SCRIPT_ERRORS: list[tuple[str, re.Pattern[str]]] = [
    ("generator_expression", re.compile(r"GeneratorExp aren't supported")),
    ("list_comprehension_with_condition", re.compile(r"comprehension ifs (are )?not supported", re.I)),
    ("set_comprehension", re.compile(r"SetComp aren't supported")),
    ("dict_comprehension", re.compile(r"DictComp aren't supported")),
    ("set_type", re.compile(r"\bSet aren't supported|Unknown type (name|constructor) '(typing\.)?"
                            r"(set|Set|frozenset|AbstractSet)'|\bset\(Tensor 0\)")),
    ("lambda", re.compile(r"Lambda aren't supported")),
    ("varargs", re.compile(r"variable number of arguments|keyword-only arguments with defaults|"
                           r"keyword-arg expansion is not supported")),
    ("modulelist_variable_index", re.compile(r"Expected integer literal for index|ModuleList/Sequential indexing|"
                                             r"Unable to extract string literal index|ModuleDict indexing")),
    ("unresolvable_submodule_call", re.compile(r"getattr's second argument must be a string literal|"
                                               r"has no attribute or method '__call__'|"
                                               r"failed to convert Python type: '(list|tuple|dict)'.*torch\.nn\.Module")),
    ("none_default_unannotated", re.compile(r"Expected a default value of type \S+ on parameter|"
                                            r"for argument '\w+' but instead found type 'NoneType'")),
    ("source_unavailable", re.compile(r"could not get source code|Can't get source for")),
]
# super().forward(x) / super()(x): TorchScript sees super() as a call returning a Tensor.
_SUPER_ERROR = re.compile(r"(nonexistent attribute or method|has no attribute or method) '\w+'.*Tensor|"
                          r"Tensor.*(has no attribute or method|nonexistent attribute or method)|"
                          r"cannot call a value of type 'Tensor'")


def classify_script_error(message: str, source_line: str = "") -> str:
    """The kind of a TorchScript compiler error message ("script_error" when unknown);
    `source_line` (the line it points at) tells a super() misuse from other errors."""
    for kind, pattern in _SCRIPT_ERRORS:
        if pattern.search(message):
            return kind
    if _SUPER_ERROR.search(message) and ("super(" in source_line or "super(" in message):
        return "super_call"
    return "script_error"


def _from_script_error(finding: capture.Finding) -> Diagnosis:
    message = re.sub(r"^scripting failed:\s*", "", finding.message).rstrip(":").strip()
    location = _normalize_location(finding.location)
    line = _source_line(location)
    kind = classify_script_error(message, line)
    if kind == "script_error":
        rewrite = f"TorchScript says: {message}; {_DEFAULT_REWRITE['script_error']}"
    else:
        rewrite = _DEFAULT_REWRITE[kind]
    return Diagnosis(kind, location, line or message, rewrite)


# --- 3. tracing ------------------------------------------------------------------------

_TRACE_WARNINGS: list[tuple[str, re.Pattern[str], str]] = [
    ("data_dependent_control_flow", re.compile(r"Converting a tensor to a Python boolean"),
     "the trace keeps only the branch taken for the example: script this decision (a @torch.jit.script "
     "function, or @torch.jit.script_if_tracing) or compute both and select with torch.where(cond, a, b)"),
    ("data_dependent_control_flow", re.compile(r"Converting a tensor to a Python (integer|index|float)"),
     "the trace freezes this value: keep it a tensor (no int()/float()/.item()), use x.size(i) for sizes, "
     "or script this code (@torch.jit.script_if_tracing)"),
    ("data_dependent_control_flow", re.compile(r"Iterating over a tensor"),
     "the loop is unrolled for the example's size: vectorise it over the first dimension, or script it"),
    ("data_dependent_control_flow", re.compile(r"Using len to get tensor shape"),
     "len(x) becomes a constant: use x.size(0) (or x.shape[0]), which the tracer records"),
    ("tensor_constant_in_trace", re.compile(r"torch.tensor results are registered as constants"),
     "register it as a buffer in __init__ (`self.register_buffer('name', torch.tensor(...))`) and use "
     "`self.name`, or build it from an input"),
]


_TRACE_FAILURES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"Cannot insert a Tensor that requires grad as a constant"),
     "a tensor that requires grad is not a registered parameter or buffer of the module it is used in (e.g. "
     "submodules kept in a plain list or dict): register them (nn.ModuleList/ModuleDict, nn.Parameter, "
     "register_buffer)"),
    (re.compile(r"Only tensors, lists, tuples of tensors, or dictionary of tensors can be output"),
     "return only tensors (a fixed tuple; drop None outputs or return empty tensors), or export with mode='script'"),
]


def _from_trace_finding(finding: capture.Finding) -> Diagnosis | None:
    location = _normalize_location(finding.location)
    if finding.message.startswith("tracing failed"):
        message = finding.message.removeprefix("tracing failed: ")
        rewrite = next((fix for pattern, fix in _TRACE_FAILURES if pattern.search(message)),
                       _DEFAULT_REWRITE["trace_failed"])
        return Diagnosis("trace_failed", location, message, rewrite)
    if location and is_library_file(_split_location(location)[0]):
        return None  # torch's own shape checks: benign, and not the model's code to rewrite
    construct = _source_line(location) or finding.message
    for kind, pattern, rewrite in _TRACE_WARNINGS:
        if pattern.search(finding.message):
            return Diagnosis(kind, location, construct, rewrite)
    if location:
        return Diagnosis("trace_warning", location, construct,
                         f"{finding.message.rstrip('.')}: {_DEFAULT_REWRITE['trace_warning']}")
    return None


def _device_constants(traced: torch.jit.ScriptModule, device_sites: list[tuple[str, str]],
                      found: list[Diagnosis]) -> list[Diagnosis]:
    """Device constants (prim::Constant of Device type) in the traced graph, at the
    user's line that created them."""
    tensor_constants = {d.location for d in found if d.kind == "tensor_constant_in_trace"}
    results: dict[str, Diagnosis] = {}
    unplaced: list[tuple[str, str]] = []  # (device, location in torch's code or "")
    try:
        graph = traced.inlined_graph
    except RuntimeError:
        return []
    for node in graph.findAllNodes("prim::Constant"):
        output = node.output()
        if output.type().kind() != "DeviceObjType":
            continue
        device = str(output.toIValue())
        location = _user_frame(node) or next((_user_frame(use.user) for use in output.uses()
                                              if _user_frame(use.user)), "")
        if not location:
            unplaced.append((device, _user_frame(node, library=True)))
            continue
        if location in tensor_constants or location in results:
            continue  # torch.tensor(...) at that line: the buffer rewrite fixes both
        results[location] = Diagnosis("device_constant_in_trace", location, _source_line(location) or device,
                                      _device_rewrite(device))
    if unplaced and not results:
        # No frame of the model's code recorded: point at every .to(...)/device= the scan
        # saw, else at torch's own code that made the constant.
        device, library_location = unplaced[0]
        sites = device_sites or [(library_location, _source_line(library_location) or f"device {device}")]
        for location, construct in sites:
            results.setdefault(location, Diagnosis("device_constant_in_trace", location, construct,
                                                   _device_rewrite(device)))
    return list(results.values())


def _device_rewrite(device: str) -> str:
    return (f"the trace records device '{device}' as a constant, so the exported model creates tensors there "
            "whatever device it is loaded on: create them from an input (`torch.zeros_like(x)`, "
            "`x.new_zeros(shape)`) or a registered buffer, script this helper, or trace on the deployment device")


_FRAME = re.compile(r"^(.*)\((\d+)\): \S+$")


def _user_frame(node: torch._C.Node, library: bool = False) -> str:
    """file:line of the innermost frame of the model's code (outside torch and tsrt)
    in a traced node's recorded Python stack; with `library`, of torch's own code
    when no frame of the model's is there (nn.LSTM creating its zero state)."""
    try:
        recorded = node.sourceRange()
    except RuntimeError:
        return ""
    frames = []
    for line in recorded.splitlines():
        match = _FRAME.match(line.strip())
        if match:
            if match.group(1).endswith(os.path.join("torch", "jit", "_trace.py")):
                break  # the frames below are the caller of torch.jit.trace, not the model
            frames.append((match.group(1), match.group(2)))
    if not frames:
        match = re.search(r'File "([^"]+)", line (\d+)', recorded)
        frames = [(match.group(1), match.group(2))] if match else []
    for file, line in frames:
        if not is_library_file(file):
            return _normalize_location(f"{file}:{line}")
    return _normalize_location(f"{frames[0][0]}:{frames[0][1]}") if library and frames else ""


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


def _source_of(function: types.FunctionType) -> _Source | None:
    try:
        lines, first_line = inspect.getsourcelines(function)
        file = inspect.getsourcefile(function) or function.__code__.co_filename
    except (OSError, TypeError):
        return None
    text = textwrap.dedent("".join(lines))
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return None
    return _Source(_normalize_path(file), max(first_line, 1), text, tree)


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
    return f"{_normalize_path(path)}:{lines[0]}" if len(lines) == 1 else ""


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


def _shorten(text: str, limit: int = 100) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _normalize_path(path: str) -> str:
    return os.path.abspath(path) if os.path.exists(path) else path


def _normalize_location(location: str) -> str:
    if not location:
        return ""
    path, line = _split_location(location)
    return f"{_normalize_path(path)}:{line}" if line else location


def _split_location(location: str) -> tuple[str, int]:
    path, _, line = location.rpartition(":")
    return (path, int(line)) if line.isdigit() else (location, 0)


def _source_line(location: str) -> str:
    if not location:
        return ""
    path, line = _split_location(location)
    return _shorten(_without_comment(linecache.getline(path, line)).strip()) if line else ""


def _without_comment(line: str) -> str:
    """The line without a trailing # comment (one inside a string stays)."""
    try:
        for token in tokenize.generate_tokens(io.StringIO(line).readline):
            if token.type == tokenize.COMMENT:
                return line[: token.start[1]]
    except (tokenize.TokenError, SyntaxError):
        pass
    return line


def _display_location(location: str) -> str:
    """The location relative to the working directory when the file lies below it."""
    path, line = _split_location(location)
    if os.path.isabs(path):
        relative = os.path.relpath(path)
        if not relative.startswith(".."):
            path = relative
    return f"{path}:{line}" if line else path
