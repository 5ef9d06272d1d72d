"""./infer --bench and Model.benchmark: the figures are all there, consistent with
each other, bounded as asked, and bad benchmark flags are refused clearly."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from tsrt import zoo
import tsrt
from conftest import INFER

USAGE = 2
LATENCY_KEYS = ["min", "mean", "median", "p90", "p95", "p99", "max", "stddev"]


def infer(*args) -> subprocess.CompletedProcess:
    return subprocess.run([str(INFER), *map(str, args)], capture_output=True, text=True, timeout=120)


def bench_json(*args) -> dict:
    result = infer(*args, "--bench", "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def check_consistent(report: dict) -> None:
    latency = report["latency_ms"]
    assert set(LATENCY_KEYS) <= set(latency)
    ordered = [latency[key] for key in ("min", "median", "p90", "p95", "p99", "max")]
    assert ordered == sorted(ordered) and ordered[0] > 0
    assert latency["min"] <= latency["mean"] <= latency["max"]
    assert report["cv"] == pytest.approx(latency["stddev"] / latency["mean"], rel=1e-6)
    assert report["throughput_per_s"] == pytest.approx(report["iters"] / report["wall_seconds"], rel=1e-6)
    assert report["load_ms"] > 0 and report["first_inference_ms"] > 0
    assert report["peak_rss_bytes"] > 10 * 2**20
    assert isinstance(report["unstable"], bool)


def test_bench_json_has_every_figure(zoo_dir):
    report = bench_json(zoo_dir / "resnet_cnn.trace.pt", "--iters", 40, "--warmup", 3, "--threads", 1)
    check_consistent(report)
    assert report["iters"] == 40 and report["warmup_iters"] == 3
    assert report["intra_op_threads"] == 1 and report["concurrency"] == 1
    assert report["format"] == "torchscript" and report["device"] == "cpu"
    assert any(step.startswith("optimize_for_inference") for step in report["optimizations"])
    assert report["profile"] == []


def test_duration_bounds_the_run(zoo_dir):
    report = bench_json(zoo_dir / "mlp.trace.pt", "--duration", 0.3, "--threads", 1)
    assert 0.3 <= report["wall_seconds"] < 2.0
    assert report["iters"] > 100  # a 64-wide MLP call takes microseconds


def test_warmup_time_is_at_least_what_was_asked(zoo_dir):
    report = bench_json(zoo_dir / "mlp.trace.pt", "--warmup", 0, "--warmup-time", 0.2, "--iters", 5)
    assert 0.2 <= report["warmup_seconds"] < 2.0 and report["warmup_iters"] >= 1
    report = bench_json(zoo_dir / "mlp.trace.pt", "--warmup", 7, "--iters", 5)
    assert report["warmup_iters"] == 7


def test_concurrency_shares_one_model(zoo_dir):
    report = bench_json(zoo_dir / "transformer_encoder.script.pt", "--concurrency", 3, "--iters", 30,
                        "--threads", 1)
    check_consistent(report)
    assert report["concurrency"] == 3 and report["iters"] == 30


def test_profile_lists_operators_by_self_time(zoo_dir):
    # A batch of 8 at 128x128: the convolutions take ~25 ms over the 10 profiled calls, so
    # that one preempted call of a small operator (~1 ms) cannot top them. At the default
    # shape they took ~0.7 ms, and CI once saw aten::_to_copy first.
    report = bench_json(zoo_dir / "resnet_cnn.trace.pt", "--iters", 5, "--profile", "--profile-top", 4,
                        "--no-optimize-for-inference", "--no-onednn-fusion", "--shape", "image=8x3x128x128:float32")
    rows = report["profile"]
    assert len(rows) == 4
    assert [row["self_ms"] for row in rows] == sorted((row["self_ms"] for row in rows), reverse=True)
    # Without oneDNN pre-packing the convolutions report to the profiler and dominate.
    assert rows[0]["name"] == "aten::mkldnn_convolution"
    assert all(row["total_ms"] >= row["self_ms"] > 0 for row in rows)
    assert sum(row["self_percent"] for row in rows) <= 100.0 + 1e-6


@pytest.mark.parametrize("rows", [1, 8])
def test_bench_says_what_it_timed_and_samples_per_second(zoo_dir, rows):
    report = bench_json(zoo_dir / "mlp.trace.pt", "--iters", 20, "--shape", f"x={rows}x64")
    assert report["inputs"] == f"x: float32[{rows}, 64]"
    assert report["batch_size"] == rows
    assert report["samples_per_s"] == pytest.approx(report["throughput_per_s"] * rows, rel=1e-9)
    text = infer(zoo_dir / "mlp.trace.pt", "--bench", "--iters", 10, "--shape", f"x={rows}x64").stdout
    assert f"inputs:          x: float32[{rows}, 64]" in text
    assert f"samples/s at batch {rows}" in text


def test_text_report_reads_like_trtexec(zoo_dir):
    result = infer(zoo_dir / "mlp.trace.pt", "--bench", "--iters", 20, "--profile")
    assert result.returncode == 0, result.stderr
    for line in ("optimisations:", "load:", "first inference:", "throughput:", "latency (ms):    min",
                 "variation:       cv", "peak memory:", "operators by self time"):
        assert line in result.stdout
    assert "p99" in result.stdout


def test_bf16_bench_reports_the_precision(zoo_dir):
    report = bench_json(zoo_dir / "mlp.trace.pt", "--iters", 5, "--precision", "bf16")
    # 3 weights and 3 biases
    assert any(step.startswith("precision bf16: 6 weight tensors cast") for step in report["optimizations"])


@pytest.mark.parametrize("flags,message", [
    (["--concurrency", "0"], "--concurrency expects a number from 1 to 4096, got '0'"),
    (["--threads", "-2"], "--threads expects a non-negative integer, got '-2'"),
    (["--duration", "soon"], "--duration expects a number of seconds, got 'soon'"),
    (["--iters", "1e3"], "--iters expects a non-negative integer, got '1e3'"),
    (["--precision", "int8"], "unknown precision 'int8'; expected fp32, bf16 or fp16"),
    (["--warmup"], "--warmup needs a value"),
])
def test_bad_bench_flags_exit_2_with_the_reason(zoo_dir, flags, message):
    result = infer(zoo_dir / "mlp.trace.pt", "--bench", *flags)
    assert result.returncode == USAGE
    assert message in result.stderr


def test_bench_with_bad_inputs_fails_before_timing(zoo_dir):
    result = infer(zoo_dir / "mlp.trace.pt", "--bench", "--shape", "x=4x63")
    assert result.returncode == USAGE
    assert "x" in result.stderr and "63" in result.stderr


def test_python_benchmark_gives_the_same_schema(zoo_dir):
    model = tsrt.load(zoo_dir / "mlp.trace.pt")
    report = model.benchmark(*zoo.get("mlp").example_inputs(seed=0), iters=25, concurrency=2, profile_iters=3)
    check_consistent(report)
    assert report["iters"] == 25 and report["concurrency"] == 2
    assert report["profile"] and report["profile"][0]["calls"] >= 3
    with pytest.raises(tsrt.Error, match="concurrency must be at least 1"):
        model.benchmark(*zoo.get("mlp").example_inputs(seed=0), concurrency=0)


# ---- how OpenMP threads wait (tsrt/openmp.h) ------------------------------------------

WAIT_VARIABLES = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")


def environment(**wait: str) -> dict:
    """This process's environment without either wait variable, plus `wait`."""
    return {**{k: v for k, v in os.environ.items() if k not in WAIT_VARIABLES}, **wait}


def infer_binary() -> str:
    from tsrt.infer_launcher import find_binary
    return find_binary()


@pytest.mark.parametrize("launcher", ["./infer", "binary"])
@pytest.mark.parametrize("wait,expected", [({}, "GOMP_SPINCOUNT=1000"),
                                           ({"OMP_WAIT_POLICY": "PASSIVE"}, "OMP_WAIT_POLICY=PASSIVE"),
                                           ({"GOMP_SPINCOUNT": "5000"}, "GOMP_SPINCOUNT=5000")])
def test_openmp_threads_spin_briefly_unless_the_environment_chose(zoo_dir, launcher, wait, expected):
    # ./infer sets the default before the binary starts; the binary run directly restarts
    # itself once to get it (a loop would hang here: the timeout catches it).
    program = str(INFER) if launcher == "./infer" else infer_binary()
    result = subprocess.run([program, str(zoo_dir / "mlp.trace.pt"), "--bench", "--json", "--iters", "3"],
                            capture_output=True, text=True, timeout=120, env=environment(**wait))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["openmp_wait"] == expected


def test_the_binary_restarts_at_most_once(zoo_dir, tmp_path):
    # /proc/self/exe re-executed with GOMP_SPINCOUNT set: the second start goes on.
    if shutil.which("strace") is None:
        pytest.skip("strace is not installed")
    trace = tmp_path / "trace.txt"
    subprocess.run(["strace", "-f", "-e", "trace=execve", "-o", str(trace), infer_binary(), str(zoo_dir / "mlp.trace.pt")],
                   capture_output=True, timeout=120, env=environment(), check=True)
    execs = [line for line in trace.read_text().splitlines() if "execve(" in line and "= 0" in line]
    assert len(execs) == 2 and "/proc/self/exe" in execs[1]


@pytest.mark.parametrize("first,wait,expected", [("tsrt", {}, "1000"), ("torch", {}, None),
                                                 ("tsrt", {"GOMP_SPINCOUNT": "5000"}, "5000"),
                                                 ("tsrt", {"OMP_WAIT_POLICY": "PASSIVE"}, None)])
def test_importing_tsrt_first_chooses_a_brief_spin(first, wait, expected):
    # Imported before torch, tsrt sets the variable that libgomp reads as torch loads it;
    # after torch it cannot, and a user's choice is never replaced.
    imports = "import tsrt, torch" if first == "tsrt" else "import torch, tsrt"
    code = f"{imports}; import os; print(os.environ.get('GOMP_SPINCOUNT'))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                            env=environment(**wait), check=True)
    assert result.stdout.strip() == str(expected)
