#include "torchscript_backend.h"

#include <ATen/autocast_mode.h>
#include <torch/csrc/jit/serialization/python_print.h>
#include <torch/script.h>
#include <torch/version.h>

#include <set>

#include "fused_shapes.h"
#include "input_check.h"
#include "ivalue_map.h"
#include "torchscript_optimize.h"
#include "tsrt/error.h"

namespace tsrt::detail {
namespace {

// Turns on autocast to `dtype` on this thread for one call, and restores the
// previous state: autocast is thread-local, and the caller's thread is not ours.
class AutocastScope {
 public:
  AutocastScope(c10::DeviceType device_type, c10::ScalarType dtype)
      : device_type_(device_type),
        was_enabled_(at::autocast::is_autocast_enabled(device_type)),
        previous_dtype_(at::autocast::get_autocast_dtype(device_type)) {
    at::autocast::set_autocast_dtype(device_type, dtype);
    at::autocast::set_autocast_enabled(device_type, true);
  }
  ~AutocastScope() {
    at::autocast::set_autocast_enabled(device_type_, was_enabled_);
    at::autocast::set_autocast_dtype(device_type_, previous_dtype_);
  }
  AutocastScope(const AutocastScope&) = delete;
  AutocastScope& operator=(const AutocastScope&) = delete;

 private:
  c10::DeviceType device_type_;
  bool was_enabled_;
  c10::ScalarType previous_dtype_;
};

// The graphs `node` can run besides its own blocks: a called function's or
// method's, a fork's or awaitable's subgraph. A method of an interface is chosen
// at run time; the summary walks every module's methods, so it sees them anyway.
std::vector<std::shared_ptr<torch::jit::Graph>> called_graphs(torch::jit::Node* node) {
  std::vector<std::shared_ptr<torch::jit::Graph>> graphs;
  if (node->hasAttribute(torch::jit::attr::Subgraph) &&
      node->kindOf(torch::jit::attr::Subgraph) == torch::jit::AttributeKind::g) {
    graphs.push_back(node->g(torch::jit::attr::Subgraph));
  }
  auto add_function = [&](torch::jit::Function* function) {
    if (function == nullptr) return;
    if (torch::jit::GraphFunction* graph_function = torch::jit::tryToGraphFunction(*function)) {
      graphs.push_back(graph_function->graph());
    }
  };
  if (node->kind() == c10::prim::CallFunction && node->inputs().size() > 0) {
    if (auto function_type = node->input(0)->type()->cast<c10::FunctionType>()) add_function(function_type->function());
  } else if (node->kind() == c10::prim::CallMethod && node->inputs().size() > 0) {
    if (auto class_type = node->input(0)->type()->cast<c10::ClassType>()) {
      add_function(class_type->findMethod(node->s(torch::jit::attr::name)));
    }
  }
  return graphs;
}

class TorchScriptBackend final : public Backend {
 public:
  TorchScriptBackend(torch::jit::Module module, c10::Device device) : module_(std::move(module)), device_(device) {}

  std::string format() const override { return "torchscript"; }

  void optimize(const OptimizeOptions& options, bool fixed_shapes, std::vector<std::string>& applied) override {
    OptimizedModule optimized = optimize_torchscript(std::move(module_), options, device_, fixed_shapes, applied);
    module_ = std::move(optimized.module);
    compute_dtype_ = precision_dtype(options.precision);
    graph_executor_optimize_ = optimized.graph_executor_optimize;
    onednn_fusion_ = optimized.onednn_fusion;
    if (optimized.fuse_per_shape) {
      fused_shapes_ = std::make_unique<FusedShapes>(std::move(*optimized.fuse_per_shape),
                                                    static_cast<size_t>(options.onednn_fusion_shapes));
    }
  }

  // Fused per shape, one call at the declared shapes compiles them.
  int warmup_calls_wanted() const override { return onednn_fusion_ ? kOneDnnCompileCalls : fused_shapes_ ? 1 : 0; }

  std::vector<std::string> runtime_report() const override {
    return fused_shapes_ ? fused_shapes_->report() : std::vector<std::string>{};
  }

  std::vector<std::string> method_names() const override {
    std::vector<std::string> names;
    for (const auto& method : module_.get_methods()) {
      names.push_back(method.name());
    }
    return names;
  }

  MethodSignature schema_signature(const std::string& method) const override {
    const c10::FunctionSchema& schema = module_.get_method(method).function().getSchema();
    MethodSignature signature;
    signature.method = method;
    const auto& arguments = schema.arguments();
    // Argument 0 is the module itself.
    for (size_t i = 1; i < arguments.size(); ++i) {
      const c10::Argument& argument = arguments[i];
      ArgumentInfo info;
      info.name = argument.name();
      info.type = argument.type()->annotation_str();
      if (argument.default_value()) {
        info.has_default = true;
        std::ostringstream printed;
        printed << *argument.default_value();
        info.default_value = printed.str();
      }
      signature.inputs.push_back(std::move(info));
    }
    if (schema.returns().size() == 1) {
      signature.return_type = schema.returns()[0].type()->annotation_str();
    }
    return signature;
  }

  void coerce_input_types(const std::string& method, std::vector<c10::IValue>& inputs) const override {
    const c10::FunctionSchema& schema = module_.get_method(method).function().getSchema();
    for (size_t i = 0; i < inputs.size() && i + 1 < schema.arguments().size(); ++i) {
      const c10::Argument& argument = schema.arguments()[i + 1];
      if (inputs[i].isInt() && argument.type()->kind() == c10::TypeKind::FloatType) {
        inputs[i] = static_cast<double>(inputs[i].toInt());
      }
      if (!inputs[i].type()->isSubtypeOf(*argument.type())) {
        throw Error(ErrorCode::kInvalidArgument,
                    method + "(): input '" + argument.name() + "' expects " + argument.type()->annotation_str() +
                        ", got " + describe_value(inputs[i]) + " (type " + inputs[i].type()->annotation_str() + ")");
      }
    }
  }

  ModelSummary summary() const override {
    ModelSummary summary;
    summary.runtime_torch_version = TORCH_VERSION;
    std::set<std::string> custom, devices;
    std::set<const c10::TensorImpl*> seen;  // a weight shared by two graphs counts once
    auto count_tensor = [&](const at::Tensor& tensor) {
      if (tensor.defined() && seen.insert(tensor.unsafeGetTensorImpl()).second) {
        summary.parameter_count += tensor.numel();
        summary.parameter_bytes += static_cast<int64_t>(tensor.numel() * tensor.element_size());
      }
    };
    // Every graph that can run: each method's, and those it reaches through calls
    // (prim::CallFunction, prim::CallMethod) and fork/await subgraphs, each once.
    std::set<const torch::jit::Graph*> walked;
    std::function<void(torch::jit::Block*)> walk;
    auto walk_graph = [&](const std::shared_ptr<torch::jit::Graph>& graph) {
      if (graph && walked.insert(graph.get()).second) walk(graph->block());
    };
    walk = [&](torch::jit::Block* block) {
      for (torch::jit::Node* node : block->nodes()) {
        for (const std::shared_ptr<torch::jit::Graph>& callee : called_graphs(node)) walk_graph(callee);
        const std::string kind = node->kind().toQualString();
        if (node->kind() == c10::prim::Constant) {
          const auto value = torch::jit::toIValue(node->output());
          if (value && value->isTensor()) count_tensor(value->toTensor());
          if (value && value->isDevice()) devices.insert(value->toDevice().str());
        } else {
          ++summary.operators[kind];
          const std::string ns = node->kind().ns().toUnqualString();
          if (ns != "aten" && ns != "prim") custom.insert(kind);
        }
        for (torch::jit::Block* sub : node->blocks()) walk(sub);
      }
    };
    for (const auto& submodule : module_.modules()) {
      for (const auto& method : submodule.get_methods()) walk_graph(method.graph());
    }
    // And every function the file defines (free functions, methods of script
    // classes, hooks), called from a graph or not: what is in the file can run.
    for (torch::jit::Function* function : module_._ivalue()->compilation_unit()->get_functions()) {
      if (torch::jit::GraphFunction* graph_function = torch::jit::tryToGraphFunction(*function)) {
        walk_graph(graph_function->graph());
      }
    }
    for (const auto& parameter : module_.parameters()) count_tensor(parameter);
    for (const auto& buffer : module_.buffers()) count_tensor(buffer);
    summary.custom_operators.assign(custom.begin(), custom.end());
    for (const auto& [op, count] : summary.operators) {
      if (reaches_outside_tensors(op)) summary.audit_operators.push_back(op);
    }
    summary.device_constants.assign(devices.begin(), devices.end());

    std::vector<c10::IValue> constants;
    torch::jit::PrintDepsTable deps;
    torch::jit::PythonPrint printer(constants, deps);
    if (auto forward = module_.find_method("forward")) {
      printer.printMethod(forward->function());
      summary.forward_code = printer.str();
    }
    return summary;
  }

  c10::IValue run(const std::string& method, std::vector<c10::IValue> inputs) const override {
    // get_method is const and Method::operator() runs the function's executor,
    // which LibTorch guards for concurrent callers; the module itself is shared.
    if (fused_shapes_) {  // float32 only, as oneDNN fusion is
      if (std::optional<c10::IValue> output = fused_shapes_->run(method, inputs)) return std::move(*output);
    }
    CallScope scope(graph_executor_optimize_, onednn_fusion_);
    if (compute_dtype_ == at::kFloat) return module_.get_method(method)(std::move(inputs));
    // float32 inputs are cast on entry: a traced convolution is aten::_convolution,
    // which autocast leaves alone, so it must see activations of its weights' type.
    // Autocast covers tensors the graph makes itself (a traced mask's dtype=float).
    const c10::ScalarType lowered = compute_dtype_;
    for (auto& input : inputs) {
      input = map_tensors(input, [lowered](const at::Tensor& t) { return t.scalar_type() == at::kFloat ? t.to(lowered) : t; });
    }
    c10::IValue output;
    {
      AutocastScope autocast(device_.type(), compute_dtype_);
      output = module_.get_method(method)(std::move(inputs));
    }
    return map_tensors(output, [lowered](const at::Tensor& t) { return t.scalar_type() == lowered ? t.to(at::kFloat) : t; });
  }

 private:
  torch::jit::Module module_;
  c10::Device device_;
  c10::ScalarType compute_dtype_ = at::kFloat;  // or the lower precision the outputs come back from
  bool graph_executor_optimize_ = true;         // LibTorch's own default until optimize() says otherwise
  bool onednn_fusion_ = false;
  std::unique_ptr<FusedShapes> fused_shapes_;  // a file with dynamic dimensions, oneDNN fusion on
};

}  // namespace

std::unique_ptr<Backend> load_torchscript(const std::string& path, c10::Device device,
                                          std::map<std::string, std::string>& extra_files) {
  torch::jit::ExtraFilesMap wanted(extra_files.begin(), extra_files.end());
  torch::jit::Module module = torch::jit::load(path, device, wanted);
  module.eval();
  for (auto& [name, contents] : wanted) {
    extra_files[name] = std::move(contents);
  }
  return std::make_unique<TorchScriptBackend>(std::move(module), device);
}

}  // namespace tsrt::detail
