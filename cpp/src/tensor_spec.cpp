#include "tsrt/tensor_spec.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <array>
#include <utility>

#include "tsrt/error.h"
#include "tsrt/input_limit.h"

namespace tsrt {
namespace {

// numpy's names, which users type and which tsrt writes into metadata.
const std::array<std::pair<const char*, c10::ScalarType>, 15> kDtypeNames = {{
    {"bool", c10::ScalarType::Bool},
    {"uint8", c10::ScalarType::Byte},
    {"int8", c10::ScalarType::Char},
    {"int16", c10::ScalarType::Short},
    {"int32", c10::ScalarType::Int},
    {"int64", c10::ScalarType::Long},
    {"uint16", c10::ScalarType::UInt16},
    {"uint32", c10::ScalarType::UInt32},
    {"uint64", c10::ScalarType::UInt64},
    {"float16", c10::ScalarType::Half},
    {"bfloat16", c10::ScalarType::BFloat16},
    {"float32", c10::ScalarType::Float},
    {"float64", c10::ScalarType::Double},
    {"complex64", c10::ScalarType::ComplexFloat},
    {"complex128", c10::ScalarType::ComplexDouble},
}};

}  // namespace

bool TensorSpec::is_dynamic(int64_t dim) const {
  return std::find(dynamic_dims.begin(), dynamic_dims.end(), dim) != dynamic_dims.end();
}

std::string TensorSpec::to_string() const {
  std::string text = dtype_name(dtype) + "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) text += ", ";
    text += is_dynamic(static_cast<int64_t>(i)) ? "N" + std::to_string(i) : std::to_string(shape[i]);
  }
  return text + "]";
}

std::string dtype_name(c10::ScalarType dtype) {
  for (const auto& [name, type] : kDtypeNames) {
    if (type == dtype) return name;
  }
  return c10::toString(dtype);
}

c10::ScalarType dtype_from_name(const std::string& name) {
  std::string known;
  for (const auto& [candidate, type] : kDtypeNames) {
    if (name == candidate) return type;
    known += (known.empty() ? "" : ", ") + std::string(candidate);
  }
  throw Error(ErrorCode::kInvalidArgument, "unknown dtype '" + name + "'; expected one of " + known);
}

TensorSpec parse_tensor_spec(const std::string& text) {
  const std::string usage = "bad tensor spec '" + text + "': expected NAME=DIMxDIM...[:DTYPE], e.g. x=1x3x224x224:float32";
  const size_t equals = text.find('=');
  if (equals == std::string::npos || equals == 0) throw Error(ErrorCode::kInvalidArgument, usage);
  TensorSpec spec;
  spec.name = text.substr(0, equals);
  std::string dims = text.substr(equals + 1);
  const size_t colon = dims.find(':');
  if (colon != std::string::npos) {
    spec.dtype = dtype_from_name(dims.substr(colon + 1));
    dims = dims.substr(0, colon);
  }
  size_t start = 0;
  while (!dims.empty() && start <= dims.size()) {
    const size_t end = std::min(dims.find('x', start), dims.size());
    const std::string dim = dims.substr(start, end - start);
    if (dim.empty() || dim.size() > 12 || !std::all_of(dim.begin(), dim.end(), ::isdigit)) {
      throw Error(ErrorCode::kInvalidArgument, usage);
    }
    spec.shape.push_back(std::stoll(dim));
    start = end + 1;
  }
  return spec;
}

at::Tensor random_tensor(const TensorSpec& spec, uint64_t seed, uint64_t max_bytes) {
  // Before any allocation: "--shape x=100000x100000x100" is a few characters. The
  // values are drawn as double or int64 (8 bytes) and converted: that, the scaled
  // copy and the result are alive at once.
  const size_t itemsize = c10::elementSize(spec.dtype);
  check_input_bytes("input '" + spec.name + "'", spec.shape, itemsize, max_bytes, (16 + 2 * itemsize - 1) / itemsize);
  at::Generator generator = at::make_generator<at::CPUGeneratorImpl>(seed);
  const at::IntArrayRef shape(spec.shape);
  const auto options = at::TensorOptions().dtype(spec.dtype);
  if (spec.dtype == c10::ScalarType::Bool) {
    return at::randint(0, 2, shape, generator, at::TensorOptions().dtype(c10::ScalarType::Long)).to(c10::kBool);
  }
  if (at::isFloatingType(spec.dtype) || at::isComplexType(spec.dtype)) {
    const double low = spec.has_value_range ? spec.low : -1.0;
    const double high = spec.has_value_range ? spec.high : 1.0;
    return (at::rand(shape, generator, at::TensorOptions().dtype(c10::kDouble)) * (high - low) + low).to(options);
  }
  const int64_t low = spec.has_value_range ? static_cast<int64_t>(spec.low) : 0;
  const int64_t high = spec.has_value_range ? static_cast<int64_t>(spec.high) : 10;
  return at::randint(low, high, shape, generator, at::TensorOptions().dtype(c10::kLong)).to(options);
}

std::vector<c10::IValue> random_inputs(const std::vector<TensorSpec>& specs, uint64_t max_bytes) {
  std::vector<c10::IValue> inputs;
  for (size_t i = 0; i < specs.size(); ++i) inputs.push_back(random_tensor(specs[i], i, max_bytes));
  return inputs;
}

std::string shape_text(at::IntArrayRef shape) {
  std::string text;
  for (size_t i = 0; i < shape.size(); ++i) text += (i ? "x" : "") + std::to_string(shape[i]);
  return text;
}

std::string shape_string(at::IntArrayRef shape) {
  std::string text = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) text += ", ";
    text += std::to_string(shape[i]);
  }
  return text + "]";
}

}  // namespace tsrt
