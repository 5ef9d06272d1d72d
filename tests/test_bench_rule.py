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
