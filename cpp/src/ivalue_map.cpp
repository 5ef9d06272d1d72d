#include "ivalue_map.h"

#include <ATen/core/Dict.h>
#include <ATen/core/List.h>

namespace tsrt::detail {

c10::IValue map_tensors(const c10::IValue& value, const std::function<at::Tensor(const at::Tensor&)>& fn) {
  if (value.isTensor()) return fn(value.toTensor());
  if (value.isTuple()) {
    std::vector<c10::IValue> elements;
    for (const auto& element : value.toTupleRef().elements()) elements.push_back(map_tensors(element, fn));
    return c10::ivalue::Tuple::create(std::move(elements));
  }
  if (value.isTensorList()) {
    c10::List<at::Tensor> list;
    for (const at::Tensor& tensor : value.toTensorList()) list.push_back(fn(tensor));
    return list;
  }
  if (value.isList()) {
    c10::impl::GenericList list(value.toList().elementType());
    for (const c10::IValue& element : value.toList()) list.push_back(map_tensors(element, fn));
    return list;
  }
  if (value.isGenericDict()) {
    c10::impl::GenericDict dict(value.toGenericDict().keyType(), value.toGenericDict().valueType());
    for (const auto& entry : value.toGenericDict()) dict.insert(entry.key(), map_tensors(entry.value(), fn));
    return dict;
  }
  return value;
}

}  // namespace tsrt::detail
