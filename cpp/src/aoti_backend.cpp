#include "aoti_backend.h"

#include <torch/csrc/inductor/aoti_package/model_package_loader.h>
#include <torch/cuda.h>
#include <torch/version.h>

#include <algorithm>
#include <map>
#include <mutex>
#include <optional>
#include <thread>

#include <nlohmann/json.hpp>

#include "archive_check.h"
#include "input_check.h"
#include "package_dir.h"
#include "pytree_spec.h"
#include "tsrt/error.h"
#include "tsrt/metadata.h"

namespace tsrt::detail {
namespace {

// AOTInductor's model container runs concurrent calls on a pool of model instances
// (weights shared; each instance holds one call's state) and makes a caller wait
// while all are busy. One instance per core lets every core run a call.
size_t runner_count() {
  const unsigned cores = std::thread::hardware_concurrency();
  return std::clamp<size_t>(cores == 0 ? 1 : cores, 1, 16);
}

// Refuses a package compiled for another device than the one asked for, before
// the loader dlopens it (a CUDA package on a CPU-only torch fails deep inside).
void check_device(const std::string& path, const std::string& compiled_for, c10::Device device) {
  const std::string wanted = device.is_cuda() ? "cuda" : "cpu";
  if (compiled_for == wanted) return;
  std::string fix;
  if (compiled_for == "cuda" && !torch::cuda::is_available()) {
    fix = "this process has no CUDA (torch built without it, or no GPU visible): run it on a machine with a GPU "
          "and a CUDA build of torch, or re-export for CPU (tsrt export --format aoti on a CPU-only machine)";
  } else if (compiled_for == "cuda") {
    fix = "load it with device 'cuda' (--device cuda), or re-export it for CPU";
  } else if (compiled_for == "cpu") {
    fix = "load it with device 'cpu', or re-export it with the model and example inputs on CUDA";
  } else {
    fix = "tsrt runs packages compiled for cpu or cuda";
  }
  throw Error(ErrorCode::kUnsupported, "AOTInductor package '" + path + "' was compiled for device '" + compiled_for +
                                           "', not " + wanted + ": a compiled package runs only on the device it was "
                                           "compiled for; " + fix);
}

// One compiled model of the package: a loader, and its inputs and outputs as the
// package's call spec describes them.
class CompiledMethod {
 public:
  CompiledMethod(std::unique_ptr<torch::inductor::AOTIModelPackageLoader> loader,
                 const std::vector<std::string>& input_names)
      : loader_(std::move(loader)) {
    const std::vector<std::string> call_spec = loader_->get_call_spec();
    // in_spec is (args, kwargs); tsrt passes every input positionally, kwargs after args.
    const TreeSpec in_spec = parse_tree_spec(call_spec.at(0));
    if (in_spec.kind != TreeSpec::Kind::kTuple || in_spec.children.size() != 2) {
      throw std::invalid_argument("its input spec is not (args, kwargs)");
    }
    for (const TreeSpec& argument : in_spec.children[0].children) inputs_.push_back(argument);
    for (size_t i = 0; i < in_spec.children[1].children.size(); ++i) {
      inputs_.push_back(in_spec.children[1].children[i]);
      keyword_names_.emplace(inputs_.size() - 1, in_spec.children[1].keys[i].toStringRef());
    }
    if (input_names.size() == inputs_.size()) input_names_ = input_names;
    try {
      out_spec_ = parse_tree_spec(call_spec.at(1));
    } catch (const std::exception&) {
      // A namedtuple or a custom class: the outputs come back as a flat tuple.
      out_spec_.reset();
    }
  }

  MethodSignature signature(const std::string& method) const {
    MethodSignature signature;
    signature.method = method;
    for (size_t i = 0; i < inputs_.size(); ++i) {
      ArgumentInfo info;
      auto keyword = keyword_names_.find(i);
      info.name = !input_names_.empty()            ? input_names_[i]
                  : keyword != keyword_names_.end() ? keyword->second
                                                    : "input_" + std::to_string(i);
      info.type = inputs_[i].to_string();
      signature.inputs.push_back(std::move(info));
    }
    signature.return_type = out_spec_ ? out_spec_->to_string() : "Tuple[Tensor, ...]";
    return signature;
  }

  void check_types(const std::string& method, const std::vector<c10::IValue>& inputs) const {
    for (size_t i = 0; i < inputs.size() && i < inputs_.size(); ++i) {
      if (!fits(inputs[i], inputs_[i])) {
        throw Error(ErrorCode::kInvalidArgument, method + "(): input '" + signature(method).inputs[i].name +
                                                     "' expects " + inputs_[i].to_string() + ", got " +
                                                     describe_value(inputs[i]) +
                                                     " (a compiled package takes tensors only)");
      }
    }
  }

  torch::inductor::AOTIModelPackageLoader& loader() const { return *loader_; }

  c10::IValue run(const std::vector<c10::IValue>& inputs) const {
    std::vector<at::Tensor> flat;
    for (const c10::IValue& input : inputs) flatten(input, flat);
    // The loader's container is thread-safe: concurrent calls take model instances
    // from its pool (see runner_count), so no lock here.
    std::vector<at::Tensor> outputs;
    try {
      outputs = loader_->boxed_run(std::move(flat));
    } catch (const std::exception& e) {
      // The runner rethrows c10::Errors as runtime_errors, with LibTorch's backtrace.
      const std::string message = e.what();
      throw std::runtime_error(message.substr(0, message.find("\nException raised from")));
    }
    if (!out_spec_) return c10::ivalue::Tuple::create(std::vector<c10::IValue>(outputs.begin(), outputs.end()));
    size_t next = 0;
    c10::IValue structured = out_spec_->unflatten(outputs, next);
    if (next != outputs.size()) {
      throw std::runtime_error("the package returned " + std::to_string(outputs.size()) + " tensors, its output spec " +
                               out_spec_->to_string() + " holds " + std::to_string(next));
    }
    return structured;
  }

 private:
  static bool fits(const c10::IValue& value, const TreeSpec& spec) {
    switch (spec.kind) {
      case TreeSpec::Kind::kLeaf: return value.isTensor();
      case TreeSpec::Kind::kNone: return value.isNone();
      case TreeSpec::Kind::kTuple:
      case TreeSpec::Kind::kList: {
        std::vector<c10::IValue> elements;
        if (value.isTuple()) {
          elements = value.toTupleRef().elements().vec();
        } else if (value.isList()) {
          elements = value.toList().vec();
        } else {
          return false;
        }
        if (elements.size() != spec.children.size()) return false;
        for (size_t i = 0; i < elements.size(); ++i) {
          if (!fits(elements[i], spec.children[i])) return false;
        }
        return true;
      }
      case TreeSpec::Kind::kDict: return false;  // tsrt passes no dict inputs to packages
    }
    return false;
  }

  static void flatten(const c10::IValue& value, std::vector<at::Tensor>& flat) {
    if (value.isTensor()) {
      // Compiled kernels index inputs with the strides seen at export (contiguous);
      // a transposed or sliced view would be read wrongly.
      flat.push_back(value.toTensor().contiguous());
    } else if (value.isTuple()) {
      for (const c10::IValue& element : value.toTupleRef().elements()) flatten(element, flat);
    } else if (value.isList()) {
      for (const c10::IValue& element : value.toList().vec()) flatten(element, flat);
    }
  }

  std::unique_ptr<torch::inductor::AOTIModelPackageLoader> loader_;
  std::vector<TreeSpec> inputs_;
  std::map<size_t, std::string> keyword_names_;
  std::vector<std::string> input_names_;
  std::optional<TreeSpec> out_spec_;
};

class AotiBackend final : public Backend {
 public:
  explicit AotiBackend(std::map<std::string, std::unique_ptr<CompiledMethod>> methods) : methods_(std::move(methods)) {}

  std::string format() const override { return "aoti"; }

  std::vector<std::string> method_names() const override {
    std::vector<std::string> names;
    for (const auto& [name, method] : methods_) names.push_back(name);
    return names;
  }

  MethodSignature schema_signature(const std::string& method) const override {
    return methods_.at(method)->signature(method);
  }

  void coerce_input_types(const std::string& method, std::vector<c10::IValue>& inputs) const override {
    methods_.at(method)->check_types(method, inputs);
  }

  ModelSummary summary() const override {
    ModelSummary summary;
    summary.runtime_torch_version = TORCH_VERSION;
    summary.compiled = true;
    // Each compiled method carries its own copy of the weights it uses: all are counted.
    for (const auto& [name, method] : methods_) {
      for (const auto& [fqn, tensor] : method->loader().get_runner()->extract_constants_map(/*use_inactive=*/false)) {
        summary.parameter_count += tensor.numel();
        summary.parameter_bytes += static_cast<int64_t>(tensor.numel() * tensor.element_size());
      }
    }
    for (const auto& [key, value] : methods_.begin()->second->loader().get_metadata()) {
      summary.package_metadata.emplace(key, value);
    }
    return summary;
  }

  c10::IValue run(const std::string& method, std::vector<c10::IValue> inputs) const override {
    return methods_.at(method)->run(inputs);
  }

 private:
  std::map<std::string, std::unique_ptr<CompiledMethod>> methods_;
};

// A method's input names from the tsrt metadata: a compiled package does not record them.
std::vector<std::string> input_names(const std::optional<ModelMetadata>& metadata, const std::string& method) {
  std::vector<std::string> names;
  const MethodMetadata* described = metadata ? metadata->method(method) : nullptr;
  if (described != nullptr) {
    for (const TensorSpec& spec : described->inputs) names.push_back(spec.name);
  }
  return names;
}

// What identifies a package's contents: the name, size and CRC-32 of every record.
std::string content_key(const ModelFile& file) {
  std::string key;
  for (const ArchiveEntry& entry : file.entries) {
    key += entry.name + '\0' + std::to_string(entry.inflated_size) + ':' + std::to_string(entry.crc32) + '\n';
  }
  return key;
}

// A package's compiled libraries are never unloaded: they define STB_GNU_UNIQUE
// symbols (C++'s inline statics), for which glibc ignores dlclose. Loaded again from
// a new path, the same library is mapped again: 12 more mappings and ~0.6 MiB per
// load/destroy cycle of a two-method package, measured. dlopen returns a library
// already loaded under the same path name without opening the file, so contents
// loaded before are extracted to the folder name they had then, and a service that
// reloads a model maps its library once.
std::unique_ptr<PrivateDirectory> extraction_folder(const std::string& key) {
  static std::mutex mutex;
  static std::map<std::string, std::string> folder_of;  // content key -> folder name first used
  std::lock_guard<std::mutex> lock(mutex);
  auto found = folder_of.find(key);
  if (found != folder_of.end()) {
    // nullptr when the name is in use: a concurrent load of the same contents, or
    // something else created it. A fresh folder then (one more mapping).
    if (auto again = PrivateDirectory::create_at(found->second)) return again;
    return std::make_unique<PrivateDirectory>();
  }
  auto fresh = std::make_unique<PrivateDirectory>();
  folder_of.emplace(key, fresh->path());
  return fresh;
}

}  // namespace

std::optional<PackageRecord> package_record(const ArchiveEntry& entry) {
  PackageRecord record{record_name(entry.name), ""};
  if (record.relative.empty()) return std::nullopt;
  const std::string prefix = "data/aotinductor/";
  const size_t model_end = record.relative.find('/', prefix.size());
  if (record.relative.rfind(prefix, 0) == 0 && model_end != std::string::npos) {
    record.model = record.relative.substr(prefix.size(), model_end - prefix.size());
  }
  return record;
}

std::string method_of_model(const std::string& model) { return model == "model" ? "forward" : model; }

std::optional<ModelMetadata> read_extra_files(const std::string& path, const ModelFile& file,
                                              std::map<std::string, std::string>& extra_files) {
  for (size_t i = 0; i < file.extra_files.size(); ++i) {
    extra_files[file.extra_files[i]] = read_entry(path, file.extra_entries[i]);
  }
  auto found = extra_files.find(kMetadataFile);
  if (found == extra_files.end()) return std::nullopt;
  return parse_metadata(found->second, path);
}

std::unique_ptr<Backend> load_aoti(const std::string& path, c10::Device device, const ModelFile& file,
                                   std::map<std::string, std::string>& extra_files) {
  const std::optional<ModelMetadata> metadata = read_extra_files(path, file, extra_files);

  // LibTorch's loader would extract every entry by its name into a folder of its
  // own under /tmp. tsrt extracts what the loader needs (the records under data/,
  // the archive's top folder dropped) into a private folder and hands the loader
  // that folder: each file is CRC-checked as it is written, so a flipped byte in
  // the library is refused before it is dlopened.
  // Keyed by where folders go too: a process that changes $TMPDIR gets folders there.
  std::unique_ptr<PrivateDirectory> directory =
      extraction_folder(PrivateDirectory::root() + '\0' + content_key(file));
  std::map<std::string, std::string> libraries, device_metadata;  // by model
  for (const ArchiveEntry& entry : file.entries) {
    const std::optional<PackageRecord> record = package_record(entry);
    if (!record || record->relative.rfind("data/", 0) != 0) continue;
    directory->extract(path, entry, record->relative);
    if (record->model.empty()) continue;
    if (record->ends_with(".so")) libraries[record->model] = record->relative;
    if (record->ends_with("wrapper_metadata.json")) device_metadata[record->model] = read_entry(path, entry);
  }

  for (const std::string& model : file.aoti_models) {
    // Without a compiled library the loader compiles the package's C++ with the
    // compiler command the package itself names: a file must not choose what runs.
    if (!libraries.count(model)) {
      throw Error(ErrorCode::kUnsupported, "AOTInductor package '" + path + "': model " + quote_entry_name(model) +
                                               " has no compiled library (.so), only sources to compile at load; tsrt "
                                               "does not run a compiler named by a file. Package it compiled "
                                               "(aoti_compile_and_package, the default).");
    }
    auto described = device_metadata.find(model);
    if (described == device_metadata.end()) continue;
    nlohmann::json json = nlohmann::json::parse(described->second, nullptr, /*allow_exceptions=*/false);
    if (json.is_object() && json.contains("AOTI_DEVICE_KEY") && json["AOTI_DEVICE_KEY"].is_string()) {
      check_device(path, escape_bytes(json["AOTI_DEVICE_KEY"].get<std::string>()), device);
    }
  }
  std::map<std::string, std::unique_ptr<CompiledMethod>> methods;
  for (const std::string& model : file.aoti_models) {
    const std::string method = method_of_model(model);
    auto loader = std::make_unique<torch::inductor::AOTIModelPackageLoader>(
        directory->path(), model, /*run_single_threaded=*/false, runner_count(),
        device.is_cuda() ? device.index() : static_cast<c10::DeviceIndex>(-1));
    methods.emplace(method, std::make_unique<CompiledMethod>(std::move(loader), input_names(metadata, method)));
  }
  if (methods.empty()) throw std::invalid_argument("the package holds no compiled model");
  // The loaders hold what they need (the mapped libraries, the weights in memory):
  // the folder goes now, so that a process killed while serving leaves nothing behind.
  directory.reset();
  return std::make_unique<AotiBackend>(std::move(methods));
}

}  // namespace tsrt::detail
