#!/usr/bin/env python3
"""The cost of one call through tsrt's Python bindings, beside ONNX Runtime's.

On a model whose forward takes microseconds (the zoo MLP), a Python call is mostly
per-call overhead: argument conversion, the GIL, wrapping the output. This times, in
interleaved rounds in one process, `tsrt.load(f)(x)`, the same call timed by tsrt in
C++ (`Model.benchmark`: the runtime without the bindings), and ONNX Runtime's
`InferenceSession.run` from a torch tensor (`x.numpy()`, as bench_compare calls it) and
from a ready numpy array. Medians of per-call times, each over batches of calls.

    .venv/bin/python scripts/bench_bindings.py
    .venv/bin/python scripts/bench_bindings.py --tsrt-from /tmp/before  # another build of tsrt

--tsrt-from DIR imports the tsrt package found in DIR (a copy of python/tsrt with its
_C module and lib/) instead of the installed one: a before/after comparison is two
processes, run alternately, each with ONNX Runtime as its yardstick. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def import_tsrt(directory: Path | None):
    if directory is not None:
        # The editable install's finder would answer `import tsrt` before sys.path does.
        sys.meta_path[:] = [finder for finder in sys.meta_path if "editable" not in type(finder).__module__.lower()]
        sys.path.insert(0, str(directory))
    import torch  # noqa: F401  (before tsrt._C, as tsrt's own __init__ does)
    import tsrt
    return tsrt


def per_call_us(fn, calls: int) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - start) / calls * 1e6


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tsrt-from", type=Path)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--threads", type=int, default=1, help="intra-op threads of both runtimes")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--calls", type=int, default=2000, help="calls per peer per round (timed as one batch)")
    parser.add_argument("--work", type=Path, help="keep the exported MLP here")
    args = parser.parse_args(argv)
    tsrt = import_tsrt(args.tsrt_from)
    import numpy as np
    import torch

    sys.path.insert(0, str(ROOT / "scripts"))
    from bench_compare import build_models, export_onnx, export_quietly, ort_session

    torch.set_num_threads(args.threads)
    model = build_models(["mlp"])[0]
    with tempfile.TemporaryDirectory() as tmp:
        work = args.work or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        pt, onnx = work / "mlp_bindings.pt", work / "mlp_bindings.onnx"
        if not pt.exists():
            export_quietly(model.module, model.inputs(1), pt, model.spec, mode="trace")
        if not onnx.exists():
            export_onnx(model.module, model.inputs(1), onnx, "x")
        loaded = tsrt.load(str(pt))
        tsrt.set_num_threads(args.threads)
        session = ort_session(onnx, args.threads)
    x = model.inputs(args.batch, seed=1)[0]
    x_numpy = x.numpy()
    peers = {
        "tsrt": lambda: loaded(x),
        "tsrt_cpp": None,  # Model.benchmark: timed in C++
        "ort_from_torch": lambda: session.run(None, {"x": x.numpy()}),
        "ort_from_numpy": lambda: session.run(None, {"x": x_numpy}),
    }
    samples: dict[str, list[float]] = {name: [] for name in peers}
    for round_ in range(args.rounds + 1):  # round 0 warms up
        for name, fn in peers.items():
            if fn is None:
                report = loaded.benchmark(x, warmup_iters=10, iters=args.calls)
                value = report["latency_ms"]["mean"] * 1e3
            else:
                value = per_call_us(fn, args.calls)
            if round_:
                samples[name].append(value)
    medians = {name: statistics.median(values) for name, values in samples.items()}
    print(json.dumps({"tsrt_from": str(args.tsrt_from or "installed"), "tsrt_file": tsrt.__file__, "load_average": os.getloadavg()[0],
                      "median_us": medians,
                      "tsrt_to_ort_from_torch": medians["tsrt"] / medians["ort_from_torch"],
                      "tsrt_to_ort_from_numpy": medians["tsrt"] / medians["ort_from_numpy"],
                      "binding_overhead_us": medians["tsrt"] - medians["tsrt_cpp"]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
