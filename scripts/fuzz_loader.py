"""Fuzzes the model loader with damaged copies of real zoo exports: the command line
of tsrt.testing.fuzz (see its docstring for the mutation kinds and outcome classes).

    python scripts/fuzz_loader.py --cases 2000 --seed 0 [--infer-share 0.1] [--keep DIR] [--json]
    python scripts/fuzz_loader.py --format pt2 --cases 1000 --seed 0
    python scripts/fuzz_loader.py --seed 0 --index 417 --keep /tmp/case   # rebuild and rerun one case
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

from tsrt.testing.fuzz.cli import main

ROOT = Path(__file__).resolve().parents[1]


def _zoo():
    """The repository's models/ package, which this script fuzzes. It is not installed
    with tsrt (yet): loaded from the checkout this script belongs to, without touching
    sys.path, so that no other `models` package is shadowed."""
    spec = importlib.util.spec_from_file_location("models", ROOT / "models" / "__init__.py",
                                                  submodule_search_locations=[str(ROOT / "models")])
    module = importlib.util.module_from_spec(spec)
    sys.modules["models"] = module  # its submodules import "models.<name>"
    spec.loader.exec_module(module)
    return module


if __name__ == "__main__":
    sys.exit(main(_zoo(), ROOT / "infer"))
