#include "torchscript_optimize.h"

#include <ATen/cpu/Utils.h>
#include <c10/util/Exception.h>
#include <torch/csrc/jit/ir/ir.h>
#include <torch/csrc/jit/passes/onednn_graph_fuser.h>
#include <torch/csrc/jit/passes/tensorexpr_fuser.h>

#include <functional>
#include <memory>
#include <mutex>

#include "onednn_linear.h"
#include "tsrt/error.h"

namespace tsrt::detail {
namespace {

// A frozen module keeps no parameters or buffers: freezing made them constants.
bool holds_weights(const torch::jit::Module& module) {
  return module.parameters().size() > 0 || module.buffers().size() > 0;
}

// Every method but forward must survive freezing and optimisation by name.
std::vector<std::string> other_methods(const torch::jit::Module& module) {
  std::vector<std::string> names;
  for (const auto& method : module.get_methods()) {
    if (method.name() != "forward") names.push_back(method.name());
  }
  return names;
}

// Casts the float32 tensor constants of every graph (the frozen weights) to
// `dtype`. 0-dim constants stay: they are scalars such as eps or a mask's fill
// value, which lose meaning in 8 bits of mantissa and cost nothing to keep.
int cast_weight_constants(torch::jit::Module& module, c10::ScalarType dtype) {
  int cast = 0;
  std::function<void(torch::jit::Block*)> walk = [&](torch::jit::Block* block) {
    for (torch::jit::Node* node : block->nodes()) {
      if (node->kind() == c10::prim::Constant && node->hasAttribute(c10::attr::value) &&
          node->kindOf(c10::attr::value) == torch::jit::AttributeKind::t) {
        const at::Tensor& tensor = node->t(c10::attr::value);
        if (tensor.scalar_type() == at::kFloat && tensor.dim() > 0) {
          at::Tensor lowered = tensor.to(dtype);
          node->output()->inferTypeFrom(lowered);
          node->t_(c10::attr::value, std::move(lowered));
          ++cast;
        }
      }
      for (torch::jit::Block* sub : node->blocks()) walk(sub);
    }
  };
  for (const auto& submodule : module.modules()) {
    for (const auto& method : submodule.get_methods()) walk(method.graph()->block());
  }
  return cast;
}

bool uses_convolution(const torch::jit::Module& module) {
  for (const auto& method : module.get_methods()) {
    for (const torch::jit::Node* node : method.graph()->nodes()) {
      const std::string kind = node->kind().toQualString();
      if (kind == "aten::_convolution" || kind == "aten::conv1d" || kind == "aten::conv2d" || kind == "aten::conv3d") {
        return true;
      }
    }
  }
  return false;
}

}  // namespace

namespace {
// Fusion windows open on this thread. The profiling executor compiles a graph on the
// thread that calls it, so the pass below fuses only the graphs of a call that asked.
thread_local int windows_on_this_thread = 0;

void fuse_inside_a_window(std::shared_ptr<torch::jit::Graph>& graph) {
  if (windows_on_this_thread > 0) torch::jit::fuser::onednn::fuseGraph(graph);
}
}  // namespace

OneDnnFusionWindow::OneDnnFusionWindow() {
  // Registered once, never removed. Registering the fuser itself while a window was
  // open anywhere (RegisterLlgaFuseGraph::setEnabled) fused the TorchScript that other
  // threads compiled meanwhile (5 of 6 compiles in test_optimize), and changed
  // LibTorch's pass list under executors that were reading it.
  static std::once_flag registered;
  std::call_once(registered, [] { torch::jit::registerPrePass(fuse_inside_a_window); });
  ++windows_on_this_thread;
}

OneDnnFusionWindow::~OneDnnFusionWindow() { --windows_on_this_thread; }

namespace {

bool cpu_has(const std::string& feature) {
  static const auto capabilities = at::cpu::get_cpu_capabilities();
  const auto found = capabilities.find(feature);
  return found != capabilities.end() && found->second.isBool() && found->second.toBool();
}

// Refuses what cannot run; returns a warning for what runs slowly.
std::string check_precision_supported(Precision precision, c10::Device device) {
  if (!device.is_cpu() || precision == Precision::kFloat32) return "";
  if (precision == Precision::kFloat16 && !cpu_has("amx_fp16") && !cpu_has("avx512_fp16")) {
    throw Error(ErrorCode::kUnsupported,
                "precision fp16 on CPU needs float16 matrix units (AMX-FP16 or AVX512-FP16), which this processor "
                "lacks; use bf16 on CPU, or fp16 on CUDA");
  }
  if (precision == Precision::kBFloat16 && !cpu_has("amx_bf16") && !cpu_has("avx512_bf16")) {
    return "warning: this CPU has no bfloat16 matrix units (AMX-BF16, AVX512-BF16): bf16 is emulated and "
           "slower than fp32 here";
  }
  return "";
}

}  // namespace

c10::ScalarType precision_dtype(Precision precision) {
  switch (precision) {
    case Precision::kBFloat16:
      return at::kBFloat16;
    case Precision::kFloat16:
      return at::kHalf;
    case Precision::kFloat32:
      break;
  }
  return at::kFloat;
}

OptimizedModule optimize_torchscript(torch::jit::Module module, const OptimizeOptions& options, c10::Device device,
                                     bool fixed_shapes, std::vector<std::string>& applied) {
  OptimizedModule result;
  result.graph_executor_optimize = options.graph_executor_optimize;
  const std::string precision_warning = check_precision_supported(options.precision, device);
  bool frozen = !holds_weights(module);
  if (frozen) {
    applied.push_back("frozen in the file (weights are graph constants)");
  } else if (options.freeze) {
    try {
      // In float32 even for a lower precision: batchnorm folds into the
      // convolutions at full precision, and the constants are cast after.
      module = torch::jit::freeze(module, other_methods(module));
      frozen = true;
      applied.push_back("froze the module (torch::jit::freeze)");
    } catch (const c10::Error& e) {
      applied.push_back(std::string("not frozen: ") + e.what_without_backtrace());
    }
  } else {
    applied.push_back("not frozen (freeze off)");
  }

  if (options.precision != Precision::kFloat32) {
    if (!frozen) module.to(precision_dtype(options.precision));
    const int cast = cast_weight_constants(module, precision_dtype(options.precision));
    applied.push_back("precision " + to_string(options.precision) + ": " + std::to_string(cast) +
                      " weight tensors cast, compute under autocast, float32 inputs and outputs");
    if (!precision_warning.empty()) applied.push_back(precision_warning);
  }

  const bool could_fuse = options.onednn_fusion && frozen && device.is_cpu() &&
                          options.precision == Precision::kFloat32 && uses_convolution(module);
  if (options.onednn_fusion_shapes < 0) {
    throw Error(ErrorCode::kInvalidArgument, "onednn_fusion_shapes must not be negative");
  }
  // The fused partitions are compiled for the shapes of the first calls; another
  // shape falls back to an unfused graph, slower than optimize_for_inference. So a
  // file with dynamic dimensions gets a fused clone per shape (fused_shapes.h).
  const bool fuse_with_onednn = could_fuse && fixed_shapes;
  if (could_fuse && !fixed_shapes) {
    if (options.onednn_fusion_shapes > 0) {
      result.fuse_per_shape = module.clone();  // optimize_for_inference below rewrites `module` in place
      applied.push_back("oneDNN Graph fusion per input shape: each new shape is compiled at its first call (" +
                        std::to_string(kOneDnnCompileCalls) + " calls), up to " +
                        std::to_string(options.onednn_fusion_shapes) +
                        " shapes; other shapes run the optimize_for_inference graph");
    } else {
      applied.push_back("oneDNN Graph fusion per input shape off (onednn_fusion_shapes 0)");
    }
  }
  if (fuse_with_onednn) {
    result.onednn_fusion = true;
    result.graph_executor_optimize = true;
    applied.push_back("oneDNN Graph fusion of convolutions with their bias/batchnorm/add/ReLU (compiled at the "
                      "first two calls of each input shape; load warms up the declared ones)");
  } else if (!options.optimize_for_inference) {
    applied.push_back("optimize_for_inference off");
  } else if (!frozen) {
    applied.push_back("optimize_for_inference skipped: it needs a frozen module");
  } else if (options.precision != Precision::kFloat32) {
    // Its oneDNN conversion pre-packs float32 weights only; autocast picks the
    // lower-precision oneDNN kernels by itself.
    applied.push_back("optimize_for_inference skipped: float32 only");
  } else {
    // Before optimize_for_inference, which turns a linear with a constant weight into a
    // matmul on the transposed weight (FrozenLinearTranspose) that this pass cannot see.
    if (device.is_cpu() && !uses_convolution(module)) {
      try {
        const int packed = prepack_linears_for_onednn(module);
        if (packed > 0) {
          applied.push_back("oneDNN linears: " + std::to_string(packed) +
                            " weights pre-packed (mkldnn::_linear_pointwise instead of MKL's sgemm)");
        }
      } catch (const c10::Error& e) {
        applied.push_back(std::string("oneDNN linears not pre-packed: ") + e.what_without_backtrace());
      }
    }
    try {
      module = torch::jit::optimize_for_inference(module, other_methods(module));
      applied.push_back("optimize_for_inference (conv/batchnorm folding, oneDNN weight pre-packing)");
    } catch (const c10::Error& e) {
      applied.push_back(std::string("optimize_for_inference failed, running unoptimised: ") +
                        e.what_without_backtrace());
    }
  }
  applied.push_back(result.graph_executor_optimize
                        ? "graph executor: profiling and re-optimising (LibTorch default); InferenceMode is lifted around "
                          "the graph (no_grad instead): its tensors fail the executor's guards on every call"
                        : "graph executor: runs the optimised graph as is");
  result.module = std::move(module);
  return result;
}

}  // namespace tsrt::detail
