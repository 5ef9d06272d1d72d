#pragma once
// LoadOptions: how tsrt::Model::load reads, checks and prepares a model file.
// Its own header, free of LibTorch, so that front ends that only fill options
// (the infer CLI's flag table) compile fast.
//
// Each field has one name everywhere: here, in tsrt._C.LoadOptions, as a keyword
// of tsrt.load(), and as ./infer's flag (the name with dashes: --check-inputs /
// --no-check-inputs, --allowed-operators FILE).

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "tsrt/optimize.h"

namespace tsrt {

/// How to load a model.
struct LoadOptions {
  /// "cpu", "cuda" or "cuda:N".
  std::string device = "cpu";
  /// Check inputs against the file's metadata (dtype, rank, fixed dims) before
  /// running. Turn off only to let LibTorch see inputs the contract forbids.
  bool check_inputs = true;
  /// When set, refuse a model whose graphs use an operator outside this list
  /// (exact names, or "ns::*" for a namespace). For files from outside your team:
  /// a TorchScript file is a program. Checked twice: on the archive's code before
  /// torch::jit::load (which runs a class's __setstate__), then on every loaded graph.
  /// A compiled package (.pt2) is refused: its operators are machine code.
  std::optional<std::vector<std::string>> allowed_operators;
  /// Read the file to describe it (tsrt inspect, infer --info) without running any
  /// of its code: a compiled package's library is not loaded (run() throws
  /// Error(kUnsupported)), and a TorchScript file whose __setstate__ would run
  /// inside torch::jit::load is refused when its code reaches outside tensors.
  /// No optimisation, warm-up or thread probe either.
  bool describe_only = false;
  /// Verify the CRC-32 of every weight storage (LibTorch does not: a flipped byte
  /// in a weight loads silently). Costs ~0.1 s per GB on one core, overlapped with
  /// the load; turn off only for files whose integrity is checked otherwise.
  bool verify_checksums = true;
  /// Freezing, graph optimisation, precision, warm-up: see tsrt/optimize.h.
  OptimizeOptions optimize;
  /// Largest input, in bytes, that front ends make for this model (random inputs
  /// from --shape or the metadata, .npy files): see tsrt/input_limit.h. 0: no fixed
  /// limit; inputs larger than the memory available are refused either way.
  uint64_t max_input_bytes = 0;
};

}  // namespace tsrt
