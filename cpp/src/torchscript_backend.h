#pragma once
// Backend for TorchScript archives written by torch.jit.save.

#include <map>
#include <memory>
#include <string>

#include <c10/core/Device.h>

#include "backend.h"

namespace tsrt::detail {

/// Loads `path` with torch::jit::load onto `device`, filling `extra_files` with
/// every extra file of the archive. Throws c10::Error / std::exception on failure.
std::unique_ptr<Backend> load_torchscript(const std::string& path, c10::Device device,
                                          std::map<std::string, std::string>& extra_files);

}  // namespace tsrt::detail
