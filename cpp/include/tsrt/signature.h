#pragma once
// What a method of a loaded model takes and returns, as read from its schema
// (and, for files tsrt exported, refined by the file's metadata).

#include <optional>
#include <string>
#include <vector>

#include "tsrt/tensor_spec.h"

namespace tsrt {

/// One argument of a method, `self` excluded.
struct ArgumentInfo {
  std::string name;      ///< the parameter name in the model's forward()
  std::string type;      ///< TorchScript type, e.g. "Tensor", "int", "List[Tensor]", "Optional[Tensor]"
  bool has_default = false;
  std::string default_value;         ///< printed default, when has_default
  std::optional<TensorSpec> spec;    ///< dtype/shape from tsrt metadata, when the file has it
};

/// The signature of one method.
struct MethodSignature {
  std::string method;
  std::vector<ArgumentInfo> inputs;
  std::string return_type;                ///< TorchScript type of the result
  std::vector<std::string> output_names;  ///< from tsrt metadata; empty when unknown

  /// Number of inputs without a default value: the fewest a caller must pass.
  size_t required_inputs() const;
  /// "forward(x: Tensor float32[N, 64], k: int = 3) -> Tensor"
  std::string to_string() const;
};

}  // namespace tsrt
