#include "tsrt/model.h"

#include <ATen/Parallel.h>
#include <c10/core/InferenceMode.h>
#include <c10/util/Exception.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <sstream>

#include "aoti_backend.h"
#include "archive_code.h"
#include "backend.h"
#include "input_check.h"
#include "intra_op_threads.h"
#include "ivalue_map.h"
#include "fused_shapes.h"
#include "model_file.h"
#include "one_thread_scope.h"
#include "thread_probe.h"
#include "torchscript_backend.h"
#include "tsrt/device.h"
#include "tsrt/input_tree.h"
#include "tsrt/libraries.h"

namespace tsrt {
namespace detail {

// Everything a loaded model holds. Immutable after load, hence safe to share
// between threads.
class LoadedModel {
 public:
  std::string path;
  std::string label;  // the file name, for messages
  c10::Device device{c10::kCPU};
  bool check_inputs = true;
  bool inference_mode = true;
  std::vector<std::string> optimizations;
  double load_ms = 0;
  std::unique_ptr<Backend> backend;
  std::map<std::string, std::string> extra_files;
  std::optional<ModelMetadata> metadata;
  std::vector<std::string> method_names;
  // Signatures are read once at load: run() consults them on every call.
  std::map<std::string, MethodSignature> signatures;
  // Calls of this method (forward's entry in `signatures`, when its threads were
  // probed) with at most `one_thread_up_to` input elements run on one thread.
  const MethodSignature* one_thread_method = nullptr;
  int64_t one_thread_up_to = -1;
};

}  // namespace detail

namespace {

std::string file_label(const std::string& path) {
  return std::filesystem::path(path).filename().string();
}

// Moves every tensor inside `value` (nested in lists, tuples, dicts) to `device`.
c10::IValue to_device(const c10::IValue& value, c10::Device device) {
  return detail::map_tensors(value, [device](const at::Tensor& t) { return t.device() == device ? t : t.to(device); });
}

// The first line of LibTorch's message that says what happened, without the
// TorchScript traceback that precedes it in interpreter errors.
std::string summarize_torch_error(const std::string& message) {
  std::istringstream lines(message);
  std::string line, last_error;
  while (std::getline(lines, line)) {
    if (line.find("Error: ") != std::string::npos && line.find("Traceback") == std::string::npos) last_error = line;
  }
  return last_error.empty() ? message : last_error;
}

// True when the file's metadata declares every input of every method with no
// dynamic dimension: load-time compilation for those shapes then serves every call.
// A list that varies in length, or a None that a scripted call may replace, is not one shape.
bool varies(const InputNode& node) {
  if (node.variable_length || (node.kind == InputNode::Kind::kNone && !node.fixed)) return true;
  if (node.kind == InputNode::Kind::kTensor) return !node.spec.dynamic_dims.empty();
  return std::any_of(node.items.begin(), node.items.end(), varies);
}

bool declares_fixed_shapes(const std::optional<ModelMetadata>& metadata) {
  if (!metadata) return false;
  for (const auto& [method, described] : metadata->methods) {
    if (std::any_of(described.input_nodes.begin(), described.input_nodes.end(), varies)) return false;
  }
  return true;
}

// Specs and trees from the file's metadata onto the schema's arguments, matched by
// name. Arguments a trace bound (fixed scalars, None) are not in the schema: they
// join the signature in the Python method's order, so that a call passes arguments
// as eager takes them, and run() drops them before the graph sees them.
void describe_arguments(const MethodMetadata& described, MethodSignature& signature) {
  auto node_named = [&](const std::string& name) -> const InputNode* {
    for (const InputNode& node : described.input_nodes) {
      if (node.name == name) return &node;
    }
    return nullptr;
  };
  for (auto& argument : signature.inputs) {
    const InputNode* node = node_named(argument.name);
    if (node == nullptr) continue;
    if (node->kind == InputNode::Kind::kTensor) {
      argument.spec = node->spec;
    } else {
      argument.tree = std::make_shared<const InputNode>(*node);
    }
  }
  const bool binds = std::any_of(described.input_nodes.begin(), described.input_nodes.end(),
                                 [](const InputNode& node) { return node.is_fixed(); });
  if (!binds) return;
  signature.has_fixed_inputs = true;
  std::vector<ArgumentInfo> ordered;
  std::vector<bool> placed(signature.inputs.size(), false);
  for (const InputNode& node : described.input_nodes) {
    auto found = std::find_if(signature.inputs.begin(), signature.inputs.end(),
                              [&](const ArgumentInfo& a) { return a.name == node.name; });
    if (found != signature.inputs.end()) {
      placed[found - signature.inputs.begin()] = true;
      ordered.push_back(*found);
    } else if (node.is_fixed()) {
      ArgumentInfo fixed;
      fixed.name = node.name;
      fixed.type = node.type_string();
      fixed.has_default = true;
      fixed.default_value = node.value_string();
      fixed.tree = std::make_shared<const InputNode>(node);
      fixed.fixed = true;
      ordered.push_back(std::move(fixed));
    }
  }
  for (size_t i = 0; i < signature.inputs.size(); ++i) {
    if (!placed[i]) ordered.push_back(signature.inputs[i]);
  }
  signature.inputs = std::move(ordered);
}

// The inputs without the fixed arguments, which the captured graph does not take.
void drop_fixed(const MethodSignature& signature, std::vector<c10::IValue>& inputs) {
  std::vector<c10::IValue> kept;
  kept.reserve(inputs.size());
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (i >= signature.inputs.size() || !signature.inputs[i].fixed) kept.push_back(std::move(inputs[i]));
  }
  inputs = std::move(kept);
}

// The inputs `method` takes, all with declared shapes; empty when any is not declared.
std::vector<TensorSpec> declared_inputs(const MethodSignature& signature) {
  std::vector<TensorSpec> specs;
  for (const ArgumentInfo& argument : signature.inputs) {
    if (!argument.spec) return {};
    specs.push_back(*argument.spec);
  }
  return specs;
}

// Probes forward on one thread against the loading thread's count (see
// tsrt/optimize.h, adaptive_threads) and fixes the choice before the model is shared.
void choose_threads(detail::LoadedModel& loaded, const Model& model, bool warmed_up, uint64_t max_input_bytes) {
  if (!loaded.device.is_cpu()) return;
  auto forward = loaded.signatures.find("forward");
  if (forward == loaded.signatures.end()) return;
  detail::apply_intra_op_threads();  // the count run() gives this thread
  const int threads = at::get_num_threads();
  if (threads <= 1) return;  // nothing to choose; no line either, as on CUDA
  const std::vector<TensorSpec> specs = declared_inputs(forward->second);
  if (specs.empty()) {
    loaded.optimizations.push_back("threads per call: always " + std::to_string(threads) +
                                   " (not probed: forward's input shapes are not in the metadata)");
    return;
  }
  // The probe's sizes are not requests: they must not take oneDNN fusion slots, and
  // the one-thread question is the same fused or not.
  detail::UnfusedOnThisThread unfused;
  const detail::ThreadChoice choice = detail::probe_threads(
      specs, [&](const std::vector<c10::IValue>& inputs) { model.forward(inputs); }, threads, warmed_up,
      max_input_bytes);
  loaded.one_thread_method = &forward->second;
  loaded.one_thread_up_to = choice.one_thread_up_to;
  loaded.optimizations.push_back(choice.report);
}

// What describe_only leaves of the options: the file as written, nothing run on it.
LoadOptions describing(const LoadOptions& options) {
  LoadOptions described = options;
  described.optimize.freeze = false;
  described.optimize.optimize_for_inference = false;
  described.optimize.onednn_fusion = false;
  described.optimize.graph_executor_optimize = false;
  described.optimize.adaptive_threads = false;
  described.optimize.warmup_runs = 0;
  return described;
}

// torch::jit::load runs a class's __setstate__ while it restores the object, before
// any check on the loaded graphs: the archive's code is read first, as text.
// The keys of `operators` (sorted maps keyed by operator name) for which `keep` holds, as "a, b".
template <typename Operators, typename Keep>
std::string operators_where(const Operators& operators, Keep keep) {
  std::string joined;
  for (const auto& [op, unused] : operators) {
    if (keep(op)) joined += (joined.empty() ? "" : ", ") + op;
  }
  return joined;
}

// Both allow-list checks, on the code before loading and on the loaded graphs, refuse alike.
template <typename Operators>
void refuse_outside_allow_list(const std::string& path, const Operators& operators,
                               const std::vector<std::string>& allow_list, const std::string& found_where) {
  const std::string refused =
      operators_where(operators, [&](const std::string& op) { return !operator_allowed(op, allow_list); });
  if (!refused.empty()) {
    throw Error(ErrorCode::kInvalidModel, "model file '" + path + "' uses operators outside the allow-list: " +
                                              refused + found_where +
                                              ". Review them (tsrt inspect --audit) before allowing them.");
  }
}

void check_code_before_load(const std::string& path, const detail::ModelFile& file, const LoadOptions& options) {
  const detail::ArchiveCode code = detail::scan_archive_code(path, file.entries);
  if (options.allowed_operators) {
    std::string where;
    for (const auto& [op, record] : code.operators) {
      if (!operator_allowed(op, *options.allowed_operators)) {
        where = record;
        break;
      }
    }
    refuse_outside_allow_list(path, code.operators, *options.allowed_operators,
                              " (read from its code, " + where + ", before loading: none of it ran)");
  }
  if (options.describe_only && !code.runs_at_load.empty()) {
    const std::string outside = operators_where(code.operators, reaches_outside_tensors);
    if (!outside.empty()) {
      throw Error(ErrorCode::kUnsupported,
                  "model file '" + path + "' defines __setstate__ (" + code.runs_at_load.front() +
                      "), which torch::jit::load runs, and its code calls " + outside +
                      ": tsrt does not run a file's code to describe it (tsrt inspect --audit lists its code's "
                      "operators without loading it)");
    }
  }
}

}  // namespace

Model::Model(std::shared_ptr<const detail::LoadedModel> loaded) : loaded_(std::move(loaded)) {}

Model Model::load(const std::string& path, const LoadOptions& requested) {
  const LoadOptions options = requested.describe_only ? describing(requested) : requested;
  const auto start = std::chrono::steady_clock::now();
  auto loaded = std::make_shared<detail::LoadedModel>();
  loaded->path = path;
  loaded->label = file_label(path);
  loaded->device = parse_device(options.device);
  loaded->check_inputs = options.check_inputs;
  loaded->inference_mode = options.optimize.inference_mode;

  // Before the file: torch::jit::load resolves every operator the code calls as it reads it.
  for (const std::string& library : options.libraries) load_library(library);
  const detail::ModelFile file = detail::identify_model_file(path);  // throws kIO / kInvalidModel
  const bool package = file.format == detail::ModelFormat::kAOTInductor;
  // Refused before loading: loading a package dlopens its library, which runs its code.
  if (options.allowed_operators && package) {
    throw Error(ErrorCode::kUnsupported, "model file '" + path + "' is a compiled AOTInductor package: its operators "
                                         "are machine code and cannot be checked against an allow-list. Review the "
                                         "model's source, or use a TorchScript export with the allow-list.");
  }
  if (!package && (options.allowed_operators || options.describe_only)) check_code_before_load(path, file, options);
  // The storages' checksums are verified on a second thread while LibTorch loads:
  // on BERT-base (438 MB) that leaves ~20 ms of the CRC work showing. A damaged
  // storage still fails the load below, before the model is returned.
  // torch::jit::load returns only the extra files it is asked for by name.
  for (const std::string& name : file.extra_files) loaded->extra_files.emplace(name, "");
  // A package's storages are checked inside load_aoti, before its library is loaded.
  auto storages_checked = std::async(std::launch::async, [&] {
    if (!package && options.verify_checksums) detail::check_checksums(path, file.unchecked_storages);
  });
  try {
    if (package && options.describe_only) {
      loaded->backend = detail::describe_aoti(path, file, loaded->extra_files);
    } else if (package) {
      loaded->backend = detail::load_aoti(path, loaded->device, file, loaded->extra_files);
    } else {
      loaded->backend = detail::load_torchscript(path, loaded->device, loaded->extra_files);
    }
  } catch (const Error&) {
    throw;  // already says what is wrong (a damaged package, another device)
  } catch (const c10::Error& e) {
    throw Error(ErrorCode::kInvalidModel, detail::explain_load_failure(path, e.what_without_backtrace()));
  } catch (const std::exception& e) {
    throw Error(ErrorCode::kInvalidModel, detail::explain_load_failure(path, e.what()));
  }
  storages_checked.get();  // rethrows Error(kInvalidModel) naming a damaged storage
  auto meta = loaded->extra_files.find(kMetadataFile);
  if (meta != loaded->extra_files.end()) {
    loaded->metadata = parse_metadata(meta->second, path);
  }
  if (options.allowed_operators) {
    refuse_outside_allow_list(path, loaded->backend->summary().operators, *options.allowed_operators, "");
  }
  try {
    loaded->backend->optimize(options.optimize, declares_fixed_shapes(loaded->metadata), loaded->optimizations);
  } catch (const c10::Error& e) {
    throw Error(ErrorCode::kInvalidModel, "model file '" + path + "' could not be optimised: " +
                                              summarize_torch_error(e.what_without_backtrace()) +
                                              "; load it with the optimisations off (see tsrt/optimize.h)");
  }
  loaded->method_names = loaded->backend->method_names();
  for (const std::string& method : loaded->method_names) {
    MethodSignature signature = loaded->backend->schema_signature(method);
    const MethodMetadata* described = loaded->metadata ? loaded->metadata->method(method) : nullptr;
    if (described != nullptr) {
      signature.output_names = described->output_names;
      describe_arguments(*described, signature);
    }
    loaded->signatures.emplace(method, std::move(signature));
  }
  loaded->optimizations.push_back(loaded->inference_mode ? "c10::InferenceMode on every call"
                                                         : "InferenceMode off (autograd state is kept)");
  Model model(loaded);
  const int warmup_runs = std::max(options.optimize.warmup_runs, loaded->backend->warmup_calls_wanted());
  if (warmup_runs > 0) {
    loaded->optimizations.push_back(model.warm_up(warmup_runs));
  }
  if (options.optimize.adaptive_threads) choose_threads(*loaded, model, warmup_runs > 0, options.max_input_bytes);
  loaded->load_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  return model;
}

std::string Model::warm_up(int runs) const {
  std::string warmed;
  for (const std::string& method : loaded_->method_names) {
    const MethodSignature& signature = signature_of(method);
    const std::vector<TensorSpec> specs = declared_inputs(signature);
    if (specs.empty()) continue;  // shapes not declared
    const std::vector<c10::IValue> inputs = random_inputs(specs);
    for (int run_index = 0; run_index < runs; ++run_index) run(method, inputs);
    warmed += (warmed.empty() ? "" : ", ") + method;
  }
  return warmed.empty() ? "warm-up skipped: no method has its input shapes in the metadata"
                        : "warmed up " + warmed + " (" + std::to_string(runs) + " calls at the declared shapes)";
}

const std::string& Model::path() const { return loaded_->path; }
c10::Device Model::device() const { return loaded_->device; }
std::string Model::format() const { return loaded_->backend->format(); }
const std::vector<std::string>& Model::optimizations() const { return loaded_->optimizations; }
std::vector<std::string> Model::runtime_report() const { return loaded_->backend->runtime_report(); }
double Model::load_ms() const { return loaded_->load_ms; }
std::vector<std::string> Model::method_names() const { return loaded_->method_names; }

bool Model::has_method(const std::string& method) const { return loaded_->signatures.count(method) != 0; }

const std::map<std::string, std::string>& Model::extra_files() const { return loaded_->extra_files; }
const std::optional<ModelMetadata>& Model::metadata() const { return loaded_->metadata; }

MethodSignature Model::signature(const std::string& method) const { return signature_of(method); }

const MethodSignature& Model::signature_of(const std::string& method) const {
  auto found = loaded_->signatures.find(method);
  if (found == loaded_->signatures.end()) {
    std::string known;
    for (const auto& name : loaded_->method_names) known += (known.empty() ? "" : ", ") + name;
    throw Error(ErrorCode::kInvalidArgument, "model '" + loaded_->label + "' has no method '" + method +
                                                 "'; its methods are: " + known);
  }
  return found->second;
}

c10::IValue Model::run(const std::string& method, std::vector<c10::IValue> inputs) const {
  const MethodSignature& signature = signature_of(method);
  detail::check_inputs(loaded_->label, signature, inputs, loaded_->check_inputs);
  if (signature.has_fixed_inputs) drop_fixed(signature, inputs);
  loaded_->backend->coerce_input_types(method, inputs);
  for (auto& input : inputs) input = to_device(input, loaded_->device);

  // The inputs are kept (a reference each) to describe them if the call fails:
  // formatting their shapes on every call cost more than a small model's forward.
  const std::vector<c10::IValue> kept = inputs;
  detail::apply_intra_op_threads();
  // Fixed at load; per call only a sum of sizes and, below the choice, two
  // thread-local counts set and put back (also when the call throws).
  std::optional<detail::OneThreadScope> one_thread;
  if (&signature == loaded_->one_thread_method && detail::tensor_elements(inputs) <= loaded_->one_thread_up_to) {
    one_thread.emplace();
  }
  try {
    std::optional<c10::InferenceMode> inference_mode;
    if (loaded_->inference_mode) inference_mode.emplace();
    return loaded_->backend->run(method, std::move(inputs));
  } catch (const c10::Error& e) {
    const std::string message = e.what_without_backtrace();
    throw Error(ErrorCode::kRuntime, "model '" + loaded_->label + "' failed in " + method + "(" +
                                         detail::describe_inputs(signature, kept) +
                                         "): " + summarize_torch_error(message) + "\n" + message);
  } catch (const std::exception& e) {
    throw Error(ErrorCode::kRuntime,
                "model '" + loaded_->label + "' failed in " + method + "(" + detail::describe_inputs(signature, kept) +
                    "): " + e.what());
  }
}

c10::IValue Model::run(const std::string& method, const std::map<std::string, c10::IValue>& inputs) const {
  const MethodSignature& signature = signature_of(method);
  std::vector<c10::IValue> ordered;
  size_t used = 0;
  for (const ArgumentInfo& argument : signature.inputs) {
    auto found = inputs.find(argument.name);
    if (found == inputs.end() && argument.fixed) {
      ordered.push_back(argument.tree->value);  // the value it was fixed to (None for a None)
      continue;
    }
    if (found == inputs.end()) {
      if (argument.has_default) break;  // the remaining arguments take their defaults
      throw Error(ErrorCode::kInvalidArgument, "model '" + loaded_->label + "': missing input '" +
                                                   argument.name + "' of " + signature.to_string());
    }
    ordered.push_back(found->second);
    ++used;
  }
  if (used != inputs.size()) {
    for (const auto& [name, value] : inputs) {
      bool known = std::any_of(signature.inputs.begin(), signature.inputs.end(),
                               [&](const ArgumentInfo& a) { return a.name == name; });
      if (!known) {
        throw Error(ErrorCode::kInvalidArgument, "model '" + loaded_->label + "': unknown input '" + name +
                                                     "'; " + signature.to_string());
      }
    }
    throw Error(ErrorCode::kInvalidArgument, "model '" + loaded_->label +
                                                 "': inputs after a missing optional one must be passed too; " +
                                                 signature.to_string());
  }
  return run(method, std::move(ordered));
}

ModelSummary Model::summary() const { return loaded_->backend->summary(); }

c10::IValue Model::forward(std::vector<c10::IValue> inputs) const { return run("forward", std::move(inputs)); }

}  // namespace tsrt
