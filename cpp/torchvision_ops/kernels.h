#pragma once
// CPU kernels of torchvision's detection operators, written for tsrt from the
// algorithms torchvision documents (torchvision/csrc/ops/cpu/*_kernel.cpp has the
// same semantics). register.cpp puts them under torchvision's exact schemas, so a
// TorchScript file that calls torchvision::nms runs from C++ without torchvision.
#include <ATen/core/Tensor.h>

namespace tsrt::torchvision_ops {

/// Greedy non-maximum suppression. dets: [N, 4] boxes (x1, y1, x2, y2), scores: [N].
/// Boxes are visited by decreasing score (ties keep input order); a box is dropped when
/// its IoU with a kept box is greater than iou_threshold. Returns the kept indices
/// (int64, [K]) in decreasing score order. Throws c10::Error on bad shapes/dtypes.
at::Tensor nms_cpu(const at::Tensor& dets, const at::Tensor& scores, double iou_threshold);

/// RoIAlign (He et al., Mask R-CNN). input: [N, C, H, W]; rois: [K, 5] rows of
/// (batch index, x1, y1, x2, y2) in input coordinates / spatial_scale. Each of the
/// pooled_height x pooled_width bins averages bilinear samples on a regular grid of
/// sampling_ratio^2 points (sampling_ratio <= 0: ceil(roi size / pooled size) per axis).
/// aligned=true shifts box coordinates by -0.5 pixel (pixel centres). Returns [K, C, PH, PW].
at::Tensor roi_align_cpu(const at::Tensor& input, const at::Tensor& rois, double spatial_scale,
                         int64_t pooled_height, int64_t pooled_width, int64_t sampling_ratio, bool aligned);

}  // namespace tsrt::torchvision_ops
