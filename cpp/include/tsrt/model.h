#pragma once
// tsrt::Model: a model file loaded on a device, ready to run.
//
//   tsrt::Model model = tsrt::Model::load("resnet.pt", {.device = "cuda:0"});
//   c10::IValue out = model.forward({torch::rand({1, 3, 224, 224})});
//
// One Model serves many threads: run() and forward() are const and may be called
// concurrently. Copies are cheap and share the loaded module.

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <ATen/core/ivalue.h>
#include <c10/core/Device.h>

#include "tsrt/error.h"
#include "tsrt/load_options.h"
#include "tsrt/metadata.h"
#include "tsrt/model_summary.h"
#include "tsrt/signature.h"

namespace tsrt {

namespace detail {
class LoadedModel;
}

class Model {
 public:
  /// Loads a TorchScript file (torch.jit.save) or an AOTInductor package (.pt2,
  /// aoti_compile_and_package; the format is read from the contents) onto `options.device`.
  /// Throws Error(kIO) if the file can't be read, Error(kInvalidModel) if it is not
  /// a loadable model (naming the file and the reason), Error(kUnsupported) for a
  /// device this process lacks, a package compiled for another device, or an
  /// allow-list given for a package (its operators are machine code).
  static Model load(const std::string& path, const LoadOptions& options = {});

  /// The path given to load().
  const std::string& path() const;
  /// The device the model runs on; inputs are moved there.
  c10::Device device() const;
  /// The file format: "torchscript" or "aoti".
  std::string format() const;
  /// What load() did to make the model fast, one line a step ("froze the module",
  /// "optimize_for_inference", "InferenceMode on every call", ...).
  const std::vector<std::string>& optimizations() const;
  /// What the model compiled while serving, a line each: for a TorchScript file with
  /// dynamic dimensions and convolutions, each input shape fused in oneDNN so far
  /// (compile time, calls served) and the calls that ran unfused. Empty otherwise.
  std::vector<std::string> runtime_report() const;
  /// Wall time of load(), in milliseconds: reading, checking, optimising, warm-up,
  /// and the thread probe of adaptive_threads.
  double load_ms() const;

  /// Names of the methods that can be run: "forward" and @torch.jit.export methods.
  std::vector<std::string> method_names() const;
  bool has_method(const std::string& method) const;
  /// Arguments and return type of `method`. Throws Error(kInvalidArgument) for an unknown method.
  MethodSignature signature(const std::string& method = "forward") const;

  /// All extra files of the archive (torch.jit.save's _extra_files), by name.
  const std::map<std::string, std::string>& extra_files() const;
  /// The tsrt metadata, when the file was exported by tsrt.
  const std::optional<ModelMetadata>& metadata() const;

  /// Operators with counts, weight count and size, custom operators, device
  /// constants and the forward code. Walks every graph: not for the hot path.
  ModelSummary summary() const;

  /// Runs `method` on positional inputs under c10::InferenceMode. Tensors are moved
  /// to the model's device; outputs stay there. Inputs are checked first: count and
  /// type against the schema, dtype/rank/fixed dims against the metadata; a bad
  /// input throws Error(kInvalidArgument) naming it. A failure inside the model
  /// throws Error(kRuntime) naming the model, the method and the input shapes.
  /// A forward call no larger than what load measured faster on one thread runs on
  /// the calling thread alone (OptimizeOptions::adaptive_threads); the thread's
  /// OpenMP and MKL counts are the same after the call as before.
  c10::IValue run(const std::string& method, std::vector<c10::IValue> inputs) const;

  /// Same, with inputs by name; throws Error(kInvalidArgument) for unknown or missing names.
  c10::IValue run(const std::string& method, const std::map<std::string, c10::IValue>& inputs) const;

  /// run("forward", inputs).
  c10::IValue forward(std::vector<c10::IValue> inputs) const;

 private:
  explicit Model(std::shared_ptr<const detail::LoadedModel> loaded);
  // Runs every method whose input shapes the metadata declares; says what it did.
  std::string warm_up(int runs) const;
  const MethodSignature& signature_of(const std::string& method) const;
  std::shared_ptr<const detail::LoadedModel> loaded_;
};

}  // namespace tsrt
