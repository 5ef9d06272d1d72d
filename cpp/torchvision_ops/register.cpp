// Registers tsrt's CPU kernels under torchvision's operator schemas when this library is
// loaded (dlopen: tsrt::LoadOptions::libraries, `infer --load-library`, torch.ops.load_library).
//
// Not TORCH_LIBRARY_FRAGMENT: its registrations throw from a static initialiser (a crash in
// dlopen) when the process already has the schemas, which is the case beside torchvision's
// own _C or tsrt.testing.torchvision_ops. Here each schema is defined only if missing and
// each kernel registered only if the operator has no CPU kernel yet: whichever came first serves.
#include "kernels.h"

#include <ATen/core/dispatch/Dispatcher.h>
#include <torch/library.h>

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

namespace tsrt::torchvision_ops {
namespace {

// torchvision/csrc/ops/*.cpp (torchvision 0.28), every operator a scripted torchvision model
// can name, so that torch::jit::load resolves each call; kernels exist for nms and roi_align.
constexpr const char* kSchemas[] = {
    "torchvision::nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
    "torchvision::roi_align(Tensor input, Tensor rois, float spatial_scale, SymInt pooled_height, "
    "SymInt pooled_width, int sampling_ratio, bool aligned) -> Tensor",
    "torchvision::_roi_align_backward(Tensor grad, Tensor rois, float spatial_scale, SymInt pooled_height, "
    "SymInt pooled_width, SymInt batch_size, SymInt channels, SymInt height, SymInt width, int sampling_ratio, "
    "bool aligned) -> Tensor",
    "torchvision::qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
    "torchvision::box_iou_rotated(Tensor boxes1, Tensor boxes2) -> Tensor",
    "torchvision::ps_roi_align(Tensor input, Tensor rois, float spatial_scale, SymInt pooled_height, "
    "SymInt pooled_width, int sampling_ratio) -> (Tensor, Tensor)",
    "torchvision::roi_pool(Tensor input, Tensor rois, float spatial_scale, SymInt pooled_height, "
    "SymInt pooled_width) -> (Tensor, Tensor)",
    "torchvision::ps_roi_pool(Tensor input, Tensor rois, float spatial_scale, SymInt pooled_height, "
    "SymInt pooled_width) -> (Tensor, Tensor)",
    "torchvision::deform_conv2d(Tensor input, Tensor weight, Tensor offset, Tensor mask, Tensor bias, "
    "SymInt stride_h, SymInt stride_w, SymInt pad_h, SymInt pad_w, SymInt dilation_h, SymInt dilation_w, "
    "SymInt groups, SymInt offset_groups, bool use_mask) -> Tensor",
};

std::string name_of(const std::string& schema) { return schema.substr(0, schema.find('(')); }

bool defined(const std::string& name) {
  return c10::Dispatcher::singleton().findSchema(c10::OperatorName(name, "")).has_value();
}

bool has_cpu_kernel(const std::string& name) {
  auto handle = c10::Dispatcher::singleton().findSchema(c10::OperatorName(name, ""));
  return handle.has_value() && handle->hasKernelForDispatchKey(c10::DispatchKey::CPU);
}

struct Registration {
  std::unique_ptr<torch::Library> schemas;
  std::unique_ptr<torch::Library> kernels;

  Registration() {
    // An exception out of a static initialiser would abort the program inside dlopen.
    try {
      schemas = std::make_unique<torch::Library>(torch::Library::FRAGMENT, "torchvision", std::nullopt,
                                                 __FILE__, __LINE__);
      for (const char* schema : kSchemas) {
        if (!defined(name_of(schema))) schemas->def(schema);
      }
      kernels = std::make_unique<torch::Library>(torch::Library::IMPL, "torchvision", c10::DispatchKey::CPU,
                                                 __FILE__, __LINE__);
      if (!has_cpu_kernel("torchvision::nms")) kernels->impl("nms", TORCH_FN(nms_cpu));
      if (!has_cpu_kernel("torchvision::roi_align")) kernels->impl("roi_align", TORCH_FN(roi_align_cpu));
    } catch (const c10::Error& error) {
      std::fprintf(stderr, "libtsrt_torchvision_ops: could not register torchvision's operators: %s\n",
                   error.what_without_backtrace());
    }
  }
};

// Lives as long as the library is loaded: the registrations go with it.
const Registration registration;

}  // namespace
}  // namespace tsrt::torchvision_ops
