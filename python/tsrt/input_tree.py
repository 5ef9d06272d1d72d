"""Structured inputs: each argument of a method as a tree (contract format_version 2).

A model's argument is a tensor, or a dict / tuple / list of arguments, or a scalar
(int, float, bool), or None. The contract records each argument as a tree of
`InputNode`s; its tensor leaves carry a TensorSpec named by the dotted path from the
argument ("pair.0", "batch.input_ids", "feats.2"): golden files, error messages and
`infer --input NAME=FILE` use these names.

A trace cannot take scalars or None: those arguments are bound to their example
value and recorded with `fixed=True`; libtsrt supplies them and refuses another
value. A scripted module takes them as real arguments, and its lists of tensors may
vary in length (`variable_length`, one `element` node for every item).

libtsrt reads the same JSON (cpp/include/tsrt/input_tree.h, cpp/src/input_tree.cpp);
docs/tsrt.schema.json describes it and tests/fixtures/tsrt.json exercises it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Iterator, Mapping, Sequence

import torch

from tsrt.spec import TensorSpec, default_dynamic_dims

KINDS = ("tensor", "dict", "tuple", "list", "scalar", "none")


class UnsupportedInput(TypeError):
    """An example argument of a type the contract cannot describe (a str, a custom class)."""


@dataclass(frozen=True)
class InputNode:
    """One node of an argument's tree.

    kind: one of KINDS. name: the dotted path from the argument ("batch.mask").
    spec: tensor nodes only. keys: dict nodes, in order, one per item. items: the
    children of dict, tuple and fixed-length list nodes. element / length: a list
    of variable length: every item is like `element`; `length` is the example's.
    scalar_type / value / fixed: scalar nodes ("int", "float", "bool"); the example
    value, and whether the file was captured with it (a trace) so that no other
    value may be passed.
    """

    kind: str
    name: str
    spec: TensorSpec | None = None
    keys: tuple[str, ...] = ()
    items: tuple["InputNode", ...] = ()
    element: "InputNode | None" = None
    length: int = 0
    scalar_type: str = ""
    value: Any = None
    fixed: bool = False

    # --- building from an example ------------------------------------------------------

    @staticmethod
    def from_example(name: str, value: Any, dynamic: Sequence[int] | None = None) -> "InputNode":
        """The tree of an example argument; tensor leaves vary in dimension 0 (the
        batch) unless `dynamic` says otherwise (top-level tensors only). Raises
        UnsupportedInput naming the path for a value the contract cannot describe."""
        if isinstance(value, torch.Tensor):
            dims = tuple(dynamic) if dynamic is not None else default_dynamic_dims(value.dim())
            return InputNode("tensor", name, spec=TensorSpec(name, tuple(value.shape), value.dtype, dims))
        if value is None:
            return InputNode("none", name, fixed=True)
        if isinstance(value, (bool, int, float)):
            scalar_type = "bool" if isinstance(value, bool) else "int" if isinstance(value, int) else "float"
            return InputNode("scalar", name, scalar_type=scalar_type, value=value, fixed=True)
        if isinstance(value, Mapping):
            if not all(isinstance(k, str) for k in value):
                raise UnsupportedInput(f"input '{name}' is a dict with non-str keys; a model file takes "
                                       "Dict[str, ...] arguments")
            return InputNode("dict", name, keys=tuple(value),
                             items=tuple(InputNode.from_example(f"{name}.{k}", v) for k, v in value.items()))
        if isinstance(value, (tuple, list)):
            kind = "tuple" if isinstance(value, tuple) else "list"
            if kind == "list" and not value:
                raise UnsupportedInput(f"input '{name}' is an empty list: give an example with at least one element")
            return InputNode(kind, name, items=tuple(InputNode.from_example(f"{name}.{i}", v)
                                                     for i, v in enumerate(value)))
        raise UnsupportedInput(f"input '{name}' is a {type(value).__name__}; a model file takes tensors, "
                               "dicts/tuples/lists of them, int/float/bool and None")

    # --- what the tree holds -------------------------------------------------------------

    @property
    def is_tensor(self) -> bool:
        return self.kind == "tensor"

    def children(self) -> tuple["InputNode", ...]:
        """The item nodes, a variable-length list's expanded to its example length."""
        if self.element is not None:
            return tuple(self.element.renamed(f"{self.name}.{i}") for i in range(self.length))
        return self.items

    def leaves(self) -> list[TensorSpec]:
        """The tensor leaves in depth-first order (the golden files' order)."""
        if self.kind == "tensor":
            return [self.spec]
        return [leaf for child in self.children() for leaf in child.leaves()]

    def renamed(self, name: str) -> "InputNode":
        """This subtree with its paths under `name`."""
        def walk(node: InputNode, path: str) -> InputNode:
            if node.kind == "tensor":
                return replace(node, name=path, spec=replace(node.spec, name=path))
            element = walk(node.element, f"{path}.*") if node.element is not None else None
            items = tuple(walk(child, path + child.name[len(node.name):]) for child in node.items)
            return replace(node, name=path, items=items, element=element)
        return walk(self, name)

    def build(self, leaves: Iterator[torch.Tensor]) -> Any:
        """The argument, with the tensor leaves taken in order from `leaves`."""
        if self.kind == "tensor":
            return next(leaves)
        if self.kind == "none":
            return None
        if self.kind == "scalar":
            return self.value
        values = [child.build(leaves) for child in self.children()]
        if self.kind == "dict":
            return dict(zip(self.keys, values))
        return tuple(values) if self.kind == "tuple" else values

    def with_leaf_specs(self, specs: Mapping[str, TensorSpec]) -> "InputNode":
        """This tree with tensor specs replaced by the ones of the same name (the
        dynamic dimensions a probe found); a variable-length list's element takes its
        first item's."""
        if self.kind == "tensor":
            return replace(self, spec=specs.get(self.name, self.spec))
        if self.element is not None:
            first = self.element.renamed(f"{self.name}.0").with_leaf_specs(specs)
            return replace(self, element=first.renamed(f"{self.name}.*"))
        return replace(self, items=tuple(child.with_leaf_specs(specs) for child in self.items))

    def for_script(self) -> "InputNode":
        """The tree a scripted module takes: scalars and None are real arguments, and a
        list whose items have one structure and dtypes varies in length (each dimension
        where its example items differ varies too)."""
        if self.kind in ("scalar", "none"):
            return replace(self, fixed=False)
        if self.kind == "tensor":
            return self
        items = tuple(child.for_script() for child in self.items)
        if self.kind == "list" and items and all(_same_structure(items[0], item) for item in items):
            element = _merged(items).renamed(f"{self.name}.*")
            return replace(self, items=(), element=element, length=len(items))
        return replace(self, items=items)

    def fixed_leaves(self) -> bool:
        """True when this whole argument is fixed (a bound scalar or None)."""
        return self.kind in ("scalar", "none") and self.fixed

    def type_text(self) -> str:
        """'Dict[str, Tensor]', 'List[Tensor]', 'Tuple[Tensor, Tensor]', 'float', 'None'."""
        if self.kind == "tensor":
            return "Tensor"
        if self.kind == "scalar":
            return self.scalar_type
        if self.kind == "none":
            return "None"
        if self.element is not None:
            return f"List[{self.element.type_text()}]"
        inner = ", ".join(child.type_text() for child in self.items)
        if self.kind == "dict":
            values = {child.type_text() for child in self.items}
            return f"Dict[str, {values.pop() if len(values) == 1 else 'Any'}]"
        return f"{self.kind.capitalize()}[{inner}]"

    # --- the contract's JSON ---------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        if self.kind == "tensor":
            return {"kind": "tensor", **self.spec.to_json()}
        out: dict[str, Any] = {"kind": self.kind, "name": self.name}
        if self.kind == "dict":
            out["keys"] = list(self.keys)
        if self.element is not None:
            out.update(variable_length=True, element=self.element.to_json(), length=self.length)
        elif self.kind in ("dict", "tuple", "list"):
            out["items"] = [child.to_json() for child in self.items]
        if self.kind == "scalar":
            out.update(type=self.scalar_type, value=self.value)
        if self.kind in ("scalar", "none"):
            out["fixed"] = self.fixed
        return out

    @staticmethod
    def from_json(obj: Mapping[str, Any]) -> "InputNode":
        """Reads a node; an entry without "kind" is a format_version 1 tensor spec."""
        kind = obj.get("kind", "tensor")
        if kind not in KINDS:
            raise ValueError(f"input '{obj.get('name')}': unknown kind '{kind}'; expected one of {', '.join(KINDS)}")
        name = obj["name"]
        if kind == "tensor":
            return InputNode("tensor", name, spec=TensorSpec.from_json(obj))
        if kind == "scalar":
            if obj.get("type") not in ("int", "float", "bool"):
                raise ValueError(f"input '{name}': scalar type must be int, float or bool")
            return InputNode("scalar", name, scalar_type=obj["type"], value=obj.get("value"),
                             fixed=bool(obj.get("fixed", False)))
        if kind == "none":
            return InputNode("none", name, fixed=bool(obj.get("fixed", False)))
        if obj.get("variable_length"):
            return InputNode(kind, name, element=InputNode.from_json(obj["element"]), length=int(obj.get("length", 1)))
        items = tuple(InputNode.from_json(item) for item in obj.get("items", ()))
        keys = tuple(obj.get("keys", ()))
        if kind == "dict" and len(keys) != len(items):
            raise ValueError(f"input '{name}': a dict node needs one key per item")
        return InputNode(kind, name, keys=keys, items=items)


def _same_structure(a: InputNode, b: InputNode) -> bool:
    if a.kind != b.kind or a.keys != b.keys or len(a.items) != len(b.items):
        return False
    if a.kind == "tensor":
        return a.spec.dtype == b.spec.dtype and len(a.spec.shape) == len(b.spec.shape)
    if a.kind == "scalar":
        return a.scalar_type == b.scalar_type
    return all(_same_structure(x, y) for x, y in zip(a.items, b.items))


def _merged(items: Sequence[InputNode]) -> InputNode:
    """The first item, with every tensor dimension where the items differ made dynamic."""
    first = items[0]
    if first.kind == "tensor":
        differing = {d for item in items for d, size in enumerate(item.spec.shape) if size != first.spec.shape[d]}
        return replace(first, spec=replace(first.spec, dynamic_dims=tuple(sorted({*first.spec.dynamic_dims,
                                                                                      *differing}))))
    if first.items:
        return replace(first, items=tuple(_merged([item.items[i] for item in items]) for i in range(len(first.items))))
    return first


@dataclass
class InputTrees:
    """The arguments of one call as trees: what the exporter checks, records and
    rebuilds calls from. `leaf_specs` are the tensor leaves in order."""

    nodes: list[InputNode] = field(default_factory=list)

    @property
    def leaf_specs(self) -> tuple[TensorSpec, ...]:
        return tuple(leaf for node in self.nodes for leaf in node.leaves())

    def arguments(self, leaves: Sequence[torch.Tensor]) -> tuple:
        """Every argument, rebuilt from the flat tensor leaves."""
        it = iter(leaves)
        return tuple(node.build(it) for node in self.nodes)

    def traced_arguments(self, leaves: Sequence[torch.Tensor]) -> tuple:
        """The arguments a trace takes: the fixed ones (scalars, None) left out."""
        return tuple(value for node, value in zip(self.nodes, self.arguments(leaves)) if not node.fixed_leaves())

    def bound(self) -> dict[int, Any]:
        """{position: value} of the arguments a trace binds."""
        return {i: node.value for i, node in enumerate(self.nodes) if node.fixed_leaves()}

    def with_leaf_specs(self, specs: Sequence[TensorSpec]) -> "InputTrees":
        by_name = {spec.name: spec for spec in specs}
        return InputTrees([node.with_leaf_specs(by_name) for node in self.nodes])

    def for_script(self) -> "InputTrees":
        return InputTrees([node.for_script() for node in self.nodes])
