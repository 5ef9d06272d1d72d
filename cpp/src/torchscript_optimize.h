#pragma once
// Load-time optimisation of a TorchScript module: freezing, optimize_for_inference
// and lower-precision weights, as OptimizeOptions asks.

#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <ATen/core/grad_mode.h>
#include <c10/core/Device.h>
#include <c10/core/InferenceMode.h>
#include <torch/csrc/jit/api/module.h>
#include <torch/csrc/jit/runtime/graph_executor.h>

#include "tsrt/optimize.h"

namespace tsrt::detail {

/// While one exists, LibTorch's profiling executor runs the oneDNN Graph fuser on
/// the graphs it compiles on this thread (it compiles a new input shape inside the
/// call). The fuser is a process-wide pre-pass, registered once and acting only on a
/// thread inside a window: TorchScript that other threads compile, at the same time
/// or later, is compiled without it.
class OneDnnFusionWindow {
 public:
  OneDnnFusionWindow();
  ~OneDnnFusionWindow();
  OneDnnFusionWindow(const OneDnnFusionWindow&) = delete;
  OneDnnFusionWindow& operator=(const OneDnnFusionWindow&) = delete;
};

/// What one call of an optimised module runs under, set on the calling thread for the
/// call only (as Triton's PyTorch backend does): LibTorch's graph executor optimising
/// or not; when it optimises, InferenceMode lifted for no_grad (the profiling
/// executor's guards fail on InferenceMode tensors and recompile every call: ~140 ms
/// instead of ~0.6 ms for the zoo CNN); and a OneDnnFusionWindow for a fused module.
class CallScope {
 public:
  CallScope(bool graph_executor_optimize, bool onednn_fusion) : optimizer_(graph_executor_optimize) {
    if (graph_executor_optimize) {
      no_inference_mode_.emplace(false);
      no_grad_.emplace();
    }
    if (onednn_fusion) window_.emplace();
  }

 private:
  torch::jit::GraphOptimizerEnabledGuard optimizer_;
  std::optional<c10::InferenceMode> no_inference_mode_;
  std::optional<at::NoGradGuard> no_grad_;
  std::optional<OneDnnFusionWindow> window_;
};

struct OptimizedModule {
  torch::jit::Module module;
  /// Run with LibTorch's graph executor optimising (oneDNN fusion needs it).
  bool graph_executor_optimize = false;
  /// Run every call inside a OneDnnFusionWindow; load must then make
  /// kOneDnnCompileCalls calls at the declared shapes before serving.
  bool onednn_fusion = false;
  /// Set for a file with dynamic dimensions whose graph oneDNN fusion would serve:
  /// the frozen module before optimize_for_inference, for FusedShapes to clone per
  /// input shape; `module` is then the optimize_for_inference graph for the rest.
  std::optional<torch::jit::Module> fuse_per_shape;
};

/// The profiling executor profiles on the first call of a shape and compiles (and
/// fuses) on the second.
constexpr int kOneDnnCompileCalls = 2;

/// Returns the module to run and how. oneDNN fusion compiles at load when
/// `fixed_shapes` (the file declares no dynamic dimension), per shape otherwise. Appends a line per step to `applied`,
/// including the steps that were skipped and why (a module that cannot be frozen
/// still runs). Throws Error(kUnsupported) for a precision the device cannot run.
OptimizedModule optimize_torchscript(torch::jit::Module module, const OptimizeOptions& options, c10::Device device,
                                     bool fixed_shapes, std::vector<std::string>& applied);

/// The scalar type of `precision` (kFloat for kFloat32).
c10::ScalarType precision_dtype(Precision precision);

}  // namespace tsrt::detail
