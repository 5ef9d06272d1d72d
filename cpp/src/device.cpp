#include "tsrt/device.h"

#include <c10/util/Exception.h>
#include <torch/cuda.h>

#include "tsrt/error.h"

namespace tsrt {

c10::Device parse_device(const std::string& text) {
  c10::Device device(c10::kCPU);
  try {
    device = c10::Device(text);
  } catch (const c10::Error&) {
    throw Error(ErrorCode::kInvalidArgument, "unknown device '" + text + "'; expected cpu, cuda or cuda:N");
  }
  if (device.is_cpu()) return device;
  if (!device.is_cuda()) {
    throw Error(ErrorCode::kInvalidArgument, "device '" + text + "' is not supported; tsrt runs on cpu and cuda");
  }
  // A device this machine lacks is a wrong option here, not a model failure.
  if (!torch::cuda::is_available()) {
    throw Error(ErrorCode::kInvalidArgument, "device '" + text +
                                             "' requested, but this torch has no CUDA support or no GPU is visible; "
                                             "use --device cpu, or build tsrt against a CUDA build of torch");
  }
  const int64_t count = static_cast<int64_t>(torch::cuda::device_count());
  const int64_t index = device.has_index() ? device.index() : 0;
  if (index >= count) {
    throw Error(ErrorCode::kInvalidArgument, "device '" + text + "' requested, but only " + std::to_string(count) +
                                             " GPU(s) are visible (cuda:0 to cuda:" + std::to_string(count - 1) + ")");
  }
  return c10::Device(c10::kCUDA, static_cast<c10::DeviceIndex>(index));
}

}  // namespace tsrt
