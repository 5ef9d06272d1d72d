#include "model_info.h"

#include <functional>
#include <map>

#include <ATen/core/Tensor.h>

#include "tsrt/outputs.h"
#include "tsrt/tensor_spec.h"

namespace tsrt_serve {
namespace {

using Resize = std::function<void(const tsrt::TensorSpec&, std::vector<int64_t>&)>;

std::map<std::string, c10::IValue> inputs_with(const tsrt::Model& model, const Resize& resize, uint64_t seed) {
  std::map<std::string, c10::IValue> inputs;
  for (const tsrt::ArgumentInfo& argument : model.signature("forward").inputs) {
    if (!argument.spec) continue;
    tsrt::TensorSpec spec = *argument.spec;
    resize(spec, spec.shape);
    inputs.emplace(spec.name, tsrt::random_tensor(spec, seed++));
  }
  return inputs;
}

struct Leaf {
  std::string name;
  at::Tensor tensor;  // undefined for a string
};

std::vector<Leaf> leaves(const c10::IValue& output, const std::vector<std::string>& names) {
  std::vector<Leaf> result;
  for (const tsrt::OutputLeaf& leaf : tsrt::flatten_outputs(output, names)) {
    if (leaf.value.isNone()) continue;  // the protocol has no None: such outputs are left out
    result.push_back({leaf.path, leaf.value.isString() ? at::Tensor() : tsrt::leaf_as_tensor(leaf.value)});
  }
  return result;
}

}  // namespace

std::map<std::string, c10::IValue> random_inputs(const tsrt::Model& model, int64_t batch, uint64_t seed) {
  return inputs_with(model, [batch](const tsrt::TensorSpec&, std::vector<int64_t>& shape) {
    if (batch >= 0 && !shape.empty()) shape[0] = batch;
  }, seed);
}

ModelInfo describe_model(const std::string& name, const tsrt::Model& model) {
  ModelInfo info;
  info.name = name;
  info.platform = model.format() == "aoti" ? "torch_aoti" : "pytorch_libtorch";
  const tsrt::MethodSignature signature = model.signature("forward");
  info.output_names = signature.output_names;

  bool contract = true;
  bool batch_dims = true;
  int64_t batch = -1;
  for (const tsrt::ArgumentInfo& argument : signature.inputs) {
    TensorInfo input{argument.name};
    if (!argument.spec) {
      // A file from outside tsrt: its schema says "Tensor" and nothing more.
      input.known = false;
      contract = false;
      info.inputs.push_back(std::move(input));
      continue;
    }
    const tsrt::TensorSpec& spec = *argument.spec;
    input.dtype = spec.dtype;
    for (size_t dim = 0; dim < spec.shape.size(); ++dim) {
      input.dims.push_back(spec.is_dynamic(static_cast<int64_t>(dim)) ? -1 : spec.shape[dim]);
    }
    if (spec.shape.empty() || !spec.is_dynamic(0)) {
      batch_dims = false;
    } else if (batch < 0) {
      batch = spec.shape[0];
    } else if (batch != spec.shape[0]) {
      batch_dims = false;  // example batch sizes that disagree: dimension 0 is not one shared batch
    }
    info.inputs.push_back(std::move(input));
  }
  if (!contract) {
    info.unbatchable = "the file has no tsrt contract (input shapes unknown)";
    return info;
  }
  if (!batch_dims || batch < 0) info.unbatchable = "not every input has a dynamic dimension 0";

  const auto example = leaves(model.run("forward", random_inputs(model, -1, 1)), info.output_names);
  const auto grown = leaves(model.run("forward", inputs_with(model, [](const tsrt::TensorSpec& spec, std::vector<int64_t>& shape) {
    for (int64_t dim : spec.dynamic_dims) ++shape[dim];
  }, 1)), info.output_names);
  std::vector<Leaf> rebatched;
  if (info.unbatchable.empty()) rebatched = leaves(model.run("forward", random_inputs(model, batch + 2, 1)), info.output_names);

  for (size_t i = 0; i < example.size(); ++i) {
    TensorInfo output{example[i].name};
    const at::Tensor& first = example[i].tensor;
    if (!first.defined()) {
      output.is_string = true;
      output.dims = {1};
      if (info.unbatchable.empty()) info.unbatchable = "output '" + output.name + "' is a string";
      info.outputs.push_back(std::move(output));
      continue;
    }
    output.dtype = first.scalar_type();
    const at::Tensor second = i < grown.size() ? grown[i].tensor : at::Tensor();
    for (int64_t dim = 0; dim < first.dim(); ++dim) {
      const bool varies = !second.defined() || second.dim() != first.dim() || second.size(dim) != first.size(dim);
      output.dims.push_back(varies ? -1 : first.size(dim));
    }
    if (info.unbatchable.empty()) {
      const bool follows = first.dim() > 0 && first.size(0) == batch && i < rebatched.size() &&
                           rebatched[i].tensor.defined() && rebatched[i].tensor.dim() > 0 &&
                           rebatched[i].tensor.size(0) == batch + 2;
      if (!follows) info.unbatchable = "output '" + output.name + "' does not follow the batch in dimension 0";
    }
    info.outputs.push_back(std::move(output));
  }
  return info;
}

}  // namespace tsrt_serve
