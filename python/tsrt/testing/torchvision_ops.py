"""Makes `import torchvision` work beside a CPU-only torch whose torchvision wheel is
the CUDA build (PyPI's torchvision 0.28.0): its `_C.so` does not load, and the
import then fails in `_meta_registrations.py` (`operator torchvision::nms does not
exist`) because nothing defined the operators it registers fake kernels for.

`install()` defines those operator schemas with torch.library before the import
(enough for classification, segmentation and optical flow), and gives nms and
roi_align CPU kernels written with torch ops, so that detection models run in
eager PyTorch too. A TorchScript file that calls them still needs the operators
where it runs: tsrt ships C++ kernels of nms and roi_align in a library of their own,
loaded with tsrt.load(path, libraries=[tsrt.torchvision_ops_library()]) or
`infer --load-library` (cpp/torchvision_ops/).

    from tsrt.testing import torchvision_ops
    torchvision = torchvision_ops.install()
"""

from __future__ import annotations

import importlib
from typing import Any

import torch

# The schemas of torchvision/csrc/ops/*.cpp (TORCH_LIBRARY_FRAGMENT(torchvision, m)),
# for each operator that torchvision/_meta_registrations.py registers a kernel for.
SCHEMAS = (
    "nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
    "qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
    # called (not given a meta kernel) by ops/boxes.py; scripting a detection model compiles the call
    "box_iou_rotated(Tensor boxes1, Tensor boxes2) -> Tensor",
    "roi_align(Tensor input, Tensor rois, float spatial_scale, SymInt pooled_height, SymInt pooled_width, "
    "int sampling_ratio, bool aligned) -> Tensor",
    "_roi_align_backward(Tensor grad, Tensor rois, float spatial_scale, SymInt pooled_height, "
    "SymInt pooled_width, SymInt batch_size, SymInt channels, SymInt height, SymInt width, "
    "int sampling_ratio, bool aligned) -> Tensor",
    "qroi_align(Tensor input, Tensor rois, float input_scale, int input_zero_point, float rois_scale, "
    "int rois_zero_point, float spatial_scale, SymInt pooled_height, SymInt pooled_width, "
    "int sampling_ratio, bool aligned) -> Tensor",
    "ps_roi_align(Tensor input, Tensor rois, float spatial_scale, SymInt pooled_height, SymInt pooled_width, "
    "int sampling_ratio) -> (Tensor, Tensor)",
    "_ps_roi_align_backward(Tensor grad, Tensor rois, Tensor channel_mapping, float spatial_scale, "
    "SymInt pooled_height, SymInt pooled_width, int sampling_ratio, SymInt batch_size, SymInt channels, "
    "SymInt height, SymInt width) -> Tensor",
    "roi_pool(Tensor input, Tensor rois, float spatial_scale, SymInt pooled_height, SymInt pooled_width) "
    "-> (Tensor, Tensor)",
    "_roi_pool_backward(Tensor grad, Tensor rois, Tensor argmax, float spatial_scale, SymInt pooled_height, "
    "SymInt pooled_width, SymInt batch_size, SymInt channels, SymInt height, SymInt width) -> Tensor",
    "ps_roi_pool(Tensor input, Tensor rois, float spatial_scale, SymInt pooled_height, SymInt pooled_width) "
    "-> (Tensor, Tensor)",
    "_ps_roi_pool_backward(Tensor grad, Tensor rois, Tensor channel_mapping, float spatial_scale, "
    "SymInt pooled_height, SymInt pooled_width, SymInt batch_size, SymInt channels, SymInt height, "
    "SymInt width) -> Tensor",
    "deform_conv2d(Tensor input, Tensor weight, Tensor offset, Tensor mask, Tensor bias, SymInt stride_h, "
    "SymInt stride_w, SymInt pad_h, SymInt pad_w, SymInt dilation_h, SymInt dilation_w, SymInt groups, "
    "SymInt offset_groups, bool use_mask) -> Tensor",
    "_deform_conv2d_backward(Tensor grad, Tensor input, Tensor weight, Tensor offset, Tensor mask, "
    "Tensor bias, SymInt stride_h, SymInt stride_w, SymInt pad_h, SymInt pad_w, SymInt dilation_h, "
    "SymInt dilation_w, SymInt groups, SymInt offset_groups, bool use_mask) "
    "-> (Tensor, Tensor, Tensor, Tensor, Tensor)",
)

_libraries: list[torch.library.Library] = []  # kept alive: a Library drops its registrations when collected


def _defined(name: str) -> bool:
    return torch._C._dispatch_has_kernel(f"torchvision::{name}") or \
        any(schema.name == f"torchvision::{name}" for schema in torch._C._jit_get_all_schemas())


def _nms_cpu(dets: torch.Tensor, scores: torch.Tensor, iou_threshold: float) -> torch.Tensor:
    """Greedy non-maximum suppression, as torchvision's CPU kernel: indices kept, by score.
    The sort is stable, as there: equal scores (common with random weights) keep their
    order, so that eager and tsrt's C++ kernel keep the same boxes."""
    order = scores.sort(stable=True, descending=True)[1]
    boxes = dets[order]
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    suppressed = torch.zeros(len(order), dtype=torch.bool)
    keep = []
    for i in range(len(order)):
        if suppressed[i]:
            continue
        keep.append(i)
        top_left = torch.maximum(boxes[i, :2], boxes[i + 1:, :2])
        bottom_right = torch.minimum(boxes[i, 2:], boxes[i + 1:, 2:])
        wh = (bottom_right - top_left).clamp(min=0)
        inter = wh[:, 0] * wh[:, 1]
        iou = inter / (areas[i] + areas[i + 1:] - inter)
        suppressed[i + 1:] |= iou > iou_threshold
    return order[torch.tensor(keep, dtype=torch.long)]


def _has_ops() -> bool:
    """torchvision.extension._has_ops once nms/roi_align have CPU kernels."""
    return True


def install() -> Any:
    """Defines torchvision's operators (once per process) and imports torchvision.

    Returns the torchvision module. When torchvision's own `_C` loads (a matching
    build), nothing is defined and this is a plain import.
    """
    import sys

    if "torchvision" in sys.modules:
        return sys.modules["torchvision"]
    # Each schema only if missing: tsrt's C++ library (tsrt.torchvision_ops_library()), loaded
    # first, defines those a scripted model calls; the import needs the rest too.
    missing = [schema for schema in SCHEMAS if not _defined(schema.split("(", 1)[0])]
    if missing:
        library = torch.library.Library("torchvision", "FRAGMENT")
        for schema in missing:
            library.define(schema)
        _libraries.append(library)
    torchvision = importlib.import_module("torchvision")
    extension = importlib.import_module("torchvision.extension")
    if not extension._has_ops():
        from torchvision.ops.roi_align import _roi_align

        cpu = torch.library.Library("torchvision", "IMPL", "CPU")
        # Not over C++ kernels already loaded (tsrt's libtsrt_torchvision_ops.so): those serve.
        if not torch._C._dispatch_has_kernel_for_dispatch_key("torchvision::nms", "CPU"):
            cpu.impl("nms", _nms_cpu)
        if not torch._C._dispatch_has_kernel_for_dispatch_key("torchvision::roi_align", "CPU"):
            # torchvision's own pure-torch roi_align (what it uses under torch.compile).
            # __wrapped__: the function under its lazy torch.compile decorator.
            cpu.impl("roi_align", getattr(_roi_align, "__wrapped__", _roi_align))
        _libraries.append(cpu)
        # torchvision.ops asks this before calling its operators; they have CPU kernels now.
        # roi_align imported the function by name: without this it would torch.compile.
        # A named function, not a lambda: scripting (batched_nms is script_if_tracing)
        # compiles it from its source.
        extension._has_ops = _has_ops
        importlib.import_module("torchvision.ops.roi_align")._has_ops = _has_ops
    return torchvision
