#include "tsrt/model_summary.h"

#include <torch/csrc/jit/runtime/operator.h>

#include <set>
#include <fstream>

#include <unistd.h>

#include "archive_code.h"
#include "model_file.h"
#include "regular_file.h"
#include "tsrt/error.h"

namespace tsrt {

namespace {

// A string argument that names a file: aten::from_file(filename), aten::save(filename).
// Read off each schema in the registry, so an operator added to LibTorch that takes a
// path is caught without a list here knowing its name.
bool takes_a_path(const c10::FunctionSchema& schema) {
  for (const c10::Argument& argument : schema.arguments()) {
    const c10::TypePtr type = argument.type();
    const bool text = type->kind() == c10::TypeKind::StringType ||
                      (type->kind() == c10::TypeKind::OptionalType &&
                       type->castRaw<c10::OptionalType>()->getElementType()->kind() == c10::TypeKind::StringType);
    const std::string& name = argument.name();
    if (text && (name.find("file") != std::string::npos || name.find("path") != std::string::npos ||
                 name == "f" || name.find("dir") != std::string::npos)) {
      return true;
    }
  }
  return false;
}

// What no schema shows: printing, raising, warnings, process-wide state, the network.
bool reaches_outside_by_name(const std::string& op) {
  static const std::set<std::string> kNamed = {
      "prim::Print",     "prim::RaiseException", "aten::warn",          "prim::PythonOp",
      "aten::manual_seed", "aten::seed",         "aten::set_grad_enabled", "aten::set_num_threads",
      "aten::set_num_interop_threads",
  };
  return kNamed.count(op) != 0 || op.rfind("prim::rpc_", 0) == 0;
}

bool in_core_namespaces(const std::string& op) { return op.rfind("aten::", 0) == 0 || op.rfind("prim::", 0) == 0; }

}  // namespace

bool reaches_outside_tensors(const std::string& op) {
  // Every custom operator: what its library does is machine code tsrt cannot see.
  if (!in_core_namespaces(op)) return true;
  if (reaches_outside_by_name(op)) return true;
  for (const auto& registered : torch::jit::getAllOperatorsFor(c10::Symbol::fromQualString(op))) {
    if (takes_a_path(registered->schema())) return true;
  }
  return false;
}

std::vector<std::string> outside_reaching_operators() {
  std::set<std::string> found;
  for (const auto& registered : torch::jit::getAllOperators()) {
    const std::string name = registered->schema().name();
    if (!in_core_namespaces(name)) continue;
    if (reaches_outside_by_name(name) || takes_a_path(registered->schema())) found.insert(name);
  }
  for (const std::string& op : {"prim::Print", "prim::RaiseException", "prim::PythonOp"}) found.insert(op);
  return {found.begin(), found.end()};
}

CodeAudit audit_code(const std::string& path) {
  const detail::ModelFile file = detail::identify_model_file(path);
  if (file.format == detail::ModelFormat::kAOTInductor) {
    throw Error(ErrorCode::kUnsupported, "model file '" + path + "' is a compiled AOTInductor package: its operators "
                                         "are machine code, with no source to audit");
  }
  const detail::ArchiveCode code = detail::scan_archive_code(path, file.entries);
  CodeAudit audit;
  for (const auto& [op, record] : code.operators) {
    audit.operators.push_back(op);
    if (reaches_outside_tensors(op)) audit.audit_operators.push_back(op);
  }
  audit.runs_at_load = code.runs_at_load;
  return audit;
}

bool operator_allowed(const std::string& op, const std::vector<std::string>& allow_list) {
  for (const std::string& entry : allow_list) {
    if (entry == op) return true;
    const size_t star = entry.find("::*");
    if (star != std::string::npos && star + 3 == entry.size() && op.compare(0, star + 2, entry, 0, star + 2) == 0) {
      return true;
    }
  }
  return false;
}

std::vector<std::string> read_operator_list(const std::string& path) {
  // A FIFO or device as the list must not block: only a regular file is read.
  try {
    ::close(detail::open_regular_file(path, "operator allow-list"));
  } catch (const Error& e) {
    throw Error(ErrorCode::kIO, std::string("cannot read the operator allow-list: ") + e.what());
  }
  std::ifstream file(path);
  if (!file) throw Error(ErrorCode::kIO, "cannot read the operator allow-list '" + path + "'");
  std::vector<std::string> operators;
  std::string line;
  while (std::getline(file, line)) {
    line = line.substr(0, line.find('#'));
    const size_t start = line.find_first_not_of(" \t\r");
    const size_t end = line.find_last_not_of(" \t\r");
    if (start != std::string::npos) operators.push_back(line.substr(start, end - start + 1));
  }
  return operators;
}

}  // namespace tsrt
