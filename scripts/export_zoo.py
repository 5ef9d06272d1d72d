"""Exports every model of the zoo (models/) in each of its valid modes.

    python scripts/export_zoo.py --out artifacts/zoo [--only mlp,gated] [--aoti mlp]

Writes OUT/<model>.<mode>.pt, each with its tsrt metadata, and OUT/<model>.aoti.pt2
for the models named by --aoti (AOTInductor packages: 10-25 s each to compile).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


from tsrt import zoo


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="directory for the .pt files")
    parser.add_argument("--only", help="comma-separated model names (default: the whole zoo)")
    parser.add_argument("--aoti", default="", help="comma-separated models to export as AOTInductor packages too")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args()
    names = args.only.split(",") if args.only else list(zoo.ZOO)
    for name in names:
        entry = zoo.get(name)
        for mode in entry.modes:
            report = entry.export(Path(args.out) / f"{name}.{mode}.pt", mode)
            if not args.quiet:
                print(report)
    for name in filter(None, args.aoti.split(",")):
        report = zoo.get(name).export(Path(args.out) / f"{name}.aoti.pt2", "auto", format="aoti")
        if not args.quiet:
            print(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
