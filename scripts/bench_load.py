#!/usr/bin/env python3
"""What tsrt's load-time checks cost: load time of one model file with and
without the CRC-32 check of its weights, beside torch.jit.load, interleaved.

    .venv/bin/python scripts/bench_load.py bert.pt --repeats 9

The file is read once first so every variant finds it in the page cache; the
optimisations are off in both tsrt variants so the difference is the check alone.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

import tsrt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", type=Path)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args(argv)
    args.model.read_bytes()  # into the page cache

    plain = dict(freeze=False, optimize=False)
    variants = {
        "torch.jit.load": lambda: torch.jit.load(str(args.model)),
        "tsrt, checksums on": lambda: tsrt.load(args.model, verify_checksums=True, **plain),
        "tsrt, checksums off": lambda: tsrt.load(args.model, verify_checksums=False, **plain),
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
        print(f"  {name:<22} {statistics.median(values):8.1f} ms  (min {min(values):.1f})")
    on, off = (statistics.median(times[n]) for n in ("tsrt, checksums on", "tsrt, checksums off"))
    print(f"checksums add {100 * (on - off) / off:+.1f}% to tsrt's load")
    return 0


if __name__ == "__main__":
    sys.exit(main())
