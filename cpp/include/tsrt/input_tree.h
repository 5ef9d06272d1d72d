#pragma once
// InputNode: one argument of a method as a tree, as a tsrt model file's contract
// describes it (tsrt.json format_version 2; docs/tsrt.schema.json, python/tsrt/input_tree.py).
//
// An argument is a tensor, a dict (str keys, in order), a tuple, a list (of a fixed
// length, or of any length with every item like one element node), a scalar (int,
// float, bool) or None. Tensor leaves are named by their dotted path from the
// argument: "pair.0", "batch.input_ids", "images.2". A trace cannot take scalars or
// None: such arguments are `fixed` to their example value, which libtsrt supplies and
// no call may change.
//
//   const InputNode& batch = ...;                         // from ModelMetadata
//   check_input_tree(batch, value, "model 'm.pt', forward(): ");   // throws naming the path
//   c10::IValue random = random_input(batch, /*seed=*/0);

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <ATen/core/ivalue.h>

#include "tsrt/tensor_spec.h"

namespace tsrt {

struct InputNode {
  enum class Kind { kTensor, kDict, kTuple, kList, kScalar, kNone };
  enum class ScalarType { kInt, kFloat, kBool };

  Kind kind = Kind::kTensor;
  std::string name;               ///< dotted path from the argument ("batch.mask"); the argument's name at the root
  TensorSpec spec;                ///< kTensor: dtype, example shape, dynamic dims; spec.name == name
  std::vector<std::string> keys;  ///< kDict: one key per item, in order
  /// kDict, kTuple and fixed-length kList: the children. A variable-length kList has
  /// exactly one, the element node every item is checked against.
  std::vector<InputNode> items;
  bool variable_length = false;  ///< kList: takes any length (a scripted module)
  size_t length = 0;             ///< variable_length: the example's length (golden pairs, random inputs)
  ScalarType scalar_type = ScalarType::kInt;
  c10::IValue value;             ///< kScalar: the example value (int64, double or bool)
  /// kScalar and kNone: the file was captured with this value (a trace): libtsrt passes
  /// nothing for it and refuses another value.
  bool fixed = false;

  /// The items of a call at this node: a variable-length list's element repeated
  /// `count` times, renamed "<name>.<i>"; otherwise `items`.
  std::vector<InputNode> expanded(size_t count) const;
  /// The tensor leaves at the example's list lengths, depth-first (the golden files' order).
  std::vector<TensorSpec> leaves() const;
  /// True when this node is fixed (a bound scalar or None) and so not an argument of the captured graph.
  bool is_fixed() const { return fixed && (kind == Kind::kScalar || kind == Kind::kNone); }
  /// "Tensor", "Dict[str, Tensor]", "List[Tensor]", "Tuple[Tensor, Tensor]", "float", "None".
  std::string type_string() const;
  /// "float 0.5", "None": a scalar's or None's value, for signatures and messages.
  std::string value_string() const;
};

/// Checks `value` against `node`; throws Error(kInvalidArgument) starting with
/// `prefix` and naming the path: "input 'batch.mask' expects dtype int64, got float32",
/// "input 'batch' lacks key 'mask'", "input 'temperature' was fixed to 0.5 at export".
void check_input_tree(const InputNode& node, const c10::IValue& value, const std::string& prefix);

/// Builds the argument of `node` with each tensor leaf made by `leaf` (in depth-first
/// order), a variable-length list at its example length, scalars and None at their values.
c10::IValue build_input(const InputNode& node, const std::function<at::Tensor(const TensorSpec&)>& leaf);

/// The argument of `node` from tensors in leaves() order, consumed from `next`;
/// throws Error(kInvalidModel) when they run out (a golden pair that does not fit).
c10::IValue input_from_leaves(const InputNode& node, const std::vector<at::Tensor>& leaves, size_t& next);

/// A random argument of `node`: random_tensor for each leaf, seeded `seed`, `seed + 1`, ...
c10::IValue random_input(const InputNode& node, uint64_t seed, uint64_t max_bytes = 0);

}  // namespace tsrt
