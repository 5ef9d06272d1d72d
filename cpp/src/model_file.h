#pragma once
// Recognises a model file's format from its bytes (never from its name) and
// explains load failures in terms a user can act on.

#include <string>

namespace tsrt::detail {

enum class ModelFormat { kTorchScript, kAOTInductor };

/// Opens `path` and looks at its contents. Throws Error(kIO) when it can't be
/// read, Error(kInvalidModel) when it is not a zip archive of a known model format
/// (with a hint for the common mistakes: a torch.save pickle, an ONNX file).
ModelFormat identify_model_file(const std::string& path);

/// A message for a torch::jit::load failure of `path`: the cause first, the fix
/// when the cause is a known one (unknown custom op, newer file version).
std::string explain_load_failure(const std::string& path, const std::string& torch_message);

}  // namespace tsrt::detail
