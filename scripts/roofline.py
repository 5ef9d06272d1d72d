"""The fastest a model could run on this machine in float32: its matrix and convolution
FLOPs at the machine's measured fused-multiply-add peak.

bench_compare uses it to say, for each target, whether the target is reachable at all:
a time below FLOPs / peak needs fewer FLOPs (Winograd, sparsity) or another precision,
not a better kernel. The bound leaves out everything else a model does (normalisation,
activations, memory traffic), so real times sit above it.

    flops = model_flops(module, inputs)       # torch.utils.flop_counter, as eager runs it
    peak = fma_peak_gflops(threads=2)         # GFLOP/s, or None where it can't be measured
    floor_ms = flops / (peak * 1e6)
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import torch
from torch.utils.flop_counter import FlopCounterMode, sdpa_flop_count

# torch's counter knows the CUDA attention kernels but not the one eager runs on the CPU.
CPU_ATTENTION_FLOPS = {
    torch.ops.aten._scaled_dot_product_flash_attention_for_cpu:
        lambda query, key, value, *args, out_shape=None, **kwargs: sdpa_flop_count(query, key, value),
}

SOURCE = Path(__file__).resolve().with_name("fma_peak.c")


def model_flops(module: torch.nn.Module, inputs: tuple[Any, ...]) -> int:
    """Floating-point operations of one eager call (2 per multiply-add) in the operators
    torch's flop counter knows: matrix products, convolutions, attention."""
    counter = FlopCounterMode(display=False, custom_mapping=CPU_ATTENTION_FLOPS)
    with torch.inference_mode(), counter:
        module(*inputs)
    return int(counter.get_total_flops())


def fma_peak_gflops(threads: int, iterations: int = 20_000_000, compiler: str | None = None) -> float | None:
    """The best GFLOP/s of fused multiply-adds on `threads` OpenMP threads (fma_peak.c,
    compiled for this CPU), or None without a C compiler with OpenMP, or when the
    program fails: the bound is then left out of the report rather than guessed."""
    compiler = compiler or os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if not compiler:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        binary = Path(tmp) / "fma_peak"
        try:
            subprocess.run([compiler, "-O2", "-march=native", "-fopenmp", str(SOURCE), "-o", str(binary)],
                           check=True, capture_output=True, timeout=120)
            environment = {**os.environ, "OMP_NUM_THREADS": str(threads)}
            result = subprocess.run([str(binary), str(iterations)], check=True, capture_output=True, text=True,
                                    timeout=300, env=environment)
            return float(result.stdout.split()[0])
        except (OSError, subprocess.SubprocessError, ValueError, IndexError):
            return None


def floor_ms(flops: int, peak_gflops: float) -> float:
    """Milliseconds that `flops` take at `peak_gflops`: no float32 run can be faster."""
    return flops / (peak_gflops * 1e6)
