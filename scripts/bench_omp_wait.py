#!/usr/bin/env python3
"""How LibTorch's OpenMP threads should wait: OMP_WAIT_POLICY / GOMP_SPINCOUNT side by side.

GNU OpenMP (libgomp, which LibTorch, MKL and oneDNN share in the torch wheel) reads
these variables once, when it is loaded, so each setting needs its own process. This
script alternates processes, one per setting, round after round (A, B, C, A, B, C...),
so that a noisy neighbour hurts every setting alike: each process is
`./infer MODEL --bench --json --threads N` on a traced file with a dynamic batch (the
file bench_compare's "tsrt" column runs), and ONNX Runtime (its own thread pool, which
these variables do not touch) runs in a process of its own in each round as a yardstick.
Each number is the median over every call of every round.

    .venv/bin/python scripts/bench_omp_wait.py                  # quiet
    .venv/bin/python scripts/bench_omp_wait.py --busy           # beside a process spinning on one core
    .venv/bin/python scripts/bench_omp_wait.py --models mlp --settings default,passive

Settings (--settings): default (libgomp's own: spin about 300000 times, ~3 ms, then
sleep; given as GOMP_SPINCOUNT=300000, which is the same, so that ./infer's own default
does not replace it), passive (OMP_WAIT_POLICY=PASSIVE: sleep at once), spinN
(GOMP_SPINCOUNT=N), and ort (ONNX Runtime). Writes bench_results/omp_wait[_busy].json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

from bench_compare import build_models, busy_neighbour, export_onnx, export_quietly  # noqa: E402

# The variables libgomp reads for waiting; every child starts with none of them but its own.
from tsrt.infer_launcher import OPENMP_WAIT_VARIABLES  # noqa: E402

# An ONNX Runtime child: times session.run for `seconds` and prints its latencies (ms) as JSON.
ORT_CHILD = """
import json, sys, time
import numpy as np
import onnxruntime as ort
path, name, shape, dtype, threads, seconds = sys.argv[1:7]
options = ort.SessionOptions()
options.intra_op_num_threads = int(threads)
options.inter_op_num_threads = 1
session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
dims = [int(d) for d in shape.split("x")]
x = (np.random.default_rng(1).integers(0, 30522, dims) if dtype == "int64"
     else np.random.default_rng(1).random(dims, dtype=np.float32) * 2 - 1).astype(dtype)
for _ in range(5):
    session.run(None, {name: x})
latencies = []
deadline = time.perf_counter() + float(seconds)
while not latencies or time.perf_counter() < deadline:
    start = time.perf_counter()
    session.run(None, {name: x})
    latencies.append((time.perf_counter() - start) * 1e3)
print(json.dumps(latencies))
"""


def setting_environment(setting: str) -> dict[str, str] | None:
    """The wait variables of `setting` (None for ONNX Runtime)."""
    if setting == "default":
        return {"GOMP_SPINCOUNT": "300000"}
    if setting == "passive":
        return {"OMP_WAIT_POLICY": "PASSIVE"}
    if setting.startswith("spin"):
        return {"GOMP_SPINCOUNT": str(int(setting[4:]))}
    if setting == "ort":
        return None
    raise SystemExit(f"unknown setting '{setting}': default, passive, spinN, ort")


def child_environment(wait: dict[str, str]) -> dict[str, str]:
    environment = {key: value for key, value in os.environ.items() if key not in OPENMP_WAIT_VARIABLES}
    environment.update(wait)
    return environment


def time_infer(model_file: Path, spec_arg: str, threads: int, seconds: float, wait: dict[str, str]) -> list[float]:
    """Median-ready latencies of one ./infer --bench process (it reports percentiles, not
    calls: the median is repeated `iters` times so that rounds weigh by calls)."""
    command = [str(ROOT / "infer"), str(model_file), "--bench", "--json", "--threads", str(threads),
               "--shape", spec_arg, "--warmup", "5", "--duration", str(seconds)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, env=child_environment(wait))
    if result.returncode != 0:
        raise RuntimeError(f"./infer --bench failed: {result.stderr.strip()}")
    report = json.loads(result.stdout)
    return [report["latency_ms"]["median"]] * max(1, report["iters"])


def time_ort(onnx_file: Path, name: str, shape: str, dtype: str, threads: int, seconds: float) -> list[float]:
    command = [sys.executable, "-c", ORT_CHILD, str(onnx_file), name, shape, dtype, str(threads), str(seconds)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    if result.returncode != 0:
        raise RuntimeError(f"ONNX Runtime child failed: {result.stderr.strip()[-400:]}")
    return json.loads(result.stdout)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="resnet18,bert,mlp", type=lambda s: s.split(","))
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--settings", default="default,passive,spin10000,ort", type=lambda s: s.split(","))
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=2.0, help="timed seconds per process")
    parser.add_argument("--busy", action="store_true", help="beside a process spinning on one core")
    parser.add_argument("--busy-limit", type=float, default=3600.0)
    parser.add_argument("--work", type=Path, help="keep the exported files here (reused by later runs)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench_results")
    args = parser.parse_args(argv)
    waits = {setting: setting_environment(setting) for setting in args.settings}
    log = lambda text: print(text, file=sys.stderr, flush=True)  # noqa: E731
    rows = []
    loads = []
    with tempfile.TemporaryDirectory() as tmp:
        work = args.work or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        models = build_models(args.models)
        files = {}
        for model in models:  # exports first: the spinner times only the runs
            pt, onnx = work / f"{model.name}.pt", work / f"{model.name}.onnx"
            if not pt.exists():
                export_quietly(model.module, model.inputs(1), pt, model.spec, mode="trace")
            if "ort" in waits and not onnx.exists():
                export_onnx(model.module, model.inputs(1), onnx, model.spec.name)
            files[model.name] = (pt, onnx)
        with busy_neighbour(args.busy, args.busy_limit, log) as spinner:
            for model in models:
                pt, onnx = files[model.name]
                shape = "x".join(str(d) for d in (args.batch, *model.spec.shape[1:]))
                dtype = str(model.spec.dtype).replace("torch.", "")
                samples: dict[str, list[float]] = {setting: [] for setting in waits}
                for round_ in range(args.rounds):
                    loads.append(os.getloadavg()[0])
                    for setting, wait in waits.items():
                        if wait is None:
                            samples[setting] += time_ort(onnx, model.spec.name, shape, dtype, args.threads,
                                                         args.seconds)
                        else:
                            samples[setting] += time_infer(pt, f"{model.spec.name}={shape}:{dtype}", args.threads,
                                                           args.seconds, wait)
                medians = {setting: statistics.median(values) for setting, values in samples.items()}
                reference = medians.get("default")
                for setting, median in medians.items():
                    rows.append({"model": model.name, "batch": args.batch, "setting": setting,
                                 "environment": waits[setting], "median_ms": median,
                                 "to_default": median / reference if reference else None,
                                 "to_ort": median / medians["ort"] if "ort" in medians else None})
                log(f"{model.name} batch {args.batch}: "
                    + ", ".join(f"{setting} {median:.3f} ms" for setting, median in medians.items()))
    title = "beside a process spinning on one core" if args.busy else "no spinner"
    print(f"\nmedian ms, {args.threads} threads, {title}; load average over the rounds "
          f"{min(loads):.1f}-{max(loads):.1f}"
          + (f"; the spinner got {spinner.cpu_seconds:.0f} s CPU in {spinner.wall_seconds:.0f} s" if spinner else ""))
    print(f"{'model':<9} {'setting':<10} {'median ms':>10} {'/default':>9} {'/ORT':>7}")
    for row in rows:
        to_default = f"{row['to_default']:.2f}" if row["to_default"] else "-"
        to_ort = f"{row['to_ort']:.2f}" if row["to_ort"] else "-"
        print(f"{row['model']:<9} {row['setting']:<10} {row['median_ms']:>10.3f} {to_default:>9} {to_ort:>7}")
    args.out.mkdir(parents=True, exist_ok=True)
    name = "omp_wait_busy.json" if args.busy else "omp_wait.json"
    (args.out / name).write_text(json.dumps({"busy": bool(args.busy), "threads": args.threads,
                                             "load_average_rounds": loads, "date": time.strftime("%Y-%m-%d %H:%M"),
                                             "spinner_cpu_seconds": spinner.cpu_seconds if spinner else None,
                                             "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
