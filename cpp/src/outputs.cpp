#include "tsrt/outputs.h"

#include <ATen/ATen.h>

namespace tsrt {
namespace {

void flatten_into(const c10::IValue& value, const std::string& path, std::vector<OutputLeaf>& leaves) {
  if (value.isTuple()) {
    const auto& elements = value.toTupleRef().elements();
    for (size_t i = 0; i < elements.size(); ++i) flatten_into(elements[i], path + "[" + std::to_string(i) + "]", leaves);
  } else if (value.isList()) {
    const auto list = value.toList();
    for (size_t i = 0; i < list.size(); ++i) flatten_into(list.get(i), path + "[" + std::to_string(i) + "]", leaves);
  } else if (value.isGenericDict()) {
    for (const auto& entry : value.toGenericDict()) {
      const c10::IValue& key = entry.key();
      const std::string key_text = key.isString() ? "'" + key.toStringRef() + "'"
                                   : key.isInt()  ? std::to_string(key.toInt())
                                                  : key.tagKind();
      flatten_into(entry.value(), path + "[" + key_text + "]", leaves);
    }
  } else {
    leaves.push_back({path, value});
  }
}

}  // namespace

std::vector<OutputLeaf> flatten_outputs(const c10::IValue& output, const std::vector<std::string>& names) {
  std::vector<OutputLeaf> leaves;
  if (output.isTuple() && names.size() > 1 && names.size() == output.toTupleRef().elements().size()) {
    const auto& elements = output.toTupleRef().elements();
    for (size_t i = 0; i < elements.size(); ++i) flatten_into(elements[i], names[i], leaves);
  } else {
    flatten_into(output, names.size() == 1 ? names[0] : "output", leaves);
  }
  return leaves;
}

at::Tensor leaf_as_tensor(const c10::IValue& value) {
  if (value.isTensor()) return value.toTensor().detach().to(at::kCPU);
  if (value.isInt()) return at::scalar_tensor(value.toInt(), at::kLong);
  if (value.isDouble()) return at::scalar_tensor(value.toDouble(), at::kDouble);
  if (value.isBool()) return at::scalar_tensor(value.toBool(), at::kBool);
  return at::Tensor();
}

std::string path_to_filename(const std::string& path) {
  std::string name;
  for (char c : path) {
    const bool keep = std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
    if (keep) {
      name += c;
    } else if (!name.empty() && name.back() != '_') {
      name += '_';
    }
  }
  while (!name.empty() && name.back() == '_') name.pop_back();
  return name.empty() ? "output" : name;
}

}  // namespace tsrt
