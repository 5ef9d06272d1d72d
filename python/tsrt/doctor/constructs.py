"""What the static scan looks for in one function: the constructs the TorchScript
frontend rejects or compiles wrongly, each at its line, quoted as written, with a
rewrite tailored to the code (the list comprehension for this generator, the loop
for this dict comprehension, the Optional for this parameter).

The scanner (`doctor.static_scan`) decides which functions TorchScript would
compile; this module checks each one: its signature, then every node of its body.
It finds every occurrence, where the compiler stops at the first.
"""

from __future__ import annotations

import ast
import re
from typing import Iterable

import torch

from tsrt.doctor.diagnosis import DEFAULT_REWRITE, Diagnosis
from tsrt.doctor.findings import Findings
from tsrt.doctor.source import FunctionSource, shorten

_SET_ANNOTATION = re.compile(r"\b(set|Set|AbstractSet|MutableSet|frozenset|FrozenSet)\b")
_CONTAINERS = (torch.nn.ModuleList, torch.nn.Sequential, torch.nn.ModuleDict)


def check_function(source: FunctionSource, owner: torch.nn.Module | None, self_name: str | None,
                   findings: Findings, device_sites: list[tuple[str, str]]) -> None:
    """Adds to `findings` what TorchScript cannot compile in one function. `owner` is
    the module whose method it is (None for a plain function), `self_name` its first
    parameter's name. Its .to(...)/device= calls go to `device_sites` as (location,
    construct): where tracing reports a device constant whose line it did not record."""
    if source.definition is not None:
        _check_signature(source, source.definition, findings)
    _Visitor(source, owner, self_name, findings, device_sites).visit(source.tree)


def _check_signature(source: FunctionSource, definition: ast.FunctionDef | ast.AsyncFunctionDef,
                     findings: Findings) -> None:
    """*args/**kwargs, keyword-only defaults, and `x=None` without Optional."""
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
        findings.add(Diagnosis("varargs", source.location(node), shorten(f"def {name}({ast.unparse(args)})"), fix))
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
        findings.add(Diagnosis(
            "none_default_unannotated", source.location(arg), written,
            f"annotate it `{arg.arg}: Optional[{inner}] = None` (from typing import Optional): {why}"))


class _Visitor(ast.NodeVisitor):
    """Checks the nodes of one function; `parents` lets a check quote the whole
    construct (`tuple(p for p in xs)`, `super().forward(x)`)."""

    def __init__(self, source: FunctionSource, owner: torch.nn.Module | None, self_name: str | None,
                 findings: Findings, device_sites: list[tuple[str, str]]) -> None:
        self.findings = findings
        self.device_sites = device_sites
        self.source = source
        self.owner = owner
        self.self_name = self_name
        self.parents: dict[ast.AST, ast.AST] = {}
        for parent in ast.walk(source.tree):
            for child in ast.iter_child_nodes(parent):
                self.parents[child] = parent

    def add(self, kind: str, node: ast.AST, rewrite: str, construct: ast.AST | None = None) -> None:
        self.findings.add(Diagnosis(kind, self.source.location(node), self.source.segment(construct or node), rewrite))

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
            self.device_sites.append((self.source.location(node), self.source.segment(node)))
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
