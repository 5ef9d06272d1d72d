#include "tsrt/metadata.h"

#include <nlohmann/json.hpp>

#include "tsrt/error.h"

namespace tsrt {
namespace {

TensorSpec spec_from_json(const nlohmann::json& obj) {
  TensorSpec spec;
  spec.name = obj.at("name").get<std::string>();
  spec.dtype = dtype_from_name(obj.at("dtype").get<std::string>());
  spec.shape = obj.at("shape").get<std::vector<int64_t>>();
  spec.dynamic_dims = obj.value("dynamic_dims", std::vector<int64_t>{});
  if (obj.contains("value_range") && obj["value_range"].is_array() && obj["value_range"].size() == 2) {
    spec.has_value_range = true;
    spec.low = obj["value_range"][0].get<double>();
    spec.high = obj["value_range"][1].get<double>();
  }
  for (int64_t size : spec.shape) {
    if (size < 0) throw std::invalid_argument("negative dimension in input '" + spec.name + "'");
  }
  return spec;
}

}  // namespace

const MethodMetadata* ModelMetadata::method(const std::string& name) const {
  auto found = methods.find(name);
  return found == methods.end() ? nullptr : &found->second;
}

ModelMetadata parse_metadata(const std::string& json_text, const std::string& source) {
  ModelMetadata metadata;
  metadata.json = json_text;
  try {
    const nlohmann::json doc = nlohmann::json::parse(json_text);
    metadata.format_version = doc.at("format_version").get<int>();
    metadata.producer = doc.value("producer", "");
    metadata.torch_version = doc.value("torch_version", "");
    metadata.created = doc.value("created", "");
    metadata.export_mode = doc.value("export_mode", "");
    metadata.export_reason = doc.value("export_reason", "");
    metadata.source = doc.value("source", "");
    metadata.findings = doc.value("findings", std::vector<std::string>{});
    // Bound to a local: items() of the temporary that value() returns would dangle.
    const nlohmann::json methods = doc.value("methods", nlohmann::json::object());
    for (const auto& [name, method] : methods.items()) {
      MethodMetadata described;
      const nlohmann::json inputs = method.value("inputs", nlohmann::json::array());
      for (const auto& input : inputs) {
        described.inputs.push_back(spec_from_json(input));
      }
      described.output_names = method.value("outputs", std::vector<std::string>{});
      described.output_structure = method.value("output_structure", "");
      metadata.methods.emplace(name, std::move(described));
    }
    if (doc.contains("tolerance")) {
      metadata.atol = doc["tolerance"].at("atol").get<double>();
      metadata.rtol = doc["tolerance"].at("rtol").get<double>();
    }
    const nlohmann::json golden = doc.value("golden", nlohmann::json::array());
    for (const auto& entry : golden) {
      GoldenPair pair;
      pair.method = entry.value("method", "forward");
      pair.input_files = entry.at("inputs").get<std::vector<std::string>>();
      for (const auto& output : entry.at("outputs")) {
        const nlohmann::json& file = output.at("file");
        pair.output_files.emplace_back(output.at("path").get<std::string>(), file.is_null() ? "" : file.get<std::string>());
      }
      metadata.golden.push_back(std::move(pair));
    }
  } catch (const Error& e) {
    throw Error(ErrorCode::kInvalidModel, "model file '" + source + "' has invalid tsrt metadata: " + e.what());
  } catch (const std::exception& e) {
    throw Error(ErrorCode::kInvalidModel, "model file '" + source + "' has invalid tsrt metadata (" +
                                              std::string(kMetadataFile) + "): " + e.what());
  }
  return metadata;
}

}  // namespace tsrt
