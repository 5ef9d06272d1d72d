#pragma once
// One walk over the tensors nested in an IValue (tuples, lists, dicts), used to
// move inputs to a device and to cast lower-precision outputs back to float32.

#include <functional>

#include <ATen/core/ivalue.h>

namespace tsrt::detail {

/// `value` with every tensor inside replaced by `fn(tensor)`; other leaves and the
/// structure are kept. Returns `value` itself when it holds no tensor.
c10::IValue map_tensors(const c10::IValue& value, const std::function<at::Tensor(const at::Tensor&)>& fn);

}  // namespace tsrt::detail
