"""adaptive_threads on and off, side by side: the zoo MLP (.pt traced and .pt2) at
batch 1, 8 and 64 through tsrt.load on 2 intra-op threads (median ms of interleaved
calls), and the load time of a ResNet-18-sized model, which the probe should leave
alone (a call takes over 1 ms). Short on purpose: a few seconds on a shared machine.
--cpu-check: whether at::parallel_for (pointwise ops), oneDNN (a convolution) and MKL
(a Linear) stay on the calling thread when adaptive_threads chose one thread: the
process's CPU time over the calling thread's, ~1 when they do, ~2 when both threads
work (this holds on a busy machine, where wall times do not tell).

    .venv/bin/python scripts/bench_adaptive_threads.py [--aoti] [--resnet] [--cpu-check] [--calls 400]
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import tempfile
import time
from pathlib import Path

import tsrt  # before torch
import torch

from tsrt.zoo.mlp import MLP


def median_ms(models: dict[str, tsrt.Model], x: torch.Tensor, calls: int) -> dict[str, float]:
    """Interleaved calls, so that the machine's load weighs on every variant alike."""
    times: dict[str, list[float]] = {name: [] for name in models}
    for model in models.values():
        for _ in range(20):
            model(x)
    for _ in range(calls):
        for name, model in models.items():
            start = time.perf_counter()
            model(x)
            times[name].append((time.perf_counter() - start) * 1e3)
    return {name: statistics.median(t) for name, t in times.items()}


def compare(path: Path, calls: int) -> None:
    models = {"on": tsrt.load(path), "off": tsrt.load(path, adaptive_threads=False)}
    print(f"{path.name}: {[s for s in models['on'].optimizations if s.startswith('threads per call')]}")
    print(f"  load ms: on {models['on'].load_ms:.1f}, off {models['off'].load_ms:.1f}")
    for batch in (1, 8, 64):
        result = median_ms(models, torch.randn(batch, 64), calls)
        print(f"  batch {batch:3d}: on {result['on']:.4f} ms, off {result['off']:.4f} ms")


class Pointwise(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sin(torch.exp(x) * 3) + torch.tanh(x)


def cpu_check(out: Path) -> None:
    """At the largest batch the probe put on one thread (its line says up to how many elements)."""
    cases = {"pointwise": (Pointwise(), torch.randn(4, 4096)),
             "conv": (torch.nn.Sequential(torch.nn.Conv2d(16, 16, 3, padding=1), torch.nn.ReLU()).eval(),
                      torch.randn(1, 16, 16, 16)),
             "linear": (torch.nn.Linear(256, 256).eval(), torch.randn(8, 256))}
    for name, (module, example) in cases.items():
        argument = "x" if name == "pointwise" else "input"  # what forward calls it
        tsrt.export(module, (example,), out / f"{name}.pt", mode="trace", dynamic={argument: [0]})
        on = tsrt.load(out / f"{name}.pt")
        line = [s for s in on.optimizations if s.startswith("threads per call")]
        chosen = re.search(r"1 up to (\d+) input elements", line[0])
        if not chosen:
            print(f"{name}: one thread not chosen here, nothing to check; {line}")
            continue
        x = torch.randn(int(chosen.group(1)) // example[0].numel(), *example.shape[1:])
        ratios = {}
        for adaptive in (True, False):
            model = on if adaptive else tsrt.load(out / f"{name}.pt", adaptive_threads=False)
            model(x)
            process, thread = time.process_time(), time.thread_time()
            for _ in range(20):
                model(x)
            ratios[adaptive] = (time.process_time() - process) / (time.thread_time() - thread)
        print(f"{name} {tuple(x.shape)}: process/thread CPU time, adaptive on {ratios[True]:.2f}, "
              f"off {ratios[False]:.2f}; {line}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--aoti", action="store_true", help="also the .pt2 package (compiles ~20 s)")
    parser.add_argument("--resnet", action="store_true", help="load time of ResNet-18 (tsrt.zoo.resnet18, dynamic batch)")
    parser.add_argument("--cpu-check", action="store_true", help="the kernels honour one thread (CPU time)")
    parser.add_argument("--calls", type=int, default=400)
    args = parser.parse_args()
    tsrt.set_num_threads(2)
    print(f"load average {os.getloadavg()}, intra-op threads {torch.get_num_threads()}")
    torch.manual_seed(0)
    mlp = MLP().eval()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        tsrt.export(mlp, (torch.randn(4, 64),), out / "mlp.pt", mode="trace", dynamic={"x": [0]})
        compare(out / "mlp.pt", args.calls)
        if args.aoti:
            tsrt.export(mlp, (torch.randn(4, 64),), out / "mlp.pt2", format="aoti", dynamic={"x": [0]})
            compare(out / "mlp.pt2", args.calls)
        if args.cpu_check:
            cpu_check(out)
        if args.resnet:
            from tsrt.zoo.resnet18 import make_resnet18
            tsrt.export(make_resnet18(), (torch.randn(1, 3, 224, 224),), out / "resnet18.pt", mode="trace",
                        dynamic={"x": [0]})
            for _ in range(2):
                for adaptive in (True, False):
                    model = tsrt.load(out / "resnet18.pt", adaptive_threads=adaptive)
                    line = [s for s in model.optimizations if s.startswith("threads per call")]
                    print(f"resnet18 adaptive={adaptive}: load {model.load_ms:.0f} ms {line}")


if __name__ == "__main__":
    main()
