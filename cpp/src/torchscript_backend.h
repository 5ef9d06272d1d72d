#pragma once
// Backend for TorchScript archives written by torch.jit.save.

#include <map>
#include <memory>
#include <string>

#include <c10/core/Device.h>

#include "backend.h"

namespace tsrt::detail {

/// Loads `path` with torch::jit::load onto `device`, filling in the contents of
/// `extra_files` (keys: the names to read). Throws c10::Error / std::exception.
std::unique_ptr<Backend> load_torchscript(const std::string& path, c10::Device device,
                                          std::map<std::string, std::string>& extra_files);

}  // namespace tsrt::detail
