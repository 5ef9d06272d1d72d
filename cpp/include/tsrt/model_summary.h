#pragma once
// What is inside a loaded model: the operators its graphs use, how many weights
// it holds, and things that will bite at deployment (custom operators that need
// a library loaded, device constants baked in by tracing).

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace tsrt {

/// True for operators that touch anything but tensors (see ModelSummary::audit_operators):
/// every operator outside aten:: and prim:: (a custom library's machine code), every
/// registered operator with a string argument that names a file or path (read from its
/// schemas: aten::from_file, aten::save), printing, raising and warnings, process-wide
/// state (seeds, grad mode, threads) and RPC.
bool reaches_outside_tensors(const std::string& op);

/// Every aten:: and prim:: operator of this process's operator registry for which
/// reaches_outside_tensors is true, sorted: the list docs/security.md shows.
std::vector<std::string> outside_reaching_operators();

/// True when `op` matches an allow-list entry: an exact name ("aten::linear") or a
/// namespace wildcard ("aten::*").
bool operator_allowed(const std::string& op, const std::vector<std::string>& allow_list);

/// Reads an allow-list file: one operator (or "ns::*") a line; '#' starts a comment.
/// Throws Error(kIO) when it can't be read.
std::vector<std::string> read_operator_list(const std::string& path);

/// What the code of a TorchScript file can call, read from its archive without
/// loading it: nothing of the file runs (torch::jit::load would run a class's
/// __setstate__). What `tsrt inspect --audit` reports for a file that cannot be
/// loaded safely, and what LoadOptions::allowed_operators is checked against first.
struct CodeAudit {
  /// Operators the code calls by name (aten ops as functions or methods, ops.ns.name,
  /// print, raise), sorted. Control flow and list handling have no call syntax and
  /// are not listed: the loaded graphs' operators (ModelSummary) are exact.
  std::vector<std::string> operators;
  /// Those of `operators` that reach outside tensors (reaches_outside_tensors).
  std::vector<std::string> audit_operators;
  /// Code records that define __setstate__, which torch::jit::load runs.
  std::vector<std::string> runs_at_load;
};

/// Throws Error(kIO) when `path` cannot be read, Error(kInvalidModel) when it is
/// damaged, Error(kUnsupported) for a compiled package (machine code has no source).
CodeAudit audit_code(const std::string& path);

struct ModelSummary {
  /// Operator -> number of nodes using it, over every method of every submodule
  /// ("aten::linear" -> 3). Constants are not counted.
  std::map<std::string, int64_t> operators;
  /// Operators outside the aten and prim namespaces: the program that loads the
  /// model must load the library that registers them (e.g. torchvision::nms).
  std::vector<std::string> custom_operators;
  /// Operators that reach outside the tensor world: file reads (aten::from_file),
  /// printing, raising, warnings, global RNG/thread state, and every custom
  /// operator. What to review before running a file from someone else.
  std::vector<std::string> audit_operators;
  /// Device constants in the graphs ("cpu", "cuda:0"): tracing bakes in the device
  /// of every tensor the model creates, so such a model runs only there.
  std::vector<std::string> device_constants;
  int64_t parameter_count = 0;  ///< elements of parameters, buffers and frozen weight constants
  int64_t parameter_bytes = 0;
  std::string forward_code;     ///< TorchScript source of forward, as LibTorch prints it
  /// A compiled package (AOTInductor): machine code, so no operators or code to show.
  bool compiled = false;
  /// What a compiled package says about itself (AOTI_DEVICE_KEY, AOTI_CPU_ISA, ...).
  std::map<std::string, std::string> package_metadata;
  std::string runtime_torch_version;  ///< the libtorch this process runs
};

}  // namespace tsrt
