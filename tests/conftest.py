"""Shared fixtures: the zoo exported once per test session."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # models/ lives at the repo root

import models  # noqa: E402
from tsrt.export import export_zoo_entry  # noqa: E402

INFER = ROOT / "infer"


def zoo_cases() -> list[tuple[str, str]]:
    """(model name, export mode) for every valid combination in the zoo."""
    return [(name, mode) for name, entry in models.ZOO.items() for mode in entry.modes]


@pytest.fixture(scope="session")
def zoo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("zoo")
    for name, mode in zoo_cases():
        export_zoo_entry(models.get(name), out / f"{name}.{mode}.pt", mode)
    return out
