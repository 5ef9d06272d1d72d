"""bench_compare's best-path rule (docs/benchmarks.md) on real loads: the traced .pt
for a model whose convolutions tsrt fuses, else the .pt2 when there is one, else the .pt."""

from __future__ import annotations

import sys

import tsrt
from conftest import ROOT

sys.path.insert(0, str(ROOT / "scripts"))
import bench_compare  # noqa: E402


def test_a_convolutional_model_takes_the_traced_file(zoo_dir):
    traced = tsrt.load(zoo_dir / "resnet_cnn.trace.pt")
    assert bench_compare.best_path_peer({"tsrt": traced, "tsrt_aoti": object()}) == "tsrt"


def test_other_models_take_the_package_when_there_is_one(zoo_dir):
    traced = tsrt.load(zoo_dir / "mlp.trace.pt")
    assert bench_compare.best_path_peer({"tsrt": traced, "tsrt_aoti": object()}) == "tsrt_aoti"
    assert bench_compare.best_path_peer({"tsrt": traced}) == "tsrt"
    # oneDNN fusion turned off: the rule's reason for the .pt is gone.
    unfused = tsrt.load(zoo_dir / "resnet_cnn.trace.pt", onednn_fusion=False)
    assert bench_compare.best_path_peer({"tsrt": unfused, "tsrt_aoti": object()}) == "tsrt_aoti"
    assert bench_compare.best_path_peer({}) is None


def test_targets_are_checked_on_the_rows_marked_best():
    rows = [bench_compare.Row("m", 1, "tsrt", 5.0, 6.0, 10, best_path=True),
            bench_compare.Row("m", 1, "tsrt_aoti", 1.0, 1.0, 10),
            bench_compare.Row("m", 1, "onnxruntime", 4.0, 4.0, 10),
            bench_compare.Row("m", 1, "eager", 10.0, 10.0, 10)]
    checks = {check["target"]: check for check in bench_compare.targets(rows)}
    ort = checks["tsrt best path (tsrt) <= 1.0x ONNX Runtime"]
    assert ort["ratio"] == 1.25 and not ort["met"]
    assert checks["tsrt best path (tsrt) <= 0.8x eager"]["met"]


def test_a_wrong_answer_meets_no_target():
    rows = [bench_compare.Row("m", 8, "tsrt_aoti", 1.0, 1.0, 10, max_abs_error=0.3, best_path=True),
            bench_compare.Row("m", 8, "onnxruntime", 4.0, 4.0, 10),
            bench_compare.Row("m", 8, "eager", 10.0, 10.0, 10)]
    checks = bench_compare.targets(rows)
    assert checks and all(not check["met"] and check["wrong_answer"] for check in checks)
    rows[0].max_abs_error = 2e-6
    assert all(check["met"] for check in bench_compare.targets(rows))


# ---- the float32 bound of each target (scripts/roofline.py) ------------------------------

import roofline  # noqa: E402
import torch  # noqa: E402


def test_model_flops_counts_two_per_multiply_add():
    layer = torch.nn.Linear(64, 32)
    assert roofline.model_flops(layer, (torch.randn(5, 64),)) == 2 * 5 * 64 * 32
    conv = torch.nn.Conv2d(3, 8, 3, padding=1)
    assert roofline.model_flops(conv, (torch.randn(2, 3, 10, 10),)) == 2 * 2 * 8 * 10 * 10 * 3 * 3 * 3

    class Attention(torch.nn.Module):  # eager's CPU attention kernel, which torch's counter leaves out
        def forward(self, x):
            return torch.nn.functional.scaled_dot_product_attention(x, x, x)

    batch, heads, tokens, width = 2, 4, 16, 8
    # Two products of (tokens x width) by (width x tokens) and back, per head.
    assert roofline.model_flops(Attention(), (torch.randn(batch, heads, tokens, width),)) == \
        2 * 2 * batch * heads * tokens * tokens * width


def test_the_fma_peak_is_measured_or_left_out():
    peak = roofline.fma_peak_gflops(threads=1, iterations=200_000)
    assert peak is not None and 0.1 < peak < 100_000  # GFLOP/s of one core, by any machine's measure
    assert roofline.fma_peak_gflops(threads=1, compiler="/nonexistent/cc") is None
    assert roofline.floor_ms(2_000_000_000, 100.0) == 20.0


def test_targets_say_what_share_of_the_peak_they_need():
    flops = 1_000_000_000  # 10 ms at 100 GFLOP/s
    rows = [bench_compare.Row("m", 1, "tsrt", 12.5, 13.0, 10, best_path=True, round_medians_ms=[12.0, 13.0],
                              flops=flops),
            bench_compare.Row("m", 1, "onnxruntime", 12.0, 12.0, 10, round_medians_ms=[12.5, 12.0], flops=flops),
            bench_compare.Row("m", 1, "eager", 12.0, 12.0, 10, round_medians_ms=[12.0, 12.0], flops=flops)]
    checks = {check["target"]: check for check in bench_compare.targets(rows, peak_gflops=100.0)}
    ort, eager = checks["tsrt best path (tsrt) <= 1.0x ONNX Runtime"], checks["tsrt best path (tsrt) <= 0.8x eager"]
    assert ort["reached_peak_share"] == 10.0 / 12.5
    assert abs(ort["needed_peak_share"] - 10.0 / 12.0) < 1e-12 and not ort["met"]
    assert ort["round_ratio_range"] == [12.0 / 12.5, 13.0 / 12.0]
    # 0.8 x 12 ms = 9.6 ms, under the 10 ms that the FLOPs take at the peak.
    assert eager["needed_peak_share"] > 1 and not eager["met"]
    # Without a peak, or without rounds (./infer), the fields are left empty, not guessed.
    bare = bench_compare.targets(rows)
    assert all(check["needed_peak_share"] is None for check in bare)
    rows[0].round_medians_ms = []
    assert all(check["round_ratio_range"] is None for check in bench_compare.targets(rows))
