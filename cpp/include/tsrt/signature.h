#pragma once
// What a method of a loaded model takes and returns, as read from its schema
// (and, for files tsrt exported, refined by the file's metadata).

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tsrt/tensor_spec.h"

namespace tsrt {

struct InputNode;

/// One argument of a method, `self` excluded.
struct ArgumentInfo {
  std::string name;      ///< the parameter name in the model's forward()
  std::string type;      ///< TorchScript type, e.g. "Tensor", "int", "List[Tensor]", "Optional[Tensor]"
  bool has_default = false;
  std::string default_value;         ///< printed default, when has_default
  std::optional<TensorSpec> spec;    ///< dtype/shape from tsrt metadata, when the file has it
  /// A structured argument's tree (dict, tuple, list, scalar, None) from tsrt metadata
  /// (tsrt/input_tree.h): calls are checked against it, naming the path of what is wrong.
  std::shared_ptr<const InputNode> tree;
  /// Bound to its example value at export (a trace cannot take a scalar or None): not
  /// an argument of the captured graph. A call may leave it out or pass that same value.
  bool fixed = false;
};

/// The signature of one method.
struct MethodSignature {
  std::string method;
  std::vector<ArgumentInfo> inputs;
  std::string return_type;                ///< TorchScript type of the result
  std::vector<std::string> output_names;  ///< from tsrt metadata; empty when unknown
  bool has_fixed_inputs = false;          ///< some input is `fixed` (run() drops those before the graph)

  /// Number of inputs without a default value: the fewest a caller must pass.
  size_t required_inputs() const;
  /// "forward(x: Tensor float32[N, 64], k: int = 3) -> Tensor"
  std::string to_string() const;
};

}  // namespace tsrt
