#pragma once
// The contract a tsrt export writes into a model file (the extra file
// "tsrt.json"): input specs per method, output names, how and with what torch it
// was exported. Files from elsewhere have none; tsrt then falls back to schemas.

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "tsrt/input_tree.h"
#include "tsrt/tensor_spec.h"

namespace tsrt {

/// Name of the extra file that holds the metadata inside a model archive.
inline constexpr const char* kMetadataFile = "tsrt.json";
/// The newest tsrt.json layout this build reads (2: inputs as trees).
inline constexpr int kMetadataFormatVersion = 2;

struct MethodMetadata {
  /// Every argument as a tree (format_version 2; a version-1 file's flat specs read as
  /// tensor nodes), in the order of the Python method's parameters.
  std::vector<InputNode> input_nodes;
  /// The specs of the arguments that are plain tensors (the tensor nodes of input_nodes).
  std::vector<TensorSpec> inputs;

  /// True when some argument is not a plain tensor (a dict, tuple, list, scalar or None).
  bool has_structured_inputs() const;
  std::vector<std::string> output_names;  ///< names of the top-level outputs; empty when unnamed
  /// What eager PyTorch returned, as a TorchScript type ("Tuple[Tensor, None, int]");
  /// empty when the file does not say.
  std::string output_structure;
};

/// One golden input/output pair recorded from eager PyTorch at export time.
/// Tensors are .npy extra files of the archive; a structured argument's are its tensor
/// leaves (InputNode::leaves), rebuilt into the argument with input_from_leaves.
struct GoldenPair {
  std::string method = "forward";
  std::vector<std::string> input_files;  ///< one extra file per tensor leaf of the inputs, in order
  /// (output path as flatten_outputs names it, extra file; empty for a None output)
  std::vector<std::pair<std::string, std::string>> output_files;
};

struct ModelMetadata {
  int format_version = 0;
  std::string producer;       ///< e.g. "tsrt 0.1.0"
  std::string torch_version;  ///< torch that exported the file
  std::string created;        ///< UTC time of the export, ISO 8601
  std::string export_mode;    ///< "trace", "script", "mixed", "torch.export"
  std::string export_reason;  ///< why that capture was chosen
  std::string source;         ///< qualified name of the exported Python module
  std::vector<std::string> findings;  ///< what the export checks found, one line each
  std::map<std::string, MethodMetadata> methods;
  std::vector<GoldenPair> golden;
  double atol = 1e-5;  ///< parity tolerance recorded at export: |a - e| <= atol + rtol * |e|
  double rtol = 1e-4;
  /// The whole document as read, for fields this build does not model ("frozen",
  /// "format", "range_constraints", and whatever later writers add).
  std::string json;

  /// The metadata of `method`, or nullptr when the file does not describe it.
  const MethodMetadata* method(const std::string& name) const;
};

/// Parses the text of a tsrt.json extra file (docs/tsrt.schema.json; to_json in
/// tsrt/json.h writes it back). Fields other than format_version may be absent and
/// take the defaults above. Throws Error(kInvalidModel) naming `source` when it is
/// not valid metadata (not JSON, no format_version, a version newer than
/// kMetadataFormatVersion, an unknown dtype or input kind, a negative dimension, a
/// golden pair without inputs or outputs).
ModelMetadata parse_metadata(const std::string& json_text, const std::string& source);

}  // namespace tsrt
