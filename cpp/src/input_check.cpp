#include "input_check.h"

#include <sstream>

#include "tsrt/error.h"
#include "tsrt/input_tree.h"

namespace tsrt::detail {

std::string describe_value(const c10::IValue& value) {
  if (value.isTensor()) {
    const at::Tensor& tensor = value.toTensor();
    std::string text = dtype_name(tensor.scalar_type()) + shape_string(tensor.sizes());
    if (!tensor.device().is_cpu()) text += " on " + tensor.device().str();
    return text;
  }
  if (value.isNone()) return "None";
  if (value.isInt()) return "int " + std::to_string(value.toInt());
  if (value.isDouble()) return "float " + std::to_string(value.toDouble());
  if (value.isBool()) return value.toBool() ? "bool True" : "bool False";
  if (value.isString()) return "str";
  if (value.isTuple()) return "Tuple[" + std::to_string(value.toTupleRef().elements().size()) + " elements]";
  if (value.isList()) return "List[" + std::to_string(value.toListRef().size()) + " elements]";
  if (value.isGenericDict()) return "Dict[" + std::to_string(value.toGenericDict().size()) + " entries]";
  return value.tagKind();
}

std::string describe_inputs(const MethodSignature& signature, const std::vector<c10::IValue>& inputs) {
  std::string text;
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (i) text += ", ";
    if (i < signature.inputs.size()) text += signature.inputs[i].name + ": ";
    text += describe_value(inputs[i]);
  }
  return text;
}

namespace {

std::string prefix(const std::string& model, const MethodSignature& signature) {
  return "model '" + model + "', " + signature.method + "(): ";
}

}  // namespace

void check_tensor(const TensorSpec& spec, const at::Tensor& tensor, const std::string& prefix) {
  const std::string where = prefix + "input '" + spec.name + "' ";
  if (tensor.scalar_type() != spec.dtype) {
    throw Error(ErrorCode::kInvalidArgument, where + "expects dtype " + dtype_name(spec.dtype) + ", got " +
                                                 dtype_name(tensor.scalar_type()) + " (convert it, e.g. numpy .astype(np." +
                                                 dtype_name(spec.dtype) + ") or torch .to(torch." +
                                                 dtype_name(spec.dtype) + "))");
  }
  if (tensor.dim() != static_cast<int64_t>(spec.shape.size())) {
    throw Error(ErrorCode::kInvalidArgument, where + "expects rank " + std::to_string(spec.shape.size()) + " " +
                                                 spec.to_string() + ", got rank " + std::to_string(tensor.dim()) +
                                                 " " + shape_string(tensor.sizes()));
  }
  for (int64_t dim = 0; dim < tensor.dim(); ++dim) {
    if (!spec.is_dynamic(dim) && tensor.size(dim) != spec.shape[dim]) {
      throw Error(ErrorCode::kInvalidArgument,
                  where + "expects size " + std::to_string(spec.shape[dim]) + " in dimension " + std::to_string(dim) +
                      " " + spec.to_string() + ", got " + shape_string(tensor.sizes()) +
                      " (only the dimensions marked N may vary)");
    }
  }
}

void check_inputs(const std::string& model, const MethodSignature& signature, const std::vector<c10::IValue>& inputs,
                  bool use_specs) {
  const size_t required = signature.required_inputs();
  if (inputs.size() < required || inputs.size() > signature.inputs.size()) {
    std::ostringstream message;
    message << "model '" << model << "': " << signature.method << "() takes ";
    if (required == signature.inputs.size()) {
      message << required;
    } else {
      message << required << " to " << signature.inputs.size();
    }
    message << " input" << (signature.inputs.size() == 1 ? "" : "s") << ", got " << inputs.size() << ". ";
    if (inputs.size() < required) {
      message << "Missing:";
      for (size_t i = inputs.size(); i < required; ++i) message << " " << signature.inputs[i].name;
      message << ". ";
    }
    message << "Signature: " << signature.to_string();
    throw Error(ErrorCode::kInvalidArgument, message.str());
  }
  if (!use_specs) return;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const ArgumentInfo& argument = signature.inputs[i];
    if (argument.spec && inputs[i].isTensor()) {
      check_tensor(*argument.spec, inputs[i].toTensor(), prefix(model, signature));
    } else if (argument.tree) {
      check_input_tree(*argument.tree, inputs[i], prefix(model, signature));
    }
  }
}

}  // namespace tsrt::detail
