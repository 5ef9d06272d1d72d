// A compiled package described from its archive alone: what `infer --info` and
// `tsrt inspect` show without loading the package's library. dlopen runs a
// library's constructors, so describing a file by loading it would run its code.

#include <torch/version.h>

#include <nlohmann/json.hpp>

#include "aoti_backend.h"
#include "archive_check.h"
#include "tsrt/error.h"
#include "tsrt/metadata.h"

namespace tsrt::detail {
namespace {

constexpr const char* kModelName = "model";  // aoti_compile_and_package's one model: forward

class DescribedPackage final : public Backend {
 public:
  DescribedPackage(std::string path, std::map<std::string, MethodSignature> methods,
                   std::map<std::string, std::string> package_metadata, int64_t parameter_count,
                   int64_t parameter_bytes)
      : path_(std::move(path)),
        methods_(std::move(methods)),
        package_metadata_(std::move(package_metadata)),
        parameter_count_(parameter_count),
        parameter_bytes_(parameter_bytes) {}

  std::string format() const override { return "aoti"; }
  void optimize(const OptimizeOptions&, bool, std::vector<std::string>& applied) override {
    applied.push_back("described only: the package's library was not loaded");
  }
  std::vector<std::string> method_names() const override {
    std::vector<std::string> names;
    for (const auto& [name, signature] : methods_) names.push_back(name);
    return names;
  }
  MethodSignature schema_signature(const std::string& method) const override { return methods_.at(method); }
  void coerce_input_types(const std::string&, std::vector<c10::IValue>&) const override { refuse(); }
  ModelSummary summary() const override {
    ModelSummary summary;
    summary.runtime_torch_version = TORCH_VERSION;
    summary.compiled = true;
    summary.parameter_count = parameter_count_;  // 0 when the package was not exported by tsrt
    summary.parameter_bytes = parameter_bytes_;
    summary.package_metadata = package_metadata_;
    return summary;
  }
  c10::IValue run(const std::string&, std::vector<c10::IValue>) const override { refuse(); }

 private:
  [[noreturn]] void refuse() const {
    throw Error(ErrorCode::kUnsupported, "model file '" + path_ + "' was loaded to be described only "
                                         "(LoadOptions::describe_only): load it without that option to run it");
  }

  std::string path_;
  std::map<std::string, MethodSignature> methods_;
  std::map<std::string, std::string> package_metadata_;
  int64_t parameter_count_;
  int64_t parameter_bytes_;
};

bool ends_with(const std::string& text, const std::string& suffix) {
  return text.size() >= suffix.size() && text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

std::unique_ptr<Backend> describe_aoti(const std::string& path, const ModelFile& file,
                                       std::map<std::string, std::string>& extra_files) {
  for (size_t i = 0; i < file.extra_files.size(); ++i) {
    extra_files[file.extra_files[i]] = read_entry(path, file.extra_entries[i]);
  }
  std::optional<ModelMetadata> metadata;
  int64_t parameter_count = 0, parameter_bytes = 0;
  auto found = extra_files.find(kMetadataFile);
  if (found != extra_files.end()) {
    metadata = parse_metadata(found->second, path);
    // Written by tsrt's export: the weights are inside the library, which is not loaded here.
    const nlohmann::json document = nlohmann::json::parse(found->second, nullptr, /*allow_exceptions=*/false);
    if (document.is_object() && document.contains("parameters") && document["parameters"].is_object()) {
      const nlohmann::json& totals = document["parameters"];
      if (totals.contains("count") && totals["count"].is_number_integer()) parameter_count = totals["count"].get<int64_t>();
      if (totals.contains("bytes") && totals["bytes"].is_number_integer()) parameter_bytes = totals["bytes"].get<int64_t>();
    }
  }

  std::map<std::string, std::string> package_metadata;
  for (const ArchiveEntry& entry : file.entries) {
    const std::string name = normalize_entry_name(entry.name);
    if (name.find("/data/") == std::string::npos) continue;
    const bool forward_metadata = name.find("/data/aotinductor/" + std::string(kModelName) + "/") != std::string::npos &&
                                  ends_with(name, "wrapper_metadata.json");
    if (!forward_metadata) continue;
    nlohmann::json json = nlohmann::json::parse(read_entry(path, entry), nullptr, /*allow_exceptions=*/false);
    if (!json.is_object()) continue;
    for (const auto& [key, value] : json.items()) {
      if (value.is_string()) package_metadata.emplace(escape_bytes(key), escape_bytes(value.get<std::string>()));
    }
  }

  std::map<std::string, MethodSignature> methods;
  for (const std::string& model : file.aoti_models) {
    MethodSignature signature;
    signature.method = model == kModelName ? "forward" : model;
    signature.return_type = "Tuple[Tensor, ...]";
    const MethodMetadata* described = metadata ? metadata->method(signature.method) : nullptr;
    if (described != nullptr) {
      for (const TensorSpec& spec : described->inputs) {
        ArgumentInfo argument;
        argument.name = spec.name;
        argument.type = "Tensor";
        argument.spec = spec;
        signature.inputs.push_back(std::move(argument));
      }
    }
    methods.emplace(signature.method, std::move(signature));
  }
  if (methods.empty()) throw Error(ErrorCode::kInvalidModel, "model file '" + path + "' holds no compiled model");
  return std::make_unique<DescribedPackage>(path, std::move(methods), std::move(package_metadata), parameter_count,
                                            parameter_bytes);
}

}  // namespace tsrt::detail
