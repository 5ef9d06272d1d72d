#include "oip.h"

#include <cstring>
#include <limits>

#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/from_blob.h>

#include "tsrt/outputs.h"
#include "tsrt/tensor_spec.h"

namespace tsrt_serve {
namespace {

using nlohmann::json;

struct Datatype {
  const char* name;
  c10::ScalarType dtype;
};

// The protocol's names for the dtypes tsrt models take. UINT16/32/64 have no full
// LibTorch support and BYTES no tensor form, so a request naming them gets a 400.
constexpr Datatype kDatatypes[] = {
    {"BOOL", c10::ScalarType::Bool},   {"UINT8", c10::ScalarType::Byte},  {"INT8", c10::ScalarType::Char},
    {"INT16", c10::ScalarType::Short}, {"INT32", c10::ScalarType::Int},   {"INT64", c10::ScalarType::Long},
    {"FP16", c10::ScalarType::Half},   {"BF16", c10::ScalarType::BFloat16}, {"FP32", c10::ScalarType::Float},
    {"FP64", c10::ScalarType::Double},
};

ProtocolError bad(const std::string& message) { return ProtocolError(400, message); }

c10::ScalarType datatype_from_name(const std::string& name, const std::string& what) {
  for (const Datatype& known : kDatatypes) {
    if (name == known.name) return known.dtype;
  }
  std::string names;
  for (const Datatype& known : kDatatypes) names += (names.empty() ? "" : ", ") + std::string(known.name);
  throw bad(what + ": datatype '" + excerpt_text(name) + "' is not one tsrt_serve takes; expected one of " + names);
}

// Rank is capped well above any model's so that a hostile nesting can't recurse deep.
constexpr size_t kMaxRank = 16;

std::vector<int64_t> parse_shape(const json& input, const std::string& what, int64_t& count) {
  const auto found = input.find("shape");
  if (found == input.end() || !found->is_array()) throw bad(what + ": \"shape\" must be a list of sizes");
  if (found->size() > kMaxRank) throw bad(what + ": rank " + std::to_string(found->size()) + " is over " + std::to_string(kMaxRank));
  std::vector<int64_t> shape;
  count = 1;
  for (const json& size : *found) {
    if (!size.is_number_integer() || size.get<int64_t>() < 0 || (size.is_number_unsigned() && size.get<uint64_t>() > uint64_t(INT64_MAX))) {
      throw bad(what + ": \"shape\" must hold sizes >= 0, got " + excerpt(*found));
    }
    shape.push_back(size.get<int64_t>());
    // Hostile shapes such as [2^40, 2^40] overflow int64: refuse before anything is allocated.
    if (__builtin_mul_overflow(count, shape.back(), &count)) throw bad(what + ": shape " + excerpt(*found) + " has too many elements");
  }
  return shape;
}

// "data" may be flat or nested row-major lists; collects the leaves in order.
void flatten(const json& data, std::vector<const json*>& out, size_t depth, const std::string& what) {
  if (!data.is_array()) {
    out.push_back(&data);
    return;
  }
  if (depth > kMaxRank) throw bad(what + ": \"data\" is nested deeper than any tensor");
  for (const json& item : data) flatten(item, out, depth + 1, what);
}

template <typename T>
at::Tensor from_values(std::vector<T>& values, const std::vector<int64_t>& shape, c10::ScalarType source, c10::ScalarType dtype) {
  // from_blob borrows `values`; the copying to() owns the result before `values` goes away.
  return at::from_blob(values.data(), shape, at::TensorOptions().dtype(source)).to(dtype, false, /*copy=*/true);
}

std::pair<int64_t, int64_t> integer_range(c10::ScalarType dtype) {
  switch (dtype) {
    case c10::ScalarType::Byte: return {0, 255};
    case c10::ScalarType::Char: return {-128, 127};
    case c10::ScalarType::Short: return {-32768, 32767};
    case c10::ScalarType::Int: return {std::numeric_limits<int32_t>::min(), std::numeric_limits<int32_t>::max()};
    default: return {std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::max()};
  }
}

at::Tensor tensor_from_json_data(const json& data, const std::vector<int64_t>& shape, int64_t count, c10::ScalarType dtype,
                                 const std::string& datatype, const std::string& what) {
  std::vector<const json*> items;
  flatten(data, items, 0, what);
  if (static_cast<int64_t>(items.size()) != count) {
    throw bad(what + ": shape " + tsrt::shape_string(shape) + " holds " + std::to_string(count) + " values, \"data\" has " +
              std::to_string(items.size()));
  }
  auto wrong = [&](size_t i, const char* expected) {
    return bad(what + ": data[" + std::to_string(i) + "] is " + excerpt(*items[i]) + ", not " + expected + " (datatype " + datatype + ")");
  };
  if (dtype == c10::ScalarType::Bool) {
    std::vector<uint8_t> values(items.size());
    for (size_t i = 0; i < items.size(); ++i) {
      if (!items[i]->is_boolean()) throw wrong(i, "a boolean");
      values[i] = items[i]->get<bool>();
    }
    return from_values(values, shape, c10::ScalarType::Bool, dtype);
  }
  if (at::isFloatingType(dtype)) {
    std::vector<double> values(items.size());
    for (size_t i = 0; i < items.size(); ++i) {
      if (!items[i]->is_number()) throw wrong(i, "a number");
      values[i] = items[i]->get<double>();
    }
    return from_values(values, shape, c10::ScalarType::Double, dtype);
  }
  const auto [low, high] = integer_range(dtype);
  std::vector<int64_t> values(items.size());
  for (size_t i = 0; i < items.size(); ++i) {
    const json& item = *items[i];
    if (!item.is_number_integer()) throw wrong(i, "an integer");
    const bool too_big = item.is_number_unsigned() && item.get<uint64_t>() > uint64_t(high);
    if (too_big || item.get<int64_t>() < low || item.get<int64_t>() > high) throw wrong(i, "in the datatype's range");
    values[i] = item.get<int64_t>();
  }
  return from_values(values, shape, c10::ScalarType::Long, dtype);
}

const json* parameters_of(const json& object, const std::string& what) {
  const auto found = object.find("parameters");
  if (found == object.end()) return nullptr;
  if (!found->is_object()) throw bad(what + ": \"parameters\" must be an object");
  return &*found;
}

template <typename T>
std::optional<T> parameter(const json* parameters, const char* key, const char* kind, const std::string& what) {
  if (!parameters) return std::nullopt;
  const auto found = parameters->find(key);
  if (found == parameters->end()) return std::nullopt;
  const bool ok = std::is_same_v<T, bool>          ? found->is_boolean()
                  : std::is_same_v<T, std::string> ? found->is_string()
                                                   : found->is_number_integer() && found->get<int64_t>() >= 0;
  if (!ok) throw bad(what + ": parameter \"" + key + "\" must be " + kind + ", got " + excerpt(*found));
  return found->get<T>();
}

json json_data(const at::Tensor& tensor) {
  const at::Tensor flat = tensor.contiguous().reshape({-1});
  if (flat.scalar_type() == c10::ScalarType::Bool) {
    const bool* values = flat.data_ptr<bool>();
    return std::vector<bool>(values, values + flat.numel());
  }
  if (at::isFloatingType(flat.scalar_type())) {
    const at::Tensor wide = flat.to(c10::ScalarType::Double);  // float32 -> double is exact
    const double* values = wide.data_ptr<double>();
    return std::vector<double>(values, values + wide.numel());
  }
  const at::Tensor wide = flat.to(c10::ScalarType::Long);
  const int64_t* values = wide.data_ptr<int64_t>();
  return std::vector<int64_t>(values, values + wide.numel());
}

}  // namespace

std::string dump_json(const json& value) { return value.dump(-1, ' ', false, json::error_handler_t::replace); }

std::string excerpt_text(std::string_view text, size_t limit) {
  if (text.size() <= limit) return std::string(text);
  return std::string(text.substr(0, limit)) + "...";
}

std::string excerpt(const json& value, size_t limit) {
  // Deep values are refused at parse time (kMaxJsonDepth), so this dump recurses at most that far.
  return excerpt_text(dump_json(value), limit);
}

std::string datatype_name(c10::ScalarType dtype) {
  for (const Datatype& known : kDatatypes) {
    if (dtype == known.dtype) return known.name;
  }
  throw ProtocolError(500, "dtype " + tsrt::dtype_name(dtype) + " has no name in the inference protocol");
}

InferRequest parse_infer_request(std::string_view body, std::optional<size_t> header_length) {
  if (header_length && *header_length > body.size()) {
    throw bad("Inference-Header-Content-Length is " + std::to_string(*header_length) + " but the body has only " +
              std::to_string(body.size()) + " bytes");
  }
  const std::string_view header = body.substr(0, header_length.value_or(body.size()));
  const std::string_view binary = body.substr(header.size());
  json root;
  try {
    // The callback sees each object and array as it opens, at the depth it opens at,
    // and refuses a hostile nesting before it is built.
    root = json::parse(header.begin(), header.end(), [](int depth, json::parse_event_t event, json&) {
      if ((event == json::parse_event_t::object_start || event == json::parse_event_t::array_start) && depth >= kMaxJsonDepth) {
        throw bad("the request nests objects and lists deeper than " + std::to_string(kMaxJsonDepth) + " levels");
      }
      return true;
    });
  } catch (const json::parse_error& error) {
    // Its text quotes what it last read: client bytes, possibly long or not UTF-8.
    throw bad("the request is not JSON: " + excerpt_text(error.what(), 200));
  }
  if (!root.is_object()) throw bad("the request must be a JSON object {\"inputs\": [...]}");

  InferRequest request;
  if (const auto id = root.find("id"); id != root.end()) {
    if (!id->is_string()) throw bad("\"id\" must be a string");
    request.id = id->get<std::string>();
  }
  const json* parameters = parameters_of(root, "the request");
  request.binary_outputs = parameter<bool>(parameters, "binary_data_output", "a boolean", "the request").value_or(false);
  request.method = parameter<std::string>(parameters, "method", "a string", "the request").value_or("forward");

  const auto inputs = root.find("inputs");
  if (inputs == root.end() || !inputs->is_array()) {
    throw bad("the request needs \"inputs\": [{\"name\", \"shape\", \"datatype\", \"data\"}, ...]");
  }
  size_t offset = 0;  // into `binary`: binary inputs follow the JSON in input order
  for (size_t i = 0; i < inputs->size(); ++i) {
    const json& input = (*inputs)[i];
    std::string what = "input " + std::to_string(i);
    if (!input.is_object()) throw bad(what + ": expected an object {\"name\", \"shape\", \"datatype\", \"data\"}");
    const auto name = input.find("name");
    if (name == input.end() || !name->is_string()) throw bad(what + ": \"name\" must be a string");
    what = "input '" + excerpt_text(name->get<std::string>()) + "'";
    if (request.inputs.count(name->get<std::string>())) throw bad(what + " is given twice");
    const auto datatype = input.find("datatype");
    if (datatype == input.end() || !datatype->is_string()) throw bad(what + ": \"datatype\" must be a string such as \"FP32\"");
    const c10::ScalarType dtype = datatype_from_name(datatype->get<std::string>(), what);
    int64_t count = 0;
    const std::vector<int64_t> shape = parse_shape(input, what, count);
    const json* input_parameters = parameters_of(input, what);
    if (input_parameters && input_parameters->contains("shared_memory_region")) {
      throw bad(what + ": the shared-memory extension is not supported by tsrt_serve; send \"data\" or binary data");
    }
    const auto binary_size = parameter<int64_t>(input_parameters, "binary_data_size", "an integer >= 0", what);
    const auto data = input.find("data");
    at::Tensor tensor;
    if (binary_size) {
      if (data != input.end()) throw bad(what + ": give \"data\" or parameters.binary_data_size, not both");
      if (!header_length) throw bad(what + ": binary_data_size needs the Inference-Header-Content-Length header");
      int64_t expected = 0;
      if (__builtin_mul_overflow(count, static_cast<int64_t>(c10::elementSize(dtype)), &expected) || *binary_size != expected) {
        throw bad(what + ": shape " + tsrt::shape_string(shape) + " of " + datatype->get<std::string>() + " is " +
                  (expected ? std::to_string(expected) : std::string("too many")) + " bytes, binary_data_size says " +
                  std::to_string(*binary_size));
      }
      if (static_cast<uint64_t>(*binary_size) > binary.size() - offset) {
        throw bad(what + ": binary_data_size " + std::to_string(*binary_size) + " runs past the body (" +
                  std::to_string(binary.size() - offset) + " bytes left)");
      }
      tensor = at::empty(shape, at::TensorOptions().dtype(dtype));
      if (expected) std::memcpy(tensor.data_ptr(), binary.data() + offset, static_cast<size_t>(expected));
      offset += static_cast<size_t>(expected);
    } else {
      if (data == input.end()) throw bad(what + ": needs \"data\" or parameters.binary_data_size");
      tensor = tensor_from_json_data(*data, shape, count, dtype, datatype->get<std::string>(), what);
    }
    request.inputs.emplace(name->get<std::string>(), std::move(tensor));
  }
  if (offset != binary.size()) {
    throw bad("the body carries " + std::to_string(binary.size() - offset) + " bytes after the JSON header that no input claims");
  }

  if (const auto outputs = root.find("outputs"); outputs != root.end()) {
    if (!outputs->is_array()) throw bad("\"outputs\" must be a list of {\"name\"}");
    for (size_t i = 0; i < outputs->size(); ++i) {
      const json& output = (*outputs)[i];
      const std::string what = "output " + std::to_string(i);
      if (!output.is_object() || !output.contains("name") || !output["name"].is_string()) {
        throw bad(what + ": expected {\"name\": \"...\"}");
      }
      const json* output_parameters = parameters_of(output, what);
      if (parameter<int64_t>(output_parameters, "classification", "an integer >= 0", what).value_or(0) > 0) {
        throw bad(what + ": the classification extension is not supported by tsrt_serve");
      }
      request.outputs.push_back({output["name"].get<std::string>(),
                                 parameter<bool>(output_parameters, "binary_data", "a boolean", what).value_or(request.binary_outputs)});
    }
  }
  return request;
}

EncodedResponse encode_infer_response(const std::string& model_name, const InferRequest& request,
                                      const c10::IValue& output, const std::vector<std::string>& output_names) {
  std::vector<tsrt::OutputLeaf> leaves;
  for (tsrt::OutputLeaf& leaf : tsrt::flatten_outputs(output, output_names)) {
    if (!leaf.value.isNone()) leaves.push_back(std::move(leaf));  // the protocol has no None
  }
  std::vector<std::pair<const tsrt::OutputLeaf*, bool>> chosen;  // (leaf, binary)
  if (request.outputs.empty()) {
    for (const tsrt::OutputLeaf& leaf : leaves) chosen.emplace_back(&leaf, request.binary_outputs);
  } else {
    for (const RequestedOutput& wanted : request.outputs) {
      const tsrt::OutputLeaf* found = nullptr;
      for (const tsrt::OutputLeaf& leaf : leaves) {
        if (leaf.path == wanted.name) found = &leaf;
      }
      if (!found) {
        std::string names;
        for (const tsrt::OutputLeaf& leaf : leaves) names += (names.empty() ? "" : ", ") + leaf.path;
        throw bad("unknown output '" + excerpt_text(wanted.name) + "'; the model's outputs are: " + names);
      }
      chosen.emplace_back(found, wanted.binary);
    }
  }

  json outputs = json::array();
  std::string binary;
  for (const auto& [leaf, as_binary] : chosen) {
    json entry = {{"name", leaf->path}};
    if (leaf->value.isString()) {
      const std::string& text = leaf->value.toStringRef();
      entry["datatype"] = "BYTES";
      entry["shape"] = {1};
      if (as_binary) {
        // BYTES elements travel as a 4-byte little-endian length, then the bytes.
        const uint32_t length = static_cast<uint32_t>(text.size());
        binary.append(reinterpret_cast<const char*>(&length), 4).append(text);
        entry["parameters"] = {{"binary_data_size", 4 + text.size()}};
      } else {
        entry["data"] = {text};
      }
    } else {
      const at::Tensor tensor = tsrt::leaf_as_tensor(leaf->value).cpu().contiguous();
      entry["datatype"] = datatype_name(tensor.scalar_type());
      entry["shape"] = tensor.sizes().vec();
      if (as_binary) {
        const size_t bytes = tensor.numel() * tensor.element_size();
        binary.append(static_cast<const char*>(tensor.data_ptr()), bytes);  // little-endian, row-major, as the extension says
        entry["parameters"] = {{"binary_data_size", bytes}};
      } else {
        entry["data"] = json_data(tensor);
      }
    }
    outputs.push_back(std::move(entry));
  }
  json response = {{"model_name", model_name}, {"model_version", "1"}, {"outputs", std::move(outputs)}};
  if (!request.id.empty()) response["id"] = request.id;
  EncodedResponse encoded{dump_json(response)};
  if (!binary.empty() || std::any_of(chosen.begin(), chosen.end(), [](const auto& c) { return c.second; })) {
    encoded.header_length = encoded.body.size();
    encoded.body += binary;
  }
  return encoded;
}

nlohmann::json model_metadata_json(const ModelInfo& info) {
  auto describe = [](const std::vector<TensorInfo>& tensors) {
    json list = json::array();
    for (const TensorInfo& tensor : tensors) {
      // A file without a tsrt contract says nothing of its inputs' dtype or rank.
      const std::string datatype = !tensor.known ? "" : tensor.is_string ? "BYTES" : datatype_name(tensor.dtype);
      list.push_back({{"name", tensor.name}, {"datatype", datatype}, {"shape", tensor.dims}});
    }
    return list;
  };
  return {{"name", info.name},
          {"versions", {"1"}},
          {"platform", info.platform},
          {"inputs", describe(info.inputs)},
          {"outputs", describe(info.outputs)}};
}

}  // namespace tsrt_serve
