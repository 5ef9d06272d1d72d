#pragma once
// Conversions between Python objects and c10::IValue for tsrt._C. Tensors cross
// through DLPack (no libtorch_python link, so no clash between torch's bundled
// pybind11 and ours); numpy arrays become torch tensors first.

#include <pybind11/pybind11.h>

#include <ATen/core/ivalue.h>

namespace tsrt::bindings {

/// A Python value (torch.Tensor, numpy array, int, float, bool, str, None, and
/// tuples, lists and str-keyed dicts of these) as an IValue. `where` names it in
/// errors. Throws tsrt::Error(kInvalidArgument) for anything else. Needs the GIL.
c10::IValue to_ivalue(pybind11::handle object, const std::string& where);

/// An IValue as a Python value: tensors become torch.Tensor sharing memory.
pybind11::object to_python(const c10::IValue& value);

}  // namespace tsrt::bindings
