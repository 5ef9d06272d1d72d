#!/usr/bin/env python3
"""What tsrt's load-time checks cost: load time of one model file with and
without the CRC-32 check of its weights, beside torch.jit.load, interleaved.

    .venv/bin/python scripts/bench_load.py bert.pt --repeats 9

The file is read once first so every variant finds it in the page cache. tsrt is
measured twice: bare (the load-time optimisations off, so the check is compared
with reading the file alone) and as a user loads it (defaults).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import tsrt  # noqa: I001  (before torch: it chooses how LibTorch's OpenMP threads wait; docs/python.md)
import torch



def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", type=Path)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args(argv)
    args.model.read_bytes()  # into the page cache

    bare = dict(freeze=False, optimize_for_inference=False, onednn_fusion=False)
    variants = {
        "torch.jit.load": lambda: torch.jit.load(str(args.model)),
        "bare, checksums on": lambda: tsrt.load(args.model, verify_checksums=True, **bare),
        "bare, checksums off": lambda: tsrt.load(args.model, verify_checksums=False, **bare),
        "default, checksums on": lambda: tsrt.load(args.model, verify_checksums=True),
        "default, checksums off": lambda: tsrt.load(args.model, verify_checksums=False),
    }
    times: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(args.repeats):
        for name, load in variants.items():
            start = time.perf_counter()
            load()
            times[name].append((time.perf_counter() - start) * 1e3)
    size_mb = args.model.stat().st_size / 1e6
    print(f"{args.model.name}: {size_mb:.0f} MB, median of {args.repeats} interleaved loads")
    for name, values in times.items():
        print(f"  {name:<24} {statistics.median(values):8.1f} ms  (min {min(values):.1f})")
    for kind in ("bare", "default"):
        on, off = (statistics.median(times[f"{kind}, checksums {state}"]) for state in ("on", "off"))
        print(f"checksums add {100 * (on - off) / off:+.1f}% to tsrt's {kind} load ({on - off:+.1f} ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
