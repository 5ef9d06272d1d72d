"""Fuzzes the model loader with damaged copies of real zoo exports: the command line
of tsrt.testing.fuzz (see its docstring for the mutation kinds and outcome classes).

    python scripts/fuzz_loader.py --cases 2000 --seed 0 [--infer-share 0.1] [--keep DIR] [--json]
    python scripts/fuzz_loader.py --format pt2 --cases 1000 --seed 0
    python scripts/fuzz_loader.py --seed 0 --index 417 --keep /tmp/case   # rebuild and rerun one case
"""

from __future__ import annotations

import sys
from pathlib import Path

from tsrt import zoo
from tsrt.testing.fuzz.cli import main

ROOT = Path(__file__).resolve().parents[1]

if __name__ == "__main__":
    sys.exit(main(zoo, ROOT / "infer"))
