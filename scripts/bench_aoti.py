#!/usr/bin/env python3
"""AOTInductor packages (.pt2) compiled with different Inductor settings, side by side.

Each variant is a dict of inductor_configs given to tsrt.export(format="aoti") on top
of nothing (the variant "plain" turns tsrt's default freezing off, as packages were
compiled before). For each model the script compiles one package per variant (dynamic
batch, as bench_compare's tsrt_aoti column), records the compile seconds the export
report gives, then times every package through tsrt.load beside eager PyTorch in
interleaved rounds (A, B, C, A, B, C...) at each batch, and prints medians and the
ratio of each to the "plain" package and to eager.

    .venv/bin/python scripts/bench_aoti.py                          # resnet18, bert; batch 1, 8
    .venv/bin/python scripts/bench_aoti.py --models mlp --variants plain,freezing
    .venv/bin/python scripts/bench_aoti.py --keep build/bench-aoti  # reuse packages across runs

Writes bench_results/aoti.json. Packages kept with --keep are reused when their
file exists (their compile time is then the one recorded beside them).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

import tsrt  # noqa: I001  (before torch: it chooses how LibTorch's OpenMP threads wait; docs/python.md)
import numpy as np
import torch

from bench_compare import BenchModel, build_models, max_abs_error, time_calls

VARIANTS = {
    "plain": {"freezing": False},
    "freezing": {"freezing": True},
    "freezing+cpp_gemm": {"freezing": True, "max_autotune": True, "max_autotune_gemm_backends": "CPP,ATEN"},
}


def compile_package(model: BenchModel, variant: str, work: Path, log) -> tuple[Path, float]:
    path = work / f"{model.name}.{variant}.pt2"
    record = path.with_suffix(".json")
    if path.exists() and record.exists():
        seconds = json.loads(record.read_text())["compile_seconds"]
        log(f"  {variant}: reused {path} (compiled in {seconds:.1f} s)")
        return path, seconds
    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        report = tsrt.export(model.module, model.inputs(1), path, format="aoti", input_specs=[model.spec], golden=1,
                             inductor_configs=VARIANTS[variant])
    seconds = report.compile["seconds"]["forward"]
    record.write_text(json.dumps({"compile_seconds": seconds, "export_seconds": time.perf_counter() - started,
                                  "inductor_configs": report.compile["inductor_configs"],
                                  "verification": report.verification}, default=str))
    log(f"  {variant}: compiled in {seconds:.1f} s (export {time.perf_counter() - started:.1f} s), "
        f"{path.stat().st_size / 2**20:.1f} MiB")
    return path, seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="resnet18,bert", type=lambda s: s.split(","))
    parser.add_argument("--variants", default=",".join(VARIANTS), type=lambda s: s.split(","))
    parser.add_argument("--batches", default="1,8", type=lambda s: [int(b) for b in s.split(",")])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=4.0, help="timing per package and batch, over all rounds")
    parser.add_argument("--keep", type=Path, help="compile packages into DIR and reuse them on later runs")
    parser.add_argument("--compile-only", action="store_true", help="compile (into --keep) and time nothing")
    parser.add_argument("--out", type=Path, default=ROOT / "bench_results")
    args = parser.parse_args(argv)
    unknown = set(args.variants) - set(VARIANTS)
    if unknown:
        parser.error(f"unknown variants {sorted(unknown)}; choose from {', '.join(VARIANTS)}")
    torch.set_num_threads(args.threads)
    log = lambda text: print(text, file=sys.stderr, flush=True)  # noqa: E731
    rows, compiles = [], []
    with tempfile.TemporaryDirectory() as tmp:
        work = args.keep or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        for model in build_models(args.models):
            log(f"{model.name}: compiling")
            peers = {"eager": lambda *xs, m=model.module: m(*xs)}
            for variant in args.variants:
                path, seconds = compile_package(model, variant, work, log)
                compiles.append({"model": model.name, "variant": variant, "compile_seconds": seconds,
                                 "package_mib": path.stat().st_size / 2**20})
                peers[variant] = tsrt.load(path)
            for batch in [] if args.compile_only else args.batches:
                inputs = model.inputs(batch, seed=1)
                with torch.inference_mode():
                    reference = model.module(*inputs)
                    errors = {name: max_abs_error(fn(*inputs), reference) for name, fn in peers.items()}
                    for fn in peers.values():
                        fn(*inputs)
                    samples = {name: [] for name in peers}
                    for _ in range(args.rounds):
                        for name, fn in peers.items():
                            samples[name] += time_calls(fn, inputs, args.seconds / args.rounds, 20000)
                medians = {name: statistics.median(values) for name, values in samples.items()}
                base = medians.get("plain")
                for name, values in samples.items():
                    rows.append({"model": model.name, "batch": batch, "peer": name, "median_ms": medians[name],
                                 "p90_ms": float(np.percentile(values, 90)), "calls": len(values),
                                 "to_plain": medians[name] / base if base else None,
                                 "to_eager": medians[name] / medians["eager"], "max_abs_error": errors[name]})
                log(f"{model.name} batch {batch}: " + ", ".join(f"{n} {m:.3f} ms" for n, m in medians.items()))
    print(f"\nmedian latency through tsrt.load, {args.threads} threads, interleaved rounds "
          f"(load average at the end {Path('/proc/loadavg').read_text().split()[0]})")
    print(f"{'model':<9} {'batch':>5}  {'package':<18} {'median ms':>10} {'p90 ms':>9} {'/plain':>7} {'/eager':>7} "
          f"{'max abs err':>12}")
    for row in rows:
        to_plain = f"{row['to_plain']:.2f}" if row["to_plain"] else "-"
        print(f"{row['model']:<9} {row['batch']:>5}  {row['peer']:<18} {row['median_ms']:>10.3f} {row['p90_ms']:>9.3f} "
              f"{to_plain:>7} {row['to_eager']:>7.2f} {row['max_abs_error']:>12.2e}")
    print("\ncompile time (AOTInductor, forward), seconds")
    for item in compiles:
        print(f"  {item['model']:<9} {item['variant']:<18} {item['compile_seconds']:>7.1f} s  "
              f"package {item['package_mib']:.1f} MiB")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "aoti.json").write_text(json.dumps({"threads": args.threads, "torch": torch.__version__,
                                                     "rows": rows, "compiles": compiles}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
