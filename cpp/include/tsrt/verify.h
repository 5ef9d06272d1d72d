#pragma once
// Verifying a model file against the golden input/output pairs that tsrt export
// recorded from eager PyTorch: does this runtime, on this device, still give the
// answers the model gave in Python?

#include <string>
#include <vector>

#include "tsrt/model.h"

namespace tsrt {

/// The comparison of one output leaf of one golden pair.
struct OutputCheck {
  size_t pair = 0;      ///< index of the golden pair
  std::string path;     ///< the output's path, e.g. "output[1]['scores']"
  bool passed = false;
  double max_abs = 0;   ///< max |actual - expected|
  double max_rel = 0;   ///< max |actual - expected| / max(|expected|, atol)
  std::string detail;   ///< why it failed (shape, dtype, missing), empty when passed
};

struct VerifyReport {
  std::string model_path;  ///< Model::path() of the verified model
  std::string device;      ///< the device it ran on, "cpu", "cuda:0"
  double atol = 0;
  double rtol = 0;
  std::vector<OutputCheck> checks;
  /// True when there are checks and every one passed.
  bool passed() const;
};

/// Runs every golden pair of `model` and compares each output with the recorded
/// one: |actual - expected| <= atol + rtol * |expected| elementwise, with the
/// file's tolerance (exact for integers and bools). Throws Error(kInvalidArgument)
/// when the file has no golden pairs, Error(kInvalidModel) when they are damaged.
VerifyReport verify_golden(const Model& model);

}  // namespace tsrt
