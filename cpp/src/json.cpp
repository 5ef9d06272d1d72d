#include "tsrt/json.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "json_value.h"
#include "tsrt/benchmark.h"
#include "tsrt/metadata.h"
#include "tsrt/model_summary.h"
#include "tsrt/signature.h"
#include "tsrt/tensor_spec.h"
#include "tsrt/verify.h"

namespace tsrt {

Json json_value(const TensorSpec& spec) {
  Json out{{"name", spec.name},
           {"dtype", dtype_name(spec.dtype)},
           {"shape", spec.shape},
           {"dynamic_dims", spec.dynamic_dims}};
  // Absent rather than null: the Python writer leaves it out when the default applies.
  if (spec.has_value_range) out["value_range"] = {spec.low, spec.high};
  return out;
}

Json json_value(const MethodSignature& signature) {
  Json inputs = Json::array();
  for (const ArgumentInfo& argument : signature.inputs) {
    inputs.push_back({{"name", argument.name},
                      {"type", argument.type},
                      {"has_default", argument.has_default},
                      {"default", argument.has_default ? Json(argument.default_value) : Json(nullptr)},
                      {"spec", argument.spec ? json_value(*argument.spec) : Json(nullptr)}});
  }
  return {{"method", signature.method},
          {"inputs", std::move(inputs)},
          {"return_type", signature.return_type},
          {"output_names", signature.output_names},
          {"text", signature.to_string()}};
}

namespace {

// The object at `index` of the array `original[key]`, or an empty object: the
// starting point of an entry, so that fields this build does not model survive.
Json original_entry(const Json& original, const char* key, size_t index) {
  const auto found = original.find(key);
  if (found == original.end() || !found->is_array() || index >= found->size()) return Json::object();
  const Json& entry = (*found)[index];
  return entry.is_object() ? entry : Json::object();
}

// `modelled` on top of `original`: modelled keys win, the others are kept as read.
Json overlay(Json original, const Json& modelled) {
  if (!original.is_object()) return modelled;
  for (const auto& [key, value] : modelled.items()) original[key] = value;
  return original;
}

}  // namespace

Json json_value(const ModelMetadata& metadata) {
  // What this build does not model, at any level, is written back as it was read,
  // so a document from a newer writer survives a round trip through an older reader.
  Json original = metadata.json.empty() ? Json::object() : Json::parse(metadata.json, nullptr, false);
  if (!original.is_object()) original = Json::object();
  const Json original_methods = original.value("methods", Json::object());

  Json doc;
  doc["format_version"] = metadata.format_version;
  doc["producer"] = metadata.producer;
  doc["torch_version"] = metadata.torch_version;
  doc["created"] = metadata.created;
  doc["source"] = metadata.source;
  doc["export_mode"] = metadata.export_mode;
  doc["export_reason"] = metadata.export_reason;
  doc["findings"] = metadata.findings;
  doc["methods"] = Json::object();
  for (const auto& [name, method] : metadata.methods) {
    const Json original_method = original_methods.contains(name) && original_methods[name].is_object()
                                     ? original_methods[name]
                                     : Json::object();
    Json entry = original_method;
    // Structured inputs (trees) are written back as they were read; tensor inputs with
    // what this build modelled of them.
    const bool structured = method.has_structured_inputs();
    if (!structured) entry["inputs"] = Json::array();
    for (size_t i = 0; !structured && i < method.inputs.size(); ++i) {
      entry["inputs"].push_back(overlay(original_entry(original_method, "inputs", i), json_value(method.inputs[i])));
    }
    entry["outputs"] = method.output_names;
    if (!method.output_structure.empty()) entry["output_structure"] = method.output_structure;
    doc["methods"][name] = std::move(entry);
  }
  doc["tolerance"] = overlay(original.value("tolerance", Json::object()),
                             Json{{"atol", metadata.atol}, {"rtol", metadata.rtol}});
  doc["golden"] = Json::array();
  for (size_t index = 0; index < metadata.golden.size(); ++index) {
    const GoldenPair& pair = metadata.golden[index];
    const Json original_pair = original_entry(original, "golden", index);
    Json outputs = Json::array();
    for (size_t j = 0; j < pair.output_files.size(); ++j) {
      const auto& [path, file] = pair.output_files[j];
      outputs.push_back(overlay(original_entry(original_pair, "outputs", j),
                                Json{{"path", path}, {"file", file.empty() ? Json(nullptr) : Json(file)}}));
    }
    doc["golden"].push_back(overlay(original_pair, Json{{"method", pair.method},
                                                        {"inputs", pair.input_files},
                                                        {"outputs", std::move(outputs)}}));
  }
  for (const auto& [key, value] : original.items()) {
    if (!doc.contains(key)) doc[key] = value;
  }
  return doc;
}

Json json_value(const ModelSummary& summary) {
  // Most used first: the operators that matter to a reader come before the long tail.
  std::vector<std::pair<std::string, int64_t>> operators(summary.operators.begin(), summary.operators.end());
  std::stable_sort(operators.begin(), operators.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
  Json out;
  out["operators"] = Json::object();
  for (const auto& [name, count] : operators) out["operators"][name] = count;
  out["custom_operators"] = summary.custom_operators;
  out["audit"] = summary.audit_operators;
  out["device_constants"] = summary.device_constants;
  out["parameters"] = {{"count", summary.parameter_count}, {"bytes", summary.parameter_bytes}};
  out["runtime_torch_version"] = summary.runtime_torch_version;
  out["compiled"] = summary.compiled;
  if (summary.compiled) out["package"] = summary.package_metadata;
  out["code"] = summary.forward_code;
  return out;
}

Json json_value(const VerifyReport& report) {
  Json checks = Json::array();
  for (const OutputCheck& check : report.checks) {
    checks.push_back({{"pair", check.pair},
                      {"path", check.path},
                      {"passed", check.passed},
                      {"max_abs", check.max_abs},
                      {"max_rel", check.max_rel},
                      {"detail", check.detail}});
  }
  return {{"model", report.model_path}, {"device", report.device}, {"atol", report.atol},
          {"rtol", report.rtol},        {"passed", report.passed()}, {"checks", std::move(checks)}};
}

Json json_value(const BenchmarkResult& r) {
  const LatencyStats& l = r.latency_ms;
  Json out = {
      {"model", r.model_path},
      {"method", r.method},
      {"device", r.device},
      {"format", r.format},
      {"optimizations", r.optimizations},
      {"intra_op_threads", r.intra_op_threads},
      {"openmp_wait", r.openmp_wait},
      {"concurrency", r.concurrency},
      {"load_ms", r.load_ms},
      {"first_inference_ms", r.first_inference_ms},
      {"warmup_iters", r.warmup_iters},
      {"warmup_seconds", r.warmup_seconds},
      {"iters", r.iters},
      {"wall_seconds", r.wall_seconds},
      {"throughput_per_s", r.throughput},
      {"inputs", r.inputs},
      {"batch_size", r.batch_size},
      {"samples_per_s", r.samples_per_second},
      {"latency_ms",
       {{"min", l.min}, {"mean", l.mean}, {"median", l.median}, {"p90", l.p90}, {"p95", l.p95}, {"p99", l.p99},
        {"max", l.max}, {"stddev", l.stddev}}},
      {"cv", l.cv},
      {"unstable", r.unstable},
      {"rss_before_bytes", r.rss_before_bytes},
      {"peak_rss_bytes", r.peak_rss_bytes},
  };
  Json profile = Json::array();
  for (const OperatorTime& row : r.profile) {
    profile.push_back({{"name", row.name}, {"calls", row.calls}, {"self_ms", row.self_ms},
                       {"total_ms", row.total_ms}, {"self_percent", row.self_percent}});
  }
  out["profile"] = std::move(profile);
  return out;
}

std::string dump_json(const Json& value, int indent) {
  // Names read from a damaged file may be any bytes: replace, never throw.
  return value.dump(indent, ' ', false, Json::error_handler_t::replace);
}

std::string to_json(const TensorSpec& spec, int indent) { return dump_json(json_value(spec), indent); }
std::string to_json(const MethodSignature& signature, int indent) { return dump_json(json_value(signature), indent); }
std::string to_json(const ModelMetadata& metadata, int indent) { return dump_json(json_value(metadata), indent); }
std::string to_json(const ModelSummary& summary, int indent) { return dump_json(json_value(summary), indent); }
std::string to_json(const VerifyReport& report, int indent) { return dump_json(json_value(report), indent); }
std::string to_json(const BenchmarkResult& result, int indent) { return dump_json(json_value(result), indent); }

}  // namespace tsrt
