#pragma once
// Load-time optimisation of a TorchScript module: freezing, optimize_for_inference
// and lower-precision weights, as OptimizeOptions asks.

#include <mutex>
#include <string>
#include <vector>

#include <c10/core/Device.h>
#include <torch/csrc/jit/api/module.h>

#include "tsrt/optimize.h"

namespace tsrt::detail {

/// While one exists, LibTorch's profiling executor runs the oneDNN Graph fuser on
/// the graphs it compiles. The fuser is a process-wide pass: it is on only while
/// tsrt warms up a model that asked for it (its compiled plan keeps the fusion),
/// so other TorchScript in the process (Python's, other models') never sees it.
/// Windows are serialised.
class OneDnnFusionWindow {
 public:
  OneDnnFusionWindow();
  ~OneDnnFusionWindow();
  OneDnnFusionWindow(const OneDnnFusionWindow&) = delete;
  OneDnnFusionWindow& operator=(const OneDnnFusionWindow&) = delete;

 private:
  static std::mutex& mutex();
  std::lock_guard<std::mutex> lock_;
};

struct OptimizedModule {
  torch::jit::Module module;
  /// Run with LibTorch's graph executor optimising (oneDNN fusion needs it).
  bool graph_executor_optimize = false;
  /// Calls at the declared shapes that load should make before serving.
  int warmup_calls = 0;
  /// Compile those calls inside a OneDnnFusionWindow.
  bool onednn_fusion = false;
};

/// Returns the module to run and how. Appends a line per step to `applied`,
/// including the steps that were skipped and why (a module that cannot be frozen
/// still runs). Throws Error(kUnsupported) for a precision the device cannot run.
OptimizedModule optimize_torchscript(torch::jit::Module module, const OptimizeOptions& options, c10::Device device,
                                     std::vector<std::string>& applied);

/// The scalar type of `precision` (kFloat for kFloat32).
c10::ScalarType precision_dtype(Precision precision);

}  // namespace tsrt::detail
