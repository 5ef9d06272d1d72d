#pragma once
// Load-time optimisation of a TorchScript module: freezing, optimize_for_inference
// and lower-precision weights, as OptimizeOptions asks.

#include <string>
#include <vector>

#include <c10/core/Device.h>
#include <torch/csrc/jit/api/module.h>

#include "tsrt/optimize.h"

namespace tsrt::detail {

/// Returns the module to run. Appends a line per step to `applied`, including the
/// steps that were skipped and why (a module that cannot be frozen still runs).
/// Throws Error(kUnsupported) for a precision the device cannot run.
torch::jit::Module optimize_torchscript(torch::jit::Module module, const OptimizeOptions& options,
                                        c10::Device device, std::vector<std::string>& applied);

/// The scalar type of `precision` (kFloat for kFloat32).
c10::ScalarType precision_dtype(Precision precision);

}  // namespace tsrt::detail
