#include "tensor_json.h"

#include <ATen/core/Tensor.h>
#include <ATen/ops/from_blob.h>

#include "tsrt/outputs.h"
#include "tsrt/tensor_spec.h"

namespace tsrt_serve {
namespace {

RequestError bad(const std::string& message) { return RequestError(400, "invalid_argument", message); }

const nlohmann::json& field(const nlohmann::json& object, const char* key, const std::string& what) {
  const auto found = object.find(key);
  if (found == object.end()) {
    throw bad(what + ": missing \"" + key + "\" (a tensor is {\"shape\": [...], \"dtype\": \"float32\", \"data\": [...]})");
  }
  return *found;
}

// Copies JSON numbers into a tensor of type T, checking each one's kind.
template <typename T>
at::Tensor fill(const nlohmann::json& data, std::vector<int64_t> shape, c10::ScalarType dtype, const std::string& what) {
  // std::vector<bool> has no data(): bools are stored as bytes, which kBool reads as is.
  std::vector<std::conditional_t<std::is_same_v<T, bool>, uint8_t, T>> values;
  values.reserve(data.size());
  for (size_t i = 0; i < data.size(); ++i) {
    const nlohmann::json& item = data[i];
    const bool ok = std::is_same_v<T, bool> ? item.is_boolean()
                    : std::is_floating_point_v<T> ? item.is_number()
                                                  : item.is_number_integer();
    if (!ok) {
      throw bad(what + ": data[" + std::to_string(i) + "] is " + item.dump() + ", not " +
                (std::is_same_v<T, bool> ? "a boolean" : std::is_floating_point_v<T> ? "a number" : "an integer") +
                " (dtype " + tsrt::dtype_name(dtype) + ")");
    }
    values.push_back(item.get<T>());
  }
  const c10::ScalarType source = std::is_same_v<T, bool> ? at::kBool : std::is_floating_point_v<T> ? at::kDouble : at::kLong;
  // from_blob borrows `values`; clone() owns the copy before `values` goes away.
  return at::from_blob(values.data(), shape, at::TensorOptions().dtype(source)).to(dtype).clone();
}

}  // namespace

at::Tensor tensor_from_json(const nlohmann::json& value, const std::string& what) {
  if (!value.is_object()) throw bad(what + ": expected an object {\"shape\", \"dtype\", \"data\"}, got " + value.type_name());
  const nlohmann::json& shape_json = field(value, "shape", what);
  const nlohmann::json& data = field(value, "data", what);
  std::vector<int64_t> shape;
  int64_t count = 1;
  if (!shape_json.is_array()) throw bad(what + ": \"shape\" must be a list of sizes, got " + shape_json.dump());
  for (const nlohmann::json& size : shape_json) {
    if (!size.is_number_integer() || size.get<int64_t>() < 0) {
      throw bad(what + ": \"shape\" must hold sizes >= 0, got " + shape_json.dump());
    }
    shape.push_back(size.get<int64_t>());
    count *= shape.back();
  }
  if (!data.is_array()) throw bad(what + ": \"data\" must be a flat list of values, got " + std::string(data.type_name()));
  if (static_cast<int64_t>(data.size()) != count) {
    throw bad(what + ": shape " + tsrt::shape_string(shape) + " holds " + std::to_string(count) + " values, \"data\" has " +
              std::to_string(data.size()));
  }
  const auto dtype_json = value.find("dtype");
  c10::ScalarType dtype = at::kFloat;
  if (dtype_json != value.end()) {
    if (!dtype_json->is_string()) throw bad(what + ": \"dtype\" must be a string such as \"float32\"");
    try {
      dtype = tsrt::dtype_from_name(dtype_json->get<std::string>());
    } catch (const tsrt::Error& error) {
      throw bad(what + ": " + error.what());
    }
  }
  if (dtype == at::kBool) return fill<bool>(data, shape, dtype, what);
  if (at::isFloatingType(dtype)) return fill<double>(data, shape, dtype, what);
  if (at::isIntegralType(dtype, /*includeBool=*/false)) return fill<int64_t>(data, shape, dtype, what);
  throw bad(what + ": dtype " + tsrt::dtype_name(dtype) + " can't travel as JSON numbers");
}

nlohmann::json outputs_to_json(const c10::IValue& output, const std::vector<std::string>& names) {
  nlohmann::json outputs = nlohmann::json::array();
  for (const tsrt::OutputLeaf& leaf : tsrt::flatten_outputs(output, names)) {
    nlohmann::json entry = {{"name", leaf.path}};
    if (leaf.value.isString()) {
      entry["dtype"] = "str";
      entry["data"] = leaf.value.toStringRef();
    } else if (const at::Tensor tensor = tsrt::leaf_as_tensor(leaf.value); tensor.defined()) {
      entry["shape"] = tensor.sizes().vec();
      entry["dtype"] = tsrt::dtype_name(tensor.scalar_type());
      const at::Tensor flat = tensor.contiguous().reshape({-1});
      if (flat.scalar_type() == at::kBool) {
        const bool* values = flat.data_ptr<bool>();
        entry["data"] = std::vector<bool>(values, values + flat.numel());
      } else if (at::isFloatingType(flat.scalar_type())) {
        const at::Tensor wide = flat.to(at::kDouble);  // float32 -> double is exact
        const double* values = wide.data_ptr<double>();
        entry["data"] = std::vector<double>(values, values + wide.numel());
      } else if (at::isIntegralType(flat.scalar_type(), false)) {
        const at::Tensor wide = flat.to(at::kLong);
        const int64_t* values = wide.data_ptr<int64_t>();
        entry["data"] = std::vector<int64_t>(values, values + wide.numel());
      } else {
        throw tsrt::Error(tsrt::ErrorCode::kUnsupported,
                          "output '" + leaf.path + "' has dtype " + tsrt::dtype_name(flat.scalar_type()) +
                              ", which can't travel as JSON numbers");
      }
    } else {
      entry["data"] = nullptr;  // None
    }
    outputs.push_back(std::move(entry));
  }
  return outputs;
}

nlohmann::json model_to_json(const std::string& name, const tsrt::Model& model) {
  const tsrt::MethodSignature signature = model.signature("forward");
  nlohmann::json inputs = nlohmann::json::array();
  for (const tsrt::ArgumentInfo& argument : signature.inputs) {
    nlohmann::json input = {{"name", argument.name}, {"type", argument.type}};
    if (argument.spec) {
      input["dtype"] = tsrt::dtype_name(argument.spec->dtype);
      input["shape"] = argument.spec->shape;  // the example shape
      input["dynamic_dims"] = argument.spec->dynamic_dims;
    }
    if (argument.has_default) input["default"] = argument.default_value;
    inputs.push_back(std::move(input));
  }
  return {{"name", name},
          {"path", model.path()},
          {"format", model.format()},
          {"device", model.device().str()},
          {"methods", model.method_names()},
          {"inputs", std::move(inputs)},
          {"outputs", signature.output_names},
          {"return_type", signature.return_type}};
}

}  // namespace tsrt_serve
