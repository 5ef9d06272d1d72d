#include "kernels.h"

#include <ATen/ATen.h>
#include <ATen/Dispatch.h>

#include <algorithm>
#include <vector>

namespace tsrt::torchvision_ops {
namespace {

template <typename T>
at::Tensor nms_typed(const at::Tensor& dets, const at::Tensor& scores, double iou_threshold) {
  const int64_t count = dets.size(0);
  // Stable: equal scores keep their input order, as torchvision's kernel does.
  const at::Tensor order = std::get<1>(scores.sort(/*stable=*/true, /*dim=*/0, /*descending=*/true));
  const at::Tensor boxes = dets.contiguous();
  const T* box = boxes.data_ptr<T>();
  const int64_t* ordered = order.data_ptr<int64_t>();

  std::vector<T> areas(count);
  for (int64_t i = 0; i < count; ++i) {
    areas[i] = (box[4 * i + 2] - box[4 * i]) * (box[4 * i + 3] - box[4 * i + 1]);
  }
  std::vector<char> suppressed(count, 0);
  std::vector<int64_t> keep;
  keep.reserve(count);
  for (int64_t a = 0; a < count; ++a) {
    const int64_t i = ordered[a];
    if (suppressed[i]) continue;
    keep.push_back(i);
    const T* bi = box + 4 * i;
    for (int64_t b = a + 1; b < count; ++b) {
      const int64_t j = ordered[b];
      if (suppressed[j]) continue;
      const T* bj = box + 4 * j;
      const T width = std::max(static_cast<T>(0), std::min(bi[2], bj[2]) - std::max(bi[0], bj[0]));
      const T height = std::max(static_cast<T>(0), std::min(bi[3], bj[3]) - std::max(bi[1], bj[1]));
      const T inter = width * height;
      // Written as torchvision does (no epsilon): a degenerate pair gives NaN, which is not > threshold.
      const T iou = inter / (areas[i] + areas[j] - inter);
      if (iou > iou_threshold) suppressed[j] = 1;
    }
  }
  return at::tensor(keep, at::TensorOptions().dtype(at::kLong));
}

}  // namespace

at::Tensor nms_cpu(const at::Tensor& dets, const at::Tensor& scores, double iou_threshold) {
  TORCH_CHECK(dets.dim() == 2 && dets.size(1) == 4, "torchvision::nms: boxes should be a [N, 4] tensor, got ",
              dets.sizes());
  TORCH_CHECK(scores.dim() == 1 && scores.size(0) == dets.size(0),
              "torchvision::nms: scores should be a [N] tensor matching boxes [N, 4]; got boxes ", dets.sizes(),
              " and scores ", scores.sizes());
  TORCH_CHECK(dets.scalar_type() == scores.scalar_type(), "torchvision::nms: boxes are ", dets.scalar_type(),
              " but scores are ", scores.scalar_type(), "; they should have the same dtype");
  TORCH_CHECK(dets.device().is_cpu(), "torchvision::nms (tsrt's CPU kernel): boxes are on ", dets.device());
  if (dets.numel() == 0) return at::empty({0}, dets.options().dtype(at::kLong));
  at::Tensor keep;
  AT_DISPATCH_FLOATING_TYPES(dets.scalar_type(), "tsrt_nms_cpu",
                             [&] { keep = nms_typed<scalar_t>(dets, scores, iou_threshold); });
  return keep;
}

}  // namespace tsrt::torchvision_ops
