// hello_tsrt MODEL: loads a model file that tsrt exported, makes random inputs of
// the shapes its metadata declares, runs forward and prints each output's shape.
#include <iostream>
#include <vector>

#include "tsrt/model.h"
#include "tsrt/outputs.h"
#include "tsrt/tensor_spec.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: hello_tsrt MODEL.pt\n";
    return 2;
  }
  try {
    const tsrt::Model model = tsrt::Model::load(argv[1]);
    const tsrt::MethodMetadata* forward = model.metadata() ? model.metadata()->method("forward") : nullptr;
    if (forward == nullptr) {
      std::cerr << "hello_tsrt: " << argv[1] << " has no tsrt metadata; export it with `tsrt export`\n";
      return 2;
    }
    std::vector<c10::IValue> inputs;
    for (const tsrt::TensorSpec& spec : forward->inputs) {
      inputs.emplace_back(tsrt::random_tensor(spec, /*seed=*/inputs.size()));  // dynamic dims at their example size
      std::cout << "input  " << spec.name << ": " << spec.to_string() << "\n";
    }
    const c10::IValue output = model.forward(std::move(inputs));
    for (const tsrt::OutputLeaf& leaf : tsrt::flatten_outputs(output, forward->output_names)) {
      const at::Tensor value = tsrt::leaf_as_tensor(leaf.value);
      std::cout << "output " << leaf.path << ": "
                << (value.defined() ? tsrt::dtype_name(value.scalar_type()) + tsrt::shape_string(value.sizes())
                                    : leaf.value.tagKind()) << "\n";  // None, str
    }
  } catch (const tsrt::Error& error) {
    std::cerr << "hello_tsrt: " << error.what() << "\n";
    return 1;
  }
  return 0;
}
