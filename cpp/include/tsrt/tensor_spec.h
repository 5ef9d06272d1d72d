#pragma once
// TensorSpec: a named tensor's dtype and shape, with the dimensions that may vary.
// tsrt model files declare one per input; the CLI parses one from
// "--shape x=1x3x224x224:float32" to make random inputs.

#include <cstdint>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>
#include <ATen/core/ivalue.h>

namespace tsrt {

struct TensorSpec {
  std::string name;
  c10::ScalarType dtype = c10::ScalarType::Float;
  std::vector<int64_t> shape;         ///< the example shape; every entry >= 0
  std::vector<int64_t> dynamic_dims;  ///< dimensions whose size may differ at run time
  bool has_value_range = false;       ///< random values drawn from [low, high) when set
  double low = 0.0;
  double high = 0.0;

  bool is_dynamic(int64_t dim) const;
  /// "float32[N, 3, 224, 224]": the dtype, and the shape with dynamic dims marked.
  std::string to_string() const;
};

/// Parses "NAME=DIMxDIM...[:DTYPE]" (dtype defaults to float32); a spec for a 0-d
/// tensor is "NAME=:float32". Throws Error(kInvalidArgument) with the expected form.
TensorSpec parse_tensor_spec(const std::string& text);

/// "float32" for kFloat: the dtype names of numpy, which tsrt uses everywhere.
std::string dtype_name(c10::ScalarType dtype);
/// The inverse of dtype_name; throws Error(kInvalidArgument) listing valid names.
c10::ScalarType dtype_from_name(const std::string& name);

/// A random tensor of `spec` on the CPU: floats uniform in [-1, 1) (or the spec's
/// range), integers in [0, 10) (or the range), bools 0/1. Same seed, same tensor.
/// A shape that needs more than `max_bytes` (0: no fixed limit) or more memory
/// than is available is refused with Error(kInvalidArgument) before allocating.
at::Tensor random_tensor(const TensorSpec& spec, uint64_t seed, uint64_t max_bytes = 0);

/// One random_tensor per spec, the i-th seeded with i: inputs for a method whose
/// input shapes are all declared.
std::vector<c10::IValue> random_inputs(const std::vector<TensorSpec>& specs, uint64_t max_bytes = 0);

/// "[2, 3, 4]"
std::string shape_string(at::IntArrayRef shape);
/// "2x3x4", as --shape takes it; empty for a scalar.
std::string shape_text(at::IntArrayRef shape);

}  // namespace tsrt
