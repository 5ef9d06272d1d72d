#include "tsrt/verify.h"

#include <ATen/ATen.h>

#include <map>

#include "tsrt/input_tree.h"
#include "tsrt/npy.h"
#include "tsrt/outputs.h"

namespace tsrt {
namespace {

at::Tensor read_golden(const Model& model, const std::string& file) {
  auto found = model.extra_files().find(file);
  if (found == model.extra_files().end()) {
    throw Error(ErrorCode::kInvalidModel, "model file '" + model.path() + "' lacks golden record '" + file + "'");
  }
  return parse_npy(found->second.data(), found->second.size(), model.path() + ":" + file);
}

void compare(const at::Tensor& actual, const at::Tensor& expected, double atol, double rtol, OutputCheck& check) {
  if (!actual.defined()) {
    check.detail = "the output is not a tensor or number";
  } else if (actual.sizes() != expected.sizes()) {
    check.detail = "shape " + shape_string(actual.sizes()) + ", expected " + shape_string(expected.sizes());
  } else if (actual.scalar_type() != expected.scalar_type()) {
    check.detail = "dtype " + dtype_name(actual.scalar_type()) + ", expected " + dtype_name(expected.scalar_type());
  } else if (actual.numel() == 0) {
    check.passed = true;
  } else if (at::isFloatingType(expected.scalar_type()) || at::isComplexType(expected.scalar_type())) {
    const at::Tensor a = actual.to(at::isComplexType(expected.scalar_type()) ? at::kComplexDouble : at::kDouble);
    const at::Tensor e = expected.to(a.scalar_type());
    const at::Tensor diff = (a - e).abs().nan_to_num(0.0, 0.0, 0.0);
    check.max_abs = diff.max().item<double>();
    check.max_rel = (diff / e.abs().clamp_min(atol)).max().item<double>();
    check.passed = at::allclose(a, e, rtol, atol, /*equal_nan=*/true);
    if (!check.passed) check.detail = "outside atol " + std::to_string(atol) + " + rtol " + std::to_string(rtol) + " * |expected|";
  } else {
    check.passed = at::equal(actual, expected);
    const at::Tensor diff = (actual.to(at::kDouble) - expected.to(at::kDouble)).abs();
    check.max_abs = diff.max().item<double>();
    check.max_rel = check.max_abs;
    if (!check.passed) check.detail = "integer/bool values differ";
  }
}

// The arguments of a golden call: one file per tensor argument, or, when the method
// has structured arguments, their tensor leaves rebuilt into the trees (fixed
// scalars and None at their values).
std::vector<c10::IValue> golden_inputs(const Model& model, const ModelMetadata& metadata, const GoldenPair& pair) {
  std::vector<at::Tensor> leaves;
  for (const std::string& file : pair.input_files) leaves.push_back(read_golden(model, file));
  const MethodMetadata* described = metadata.method(pair.method);
  const bool structured = described != nullptr && described->has_structured_inputs();
  std::vector<c10::IValue> inputs;
  if (!structured) {
    for (at::Tensor& leaf : leaves) inputs.emplace_back(std::move(leaf));
    return inputs;
  }
  size_t next = 0;
  for (const InputNode& node : described->input_nodes) inputs.push_back(input_from_leaves(node, leaves, next));
  if (next != leaves.size()) {
    throw Error(ErrorCode::kInvalidModel, "model file '" + model.path() + "': a golden pair has " +
                                              std::to_string(leaves.size()) + " input tensors, its inputs take " +
                                              std::to_string(next));
  }
  return inputs;
}

}  // namespace

bool VerifyReport::passed() const {
  if (checks.empty()) return false;
  for (const OutputCheck& check : checks) {
    if (!check.passed) return false;
  }
  return true;
}

VerifyReport verify_golden(const Model& model) {
  if (!model.metadata() || model.metadata()->golden.empty()) {
    throw Error(ErrorCode::kInvalidArgument, "model file '" + model.path() +
                                                 "' has no golden input/output pairs to verify against; export it with "
                                                 "tsrt export (without --no-golden)");
  }
  const ModelMetadata& metadata = *model.metadata();
  VerifyReport report;
  report.model_path = model.path();
  report.device = model.device().str();
  report.atol = metadata.atol;
  report.rtol = metadata.rtol;
  for (size_t index = 0; index < metadata.golden.size(); ++index) {
    const GoldenPair& pair = metadata.golden[index];
    std::vector<c10::IValue> inputs = golden_inputs(model, metadata, pair);
    const c10::IValue output = model.run(pair.method, std::move(inputs));
    std::map<std::string, c10::IValue> actual;
    for (OutputLeaf& leaf : flatten_outputs(output, model.signature(pair.method).output_names)) {
      actual.emplace(leaf.path, std::move(leaf.value));
    }
    for (const auto& [path, file] : pair.output_files) {
      OutputCheck check;
      check.pair = index;
      check.path = path;
      auto found = actual.find(path);
      if (found == actual.end()) {
        check.detail = "the model did not produce this output";
      } else if (file.empty()) {
        check.passed = found->second.isNone();
        if (!check.passed) check.detail = "expected None";
      } else {
        compare(leaf_as_tensor(found->second), read_golden(model, file), report.atol, report.rtol, check);
      }
      report.checks.push_back(std::move(check));
    }
  }
  return report;
}

}  // namespace tsrt
