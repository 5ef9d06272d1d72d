#pragma once
// What is inside a loaded model: the operators its graphs use, how many weights
// it holds, and things that will bite at deployment (custom operators that need
// a library loaded, device constants baked in by tracing).

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace tsrt {

/// True for operators that touch anything but tensors (see ModelSummary::audit_operators).
bool reaches_outside_tensors(const std::string& op);

/// True when `op` matches an allow-list entry: an exact name ("aten::linear") or a
/// namespace wildcard ("aten::*").
bool operator_allowed(const std::string& op, const std::vector<std::string>& allow_list);

/// Reads an allow-list file: one operator (or "ns::*") a line; '#' starts a comment.
/// Throws Error(kIO) when it can't be read.
std::vector<std::string> read_operator_list(const std::string& path);

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
