#pragma once
// Backend for TorchScript archives written by torch.jit.save.

#include <map>
#include <memory>
#include <string>

#include <c10/core/Device.h>

#include "backend.h"
#include "tsrt/optimize.h"

namespace tsrt::detail {

/// Loads `path` with torch::jit::load onto `device`, filling in the contents of
/// `extra_files` (keys: the names to read), and optimises it as `options` say,
/// appending the steps to `applied`. Throws c10::Error / std::exception.
std::unique_ptr<Backend> load_torchscript(const std::string& path, c10::Device device,
                                          std::map<std::string, std::string>& extra_files,
                                          const OptimizeOptions& options, std::vector<std::string>& applied);

}  // namespace tsrt::detail
