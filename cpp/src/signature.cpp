#include "tsrt/signature.h"

#include "tsrt/input_tree.h"

namespace tsrt {

size_t MethodSignature::required_inputs() const {
  size_t required = 0;
  for (const ArgumentInfo& input : inputs) {
    if (!input.has_default) ++required;
  }
  return required;
}

std::string MethodSignature::to_string() const {
  std::string text = method + "(";
  for (size_t i = 0; i < inputs.size(); ++i) {
    const ArgumentInfo& input = inputs[i];
    if (i) text += ", ";
    text += input.name + ": " + input.type;
    if (input.spec) text += " " + input.spec->to_string();
    // A structured input's tensor leaves, by path: "{batch.x float32[N, 8], batch.ids int64[N, 3]}".
    if (input.tree && !input.fixed && input.tree->kind != InputNode::Kind::kScalar) {
      const std::vector<TensorSpec> leaves = input.tree->leaves();
      if (!leaves.empty()) {
        text += " {";
        for (size_t j = 0; j < leaves.size(); ++j) text += (j ? ", " : "") + leaves[j].name + " " + leaves[j].to_string();
        text += input.tree->variable_length ? ", ...}" : "}";
      }
    }
    if (input.has_default) text += " = " + input.default_value;
    if (input.fixed) text += " (fixed at export)";
  }
  text += ")";
  if (!return_type.empty()) text += " -> " + return_type;
  return text;
}

}  // namespace tsrt
