#pragma once
// torch.utils._pytree tree specs, as AOTInductor packages record them for their
// inputs and outputs (get_call_spec): which flat tensors form which tuple, list or
// dict. They turn the flat outputs of a compiled model back into the structure
// eager PyTorch returned.

#include <memory>
#include <string>
#include <vector>

#include <ATen/core/ivalue.h>

namespace tsrt::detail {

struct TreeSpec {
  enum class Kind { kLeaf, kTuple, kList, kDict, kNone };
  Kind kind = Kind::kLeaf;
  std::vector<c10::IValue> keys;  ///< dict keys (str or int), in order
  std::vector<TreeSpec> children;

  /// Number of leaves (flat tensors) under this node.
  size_t leaf_count() const;
  /// "Tensor", "Tuple[Tensor, Dict[str, Tensor]]": for signatures and messages.
  std::string to_string() const;
  /// Builds the structure from `leaves`, consumed in order from `next`.
  c10::IValue unflatten(const std::vector<at::Tensor>& leaves, size_t& next) const;
};

/// Parses a treespec_dumps() string. Throws std::invalid_argument for a node type
/// tsrt does not rebuild (a namedtuple or a custom class): callers fall back to a flat tuple.
TreeSpec parse_tree_spec(const std::string& text);

}  // namespace tsrt::detail
