#!/usr/bin/env python3
"""BERT-base's linear layers, one GEMM shape at a time: MKL, oneDNN pre-packed, ONNX Runtime.

Which matrix-product library should tsrt's TorchScript path use for float32 linears on
this CPU? For each (rows x in x out) shape of BERT-base at 128 tokens (batch 1: 128
rows, batch 8: 1024), interleaved rounds time:

  mkl      torch.nn.functional.linear (what a frozen, optimised TorchScript graph runs)
  onednn   torch.ops.mkldnn._linear_pointwise on a weight pre-packed once with
           torch.ops.mkldnn._reorder_linear_weight (what Inductor's freezing emits)
  ort      ONNX Runtime running one MatMul+Add (MLAS), same threads

and prints each one's GFLOP/s beside the machine's float32 FMA peak on the same threads
(roofline.fma_peak_gflops), the most any GEMM could reach.

    .venv/bin/python scripts/bench_gemm.py --threads 2
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

import tsrt  # noqa: F401,I001  (before torch: OpenMP's wait policy, docs/python.md)
import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

from bench_compare import export_onnx, ort_session, time_calls  # noqa: E402
from roofline import fma_peak_gflops  # noqa: E402

SHAPES = [(rows, k, n) for rows in (128, 1024) for (k, n) in ((768, 768), (768, 3072), (3072, 768))]


def onnx_linear(weight: torch.Tensor, bias: torch.Tensor, path: Path, threads: int):
    linear = torch.nn.Linear(weight.shape[1], weight.shape[0])
    linear.weight.data.copy_(weight)
    linear.bias.data.copy_(bias)
    session = ort_session(export_onnx(linear, (torch.rand(1, weight.shape[1]),), path, "x", "y", "rows"), threads)
    return lambda x: session.run(None, {"x": x})[0]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=0.4, help="per peer per round")
    parser.add_argument("--out", type=Path, default=ROOT / "bench_results")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    rows = []
    loads = []
    peak = fma_peak_gflops(args.threads)
    with tempfile.TemporaryDirectory() as tmp, torch.inference_mode():
        for m, k, n in SHAPES:
            generator = torch.Generator().manual_seed(0)
            weight, bias = torch.randn(n, k, generator=generator) * 0.02, torch.randn(n, generator=generator)
            x = torch.randn(m, k, generator=generator)
            packed = torch.ops.mkldnn._reorder_linear_weight(weight, m)
            ort_call = onnx_linear(weight, bias, Path(tmp) / f"linear{k}x{n}.onnx", args.threads)
            peers = {
                "mkl": (lambda a: torch.nn.functional.linear(a, weight, bias), x),
                "onednn": (lambda a: torch.ops.mkldnn._linear_pointwise(a, packed, bias, "none", [], ""), x),
                "ort": (ort_call, x.numpy()),
            }
            reference = torch.nn.functional.linear(x, weight, bias)
            errors = {name: float((torch.as_tensor(np.asarray(fn(arg))) - reference).abs().max())
                      for name, (fn, arg) in peers.items()}
            samples = {name: [] for name in peers}
            for round_ in range(args.rounds + 1):
                loads.append(os.getloadavg()[0])
                for name, (fn, arg) in peers.items():
                    latencies = time_calls(fn, (arg,), args.seconds, max_calls=sys.maxsize)
                    if round_:
                        samples[name] += latencies
            flops = 2 * m * k * n
            medians = {name: statistics.median(values) for name, values in samples.items()}
            for name, median in medians.items():
                rows.append({"shape": f"{m}x{k}x{n}", "peer": name, "median_ms": median,
                             "gflops": flops / median / 1e6, "to_mkl": median / medians["mkl"],
                             "max_abs_error": errors[name]})
            print(f"{m}x{k}x{n}: " + ", ".join(f"{name} {median:.3f} ms ({flops / median / 1e6:.0f} GFLOP/s)"
                                              for name, median in medians.items()), file=sys.stderr, flush=True)
    print(f"\nmedian ms, {args.threads} threads, load average {min(loads):.1f}-{max(loads):.1f}"
          + ("" if peak is None else f", float32 FMA peak {peak:.0f} GFLOP/s"))
    print(f"{'shape (rows x in x out)':<24} {'peer':<7} {'median ms':>10} {'GFLOP/s':>8} {'% peak':>7} {'/mkl':>6} "
          f"{'max err':>9}")
    for row in rows:
        share = "" if peak is None else f"{row['gflops'] / peak:.0%}"
        print(f"{row['shape']:<24} {row['peer']:<7} {row['median_ms']:>10.3f} {row['gflops']:>8.0f} {share:>7} "
              f"{row['to_mkl']:>6.2f} {row['max_abs_error']:>9.1e}")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "gemm.json").write_text(json.dumps({"threads": args.threads, "load_average": loads,
                                                    "fma_peak_gflops": peak, "rows": rows},
                                                   indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
