"""The model file's contract as Python reads and writes it: the one place for the
dtype names, the output paths and the `tsrt.json` document.

libtsrt has the same three in C++ (cpp/src/tensor_spec.cpp, cpp/src/outputs.cpp,
cpp/src/metadata.cpp). Both sides are checked against one fixture,
`tests/fixtures/tsrt.json`, and the schema `docs/tsrt.schema.json`: a file that
Python writes is a file that C++ reads.
"""

from __future__ import annotations

import datetime
import json
import os
from typing import Any, Mapping, Sequence

import torch

#: The extra file (archive record `extra/tsrt.json`) that holds the contract.
METADATA_FILE = "tsrt.json"
#: Raised when a field changes meaning; readers refuse documents newer than they know.
FORMAT_VERSION = 2
#: Version 1 described inputs as a flat list of tensor specs; version 2 as trees
#: (tsrt.input_tree), whose entries without "kind" are version 1's tensor specs.
INPUT_KINDS = ("tensor", "dict", "tuple", "list", "scalar", "none")

# numpy's names, which users type and which tsrt writes into metadata; the same
# 15 entries, in the same order, as kDtypeNames in cpp/src/tensor_spec.cpp.
DTYPES: dict[str, torch.dtype] = {
    "bool": torch.bool,
    "uint8": torch.uint8,
    "int8": torch.int8,
    "int16": torch.int16,
    "int32": torch.int32,
    "int64": torch.int64,
    "uint16": torch.uint16,
    "uint32": torch.uint32,
    "uint64": torch.uint64,
    "float16": torch.float16,
    "bfloat16": torch.bfloat16,
    "float32": torch.float32,
    "float64": torch.float64,
    "complex64": torch.complex64,
    "complex128": torch.complex128,
}


def dtype_name(dtype: torch.dtype) -> str:
    """'float32' for torch.float32: the names tsrt writes in metadata and the CLI reads."""
    for name, candidate in DTYPES.items():
        if candidate == dtype:
            return name
    raise ValueError(f"dtype {dtype} is not supported by tsrt")


def dtype_from_name(name: str) -> torch.dtype:
    try:
        return DTYPES[name]
    except KeyError:
        raise ValueError(f"unknown dtype '{name}'; expected one of {', '.join(DTYPES)}") from None


# --- output paths ---------------------------------------------------------------------
# One rule names every leaf of a method's output, here and in tsrt::flatten_outputs:
# tuple and list elements by index, dict entries by key ('str' quoted, ints bare),
# from the root "output" -- or from a name of `names` for the elements of a returned
# tuple. Golden outputs recorded in Python are matched by path with what C++ returns.

def _flatten_into(value: Any, path: str, leaves: list[tuple[str, Any]]) -> None:
    if isinstance(value, (tuple, list)):
        for i, element in enumerate(value):
            _flatten_into(element, f"{path}[{i}]", leaves)
    elif isinstance(value, dict):
        for key, element in value.items():
            key_text = f"'{key}'" if isinstance(key, str) else str(key)
            _flatten_into(element, f"{path}[{key_text}]", leaves)
    else:
        leaves.append((path, value))


def flatten_outputs(output: Any, names: Sequence[str] = ()) -> list[tuple[str, Any]]:
    """[(path, leaf)], depth-first; `names` names the elements of a returned tuple
    (or, when there is one name, the whole output)."""
    leaves: list[tuple[str, Any]] = []
    if isinstance(output, tuple) and len(names) > 1 and len(names) == len(output):
        for name, element in zip(names, output):
            _flatten_into(element, name, leaves)
    else:
        _flatten_into(output, names[0] if len(names) == 1 else "output", leaves)
    return leaves


# --- the tsrt.json document -----------------------------------------------------------

def method_entry(inputs: Sequence[Any], outputs: Sequence[str] = (), output_structure: str | None = None) -> dict:
    """One entry of `methods`: input trees (tsrt.input_tree.InputNode, or TensorSpec for a
    tensor argument), output paths, and the type of what eager returns (a flattened trace
    returns its leaves, named by `outputs`). A TensorSpec is written as version 1 wrote
    it: a node without "kind" is a tensor."""
    entry: dict[str, Any] = {"inputs": [spec.to_json() for spec in inputs], "outputs": list(outputs)}
    if output_structure is not None:
        entry["output_structure"] = output_structure
    return entry


def export_time() -> str:
    """The "created" time, UTC, ISO 8601 to the second: now, or SOURCE_DATE_EPOCH when the
    environment sets it (the reproducible-builds convention), so that a build that pins it
    exports byte-identical files from the same model."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch is not None:
        try:
            when = datetime.datetime.fromtimestamp(int(epoch), datetime.timezone.utc)
        except (ValueError, OverflowError, OSError):
            raise ValueError(f"SOURCE_DATE_EPOCH must be whole seconds since 1970, got '{epoch}'") from None
    else:
        when = datetime.datetime.now(datetime.timezone.utc)
    return when.isoformat(timespec="seconds")


def metadata_document(*, producer: str, source: str, export_mode: str, export_reason: str,
                      methods: Mapping[str, dict], tolerance: Mapping[str, Any],
                      findings: Sequence[str] = (), golden: Sequence[dict] = (),
                      **fields: Any) -> dict[str, Any]:
    """The tsrt.json document; `fields` are the format-specific extras (frozen,
    format, range_constraints, dynamic-dimension probes, ...)."""
    document: dict[str, Any] = {
        "format_version": FORMAT_VERSION,
        "producer": producer,
        "torch_version": torch.__version__,
        "created": export_time(),
        "source": source,
        "export_mode": export_mode,
        "export_reason": export_reason,
        "findings": [str(f) for f in findings],
        "methods": dict(methods),
        "tolerance": dict(tolerance),
        "golden": list(golden),
    }
    document.update(fields)
    return document


def encode_metadata(document: Mapping[str, Any]) -> bytes:
    """The bytes of the tsrt.json record."""
    return json.dumps(document, indent=1).encode()


def read_metadata(text: str | bytes, source: str = METADATA_FILE) -> dict[str, Any]:
    """Parses a tsrt.json document and checks what every reader relies on; raises
    ValueError naming `source` otherwise (libtsrt's parse_metadata refuses the same)."""
    try:
        document = json.loads(text)
    except (ValueError, UnicodeDecodeError) as error:
        raise ValueError(f"{source}: not valid JSON ({error})") from None
    if not isinstance(document, dict):
        raise ValueError(f"{source}: expected a JSON object")
    version = document.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise ValueError(f"{source}: 'format_version' is missing or not an integer")
    if version > FORMAT_VERSION:
        raise ValueError(f"{source}: format_version {version} is newer than this tsrt reads "
                         f"({FORMAT_VERSION}); upgrade tsrt")
    methods = document.get("methods")
    if not isinstance(methods, dict) or not all(isinstance(m, dict) and isinstance(m.get("inputs"), list)
                                                for m in methods.values()):
        raise ValueError(f"{source}: 'methods' must map method names to objects with an 'inputs' list")
    for method, entry in methods.items():
        for node in entry["inputs"]:
            _check_input_node(node, method, source)
    return document


def _check_input_node(node: Any, method: str, source: str) -> None:
    """An input tree node as libtsrt's parse_input_node requires it (see input_tree.py)."""
    if not isinstance(node, dict) or "name" not in node:
        raise ValueError(f"{source}: an input of method '{method}' is not an object with a name")
    kind = node.get("kind", "tensor")
    where = f"{source}: input '{node['name']}' of method '{method}'"
    if kind not in INPUT_KINDS:
        raise ValueError(f"{where} has unknown kind '{kind}'; expected one of {', '.join(INPUT_KINDS)}")
    if kind == "tensor":
        if not {"name", "dtype", "shape"} <= node.keys():
            raise ValueError(f"{source}: an input of method '{method}' lacks name, dtype or shape")
        dtype_from_name(node["dtype"])
    elif kind == "scalar":
        if node.get("type") not in ("int", "float", "bool"):
            raise ValueError(f"{where}: a scalar's type must be int, float or bool")
    elif kind in ("dict", "tuple", "list"):
        if node.get("variable_length"):
            if kind != "list" or not isinstance(node.get("element"), dict):
                raise ValueError(f"{where}: only a list may have variable_length, with an 'element' node")
            _check_input_node(node["element"], method, source)
            return
        items = node.get("items")
        if not isinstance(items, list):
            raise ValueError(f"{where}: a {kind} node needs an 'items' list")
        if kind == "dict" and (not isinstance(node.get("keys"), list) or len(node["keys"]) != len(items)):
            raise ValueError(f"{where}: a dict node needs one key per item")
        for item in items:
            _check_input_node(item, method, source)
