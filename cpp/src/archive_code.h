#pragma once
// Reads the TorchScript source inside a model archive (its code/*.py records)
// without loading it: which operators the code can call, and whether loading it
// runs any of it. torch::jit::load runs a class's __setstate__ while it restores
// the object, so a check made on the loaded graphs comes after that code ran.

#include <map>
#include <string>
#include <vector>

#include "archive_check.h"

namespace tsrt::detail {

struct ArchiveCode {
  /// Operator -> the first code record that calls it ("aten::from_file" ->
  /// "code/__torch__.py"). Aten operators called as `torch.name(...)` or as a
  /// method `x.name(...)` (when aten::name is a registered operator), any
  /// `ops.ns.name(...)` as ns::name, `print(...)` as prim::Print and `raise` as
  /// prim::RaiseException. A superset of what the compiled graphs name, never less
  /// for those namespaces: control flow and list handling (prim::If, prim::ListConstruct)
  /// have no call syntax and are not listed.
  std::map<std::string, std::string> operators;
  /// Code records that define a __setstate__: torch::jit::load runs it.
  std::vector<std::string> runs_at_load;
};

/// Scans the code records among `entries` of the archive `path` (entries as
/// check_archive returned them). Throws Error(kInvalidModel) when a record is damaged.
ArchiveCode scan_archive_code(const std::string& path, const std::vector<ArchiveEntry>& entries);

/// The same scan over one record's source text, for tests and for scan_archive_code.
void scan_code_text(const std::string& text, const std::string& record, ArchiveCode& code);

}  // namespace tsrt::detail
