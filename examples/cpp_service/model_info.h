#pragma once
// What tsrt_serve tells clients about a model (GET /v2/models/NAME) and what the
// batcher needs to know: input and output names, dtypes and shapes with -1 for the
// dimensions that vary. Inputs come from the file's contract; outputs are measured
// once at start-up, the way `tsrt triton-repo` measures them: forward runs on random
// inputs at the example sizes, again with every dynamic dimension one larger, and
// again with only the batch two larger. An output dimension that changed is -1.

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <c10/core/ScalarType.h>

#include "tsrt/model.h"

namespace tsrt_serve {

/// One input or output as the protocol describes it.
struct TensorInfo {
  std::string name;
  c10::ScalarType dtype = c10::ScalarType::Float;
  std::vector<int64_t> dims;  ///< -1 where the size varies
  bool is_string = false;     ///< a str output (BYTES)
  bool known = true;          ///< false for an input of a file without a tsrt contract
};

struct ModelInfo {
  std::string name;
  std::string platform;                   ///< "pytorch_libtorch" or "torch_aoti", as Triton names them
  std::vector<TensorInfo> inputs;
  std::vector<TensorInfo> outputs;        ///< leaves of forward's output, None leaves left out
  std::vector<std::string> output_names;  ///< top-level names for tsrt::flatten_outputs
  /// Why requests can't be stacked along dimension 0, or "" when they can: every
  /// input's dimension 0 is dynamic and every output leaf is a tensor whose
  /// dimension 0 follows it.
  std::string unbatchable;
};

/// Describes `model` under `name`; runs forward three times (see above) when the
/// file has a contract. Throws tsrt::Error when forward fails on its own example inputs.
ModelInfo describe_model(const std::string& name, const tsrt::Model& model);

/// Random forward inputs at the contract's example shapes, with dimension 0 set to
/// `batch` when batch >= 0 (tsrt::random_tensor: same seed, same tensors).
std::map<std::string, c10::IValue> random_inputs(const tsrt::Model& model, int64_t batch, uint64_t seed);

}  // namespace tsrt_serve
