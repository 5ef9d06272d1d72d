#include "convert.h"

#include <ATen/DLConvertor.h>
#include <ATen/dlpack.h>

#include <optional>

#include "tsrt/error.h"

namespace py = pybind11;

namespace tsrt::bindings {
namespace {

// Python callables looked up once. Leaked on purpose: destroying them at
// interpreter exit, after torch is gone, would crash.
struct PythonHelpers {
  py::object torch_tensor_type;
  py::object numpy_ndarray_type;  // None when numpy is not installed
  py::object numpy_generic_type;  // numpy scalars
  py::object from_numpy;
  py::object from_dlpack;
  py::object to_dlpack;  // None when torch lacks the C-level function
  PyTypeObject* tensor_type = nullptr;     // torch.Tensor itself, not its subclasses
  PyTypeObject* parameter_type = nullptr;  // torch.nn.Parameter
  py::str cdata_name;                      // "_cdata", made once
};

const PythonHelpers& helpers() {
  static const PythonHelpers* instance = [] {
    auto* h = new PythonHelpers();
    py::module_ torch = py::module_::import("torch");
    h->torch_tensor_type = torch.attr("Tensor");
    h->from_numpy = torch.attr("from_numpy");
    // torch._C's own DLPack functions, which torch.utils.dlpack and Tensor.__dlpack__
    // wrap in Python-level checks tsrt does itself: 0.3 us instead of 3 us a
    // tensor in, 0.6 instead of 8 out, which is a third of a small MLP's call.
    py::module_ torch_c = torch.attr("_C");
    h->from_dlpack = py::hasattr(torch_c, "_from_dlpack") ? torch_c.attr("_from_dlpack")
                                                         : py::module_::import("torch.utils.dlpack").attr("from_dlpack");
    h->to_dlpack = py::hasattr(torch_c, "_to_dlpack") ? torch_c.attr("_to_dlpack") : py::object(py::none());
    h->tensor_type = reinterpret_cast<PyTypeObject*>(h->torch_tensor_type.ptr());
    h->parameter_type = reinterpret_cast<PyTypeObject*>(torch.attr("nn").attr("Parameter").ptr());
    h->cdata_name = py::str("_cdata");
    try {
      h->numpy_ndarray_type = py::module_::import("numpy").attr("ndarray");
      h->numpy_generic_type = py::module_::import("numpy").attr("generic");
    } catch (const py::error_already_set&) {
      h->numpy_ndarray_type = py::none();
      h->numpy_generic_type = py::none();
    }
    return h;
  }();
  return *instance;
}

// A plain torch.Tensor (or nn.Parameter) shares its TensorImpl with the caller:
// `_cdata` is the TensorImpl's address, and this module is built against the torch
// it runs beside (docs/design.md), so the pointer is an at::Tensor of the same build.
// 0.1 us, where the DLPack round trip below costs about 1.5 us a tensor (the zoo MLP's
// Python call was 1.35x ONNX Runtime's). std::nullopt for anything else: subclasses,
// sparse or other non-strided layouts, which take the DLPack path and its errors.
std::optional<at::Tensor> shared_tensor(py::handle object, const PythonHelpers& h) {
  PyTypeObject* type = Py_TYPE(object.ptr());
  if (type != h.tensor_type && type != h.parameter_type) return std::nullopt;
  PyObject* cdata = PyObject_GetAttr(object.ptr(), h.cdata_name.ptr());
  void* address = cdata == nullptr ? nullptr : PyLong_AsVoidPtr(cdata);
  Py_XDECREF(cdata);
  if (address == nullptr) {
    PyErr_Clear();
    return std::nullopt;
  }
  // The Python object holds a reference while this call runs; the tensor takes its own.
  at::Tensor tensor = at::Tensor::wrap_tensor_impl(
      c10::intrusive_ptr<c10::TensorImpl, c10::UndefinedTensorImpl>::unsafe_reclaim_from_nonowning(
          static_cast<c10::TensorImpl*>(address)));
  if (tensor.layout() != at::kStrided) return std::nullopt;
  // What the DLPack path does in Python: no autograd history, no lazy conj/neg bits.
  if (tensor.requires_grad()) tensor = tensor.detach();
  if (tensor.is_conj()) tensor = tensor.resolve_conj();
  if (tensor.is_neg()) tensor = tensor.resolve_neg();
  return tensor;
}

at::Tensor tensor_from_torch(py::handle tensor, const std::string& where) {
  if (std::optional<at::Tensor> shared = shared_tensor(tensor, helpers())) return *std::move(shared);
  py::object usable = py::reinterpret_borrow<py::object>(tensor);
  // DLPack refuses tensors that require grad or carry lazy conj/neg bits.
  if (usable.attr("requires_grad").cast<bool>()) usable = usable.attr("detach")();
  if (usable.attr("is_conj")().cast<bool>()) usable = usable.attr("resolve_conj")();
  if (usable.attr("is_neg")().cast<bool>()) usable = usable.attr("resolve_neg")();
  py::capsule capsule;
  try {
    const py::object& to_dlpack = helpers().to_dlpack;
    capsule = (to_dlpack.is_none() ? usable.attr("__dlpack__")() : to_dlpack(usable)).cast<py::capsule>();
  } catch (const py::error_already_set& e) {
    throw Error(ErrorCode::kInvalidArgument, where + ": this tensor cannot be passed to tsrt: " + std::string(e.what()));
  }
  auto* managed = static_cast<DLManagedTensor*>(PyCapsule_GetPointer(capsule.ptr(), "dltensor"));
  if (managed == nullptr) {
    PyErr_Clear();
    throw Error(ErrorCode::kInvalidArgument, where + ": tensor's DLPack capsule was already consumed");
  }
  // The tensor now owns the DLPack memory; mark the capsule so its destructor
  // does not free it a second time.
  PyCapsule_SetName(capsule.ptr(), "used_dltensor");
  return at::fromDLPack(managed);
}

at::Tensor tensor_from_numpy(py::handle array, const std::string& where) {
  py::object usable = py::reinterpret_borrow<py::object>(array);
  // torch.from_numpy shares memory and warns on read-only arrays; copy those.
  if (!usable.attr("flags").attr("writeable").cast<bool>()) usable = usable.attr("copy")();
  try {
    return tensor_from_torch(helpers().from_numpy(usable), where);
  } catch (const py::error_already_set& e) {
    throw Error(ErrorCode::kInvalidArgument,
                where + ": numpy array cannot be converted (dtype " + py::str(usable.attr("dtype")).cast<std::string>() +
                    "): " + e.what() + ". Use a native-byte-order array of a numeric or bool dtype.");
  }
}

void delete_unconsumed_capsule(PyObject* capsule) {
  // Called when the capsule dies; if no consumer took the tensor, free it here.
  if (PyCapsule_IsValid(capsule, "dltensor")) {
    auto* managed = static_cast<DLManagedTensor*>(PyCapsule_GetPointer(capsule, "dltensor"));
    if (managed != nullptr && managed->deleter != nullptr) managed->deleter(managed);
  }
}

}  // namespace

c10::IValue to_ivalue(py::handle object, const std::string& where) {
  const PythonHelpers& h = helpers();
  if (object.is_none()) return c10::IValue();
  if (py::isinstance(object, h.torch_tensor_type)) return tensor_from_torch(object, where);
  if (!h.numpy_ndarray_type.is_none() && py::isinstance(object, h.numpy_ndarray_type)) {
    return tensor_from_numpy(object, where);
  }
  // numpy scalars (np.float32(2.0), np.int64(3)) as the Python numbers they hold.
  if (!h.numpy_generic_type.is_none() && py::isinstance(object, h.numpy_generic_type)) {
    return to_ivalue(object.attr("item")(), where);
  }
  // bool before int: Python's bool is a subclass of int.
  if (py::isinstance<py::bool_>(object)) return object.cast<bool>();
  if (py::isinstance<py::int_>(object)) {
    try {
      return object.cast<int64_t>();
    } catch (const py::cast_error&) {
      throw Error(ErrorCode::kInvalidArgument, where + ": integer does not fit in int64");
    }
  }
  if (py::isinstance<py::float_>(object)) return object.cast<double>();
  if (py::isinstance<py::str>(object)) return object.cast<std::string>();
  if (py::isinstance<py::tuple>(object)) {
    std::vector<c10::IValue> elements;
    size_t i = 0;
    for (py::handle element : object) elements.push_back(to_ivalue(element, where + "[" + std::to_string(i++) + "]"));
    return c10::ivalue::Tuple::create(std::move(elements));
  }
  if (py::isinstance<py::list>(object)) {
    std::vector<c10::IValue> elements;
    size_t i = 0;
    for (py::handle element : object) elements.push_back(to_ivalue(element, where + "[" + std::to_string(i++) + "]"));
    if (elements.empty()) {
      throw Error(ErrorCode::kInvalidArgument, where + ": an empty list has no element type; pass a tensor list with at least one element");
    }
    // TorchScript lists are typed: a list of tensors must be a List[Tensor].
    c10::TypePtr element_type = elements.front().type();
    for (const auto& element : elements) {
      auto unified = c10::unifyTypes(element_type, element.type());
      if (!unified) throw Error(ErrorCode::kInvalidArgument, where + ": list elements must all have one type");
      element_type = *unified;
    }
    // A tensor's IValue type carries its sizes; List[Tensor(2x3)] is no List[Tensor]
    // to TorchScript (lists are invariant), so drop the shapes.
    c10::impl::GenericList list(c10::unshapedType(element_type));
    for (auto& element : elements) list.push_back(std::move(element));
    return list;
  }
  if (py::isinstance<py::dict>(object)) {
    c10::TypePtr value_type;
    std::vector<std::pair<std::string, c10::IValue>> entries;
    for (auto item : object.cast<py::dict>()) {
      if (!py::isinstance<py::str>(item.first)) {
        throw Error(ErrorCode::kInvalidArgument, where + ": dict keys must be str");
      }
      std::string key = item.first.cast<std::string>();
      c10::IValue value = to_ivalue(item.second, where + "['" + key + "']");
      value_type = value_type ? c10::unifyTypes(value_type, value.type()).value_or(c10::AnyType::get()) : value.type();
      entries.emplace_back(std::move(key), std::move(value));
    }
    c10::impl::GenericDict typed(c10::StringType::get(),
                                 value_type ? c10::unshapedType(value_type) : c10::TensorType::get());
    for (auto& [key, value] : entries) typed.insert(key, std::move(value));
    return typed;
  }
  throw Error(ErrorCode::kInvalidArgument, where + ": cannot pass a value of type " +
                                               py::str(py::type::of(object).attr("__name__")).cast<std::string>() +
                                               " to a model; use torch tensors, numpy arrays, numbers, bools, str, "
                                               "None, and tuples/lists/dicts of them");
}

py::object to_python(const c10::IValue& value) {
  if (value.isTensor()) {
    DLManagedTensor* managed = at::toDLPack(value.toTensor());
    py::capsule capsule(managed, "dltensor", &delete_unconsumed_capsule);
    return helpers().from_dlpack(capsule);
  }
  if (value.isNone()) return py::none();
  if (value.isBool()) return py::bool_(value.toBool());
  if (value.isInt()) return py::int_(value.toInt());
  if (value.isDouble()) return py::float_(value.toDouble());
  if (value.isString()) return py::str(value.toStringRef());
  if (value.isTuple()) {
    const auto& elements = value.toTupleRef().elements();
    py::tuple tuple(elements.size());
    for (size_t i = 0; i < elements.size(); ++i) tuple[i] = to_python(elements[i]);
    return std::move(tuple);
  }
  if (value.isList()) {
    py::list list;
    for (const c10::IValue& element : value.toList()) list.append(to_python(element));
    return std::move(list);
  }
  if (value.isGenericDict()) {
    py::dict dict;
    for (const auto& entry : value.toGenericDict()) dict[to_python(entry.key())] = to_python(entry.value());
    return std::move(dict);
  }
  throw Error(ErrorCode::kUnsupported,
              std::string("the model returned a value of kind ") + value.tagKind() + ", which tsrt cannot pass to Python");
}

}  // namespace tsrt::bindings
