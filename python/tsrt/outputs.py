"""Flattening nested outputs into (path, leaf) pairs.

Mirrors libtsrt's `tsrt::flatten_outputs` (cpp/src/outputs.cpp) exactly: golden
outputs recorded here are matched by path against what C++ produces.
"""

from __future__ import annotations

from typing import Any, Sequence


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
    """[(path, leaf)], depth-first; `names` names the elements of a returned tuple."""
    leaves: list[tuple[str, Any]] = []
    if isinstance(output, tuple) and len(names) > 1 and len(names) == len(output):
        for name, element in zip(names, output):
            _flatten_into(element, name, leaves)
    else:
        _flatten_into(output, names[0] if len(names) == 1 else "output", leaves)
    return leaves
