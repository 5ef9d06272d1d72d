#include "kernels.h"

#include <ATen/ATen.h>
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>

namespace tsrt::torchvision_ops {
namespace {

// Bilinear sample of one H x W plane at (y, x); 0 outside [-1, H] x [-1, W], edge
// values clamped inside, exactly as Mask R-CNN's reference RoIAlign does.
template <typename T>
T bilinear(const T* plane, int64_t height, int64_t width, T y, T x) {
  if (y < -1.0 || y > height || x < -1.0 || x > width) return 0;
  if (y <= 0) y = 0;
  if (x <= 0) x = 0;
  int64_t y_low = static_cast<int64_t>(y);
  int64_t x_low = static_cast<int64_t>(x);
  int64_t y_high;
  int64_t x_high;
  if (y_low >= height - 1) {
    y_high = y_low = height - 1;
    y = static_cast<T>(y_low);
  } else {
    y_high = y_low + 1;
  }
  if (x_low >= width - 1) {
    x_high = x_low = width - 1;
    x = static_cast<T>(x_low);
  } else {
    x_high = x_low + 1;
  }
  const T ly = y - y_low;
  const T lx = x - x_low;
  const T hy = 1 - ly;
  const T hx = 1 - lx;
  return hy * hx * plane[y_low * width + x_low] + hy * lx * plane[y_low * width + x_high] +
         ly * hx * plane[y_high * width + x_low] + ly * lx * plane[y_high * width + x_high];
}

template <typename T>
void roi_align_typed(const at::Tensor& input, const at::Tensor& rois, T spatial_scale, int64_t pooled_height,
                     int64_t pooled_width, int64_t sampling_ratio, bool aligned, at::Tensor& output) {
  const int64_t channels = input.size(1);
  const int64_t height = input.size(2);
  const int64_t width = input.size(3);
  const T* data = input.data_ptr<T>();
  const T* roi_data = rois.data_ptr<T>();
  T* out = output.data_ptr<T>();
  const int64_t batch = input.size(0);
  // One RoI per task: RoIs are independent and write disjoint slices of the output.
  at::parallel_for(0, rois.size(0), 1, [&](int64_t begin, int64_t end) {
    for (int64_t n = begin; n < end; ++n) {
      const T* roi = roi_data + 5 * n;
      const int64_t batch_index = static_cast<int64_t>(roi[0]);
      TORCH_CHECK(batch_index >= 0 && batch_index < batch, "torchvision::roi_align: RoI ", n,
                  " names batch index ", batch_index, " of an input with ", batch, " images");
      const T offset = aligned ? static_cast<T>(0.5) : static_cast<T>(0);
      const T start_w = roi[1] * spatial_scale - offset;
      const T start_h = roi[2] * spatial_scale - offset;
      T roi_width = roi[3] * spatial_scale - offset - start_w;
      T roi_height = roi[4] * spatial_scale - offset - start_h;
      if (!aligned) {  // the legacy behaviour: malformed RoIs count as 1x1
        roi_width = std::max(roi_width, static_cast<T>(1));
        roi_height = std::max(roi_height, static_cast<T>(1));
      }
      const T bin_h = roi_height / static_cast<T>(pooled_height);
      const T bin_w = roi_width / static_cast<T>(pooled_width);
      const int64_t grid_h =
          sampling_ratio > 0 ? sampling_ratio : static_cast<int64_t>(std::ceil(roi_height / pooled_height));
      const int64_t grid_w =
          sampling_ratio > 0 ? sampling_ratio : static_cast<int64_t>(std::ceil(roi_width / pooled_width));
      const T count = static_cast<T>(std::max<int64_t>(grid_h * grid_w, 1));
      for (int64_t c = 0; c < channels; ++c) {
        const T* plane = data + (batch_index * channels + c) * height * width;
        T* out_plane = out + (n * channels + c) * pooled_height * pooled_width;
        for (int64_t ph = 0; ph < pooled_height; ++ph) {
          for (int64_t pw = 0; pw < pooled_width; ++pw) {
            T sum = 0;
            for (int64_t iy = 0; iy < grid_h; ++iy) {
              const T y = start_h + ph * bin_h + (iy + static_cast<T>(0.5)) * bin_h / static_cast<T>(grid_h);
              for (int64_t ix = 0; ix < grid_w; ++ix) {
                const T x = start_w + pw * bin_w + (ix + static_cast<T>(0.5)) * bin_w / static_cast<T>(grid_w);
                sum += bilinear(plane, height, width, y, x);
              }
            }
            out_plane[ph * pooled_width + pw] = sum / count;
          }
        }
      }
    }
  });
}

}  // namespace

at::Tensor roi_align_cpu(const at::Tensor& input, const at::Tensor& rois, double spatial_scale,
                         int64_t pooled_height, int64_t pooled_width, int64_t sampling_ratio, bool aligned) {
  TORCH_CHECK(input.dim() == 4, "torchvision::roi_align: input should be [N, C, H, W], got ", input.sizes());
  TORCH_CHECK(rois.dim() == 2 && rois.size(1) == 5,
              "torchvision::roi_align: rois should be [K, 5] (batch index, x1, y1, x2, y2), got ", rois.sizes());
  TORCH_CHECK(input.scalar_type() == rois.scalar_type(), "torchvision::roi_align: input is ",
              input.scalar_type(), " but rois are ", rois.scalar_type(), "; they should have the same dtype");
  TORCH_CHECK(pooled_height > 0 && pooled_width > 0, "torchvision::roi_align: output size should be positive, got ",
              pooled_height, "x", pooled_width);
  TORCH_CHECK(input.device().is_cpu(), "torchvision::roi_align (tsrt's CPU kernel): input is on ", input.device());
  at::Tensor output = at::zeros({rois.size(0), input.size(1), pooled_height, pooled_width}, input.options());
  if (output.numel() == 0) return output;
  const at::Tensor input_c = input.contiguous();
  const at::Tensor rois_c = rois.contiguous();
  AT_DISPATCH_FLOATING_TYPES(input.scalar_type(), "tsrt_roi_align_cpu", [&] {
    roi_align_typed<scalar_t>(input_c, rois_c, static_cast<scalar_t>(spatial_scale), pooled_height, pooled_width,
                              sampling_ratio, aligned, output);
  });
  return output;
}

}  // namespace tsrt::torchvision_ops
