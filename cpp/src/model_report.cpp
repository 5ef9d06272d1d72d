#include "tsrt/model_report.h"

#include <algorithm>
#include <sstream>

#include "json_value.h"

namespace tsrt {
namespace {

// "2.13" of "2.13.0+cpu": versions within one minor release read each other's files.
std::string minor_version(const std::string& version) {
  const size_t first = version.find('.');
  const size_t second = first == std::string::npos ? std::string::npos : version.find('.', first + 1);
  return version.substr(0, second);
}

std::vector<std::string> warnings_for(const Model& model, const ModelSummary& summary) {
  std::vector<std::string> warnings;
  for (const std::string& op : summary.custom_operators) {
    warnings.push_back("operator " + op + " is not part of LibTorch: the program that loads this model must load the "
                       "library that registers it (e.g. link libtorchvision for torchvision::)");
  }
  for (const std::string& device : summary.device_constants) {
    const std::string other = device == "cpu" ? "on CUDA" : "on the CPU or another GPU";
    warnings.push_back("device " + device + " is baked into the graph (tracing records the device of every tensor "
                       "the model creates): " + other + " the model mixes devices or fails; re-export with tensors "
                       "made by *_like(x), new_*(), or from buffers, or script that code");
  }
  if (model.metadata() && !model.metadata()->torch_version.empty() &&
      minor_version(model.metadata()->torch_version) != minor_version(summary.runtime_torch_version)) {
    const bool newer = model.metadata()->torch_version > summary.runtime_torch_version;
    warnings.push_back("exported by torch " + model.metadata()->torch_version + ", " + (newer ? "newer" : "older") +
                       " than this runtime's torch " + summary.runtime_torch_version +
                       (newer ? ": it may use operators or a file version this runtime lacks; re-export with torch " +
                                    summary.runtime_torch_version
                              : ": usually readable; re-export to be sure numerics match"));
  }
  return warnings;
}

// The metadata as the report shows it: golden tensors are data, not description,
// so only their count is kept.
Json metadata_description(const ModelMetadata& metadata) {
  Json described = json_value(metadata);
  described["golden"] = metadata.golden.size();
  return described;
}

}  // namespace

std::string model_report_json(const Model& model) {
  const ModelSummary summary = model.summary();
  Json report;
  report["model"] = model.path();
  report["format"] = model.format();
  report["methods"] = Json::array();
  for (const std::string& method : model.method_names()) report["methods"].push_back(json_value(model.signature(method)));
  report["metadata"] = model.metadata() ? metadata_description(*model.metadata()) : Json(nullptr);
  // Bound to a local: items() of a temporary would dangle.
  const Json described = json_value(summary);
  for (const auto& [key, value] : described.items()) {
    if (key != "code") report[key] = value;
  }
  report["warnings"] = warnings_for(model, summary);
  report["code"] = summary.forward_code;  // last: the longest field, and the least read
  return dump_json(report, 2);
}

std::string model_report_text(const Model& model, bool with_code) {
  const ModelSummary summary = model.summary();
  const std::vector<std::string> warnings = warnings_for(model, summary);
  auto or_unknown = [](const std::string& text) { return text.empty() ? std::string("?") : text; };
  std::ostringstream text;
  text << "model       " << model.path() << " (" << model.format() << ")\n";
  if (const auto& meta = model.metadata()) {
    text << "exported    by " << or_unknown(meta->producer) << " with torch " << or_unknown(meta->torch_version)
         << ", mode " << or_unknown(meta->export_mode) << ", from " << or_unknown(meta->source) << " ("
         << or_unknown(meta->created) << ")\n";
    if (!meta->export_reason.empty()) text << "why         " << meta->export_reason << "\n";
    text << "golden      " << meta->golden.size() << " input/output pairs (./infer --verify)\n";
  } else {
    text << "metadata    none: not exported by tsrt; give inputs with --input or --shape\n";
  }
  text << "methods\n";
  for (const std::string& method : model.method_names()) {
    const MethodSignature signature = model.signature(method);
    text << "  " << signature.to_string() << "\n";
    if (!signature.output_names.empty()) {
      text << "    outputs:";
      for (const std::string& name : signature.output_names) text << " " << name;
      text << "\n";
    }
  }
  text << "parameters  " << summary.parameter_count << " (" << summary.parameter_bytes / 1024.0 / 1024.0 << " MiB)\n";
  if (summary.compiled) {
    // Machine code: no graph, so no operators to count or audit.
    auto package = [&](const char* key) {
      auto found = summary.package_metadata.find(key);
      return found == summary.package_metadata.end() ? std::string() : found->second;
    };
    text << "compiled    compiled package (AOTInductor) for " << or_unknown(package("AOTI_DEVICE_KEY")) << ", "
         << or_unknown(package("AOTI_PLATFORM")) << " " << or_unknown(package("AOTI_MACHINE"));
    if (!package("AOTI_CPU_ISA").empty()) text << " " << package("AOTI_CPU_ISA");
    text << "; operators are not visible\n";
    for (const std::string& warning : warnings) text << "WARNING     " << warning << "\n";
    return text.str();
  }
  std::vector<std::pair<std::string, int64_t>> operators(summary.operators.begin(), summary.operators.end());
  std::stable_sort(operators.begin(), operators.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
  text << "operators  ";
  int shown = 0;
  for (const auto& [name, count] : operators) {
    if (shown++ == 12) {
      text << " ... (" << operators.size() << " kinds)";
      break;
    }
    text << " " << name << " x" << count;
  }
  text << "\n";
  if (!summary.audit_operators.empty()) {
    text << "audit       reaches outside tensors:";
    for (const std::string& op : summary.audit_operators) text << " " << op;
    text << "\n";
  }
  for (const std::string& warning : warnings) text << "WARNING     " << warning << "\n";
  if (with_code) text << "forward code\n" << summary.forward_code << "\n";
  return text.str();
}

}  // namespace tsrt
