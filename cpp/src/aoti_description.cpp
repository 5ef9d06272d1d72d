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

}  // namespace

std::unique_ptr<Backend> describe_aoti(const std::string& path, const ModelFile& file,
                                       std::map<std::string, std::string>& extra_files) {
  const std::optional<ModelMetadata> metadata = read_extra_files(path, file, extra_files);
  int64_t parameter_count = 0, parameter_bytes = 0;
  auto found = extra_files.find(kMetadataFile);
  if (found != extra_files.end()) {
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
    const std::optional<PackageRecord> record = package_record(entry);
    if (!record || method_of_model(record->model) != "forward" || !record->ends_with("wrapper_metadata.json")) continue;
    nlohmann::json json = nlohmann::json::parse(read_entry(path, entry), nullptr, /*allow_exceptions=*/false);
    if (!json.is_object()) continue;
    for (const auto& [key, value] : json.items()) {
      if (value.is_string()) package_metadata.emplace(escape_bytes(key), escape_bytes(value.get<std::string>()));
    }
  }

  std::map<std::string, MethodSignature> methods;
  for (const std::string& model : file.aoti_models) {
    MethodSignature signature;
    signature.method = method_of_model(model);
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
