#include "tsrt/model_report.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <sstream>

namespace tsrt {
namespace {

using json = nlohmann::ordered_json;

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

json build_report(const Model& model) {
  const ModelSummary summary = model.summary();
  json report;
  report["model"] = model.path();
  report["format"] = model.format();
  report["methods"] = json::array();
  for (const std::string& method : model.method_names()) {
    const MethodSignature signature = model.signature(method);
    json entry{{"name", method}, {"signature", signature.to_string()}, {"inputs", json::array()}};
    for (const ArgumentInfo& argument : signature.inputs) {
      json input{{"name", argument.name}, {"type", argument.type}, {"has_default", argument.has_default}};
      if (argument.spec) input["spec"] = argument.spec->to_string();
      entry["inputs"].push_back(input);
    }
    entry["return_type"] = signature.return_type;
    entry["output_names"] = signature.output_names;
    report["methods"].push_back(entry);
  }
  report["metadata"] = model.metadata() ? json::parse(model.metadata()->json) : json(nullptr);
  // Golden tensors are data, not description.
  if (report["metadata"].is_object() && report["metadata"].contains("golden")) {
    report["metadata"]["golden"] = report["metadata"]["golden"].size();
  }
  std::vector<std::pair<std::string, int64_t>> operators(summary.operators.begin(), summary.operators.end());
  std::stable_sort(operators.begin(), operators.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
  report["operators"] = json::object();
  for (const auto& [name, count] : operators) report["operators"][name] = count;
  report["custom_operators"] = summary.custom_operators;
  report["audit"] = summary.audit_operators;
  report["device_constants"] = summary.device_constants;
  report["parameters"] = {{"count", summary.parameter_count}, {"bytes", summary.parameter_bytes}};
  report["runtime_torch_version"] = summary.runtime_torch_version;
  report["compiled"] = summary.compiled;
  if (summary.compiled) report["package"] = summary.package_metadata;
  report["warnings"] = warnings_for(model, summary);
  report["code"] = summary.forward_code;
  return report;
}

}  // namespace

std::string model_report_json(const Model& model) { return build_report(model).dump(2, ' ', false, nlohmann::json::error_handler_t::replace); }

std::string model_report_text(const Model& model, bool with_code) {
  const json report = build_report(model);
  std::ostringstream text;
  text << "model       " << report["model"].get<std::string>() << " (" << report["format"].get<std::string>() << ")\n";
  const json& meta = report["metadata"];
  if (meta.is_object()) {
    text << "exported    by " << meta.value("producer", "?") << " with torch " << meta.value("torch_version", "?")
         << ", mode " << meta.value("export_mode", "?") << ", from " << meta.value("source", "?") << " ("
         << meta.value("created", "?") << ")\n";
    if (meta.contains("export_reason")) text << "why         " << meta["export_reason"].get<std::string>() << "\n";
    text << "golden      " << meta.value("golden", 0) << " input/output pairs (./infer --verify)\n";
  } else {
    text << "metadata    none: not exported by tsrt; give inputs with --input or --shape\n";
  }
  text << "methods\n";
  for (const json& method : report["methods"]) {
    text << "  " << method["signature"].get<std::string>() << "\n";
    if (!method["output_names"].empty()) {
      text << "    outputs:";
      for (const auto& name : method["output_names"]) text << " " << name.get<std::string>();
      text << "\n";
    }
  }
  text << "parameters  " << report["parameters"]["count"].get<int64_t>() << " ("
       << report["parameters"]["bytes"].get<int64_t>() / 1024.0 / 1024.0 << " MiB)\n";
  if (report["compiled"].get<bool>()) {
    // Machine code: no graph, so no operators to count or audit.
    const json& package = report["package"];
    text << "compiled    compiled package (AOTInductor) for " << package.value("AOTI_DEVICE_KEY", "?") << ", "
         << package.value("AOTI_PLATFORM", "?") << " " << package.value("AOTI_MACHINE", "?");
    if (!package.value("AOTI_CPU_ISA", std::string()).empty()) text << " " << package["AOTI_CPU_ISA"].get<std::string>();
    text << "; operators are not visible\n";
    for (const auto& warning : report["warnings"]) text << "WARNING     " << warning.get<std::string>() << "\n";
    return text.str();
  }
  text << "operators  ";
  int shown = 0;
  for (const auto& [name, count] : report["operators"].items()) {
    if (shown++ == 12) {
      text << " ... (" << report["operators"].size() << " kinds)";
      break;
    }
    text << " " << name << " x" << count.get<int64_t>();
  }
  text << "\n";
  if (!report["audit"].empty()) {
    text << "audit       reaches outside tensors:";
    for (const auto& op : report["audit"]) text << " " << op.get<std::string>();
    text << "\n";
  }
  for (const auto& warning : report["warnings"]) text << "WARNING     " << warning.get<std::string>() << "\n";
  if (with_code) text << "forward code\n" << report["code"].get<std::string>() << "\n";
  return text.str();
}

}  // namespace tsrt
