#pragma once
// Operator libraries: shared objects that register custom operators (such as
// torchvision::nms) with LibTorch when loaded. A TorchScript file that calls one
// cannot be loaded until its library is in the process; tsrt::Model::load loads
// LoadOptions::libraries first, and a program may call load_library itself.
//
//   tsrt::LoadOptions options;
//   options.libraries.push_back(tsrt::torchvision_ops_library());
//   auto model = tsrt::Model::load("retinanet.pt", options);

#include <string>

namespace tsrt {

/// Loads the shared object at `path` (dlopen, RTLD_NOW | RTLD_GLOBAL) so that the
/// operators it registers are there for the models loaded afterwards. Loading a
/// library twice is harmless. Throws Error(kIO) when `path` does not exist, and
/// Error(kInvalidArgument) with the loader's message when it is not a loadable
/// library (wrong architecture, a missing dependency, an undefined symbol).
void load_library(const std::string& path);

/// The path of libtsrt_torchvision_ops.so installed beside libtsrt: CPU kernels of
/// torchvision::nms and torchvision::roi_align under torchvision's own schemas (the
/// operators torchvision's detection models call), for a program without torchvision.
/// Empty when it is not installed there.
std::string torchvision_ops_library();

}  // namespace tsrt
