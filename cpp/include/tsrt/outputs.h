#pragma once
// Flattening a model's output (tensors inside tuples, lists and dicts, scalars,
// None) into a list of leaves with readable paths, for printing and saving.

#include <string>
#include <vector>

#include <ATen/core/ivalue.h>

namespace tsrt {

/// One leaf of an output structure.
struct OutputLeaf {
  /// Where the leaf sits: "logits", "output[1]['scores']", "hidden[0]".
  std::string path;
  c10::IValue value;  ///< a Tensor, int, float, bool, string or None
};

/// Walks `output` depth-first. `names` names the top-level outputs (the elements
/// of a returned tuple, or the single output); when empty they are "output" or
/// "output[i]".
std::vector<OutputLeaf> flatten_outputs(const c10::IValue& output, const std::vector<std::string>& names = {});

/// A leaf as a CPU tensor: tensors as they are, int/float/bool as 0-d int64,
/// float64 and bool tensors (how they are saved as .npy); undefined for None and str.
at::Tensor leaf_as_tensor(const c10::IValue& value);

/// A file-name-safe form of a path: "output[1]['scores']" -> "output_1_scores".
std::string path_to_filename(const std::string& path);

}  // namespace tsrt
