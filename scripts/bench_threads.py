#!/usr/bin/env python3
"""tsrt and ONNX Runtime at each intra-op thread count, side by side, quiet or --busy.

Which default thread count holds up when the machine is not ours alone: every
(runtime, threads) pair is timed in interleaved rounds in one process (tsrt's thread
count is process-wide, so it is set before each tsrt round; ONNX Runtime gets one
session per count). Models and inputs are bench_compare's; tsrt runs the traced file
bench_compare's "tsrt" column runs.

    .venv/bin/python scripts/bench_threads.py --models resnet18,mlp --busy

Writes bench_results/threads.json (threads_busy.json with --busy).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

import tsrt  # noqa: I001  (before torch: it chooses OpenMP's wait policy, docs/python.md)
import torch

from bench_compare import build_models, busy_neighbour, export_quietly, make_onnx_session, time_calls


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="resnet18,mlp", type=lambda s: s.split(","))
    parser.add_argument("--batches", default="1,8", type=lambda s: [int(b) for b in s.split(",")])
    parser.add_argument("--threads", default="1,2", type=lambda s: [int(t) for t in s.split(",")])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=4.0, help="per peer and batch, over all rounds")
    parser.add_argument("--busy", action="store_true", help="beside a process spinning on one core")
    parser.add_argument("--busy-limit", type=float, default=3600.0)
    parser.add_argument("--out", type=Path, default=ROOT / "bench_results")
    args = parser.parse_args(argv)
    log = lambda text: print(text, file=sys.stderr, flush=True)  # noqa: E731
    rows = []
    with tempfile.TemporaryDirectory() as tmp, busy_neighbour(args.busy, args.busy_limit, log) as spinner:
        work = Path(tmp)
        for model in build_models(args.models):
            example = model.inputs(1)
            model_file = export_quietly(model.module, example, work / f"{model.name}.pt", model.spec, mode="trace")
            loaded = tsrt.load(model_file)
            peers = {}
            for threads in args.threads:
                peers[("tsrt", threads)] = loaded
                peers[("onnxruntime", threads)] = make_onnx_session(model, work / f"{model.name}.{threads}.onnx",
                                                                   threads)
            for batch in args.batches:
                inputs = model.inputs(batch, seed=1)
                samples = {key: [] for key in peers}
                for round_ in range(args.rounds + 1):  # round 0 warms up and is not kept
                    for (runtime, threads), fn in peers.items():
                        if runtime == "tsrt":
                            tsrt.set_num_threads(threads)
                        latencies = time_calls(fn, inputs, args.seconds / args.rounds, 20000)
                        if round_:
                            samples[(runtime, threads)] += latencies
                medians = {key: statistics.median(values) for key, values in samples.items()}
                best_ort = min(value for (runtime, _), value in medians.items() if runtime == "onnxruntime")
                for (runtime, threads), median in medians.items():
                    rows.append({"model": model.name, "batch": batch, "runtime": runtime, "threads": threads,
                                 "median_ms": median, "calls": len(samples[(runtime, threads)]),
                                 "to_best_onnxruntime": median / best_ort})
                log(f"{model.name} batch {batch}: " + ", ".join(
                    f"{runtime}@{threads} {median:.3f} ms" for (runtime, threads), median in medians.items()))
    title = "beside a process spinning on one core" if args.busy else "no spinner"
    print(f"\nmedian ms, {title}; load average {os.getloadavg()[0]:.1f} at the end"
          + (f"; the spinner got {spinner.cpu_seconds:.0f} s CPU in {spinner.wall_seconds:.0f} s" if spinner else ""))
    print(f"{'model':<9} {'batch':>5}  {'runtime':<12} {'threads':>7} {'median ms':>10} {'/best ORT':>10}")
    for row in rows:
        print(f"{row['model']:<9} {row['batch']:>5}  {row['runtime']:<12} {row['threads']:>7} {row['median_ms']:>10.3f} "
              f"{row['to_best_onnxruntime']:>10.2f}")
    args.out.mkdir(parents=True, exist_ok=True)
    name = "threads_busy.json" if args.busy else "threads.json"
    (args.out / name).write_text(json.dumps({"busy": bool(args.busy), "load_average": os.getloadavg(),
                                             "spinner_cpu_seconds": spinner.cpu_seconds if spinner else None,
                                             "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
