#!/usr/bin/env python3
"""tsrt side by side with the peers, in one process run, on the same inputs.

Peers: eager PyTorch, TorchScript called from Python (traced; and frozen +
optimize_for_inference), tsrt through the bindings and through ./infer --bench,
tsrt running an AOTInductor package (.pt2), tsrt on a file exported for the one
shape timed (tsrt_fixed: where its oneDNN fusion of convolutions applies; the
other tsrt peers use one file with a dynamic batch), ONNX Runtime (CPU provider,
same thread count), torch.compile (inductor), and tsrt in bf16. Models: ResNet-18 (3x224x224), BERT-base (128 tokens, random
weights from BertConfig()), the zoo's small MLP; batch 1 and 8.

The in-process peers are timed in interleaved rounds (peer A, B, C, A, B, C...)
so that a noisy neighbour hurts all of them alike; each number is the median of
every call timed over all rounds. ./infer runs as its own process.

    .venv/bin/python scripts/bench_compare.py                 # the full table
    .venv/bin/python scripts/bench_compare.py --models mlp --batches 1 --skip compile
    .venv/bin/python scripts/bench_compare.py --busy          # beside a process spinning on one core

--busy runs the same table beside a child process that spins on one core (pinned to
it where the OS allows), started before the first set-up and stopped after the last
timing, and bounded in time by itself (--busy-limit) should this script die: the
ratios of a busy machine, measured in one run. The JSON says how much CPU it burnt.

Writes bench_results/compare.json and compare.png; prints the table, the ratio of
each peer to the fastest non-tsrt peer, and the issue's targets met or not.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[1]

# tsrt before torch, as docs/python.md says to: its import chooses how LibTorch's OpenMP
# threads wait (GOMP_SPINCOUNT=1000 unless the environment chose), for every peer
# that runs on LibTorch in this process and for ./infer, which inherits the environment.
import tsrt  # noqa: I001
import numpy as np
import torch

from roofline import floor_ms, fma_peak_gflops, model_flops  # scripts/, beside this file
from tsrt.infer_launcher import OPENMP_WAIT_VARIABLES
from tsrt.spec import TensorSpec

ALL_PEERS = ["eager", "torchscript", "torchscript_opt", "tsrt", "tsrt_fixed", "tsrt_infer", "tsrt_aoti", "onnxruntime",
             "compile", "tsrt_bf16"]
REFERENCE_PEERS = ["eager", "torchscript", "torchscript_opt", "onnxruntime", "compile"]


@dataclass
class BenchModel:
    name: str
    module: torch.nn.Module
    spec: TensorSpec  # one input, batch in dim 0
    atol_bf16: float = 0.0

    def inputs(self, batch: int, seed: int = 0) -> tuple[torch.Tensor]:
        generator = torch.Generator().manual_seed(seed)
        shape = (batch, *self.spec.shape[1:])
        if self.spec.dtype.is_floating_point:
            return (torch.rand(shape, generator=generator) * 2 - 1,)
        low, high = self.spec.value_range or (0, 10)
        return (torch.randint(int(low), int(high), shape, generator=generator, dtype=self.spec.dtype),)


class BertLastHidden(torch.nn.Module):
    """BERT-base returning the last hidden state: one tensor, as every peer can give."""

    def __init__(self) -> None:
        super().__init__()
        # transformers imports torchvision when it is installed, which fails beside the
        # CPU torch unless its operators are defined first (docs/design: torchvision).
        from tsrt.testing import torchvision_ops
        try:
            torchvision_ops.install()
        except ImportError:  # no torchvision: transformers does not need it
            pass
        from transformers import BertConfig, BertModel
        torch.manual_seed(0)
        self.bert = BertModel(BertConfig()).eval()

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        return self.bert(input_ids).last_hidden_state


def build_models(names: list[str]) -> list[BenchModel]:
    built = []
    for name in names:
        if name == "resnet18":
            from tsrt.zoo.resnet18 import make_resnet18
            built.append(BenchModel(name, make_resnet18(), TensorSpec("x", (1, 3, 224, 224), dynamic_dims=(0,))))
        elif name == "bert":
            built.append(BenchModel(name, BertLastHidden().eval(),
                                    TensorSpec("input_ids", (1, 128), torch.int64, (0,), (0, 30522))))
        elif name == "mlp":
            from tsrt.zoo.mlp import make_mlp
            torch.manual_seed(0)
            built.append(BenchModel(name, make_mlp().eval(), TensorSpec("x", (1, 64), dynamic_dims=(0,))))
        else:
            raise SystemExit(f"unknown model '{name}'; choose from resnet18, bert, mlp")
    return built


# ---- peers: each builds a callable f(*inputs) once per model --------------------------

def under(mode: Callable, fn: Callable) -> Callable:
    """fn(*inputs) called inside `mode()` (torch.inference_mode, torch.no_grad)."""
    def call(*inputs):
        with mode():
            return fn(*inputs)
    return call


def export_quietly(module: torch.nn.Module, example: tuple, path: Path, spec: TensorSpec, **options: Any) -> Path:
    """tsrt.export with one golden pair, its TracerWarnings silenced (they are the model's, not ours)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tsrt.export(module, example, path, input_specs=[spec], golden=1, **options)
    return path


def export_onnx(module: torch.nn.Module, example: tuple, path: Path, input_name: str, output_name: str = "out",
                batch_axis: str = "batch") -> Path:
    """ONNX for ONNX Runtime, dimension 0 of the input and output dynamic."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # The TorchScript-based exporter: it needs no onnxscript and handles BERT.
        torch.onnx.export(module, example, str(path), input_names=[input_name], output_names=[output_name],
                          dynamic_axes={input_name: {0: batch_axis}, output_name: {0: batch_axis}}, dynamo=False,
                          opset_version=17)
    return path


def ort_session(path: Path, threads: int) -> Any:
    """An ONNX Runtime CPU session with `threads` intra-op threads and every graph optimisation."""
    import onnxruntime as ort
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def make_onnx_session(model: BenchModel, path: Path, threads: int) -> Callable:
    session = ort_session(export_onnx(model.module, model.inputs(1), path, model.spec.name), threads)
    name = model.spec.name
    return lambda x: session.run(None, {name: x.numpy()})


def build_peers(model: BenchModel, wanted: list[str], work: Path, threads: int, log: Callable[[str], None]
                ) -> tuple[dict[str, Callable], Path]:
    """The callables (their set-up times are logged), and the tsrt file for ./infer."""
    module, example = model.module, model.inputs(1)
    peers: dict[str, Callable] = {}

    def timed_setup(name: str, make: Callable[[], Callable]) -> None:
        if name not in wanted:
            return
        start = time.perf_counter()
        try:
            peers[name] = make()
        except Exception as error:  # a peer that cannot run this model is reported, not fatal
            log(f"  {name}: skipped ({type(error).__name__}: {str(error).splitlines()[0][:160]})")
            return
        log(f"  {name}: ready in {time.perf_counter() - start:.1f} s")

    def eager() -> Callable:
        return under(torch.inference_mode, module)

    # TorchScript from Python runs under no_grad, not inference_mode: its profiling
    # executor with InferenceMode and the TensorExpr fuser recompiles on every call
    # (tsrt's ./infer --bench --graph-executor-optimize shows it), which would be unfair to it.
    def torchscript() -> Callable:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return under(torch.no_grad, torch.jit.trace(module, example))

    def torchscript_opt() -> Callable:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            traced = torch.jit.trace(module, example).eval()
            return under(torch.no_grad, torch.jit.optimize_for_inference(torch.jit.freeze(traced)))

    tsrt_file = work / f"{model.name}.pt"

    def export_tsrt() -> None:
        if not tsrt_file.exists():
            export_quietly(module, example, tsrt_file, model.spec, mode="trace")

    def tsrt_bindings() -> Callable:
        export_tsrt()
        return tsrt.load(tsrt_file)

    def tsrt_bf16() -> Callable:
        export_tsrt()
        return tsrt.load(tsrt_file, precision="bf16")

    def tsrt_aoti() -> Callable:
        return tsrt.load(export_quietly(module, example, work / f"{model.name}.pt2", model.spec, format="aoti"))

    def compiled() -> Callable:
        call = under(torch.inference_mode, torch.compile(module))
        call(*example)  # compile now, not in the first timed round
        return call

    timed_setup("eager", eager)
    timed_setup("torchscript", torchscript)
    timed_setup("torchscript_opt", torchscript_opt)
    timed_setup("tsrt", tsrt_bindings)
    timed_setup("tsrt_bf16", tsrt_bf16)
    timed_setup("tsrt_aoti", tsrt_aoti)
    timed_setup("onnxruntime", lambda: make_onnx_session(model, work / f"{model.name}.onnx", threads))
    timed_setup("compile", compiled)
    if "tsrt_infer" in wanted:
        export_tsrt()
    return peers, tsrt_file


def tsrt_choices(peer: Any) -> list[str]:
    """What a tsrt peer chose at load and while running that changes its speed (threads
    per call, shapes fused), for the JSON: a surprising number can be read against it."""
    if not isinstance(peer, tsrt.Model):
        return []
    return [line for line in peer.optimizations + peer.runtime_report
            if line.startswith(("threads per call", "oneDNN fusion for", "oneDNN fusion:"))]


def fixed_shape_peer(model: BenchModel, batch: int, work: Path) -> Callable:
    """tsrt on a file exported for exactly this batch (no dynamic dimension)."""
    path = work / f"{model.name}.fixed{batch}.pt"
    example = model.inputs(batch)
    spec = TensorSpec(model.spec.name, tuple(example[0].shape), model.spec.dtype, (), model.spec.value_range)
    return tsrt.load(export_quietly(model.module, example, path, spec, mode="trace"))


# ---- a busy neighbour ------------------------------------------------------------------

# The child: spins until its deadline or until its parent is gone, whichever comes first.
SPIN_CODE = """
import os, sys, time
deadline = time.monotonic() + float(sys.argv[1])
parent = os.getppid()
if len(sys.argv) > 2:
    try:
        os.sched_setaffinity(0, {int(sys.argv[2])})
    except (AttributeError, OSError):
        pass
while time.monotonic() < deadline and os.getppid() == parent:
    for _ in range(100000):
        pass
"""


class Spinner:
    """A child process that keeps one core busy for at most `limit` seconds."""

    def __init__(self, limit: float, core: int | None = None) -> None:
        command = [sys.executable, "-c", SPIN_CODE, str(limit)] + ([] if core is None else [str(core)])
        self.process = subprocess.Popen(command)
        self.started = time.monotonic()
        self.core = core
        self.wall_seconds = 0.0
        self.cpu_seconds = 0.0

    def alive(self) -> bool:
        """Whether the child still runs (reaping it, with its CPU time, if it ended)."""
        if self.process.returncode is None:
            pid, status, usage = os.wait4(self.process.pid, os.WNOHANG)
            if pid:
                self._reaped(status, usage)
        return self.process.returncode is None

    def stop(self) -> None:
        """Ends the child (unless its deadline already has) and records its CPU time."""
        if self.alive():
            self.process.terminate()
            _, status, usage = os.wait4(self.process.pid, 0)
            self._reaped(status, usage)

    def _reaped(self, status: int, usage: Any) -> None:
        self.process.returncode = os.waitstatus_to_exitcode(status)
        self.cpu_seconds = usage.ru_utime + usage.ru_stime
        self.wall_seconds = time.monotonic() - self.started


def busy_core() -> int | None:
    """The last core this process may run on: the one the spinner takes."""
    try:
        return max(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return None


@contextlib.contextmanager
def busy_neighbour(enabled: bool, limit: float, log: Callable[[str], None]):
    """Yields a running Spinner (or None when not enabled), stopped on the way out."""
    if not enabled:
        yield None
        return
    spinner = Spinner(limit, busy_core())
    log(f"--busy: a process spins on core {spinner.core} for at most {limit:.0f} s (pid {spinner.process.pid})")
    try:
        yield spinner
    finally:
        spinner.stop()
        log(f"--busy: the spinner ran {spinner.wall_seconds:.0f} s and used {spinner.cpu_seconds:.0f} s of CPU")


# ---- timing --------------------------------------------------------------------------

def time_calls(fn: Callable, inputs: tuple, seconds: float, max_calls: int) -> list[float]:
    """Latencies (ms) of calls made for about `seconds` (at least one call: a
    2-second BERT call at batch 8 gets one a round, five over the run)."""
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds
    while not latencies or (time.perf_counter() < deadline and len(latencies) < max_calls):
        start = time.perf_counter()
        fn(*inputs)
        latencies.append((time.perf_counter() - start) * 1e3)
    return latencies


def infer_bench(tsrt_file: Path, model: BenchModel, batch: int, threads: int, seconds: float) -> dict:
    shape = "x".join(str(d) for d in (batch, *model.spec.shape[1:]))
    dtype = str(model.spec.dtype).replace("torch.", "")
    command = [str(ROOT / "infer"), str(tsrt_file), "--bench", "--json", "--threads", str(threads),
               "--shape", f"{model.spec.name}={shape}:{dtype}", "--warmup", "5", "--duration", str(seconds)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    if result.returncode != 0:
        raise RuntimeError(f"./infer --bench failed: {result.stderr.strip()}")
    return json.loads(result.stdout)


def max_abs_error(actual: Any, expected: torch.Tensor) -> float:
    actual = actual[0] if isinstance(actual, (list, tuple)) else actual
    actual = torch.as_tensor(np.asarray(actual)) if not isinstance(actual, torch.Tensor) else actual
    return (actual.float() - expected.float()).abs().max().item()


@dataclass
class Row:
    model: str
    batch: int
    peer: str
    median_ms: float
    p90_ms: float
    calls: int
    max_abs_error: float | None = None
    ratio_to_fastest: float = 0.0
    notes: list[str] = field(default_factory=list)
    best_path: bool = False  # tsrt's best path for this model, by the rule (best_path_peer)
    round_medians_ms: list[float] = field(default_factory=list)  # one per interleaved round
    flops: int | None = None  # of one call: matrix products, convolutions, attention (roofline.model_flops)

    @property
    def gflop_per_s(self) -> float | None:
        return None if not self.flops else self.flops / (self.median_ms * 1e6)


def cpu_has_bf16_units() -> bool:
    """AMX-BF16 or AVX512-BF16: without them LibTorch emulates bfloat16 matrix
    products, 10-100x slower than float32 (ResNet-18 here: 2.6 s a call)."""
    flags = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    return " amx_bf16" in flags or " avx512_bf16" in flags


def run(args: argparse.Namespace) -> list[Row]:
    torch.set_num_threads(args.threads)
    wanted = [peer for peer in ALL_PEERS if peer not in args.skip]
    if "tsrt_bf16" in wanted and not args.bf16 and not cpu_has_bf16_units():
        wanted.remove("tsrt_bf16")
        print("tsrt_bf16 left out: this CPU has no bfloat16 matrix units (--bf16 to time it anyway)",
              file=sys.stderr)
    rows: list[Row] = []
    log = lambda text: print(text, file=sys.stderr, flush=True)  # noqa: E731
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for model in build_models(args.models):
            log(f"{model.name}: setting up peers")
            peers, tsrt_file = build_peers(model, wanted, work, args.threads, log)
            for batch in args.batches:
                inputs = model.inputs(batch, seed=1)
                with torch.inference_mode():
                    reference = model.module(*inputs)
                flops = model_flops(model.module, inputs)
                if "tsrt_fixed" in wanted:
                    peers["tsrt_fixed"] = fixed_shape_peer(model, batch, work)
                errors = {name: max_abs_error(fn(*inputs), reference) for name, fn in peers.items()}
                for fn in peers.values():  # warm-up (and torch.compile's recompile for this batch)
                    for _ in range(2):
                        fn(*inputs)
                samples: dict[str, list[list[float]]] = {name: [] for name in peers}
                for _ in range(args.rounds):
                    for name, fn in peers.items():
                        samples[name].append(time_calls(fn, inputs, args.seconds / args.rounds, args.max_calls))
                best = best_path_peer(peers)
                for name, rounds in samples.items():
                    latencies = [latency for round_latencies in rounds for latency in round_latencies]
                    rows.append(Row(model.name, batch, name, statistics.median(latencies),
                                    float(np.percentile(latencies, 90)), len(latencies), errors[name],
                                    notes=tsrt_choices(peers[name]), best_path=name == best,
                                    round_medians_ms=[statistics.median(r) for r in rounds], flops=flops))
                if "tsrt_infer" in wanted:
                    report = infer_bench(tsrt_file, model, batch, args.threads, args.seconds)
                    rows.append(Row(model.name, batch, "tsrt_infer", report["latency_ms"]["median"],
                                    report["latency_ms"]["p90"], report["iters"],
                                    notes=[f"load {report['load_ms']:.0f} ms",
                                           f"first call {report['first_inference_ms']:.1f} ms"], flops=flops))
                log(f"{model.name} batch {batch}: " + ", ".join(
                    f"{row.peer} {row.median_ms:.3f} ms" for row in rows if row.model == model.name and row.batch == batch))
    for key in {(row.model, row.batch) for row in rows}:
        group = [row for row in rows if (row.model, row.batch) == key]
        references = [row.median_ms for row in group if row.peer in REFERENCE_PEERS]
        fastest = min(references) if references else min(row.median_ms for row in group)
        for row in group:
            row.ratio_to_fastest = row.median_ms / fastest
    return rows


# ---- reporting ---------------------------------------------------------------------------

def row_of(rows: list[Row], model: str, batch: int, peer: str) -> Row | None:
    return next((row for row in rows if (row.model, row.batch, row.peer) == (model, batch, peer)), None)


def median_of(rows: list[Row], model: str, batch: int, peer: str) -> float | None:
    row = row_of(rows, model, batch, peer)
    return None if row is None else row.median_ms


def best_path_peer(peers: dict[str, Any]) -> str | None:
    """tsrt's best path, by the one rule docs/benchmarks.md gives users: the traced .pt
    for a model whose convolutions tsrt fuses in oneDNN (its load report says so);
    else the AOTInductor package (.pt2) when torch.export accepted the model; else the
    traced .pt. A dynamic batch either way, through tsrt.load. Why convolutions go to
    the .pt: Inductor pre-packs convolution weights only for static input shapes, so a
    .pt2 with a dynamic batch re-packs every weight on every call, while the .pt gets
    oneDNN fusion per input shape."""
    traced = peers.get("tsrt")
    if traced is not None and any(step.startswith("oneDNN Graph fusion per input shape:")
                                  for step in traced.optimizations):
        return "tsrt"
    if "tsrt_aoti" in peers:
        return "tsrt_aoti"
    return "tsrt" if traced is not None else None


def best_path(rows: list[Row], model: str, batch: int) -> str | None:
    """The peer that was tsrt's best path for `model` in this run."""
    return next((row.peer for row in rows if (row.model, row.batch) == (model, batch) and row.best_path), None)


# Largest max abs error of a float32 tsrt peer against eager for its time to count
# (BERT-base's hidden states are O(1); the right packages differ by 1e-6 to 1e-5).
MAX_ABS_ERROR_FP32 = 1e-3


def round_ratios(top: Row, bottom: Row) -> list[float]:
    """The ratio within each interleaved round: how far one run's ratio of medians could
    have gone either way (empty for a peer timed outside the rounds, like ./infer)."""
    if not top.round_medians_ms or len(top.round_medians_ms) != len(bottom.round_medians_ms):
        return []
    return [a / b for a, b in zip(top.round_medians_ms, bottom.round_medians_ms)]


def targets(rows: list[Row], peak_gflops: float | None = None) -> list[dict[str, Any]]:
    """The issue's targets, each a ratio measured in this run, for tsrt's best path.
    With the machine's FMA peak (roofline.py), each float32 target also says what share
    of that peak it needs (over 1: no float32 run can meet it) and what share the peer
    reached."""
    checks = []

    def check(name: str, model: str, batch: int, numerator: str, denominator: str, limit: float) -> None:
        top, bottom = row_of(rows, model, batch, numerator), row_of(rows, model, batch, denominator)
        if top is None or bottom is None:
            return
        ratio = top.median_ms / bottom.median_ms
        error = top.max_abs_error
        # A fast wrong answer meets nothing (a float32 peer against eager float32).
        right = error is None or numerator == "tsrt_bf16" or error <= MAX_ABS_ERROR_FP32
        per_round = round_ratios(top, bottom)
        entry = {"target": name, "model": model, "batch": batch, "peer": numerator, "ratio": ratio,
                 "limit": limit, "met": ratio <= limit and right, "max_abs_error": error,
                 "wrong_answer": not right, "round_ratio_range": [min(per_round), max(per_round)] if per_round else None,
                 "needed_peak_share": None, "reached_peak_share": None}
        if peak_gflops and top.flops and numerator != "tsrt_bf16":
            floor = floor_ms(top.flops, peak_gflops)
            entry["needed_peak_share"] = floor / (limit * bottom.median_ms)
            entry["reached_peak_share"] = floor / top.median_ms
        checks.append(entry)

    for model, batch in sorted({(row.model, row.batch) for row in rows}):
        best = best_path(rows, model, batch)
        if best is not None:
            check(f"tsrt best path ({best}) <= 1.0x ONNX Runtime", model, batch, best, "onnxruntime", 1.0)
            check(f"tsrt best path ({best}) <= 0.8x eager", model, batch, best, "eager", 0.8)
        if model == "mlp":
            check("tsrt C++ call (./infer) <= 0.5x eager Python call", model, batch, "tsrt_infer", "eager", 0.5)
        if model in ("resnet18", "bert"):
            check("bf16 speed-up over fp32 (tsrt_bf16 / tsrt; < 1 is faster)", model, batch, "tsrt_bf16", "tsrt",
                  1.0)
    return checks


def openmp_wait() -> str:
    """How LibTorch's OpenMP threads wait in this process (tsrt::openmp_wait_setting's text)."""
    chosen = [f"{name}={os.environ[name]}" for name in OPENMP_WAIT_VARIABLES if name in os.environ]
    return " ".join(chosen) or "spin (OpenMP's default)"


def print_table(rows: list[Row], checks: list[dict[str, Any]], threads: int, peak_gflops: float | None) -> None:
    print(f"\nmedian latency, {threads} intra-op threads, OpenMP wait {openmp_wait()} (ratio: to the fastest of "
          f"{', '.join(REFERENCE_PEERS)}); load average {os.getloadavg()[0]:.1f} at the end")
    print(f"{'model':<9} {'batch':>5}  {'peer':<16} {'median ms':>10} {'p90 ms':>9} {'ratio':>7} {'max abs err':>12}"
          f" {'GFLOP/s':>8}")
    for row in sorted(rows, key=lambda r: (r.model, r.batch, r.median_ms)):
        error = "" if row.max_abs_error is None else f"{row.max_abs_error:.2e}"
        speed = "" if row.gflop_per_s is None else f"{row.gflop_per_s:.1f}"
        print(f"{row.model:<9} {row.batch:>5}  {row.peer:<16} {row.median_ms:>10.3f} {row.p90_ms:>9.3f} "
              f"{row.ratio_to_fastest:>7.2f} {error:>12} {speed:>8}  {' '.join(row.notes)}")
    print("\ntargets" + ("" if peak_gflops is None else
                          f" (float32 FMA peak of this machine on {threads} threads: {peak_gflops:.0f} GFLOP/s)"))
    for check in checks:
        spread = check["round_ratio_range"]
        needed, reached = check["needed_peak_share"], check["reached_peak_share"]
        print(f"  {'MET ' if check['met'] else 'MISS'} {check['model']} batch {check['batch']}: {check['target']}: "
              f"{check['ratio']:.2f} (limit {check['limit']})"
              + (f"; per round {spread[0]:.2f}-{spread[1]:.2f}" if spread else "")
              + (f"; needs {needed:.0%} of the FMA peak, ran at {reached:.0%}" if needed is not None else "")
              + (" -- beyond the float32 peak" if needed is not None and needed > 1 else "")
              + (f" -- WRONG ANSWER: max abs error {check['max_abs_error']:.2e}" if check["wrong_answer"] else ""))


def plot(rows: list[Row], path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    groups = sorted({(row.model, row.batch) for row in rows})
    peers = [peer for peer in ALL_PEERS if any(row.peer == peer for row in rows)]
    figure, axes = plt.subplots(1, len(groups), figsize=(3.2 * len(groups), 4), squeeze=False)
    for axis, (model, batch) in zip(axes[0], groups):
        values = [median_of(rows, model, batch, peer) or 0 for peer in peers]
        fastest = min(v for peer, v in zip(peers, values) if v and peer in REFERENCE_PEERS)
        colors = ["tab:orange" if peer.startswith("tsrt") else "tab:gray" for peer in peers]
        axis.bar(range(len(peers)), [v / fastest for v in values], color=colors)
        axis.axhline(1.0, color="black", linewidth=0.6)
        axis.set_xticks(range(len(peers)), peers, rotation=70, fontsize=7)
        axis.set_title(f"{model}, batch {batch}\nfastest peer {fastest:.3g} ms", fontsize=8)
        axis.set_ylabel("median latency / fastest peer", fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=110)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="resnet18,bert,mlp", type=lambda s: s.split(","))
    parser.add_argument("--batches", default="1,8", type=lambda s: [int(b) for b in s.split(",")])
    parser.add_argument("--threads", type=int, default=2, help="intra-op threads for every peer")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds over the in-process peers")
    parser.add_argument("--seconds", type=float, default=3.0, help="timing per peer and model/batch, over all rounds")
    parser.add_argument("--max-calls", type=int, default=20000, help="calls per peer per round at most")
    parser.add_argument("--skip", default="", type=lambda s: [p for p in s.split(",") if p],
                        help=f"peers to leave out, from: {', '.join(ALL_PEERS)}")
    parser.add_argument("--bf16", action="store_true", help="time tsrt in bf16 even on a CPU without bf16 units")
    parser.add_argument("--busy", action="store_true",
                        help="run beside a child process that keeps one core busy (writes compare_busy.json)")
    parser.add_argument("--busy-limit", type=float, default=3600.0, metavar="SECONDS",
                        help="the spinner stops by itself after this long (default 3600)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench_results")
    args = parser.parse_args(argv)
    unknown = set(args.skip) - set(ALL_PEERS)
    if unknown:
        parser.error(f"unknown peers in --skip: {', '.join(sorted(unknown))}")

    started = time.perf_counter()
    log = lambda text: print(text, file=sys.stderr, flush=True)  # noqa: E731
    with busy_neighbour(args.busy, args.busy_limit, log) as spinner:
        # The peak before and after the run, the better of the two: a clock that
        # boosts or throttles over minutes shows in the two values (in the JSON).
        peaks = [fma_peak_gflops(args.threads)]
        rows = run(args)
        peaks.append(fma_peak_gflops(args.threads))
    peak_gflops = max((peak for peak in peaks if peak), default=None)
    checks = targets(rows, peak_gflops)
    if spinner is not None:
        print(f"\n--busy: beside a process spinning on core {spinner.core}: it used {spinner.cpu_seconds:.0f} s "
              f"of CPU in {spinner.wall_seconds:.0f} s"
              + ("" if spinner.cpu_seconds > 0.5 * spinner.wall_seconds else
                 " -- under half a core: the machine was busier than the spinner alone"))
    print_table(rows, checks, args.threads, peak_gflops)
    args.out.mkdir(parents=True, exist_ok=True)
    name = "compare_busy" if args.busy else "compare"
    document = {"threads": args.threads, "torch": torch.__version__, "openmp_wait": openmp_wait(), "seconds_total": time.perf_counter() - started,
                "fma_peak_gflops": peak_gflops, "fma_peak_gflops_before_after": peaks,
                "busy": None if spinner is None else {"core": spinner.core, "wall_seconds": spinner.wall_seconds,
                                                      "cpu_seconds": spinner.cpu_seconds},
                "load_average": os.getloadavg() if hasattr(os, "getloadavg") else None,
                "rows": [{**row.__dict__, "gflop_per_s": row.gflop_per_s} for row in rows], "targets": checks}
    (args.out / f"{name}.json").write_text(json.dumps(document, indent=2))
    plot(rows, args.out / f"{name}.png")
    print(f"\nwrote {args.out / f'{name}.json'} and {args.out / f'{name}.png'} "
          f"({document['seconds_total']:.0f} s in all)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
