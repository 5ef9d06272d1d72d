#pragma once
// Checks a call's inputs against a method's signature before LibTorch sees them,
// so a wrong input gets a message that names it instead of an error deep in the graph.

#include <string>
#include <vector>

#include <ATen/core/ivalue.h>

#include "tsrt/signature.h"

namespace tsrt::detail {

/// Throws Error(kInvalidArgument) when the count is wrong, or (with `use_specs`)
/// a tensor input's dtype, rank or a fixed dimension differs from its TensorSpec.
void check_inputs(const std::string& model, const MethodSignature& signature, const std::vector<c10::IValue>& inputs,
                  bool use_specs);

/// Throws Error(kInvalidArgument), starting with `prefix`, when `tensor`'s dtype, rank
/// or a fixed dimension differs from `spec` (named by spec.name, a dotted path for a leaf).
void check_tensor(const TensorSpec& spec, const at::Tensor& tensor, const std::string& prefix);

/// "x: float32[2, 3], k: 4": the inputs of a call, for error messages.
std::string describe_inputs(const MethodSignature& signature, const std::vector<c10::IValue>& inputs);

/// "float32[2, 3]", "int 4", "List[2 tensors]"...: one value, for error messages.
std::string describe_value(const c10::IValue& value);

}  // namespace tsrt::detail
