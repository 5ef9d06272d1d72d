#pragma once
// The contract a tsrt export writes into a model file (the extra file
// "tsrt.json"): input specs per method, output names, how and with what torch it
// was exported. Files from elsewhere have none; tsrt then falls back to schemas.

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "tsrt/tensor_spec.h"

namespace tsrt {

/// Name of the extra file that holds the metadata inside a model archive.
inline constexpr const char* kMetadataFile = "tsrt.json";

struct MethodMetadata {
  std::vector<TensorSpec> inputs;
  std::vector<std::string> output_names;
};

/// One golden input/output pair recorded from eager PyTorch at export time.
/// Tensors are .npy extra files of the archive.
struct GoldenPair {
  std::string method = "forward";
  std::vector<std::string> input_files;  ///< one extra file per positional input
  /// (output path as flatten_outputs names it, extra file; empty for a None output)
  std::vector<std::pair<std::string, std::string>> output_files;
};

struct ModelMetadata {
  int format_version = 0;
  std::string producer;       ///< e.g. "tsrt 0.1.0"
  std::string torch_version;  ///< torch that exported the file
  std::string export_mode;    ///< "trace", "script", ...
  std::string source;         ///< qualified name of the exported Python module
  std::map<std::string, MethodMetadata> methods;
  std::vector<GoldenPair> golden;
  double atol = 1e-5;  ///< parity tolerance recorded at export: |a - e| <= atol + rtol * |e|
  double rtol = 1e-4;
  std::string json;           ///< the whole document, for fields this build does not model

  /// The metadata of `method`, or nullptr when the file does not describe it.
  const MethodMetadata* method(const std::string& name) const;
};

/// Parses the text of a tsrt.json extra file. Throws Error(kInvalidModel) naming
/// `source` when it is not valid metadata.
ModelMetadata parse_metadata(const std::string& json_text, const std::string& source);

}  // namespace tsrt
