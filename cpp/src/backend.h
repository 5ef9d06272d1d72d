#pragma once
// The seam between tsrt::Model and a model format: TorchScript files
// (torchscript_backend.*) and AOTInductor packages (aoti_backend.*).

#include <functional>
#include <map>
#include <string>
#include <vector>

#include <ATen/core/ivalue.h>
#include <c10/core/Device.h>

#include "tsrt/model_summary.h"
#include "tsrt/optimize.h"
#include "tsrt/signature.h"

namespace tsrt::detail {

class Backend {
 public:
  virtual ~Backend() = default;

  virtual std::string format() const = 0;
  /// Load-time optimisation, called once after the file's own operators were
  /// audited (the allow-list judges the file, not what tsrt rewrote it into).
  /// `fixed_shapes`: the metadata declares every input of every method with no
  /// dynamic dimension. Appends a line per step to `applied`.
  virtual void optimize(const OptimizeOptions& options, bool fixed_shapes, std::vector<std::string>& applied) {
    (void)options;
    (void)fixed_shapes;
    applied.push_back(format() + ": no load-time optimisation");
  }
  /// Calls at the declared input shapes that load should make before the model
  /// serves (a backend that compiles lazily asks for them), beyond what the user asked.
  virtual int warmup_calls_wanted() const { return 0; }
  virtual std::vector<std::string> method_names() const = 0;
  /// The schema-derived signature (no metadata); `method` is known to exist.
  virtual MethodSignature schema_signature(const std::string& method) const = 0;
  /// Throws Error(kInvalidArgument) when an input's type does not fit the schema
  /// (the count was checked already). Widens an int given for a float argument,
  /// as Python does.
  virtual void coerce_input_types(const std::string& method, std::vector<c10::IValue>& inputs) const = 0;
  /// Operators, weights and deployment hazards of the loaded model.
  virtual ModelSummary summary() const = 0;
  /// What the backend compiled or chose while serving (shapes fused so far, ...), a
  /// line each; read on demand, not on the hot path.
  virtual std::vector<std::string> runtime_report() const { return {}; }
  /// Runs `method`; called under InferenceMode with inputs already on device().
  /// LibTorch's exceptions pass through: Model wraps them.
  virtual c10::IValue run(const std::string& method, std::vector<c10::IValue> inputs) const = 0;
};

}  // namespace tsrt::detail
