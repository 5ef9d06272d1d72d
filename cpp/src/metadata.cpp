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

// One input tree node (python/tsrt/input_tree.py writes it); `kind` absent is a
// version-1 tensor spec.
InputNode node_from_json(const nlohmann::json& obj) {
  InputNode node;
  node.name = obj.at("name").get<std::string>();
  const std::string kind = obj.value("kind", "tensor");
  if (kind == "tensor") {
    node.kind = InputNode::Kind::kTensor;
    node.spec = spec_from_json(obj);
  } else if (kind == "none") {
    node.kind = InputNode::Kind::kNone;
    node.fixed = obj.value("fixed", false);
  } else if (kind == "scalar") {
    node.kind = InputNode::Kind::kScalar;
    node.fixed = obj.value("fixed", false);
    const std::string type = obj.at("type").get<std::string>();
    const nlohmann::json& value = obj.at("value");
    if (type == "bool") {
      node.scalar_type = InputNode::ScalarType::kBool;
      node.value = value.get<bool>();
    } else if (type == "int") {
      node.scalar_type = InputNode::ScalarType::kInt;
      node.value = value.get<int64_t>();
    } else if (type == "float") {
      node.scalar_type = InputNode::ScalarType::kFloat;
      node.value = value.get<double>();
    } else {
      throw std::invalid_argument("input '" + node.name + "': scalar type '" + type + "' is not int, float or bool");
    }
  } else if (kind == "dict" || kind == "tuple" || kind == "list") {
    node.kind = kind == "dict" ? InputNode::Kind::kDict : kind == "tuple" ? InputNode::Kind::kTuple : InputNode::Kind::kList;
    if (obj.value("variable_length", false)) {
      if (node.kind != InputNode::Kind::kList) throw std::invalid_argument("input '" + node.name + "': only a list may have variable_length");
      node.variable_length = true;
      node.length = obj.value("length", static_cast<size_t>(1));
      node.items.push_back(node_from_json(obj.at("element")));
    } else {
      for (const auto& item : obj.at("items")) node.items.push_back(node_from_json(item));
    }
    if (node.kind == InputNode::Kind::kDict) {
      node.keys = obj.at("keys").get<std::vector<std::string>>();
      if (node.keys.size() != node.items.size()) throw std::invalid_argument("input '" + node.name + "': a dict needs one key per item");
    }
  } else {
    throw std::invalid_argument("input '" + node.name + "' has unknown kind '" + kind +
                                "' (tensor, dict, tuple, list, scalar, none)");
  }
  return node;
}

}  // namespace

bool MethodMetadata::has_structured_inputs() const {
  for (const InputNode& node : input_nodes) {
    if (node.kind != InputNode::Kind::kTensor) return true;
  }
  return false;
}

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
    if (metadata.format_version > kMetadataFormatVersion) {
      throw std::invalid_argument("format_version " + std::to_string(metadata.format_version) +
                                  " is newer than this tsrt reads (" + std::to_string(kMetadataFormatVersion) +
                                  "); upgrade tsrt");
    }
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
        described.input_nodes.push_back(node_from_json(input));
        if (described.input_nodes.back().kind == InputNode::Kind::kTensor) {
          described.inputs.push_back(described.input_nodes.back().spec);
        }
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
