"""The two model formats side by side: latency of each zoo model as TorchScript (.pt)
and as an AOTInductor package (.pt2), both run by libtsrt through tsrt._C, with eager
PyTorch for reference. Batch 1 (the example's other sizes), median over --calls
calls after warm-up, one process, one thread each.

    python scripts/bench_formats.py                      # every zoo model
    python scripts/bench_formats.py --models mlp resnet_cnn --calls 500 --json

Models torch.export cannot capture (ZooEntry.aoti False) show "-" for AOTI, with why.
Exports go to --out (a temporary directory by default); compiling a package takes
10-25 s a model on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import tsrt  # noqa: I001  (before torch: it chooses how LibTorch's OpenMP threads wait; docs/python.md)
import torch

ROOT = Path(__file__).resolve().parents[1]

from tsrt import zoo
from tsrt.exporter import ExportError


def batch_one(entry) -> tuple[torch.Tensor, ...]:
    """The example inputs with every dynamic dimension 0 (the batch) set to 1."""
    sizes = {spec.name: {0: 1} for spec in entry.inputs if 0 in spec.dynamic_dims}
    return entry.example_inputs(seed=0, sizes=sizes)


def median_ms(call, inputs, calls: int, warmup: int = 20) -> float:
    for _ in range(warmup):
        call(*inputs)
    times = []
    for _ in range(calls):
        started = time.perf_counter()
        call(*inputs)
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1e3


def bench(name: str, out: Path, calls: int) -> dict:
    entry = zoo.get(name)
    inputs = batch_one(entry)
    row: dict = {"model": name, "inputs": [list(x.shape) for x in inputs], "torchscript_mode": None, "aoti": None}
    eager = entry.build()
    with torch.inference_mode():
        row["eager_ms"] = median_ms(eager, inputs, calls)
    report = entry.export(out / f"{name}.pt", "auto")
    row["torchscript_mode"] = report.mode
    row["torchscript_ms"] = median_ms(tsrt.load(out / f"{name}.pt"), inputs, calls)
    if entry.aoti:
        started = time.perf_counter()
        try:
            report = entry.export(out / f"{name}.pt2", "auto", format="aoti")
        except ExportError as error:  # the zoo's claim is wrong: say so rather than stop
            row["aoti"] = "export failed: " + "; ".join(error.report.findings[:2])
            return row
        row["aoti"] = "ok"
        row["aoti_export_s"] = time.perf_counter() - started
        row["aoti_compile_s"] = report.timings.get("aoti_compile")
        row["aoti_ms"] = median_ms(tsrt.load(out / f"{name}.pt2"), inputs, calls)
    else:
        row["aoti"] = "torch.export cannot capture it"
    return row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="*", default=list(zoo.ZOO), help="zoo models (default: all)")
    parser.add_argument("--calls", type=int, default=200, help="timed calls per model and format")
    parser.add_argument("--out", type=Path, help="where to write the exports (default: a temporary directory)")
    parser.add_argument("--json", action="store_true", help="print JSON rows instead of a table")
    args = parser.parse_args()
    torch.set_num_threads(1)  # one intra-op thread for every runtime: the comparison is per core
    with tempfile.TemporaryDirectory() as scratch:
        out = args.out or Path(scratch)
        out.mkdir(parents=True, exist_ok=True)
        rows = []
        for name in args.models:
            rows.append(bench(name, out, args.calls))
            print(f"bench_formats: {name} done", file=sys.stderr, flush=True)
    if args.json:
        print(json.dumps(rows, indent=1))
        return 0
    print(f"median latency, batch 1, {args.calls} calls, 1 intra-op thread, torch {torch.__version__}")
    print(f"{'model':<20} {'eager ms':>9} {'TorchScript ms':>15} {'(mode)':<8} {'AOTI ms':>8} {'AOTI/TS':>8}  compile s")
    for row in rows:
        aoti = f"{row['aoti_ms']:8.3f}" if "aoti_ms" in row else f"{'-':>8}"
        ratio = f"{row['aoti_ms'] / row['torchscript_ms']:8.2f}" if "aoti_ms" in row else f"{'':>8}"
        compile_s = f"{row['aoti_compile_s']:.1f}" if row.get("aoti_compile_s") else row["aoti"]
        print(f"{row['model']:<20} {row['eager_ms']:9.3f} {row['torchscript_ms']:15.3f} {row['torchscript_mode']:<8} "
              f"{aoti} {ratio}  {compile_s}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
