#pragma once
// Recognises a model file's format from its bytes (never from its name) and
// explains load failures in terms a user can act on.

#include <string>
#include <vector>

#include "archive_check.h"

namespace tsrt::detail {

enum class ModelFormat { kTorchScript, kAOTInductor };

struct ModelFile {
  ModelFormat format = ModelFormat::kTorchScript;
  /// Tensor storages (data/...) whose CRC-32 is still to be checked: raw bytes
  /// cannot derail LibTorch's reader, so their (long) check runs beside the load.
  std::vector<ArchiveEntry> unchecked_storages;
  /// Names of the archive's extra files (torch.jit.save's _extra_files), "extra/" stripped.
  std::vector<std::string> extra_files;
  /// The extra files' records, in the order of extra_files: an AOTInductor package's
  /// loader does not read them, so tsrt does (read_entry).
  std::vector<ArchiveEntry> extra_entries;
  /// An AOTInductor package's compiled models (data/aotinductor/<name>/), sorted.
  std::vector<std::string> aoti_models;
  /// Every entry, checked (names safe, sizes within the file): a package's are
  /// extracted by tsrt (package_dir.h).
  std::vector<ArchiveEntry> entries;
};

/// Opens `path` and looks at its contents: the archive's structure and the
/// checksums of everything but tensor storages. Throws Error(kIO) when it can't
/// be read, Error(kInvalidModel) when it is damaged or not a zip archive of a known
/// model format (with a hint for the common mistakes: a torch.save pickle, ONNX).
ModelFile identify_model_file(const std::string& path);

/// A message for a torch::jit::load failure of `path`: the cause first, the fix
/// when the cause is a known one (unknown custom op, newer file version).
std::string explain_load_failure(const std::string& path, const std::string& torch_message);

}  // namespace tsrt::detail
