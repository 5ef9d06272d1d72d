"""Detection models (torchvision's RetinaNet, SSD/SSDlite, FCOS, Faster R-CNN): a list
of images of different sizes in, a list of per-image dicts out.

A model file's contract describes tensors, so `tsrt.export(detector, ([img1, img2],),
path)` exports a wrapper, `DetectionModel`, instead:

    forward(images: Tensor[N, 3, H, W], image_sizes: int64 Tensor[N, 2])
        -> (boxes [K, 4], scores [K], labels [K], num_detections int64 [N])

images are the list's images zero-padded to the largest height and width (image i is
images[i, :, :image_sizes[i, 0], :image_sizes[i, 1]]); the outputs are every image's
detections concatenated in image order, num_detections[i] of them for image i. Any
list length and any image sizes run through one file. `batch_images` and
`split_detections` convert from and to the model's own structures.

The wrapper is scripted, not traced: a detector's output count depends on the data,
and torchvision supports scripting its detectors (scripted, they return
`(losses, detections)`, which the wrapper unpacks).
"""

from __future__ import annotations

import copy
from typing import Any, Dict, List, Optional, Sequence, Tuple

import torch

#: The outputs of a DetectionModel file, in order.
OUTPUT_NAMES = ("boxes", "scores", "labels", "num_detections")
#: The inputs of a DetectionModel file, in order.
INPUT_NAMES = ("images", "image_sizes")
#: The parity tolerance of a DetectionModel file unless one is given: boxes in pixels,
#: scores in [0, 1]. Not fitted from eager float32 vs float64 as for other models: in
#: float64 a random-weight detector keeps other boxes (near-equal scores reorder), which
#: "measures" a noise of hundreds of pixels. Measured C++ vs eager: 0 to 1e-4.
TOLERANCE = {"atol": 1e-3, "rtol": 1e-4}


class DetectionModel(torch.nn.Module):
    """A torchvision-style detector (List[Tensor] -> List[Dict[str, Tensor]]) with tensor
    inputs and outputs (see the module docstring)."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, images: torch.Tensor, image_sizes: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor,
                                                                              torch.Tensor, torch.Tensor]:
        batch: List[torch.Tensor] = []
        for i in range(images.shape[0]):
            # Slicing clamps: a size past the padded one takes the whole image.
            batch.append(images[i, :, :int(image_sizes[i, 0]), :int(image_sizes[i, 1])])
        if torch.jit.is_scripting():
            detections = self.model(batch)[1]  # scripted torchvision detectors: (losses, detections)
        else:
            detections = self.model(batch)
        return _concatenate(detections, images.device)


def _concatenate(detections: List[Dict[str, torch.Tensor]], device: torch.device) -> Tuple[
        torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    boxes: List[torch.Tensor] = []
    scores: List[torch.Tensor] = []
    labels: List[torch.Tensor] = []
    counts: List[int] = []
    for detection in detections:
        boxes.append(detection["boxes"])
        scores.append(detection["scores"])
        labels.append(detection["labels"])
        counts.append(detection["boxes"].shape[0])
    if len(boxes) == 0:  # torch.cat refuses an empty list
        return (torch.zeros((0, 4), device=device), torch.zeros((0,), device=device),
                torch.zeros((0,), dtype=torch.long, device=device), torch.zeros((0,), dtype=torch.long, device=device))
    return (torch.cat(boxes), torch.cat(scores), torch.cat(labels),
            torch.tensor(counts, dtype=torch.long, device=device))


def batch_images(images: Sequence[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """(images [N, C, Hmax, Wmax] zero-padded, image_sizes int64 [N, 2]): a DetectionModel
    file's inputs for a list of [C, H, W] images."""
    if not images:
        raise ValueError("batch_images: the list of images is empty")
    channels = images[0].shape[0]
    height = max(int(image.shape[1]) for image in images)
    width = max(int(image.shape[2]) for image in images)
    padded = images[0].new_zeros((len(images), channels, height, width))
    for i, image in enumerate(images):
        padded[i, :, :image.shape[1], :image.shape[2]] = image
    sizes = torch.tensor([[int(image.shape[1]), int(image.shape[2])] for image in images], dtype=torch.long)
    return padded, sizes


def split_detections(boxes: torch.Tensor, scores: torch.Tensor, labels: torch.Tensor,
                     num_detections: torch.Tensor) -> list[dict[str, torch.Tensor]]:
    """A DetectionModel file's outputs back as the detector's List[Dict[str, Tensor]]."""
    result, start = [], 0
    for count in num_detections.tolist():
        result.append({"boxes": boxes[start:start + count], "scores": scores[start:start + count],
                       "labels": labels[start:start + count]})
        start += count
    return result


def is_detection_example(example_inputs: Any) -> bool:
    """True for a detector's example: one list of [3, H, W] image tensors (sizes may differ)."""
    if not isinstance(example_inputs, (list, tuple)) or len(example_inputs) != 1:
        return False
    images = example_inputs[0]
    return (isinstance(images, list) and len(images) > 0
            and all(isinstance(image, torch.Tensor) and image.dim() == 3 for image in images))


def is_detector(module: torch.nn.Module, example_inputs: Any) -> bool:
    """A detector called on a list of images that returns a list of dicts with boxes,
    scores and labels (what torchvision's detection models return in eval mode)."""
    if not is_detection_example(example_inputs):
        return False
    with torch.no_grad():
        try:
            output = module.eval()(list(example_inputs[0]))
        except Exception:  # noqa: BLE001 - not a detector's call; the normal path reports it
            return False
    return (isinstance(output, list) and len(output) == len(example_inputs[0])
            and all(isinstance(item, dict) and {"boxes", "scores", "labels"} <= item.keys() for item in output))


def _eager_resize(image: torch.Tensor, min_size: int, max_size: int) -> torch.Tensor:
    """torchvision's eval-mode resize as its eager code does it: the scale in double
    precision. Its TorchScript branch computes it in float32, which makes some images a
    pixel smaller (77x91 to 127x151, not 128x151, at min_size 128) and every detection of
    them differ from eager."""
    height, width = image.shape[-2], image.shape[-1]
    scale = min(float(min_size) / float(min(height, width)), float(max_size) / float(max(height, width)))
    return torch.nn.functional.interpolate(image[None], size=None, scale_factor=scale, mode="bilinear",
                                           recompute_scale_factor=True, align_corners=False)[0]


def _eager_resize_transform(transform: torch.nn.Module) -> torch.nn.Module | None:
    """A copy of torchvision's GeneralizedRCNNTransform whose resize follows eager in
    TorchScript too, or None when `transform` is something else (or a fixed size: SSD)."""
    try:
        from torchvision.models.detection.transform import GeneralizedRCNNTransform, resize_boxes
    except ImportError:
        return None
    if type(transform) is not GeneralizedRCNNTransform or transform.fixed_size is not None:
        return None

    class EagerResizeTransform(GeneralizedRCNNTransform):
        def resize(self, image: torch.Tensor, target: Optional[Dict[str, torch.Tensor]] = None) -> Tuple[
                torch.Tensor, Optional[Dict[str, torch.Tensor]]]:
            height, width = image.shape[-2], image.shape[-1]
            size = self.min_size[-1] if not self.training else self.torch_choice(self.min_size)
            image = _eager_resize(image, size, self.max_size)
            if target is None:
                return image, target
            target["boxes"] = resize_boxes(target["boxes"], [height, width], [image.shape[-2], image.shape[-1]])
            return image, target

    replaced = copy.copy(transform)
    replaced.__class__ = EagerResizeTransform
    return replaced


def _with_eager_resize(module: torch.nn.Module, findings: list[str]) -> torch.nn.Module:
    """`module`, or a shallow copy of it (the user's model is not changed) whose transform
    resizes as eager does (see _eager_resize)."""
    transform = getattr(module, "transform", None)
    replaced = _eager_resize_transform(transform) if isinstance(transform, torch.nn.Module) else None
    if replaced is None:
        return module
    clone = copy.copy(module)
    clone._modules = dict(module._modules)  # copy.copy shares the submodule dict
    clone.transform = replaced
    findings.append("torchvision's transform computes the resize scale in float32 when scripted and in double in "
                    "eager, so some image sizes come out a pixel smaller in TorchScript: the file resizes as "
                    "eager does")
    return clone


def wrap(module: torch.nn.Module, example_inputs: Any, findings: list[str] | None = None) -> tuple[
        DetectionModel, tuple[torch.Tensor, torch.Tensor]]:
    """The DetectionModel around `module` and its example inputs (padded images, sizes);
    what was changed to make the file match eager goes to `findings`."""
    module = _with_eager_resize(module, findings if findings is not None else [])
    return DetectionModel(module).eval(), batch_images(list(example_inputs[0]))
