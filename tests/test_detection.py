"""torchvision detection models from C++: tsrt's CPU kernels of torchvision::nms and
roi_align (libtsrt_torchvision_ops.so) against torchvision's reference code, loading
the library (tsrt.load(libraries=), infer --load-library) and its errors, and a scripted
detector exported from a list of images of different sizes, run by ./infer with C++
kernels only and compared with eager PyTorch on other image lists."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

import tsrt
from conftest import INFER
from errors import raises_tsrt
from tsrt.exporter import detection
from tsrt.testing import corpus

pytestmark = pytest.mark.skipif(not corpus.library_available("torchvision"), reason="torchvision not installed")

# Box coordinates in pixels of images up to ~200 px: float32 rounding of conv outputs,
# amplified by the box decoding, stays well below this (measured: < 1e-3).
BOX_ATOL = 2e-3
BOX_RTOL = 1e-4


def run_python(code: str) -> subprocess.CompletedProcess:
    """`code` in a fresh interpreter: there tsrt's C++ kernels are loaded before
    anything defines torchvision's operators (this process has the Python ones)."""
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=120)


def infer(*args: str | Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(INFER), *map(str, args)], capture_output=True, text=True, timeout=120)


# ---- the kernels ------------------------------------------------------------------

KERNEL_CHECK = """
import json, sys, torch
import tsrt
torch.ops.load_library(tsrt.torchvision_ops_library())
from tsrt.testing import torchvision_ops
# Our kernels were registered first: install() must leave them serving.
torchvision_ops.install()
from torchvision.ops.roi_align import _roi_align
reference_roi_align = getattr(_roi_align, "__wrapped__", _roi_align)
results = []
generator = torch.Generator().manual_seed(0)

def random_boxes(count, dtype, scale=100.0):
    xy = torch.rand(count, 2, generator=generator, dtype=dtype) * scale
    wh = torch.rand(count, 2, generator=generator, dtype=dtype) * scale / 2 + 0.5
    return torch.cat([xy, xy + wh], 1)

for dtype in (torch.float32, torch.float64):
    for count in (0, 1, 7, 60, 400):
        for threshold in (0.0, 0.3, 0.5, 0.9):
            boxes = random_boxes(count, dtype)
            scores = torch.rand(count, generator=generator, dtype=dtype)
            ours = torch.ops.torchvision.nms(boxes, scores, threshold)
            expected = torchvision_ops._nms_cpu(boxes, scores, threshold) if count else torch.zeros(0, dtype=torch.long)
            results.append(dict(op="nms", case=f"{dtype} n={count} t={threshold}", dtype=str(ours.dtype),
                                equal=ours.tolist() == expected.tolist(), kept=len(ours)))
    # Equal scores (a random-weight detector's softmax gives many): kept in input order, as
    # torchvision's stable sort does; the reference sorts stably too.
    boxes = random_boxes(200, dtype)
    scores = (torch.rand(200, generator=generator, dtype=dtype) * 3).floor()
    ours = torch.ops.torchvision.nms(boxes, scores, 0.4)
    expected = torchvision_ops._nms_cpu(boxes, scores, 0.4)
    results.append(dict(op="nms", case=f"{dtype} ties", dtype=str(ours.dtype), equal=ours.tolist() == expected.tolist(),
                        kept=len(ours), stable=all(a < b for a, b, sa, sb in zip(ours[:-1].tolist(), ours[1:].tolist(),
                        scores[ours[:-1]].tolist(), scores[ours[1:]].tolist()) if sa == sb)))
    for size in ((13, 17), (32, 24)):
        features = torch.randn(2, 3, *size, generator=generator, dtype=dtype)
        for spatial_scale in (1.0, 0.5):
            count = 25
            # Boxes over the image, some empty or reversed (x2 < x1: without aligned they count as
            # 1 pixel wide, hence the margin right and below). Not beyond: there torchvision's C++
            # kernel (and tsrt's) samples 0 where its Python port samples the edge
            # (test_roi_align_outside_the_image).
            boxes = random_boxes(count, dtype, scale=max(size) / spatial_scale)
            boxes[:, 0::2] = boxes[:, 0::2].clamp(0, (size[1] - 1) / spatial_scale)
            boxes[:, 1::2] = boxes[:, 1::2].clamp(0, (size[0] - 1) / spatial_scale)
            boxes[:2, 2:] = boxes[:2, :2]
            boxes[2:4, 2:] = (boxes[2:4, :2] - 1).clamp(min=0)
            rois = torch.cat([torch.randint(0, 2, (count, 1), generator=generator).to(dtype), boxes], 1)
            for pooled in ((3, 3), (7, 5)):
                for sampling_ratio in (-1, 0, 2):
                    for aligned in (False, True):
                        ours = torch.ops.torchvision.roi_align(features, rois, spatial_scale, pooled[0], pooled[1],
                                                               sampling_ratio, aligned)
                        expected = reference_roi_align(features, rois, spatial_scale, pooled[0], pooled[1],
                                                       sampling_ratio, aligned)
                        error = (ours - expected).abs().max().item()
                        # float32: the reference sums in another order; float64: rounding only.
                        atol, rtol = (1e-5, 1e-4) if dtype == torch.float32 else (1e-12, 1e-10)
                        close = torch.allclose(ours, expected, atol=atol, rtol=rtol)
                        results.append(dict(op="roi_align", case=f"{dtype} {size} s={spatial_scale} {pooled} "
                                            f"r={sampling_ratio} a={aligned}", dtype=str(dtype),
                                            shape=list(ours.shape), max_abs=error, close=close))
# Which kernels answered: the registrations name their source file.
served_by = {op: "torchvision_ops/register.cpp" in torch._C._dispatch_dump(f"torchvision::{op}")
             for op in ("nms", "roi_align")}
print(json.dumps(dict(results=results, served_by=served_by)))
"""


@pytest.fixture(scope="module")
def kernel_results() -> list[dict]:
    result = run_python(KERNEL_CHECK)
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout.strip().splitlines()[-1])
    assert document["served_by"] == {"nms": True, "roi_align": True}, "tsrt's C++ kernels must be the ones tested"
    return document["results"]


def test_nms_kernel_matches_reference(kernel_results):
    cases = [r for r in kernel_results if r["op"] == "nms"]
    assert len(cases) == 42
    assert all(r["stable"] for r in cases if r["case"].endswith("ties"))
    assert all(r["dtype"] == "torch.int64" for r in cases)
    wrong = [r["case"] for r in cases if not r["equal"]]
    assert not wrong, wrong
    # The thresholds do suppress: fewer kept at 0.0 than at 0.9 for the large cases.
    kept = {r["case"]: r["kept"] for r in cases}
    assert kept["torch.float32 n=400 t=0.0"] < kept["torch.float32 n=400 t=0.5"] <= kept["torch.float32 n=400 t=0.9"]


def test_roi_align_kernel_matches_reference(kernel_results):
    cases = [r for r in kernel_results if r["op"] == "roi_align"]
    assert len(cases) == 2 * 2 * 2 * 2 * 3 * 2
    for r in cases:
        assert r["shape"][0] == 25 and r["shape"][1] == 3
        assert r["close"], r
    worst = max(r["max_abs"] for r in cases if r["dtype"] == "torch.float32")
    assert worst <= 1e-5, worst


def test_roi_align_outside_the_image():
    # torchvision's CPU kernel: a sample further than one pixel outside the image is 0.
    # A box wholly outside pools to zeros; one straddling the edge averages in those zeros.
    result = run_python("""
        import torch, tsrt
        torch.ops.load_library(tsrt.torchvision_ops_library())
        features = torch.ones(1, 1, 8, 8)
        rois = torch.tensor([[0.0, 20, 20, 30, 30], [0.0, 4, 0, 12, 8], [0.0, 1, 1, 7, 7]])
        out = torch.ops.torchvision.roi_align(features, rois, 1.0, 2, 2, 2, False)
        print(out[:, 0].flatten(1).tolist())
    """)
    assert result.returncode == 0, result.stderr
    outside, straddling, inside = json.loads(result.stdout.strip().splitlines()[-1])
    assert outside == [0.0] * 4
    # x from 4 to 12 in 2x2 bins of 2x2 samples at x = 5, 7 | 9, 11: the right bin's are past 8 + 1.
    assert straddling == [1.0, 0.0, 1.0, 0.0]
    assert inside == [1.0] * 4


def test_kernel_errors_are_clear():
    result = run_python("""
        import torch, tsrt
        torch.ops.load_library(tsrt.torchvision_ops_library())
        for call in (lambda: torch.ops.torchvision.nms(torch.zeros(3, 5), torch.zeros(3), 0.5),
                     lambda: torch.ops.torchvision.roi_align(torch.zeros(1, 2, 4, 4), torch.zeros(2, 4), 1.0, 2, 2, 0, True)):
            try:
                call()
            except RuntimeError as error:
                print(str(error).splitlines()[0])
    """)
    assert result.returncode == 0, result.stderr
    assert "boxes should be a [N, 4] tensor" in result.stdout
    assert "rois should be [K, 5]" in result.stdout


# ---- the detector -------------------------------------------------------------------


def tiny_retinanet() -> torch.nn.Module:
    """torchvision's RetinaNet on a ResNet-18 FPN, random weights, small images. The score
    threshold is below the random head's ~0.01 scores, so that images have detections."""
    from torchvision.models import resnet18
    from torchvision.models.detection import RetinaNet
    from torchvision.models.detection.backbone_utils import _resnet_fpn_extractor
    from torchvision.ops.feature_pyramid_network import LastLevelP6P7

    torch.manual_seed(0)
    backbone = _resnet_fpn_extractor(resnet18(), 5, returned_layers=[2, 3, 4], extra_blocks=LastLevelP6P7(256, 256))
    return RetinaNet(backbone, num_classes=5, min_size=128, max_size=160, score_thresh=0.001,
                     detections_per_img=30, topk_candidates=200).eval()


def images(sizes: list[tuple[int, int]], seed: int) -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return [torch.rand(3, h, w, generator=generator) for h, w in sizes]


@pytest.fixture(scope="module")
def detector_file(tmp_path_factory) -> tuple[Path, torch.nn.Module, tsrt.ExportReport]:
    model = tiny_retinanet()
    path = tmp_path_factory.mktemp("detect") / "retinanet.pt"
    report = tsrt.export(model, (images([(120, 150), (144, 112)], seed=1),), path)
    return path, model, report


def test_export_from_a_list_of_images(detector_file):
    path, _, report = detector_file
    assert report.mode == "script"
    assert any("a detection model" in finding and "--load-library" in finding for finding in report.findings)
    assert path.exists()


def test_infer_load_library_verifies(detector_file):
    path, _, _ = detector_file
    result = infer(path, "--load-library", tsrt.torchvision_ops_library(), "--verify")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "PASS" in result.stdout


@pytest.mark.parametrize("sizes,seed", [([(100, 130)], 5), ([(96, 160), (150, 120), (128, 128)], 6)])
def test_infer_matches_eager_on_other_image_lists(detector_file, tmp_path, sizes, seed):
    path, model, _ = detector_file
    batch = images(sizes, seed)
    padded, image_sizes = detection.batch_images(batch)
    np.save(tmp_path / "images.npy", padded.numpy())
    np.save(tmp_path / "image_sizes.npy", image_sizes.numpy())
    result = infer(path, tmp_path / "images.npy", tmp_path / "image_sizes.npy", "--load-library",
                   tsrt.torchvision_ops_library(), "--save-outputs", tmp_path / "out")
    assert result.returncode == 0, result.stdout + result.stderr
    manifest = json.loads((tmp_path / "out" / "outputs.json").read_text())
    leaves = {name: torch.from_numpy(np.load(tmp_path / "out" / file)) for name, file in manifest.items()}
    actual = detection.split_detections(*(leaves[name] for name in detection.OUTPUT_NAMES))
    with torch.no_grad():
        expected = model(batch)
    assert len(actual) == len(expected) == len(sizes)
    for got, want in zip(actual, expected):
        assert len(want["boxes"]) > 0, "the test's detector should find boxes"
        assert got["boxes"].shape == want["boxes"].shape
        torch.testing.assert_close(got["boxes"], want["boxes"], atol=BOX_ATOL, rtol=BOX_RTOL)
        torch.testing.assert_close(got["scores"], want["scores"], atol=1e-5, rtol=1e-4)
        assert torch.equal(got["labels"], want["labels"])


def test_tsrt_load_with_libraries(detector_file):
    path, model, _ = detector_file
    loaded = tsrt.load(path, libraries=[tsrt.torchvision_ops_library()])
    batch = images([(110, 140), (90, 100)], seed=9)
    outputs = loaded(*detection.batch_images(batch))
    actual = detection.split_detections(*outputs)
    with torch.no_grad():
        expected = model(batch)
    for got, want in zip(actual, expected):
        torch.testing.assert_close(got["boxes"], want["boxes"], atol=BOX_ATOL, rtol=BOX_RTOL)


def test_missing_library_is_named(detector_file, tmp_path):
    path, _, _ = detector_file
    missing = tmp_path / "libnothere.so"
    with raises_tsrt("io", str(missing), "does not exist"):
        tsrt.load(path, libraries=[missing])
    result = infer(path, "--load-library", missing)
    assert result.returncode != 0 and "does not exist" in result.stderr and str(missing) in result.stderr
    not_a_library = tmp_path / "text.so"
    not_a_library.write_text("not ELF")
    with raises_tsrt("invalid_argument", "cannot load operator library", str(not_a_library)):
        tsrt.load(path, libraries=[not_a_library])


def test_without_the_library_infer_says_how_to_load_it(detector_file):
    path, _, _ = detector_file
    # A fresh ./infer process has no torchvision operators unless told to load them.
    result = infer(path)
    assert result.returncode != 0
    assert "torchvision::nms" in result.stderr and "--load-library" in result.stderr
    assert tsrt.torchvision_ops_library() in result.stderr
