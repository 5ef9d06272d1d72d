#pragma once
// Reading and writing numpy's .npy files.
//
// The .npy format is how tensors cross between tsrt's front ends (the `infer` CLI,
// the Python package) and numpy: a magic string, a small Python-literal header
// ({'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }) and the raw
// C-order data. tsrt reads format versions 1.0, 2.0 and 3.0 and writes 1.0, the
// version every numpy release reads.
//
// Only dtypes that numpy and torch share are supported: bool, int8/16/32/64,
// uint8/16/32/64, float16/32/64, complex64/128. Everything else (object, string,
// structured, datetime arrays; bfloat16 tensors) is refused with a tsrt::Error
// that says how to convert it.

#include <ATen/core/Tensor.h>

#include <cstddef>
#include <cstdint>
#include <string>

namespace tsrt {

/// Reads the .npy file at `path` into a new contiguous CPU tensor with the file's
/// shape and dtype (big-endian data is converted to native byte order).
/// Throws Error(kIO) if the file can't be read, Error(kInvalidArgument) if it is
/// not a valid .npy file or holds something tsrt can't represent (Fortran order,
/// object/string/structured/datetime dtypes, a data section of the wrong size).
/// A header that claims more than `max_bytes` (0: no fixed limit) or more than the
/// memory available now is refused with Error(kInvalidArgument) before the data is
/// read or allocated.
at::Tensor load_npy(const std::string& path, uint64_t max_bytes = 0);

/// Parses the `size` bytes at `data` as the contents of a .npy file; `source`
/// names them in error messages (a path, "stdin", "input 0"). The result owns its
/// memory: `data` may be freed afterwards. Throws Error(kInvalidArgument) as load_npy.
at::Tensor parse_npy(const char* data, size_t size, const std::string& source);

/// Writes `tensor` (any device, any layout, any strides: it is copied to a
/// contiguous CPU tensor first) to `path` as a version 1.0 .npy file in native
/// byte order, replacing any existing file. Throws Error(kIO) if the file can't be
/// written, Error(kInvalidArgument) if the tensor is undefined or has a dtype
/// numpy lacks (bfloat16, complex32, float8, quantized types).
void save_npy(const std::string& path, const at::Tensor& tensor);

/// Returns the bytes of the .npy file that save_npy would write for `tensor`.
/// Throws Error(kInvalidArgument) as save_npy.
std::string serialize_npy(const at::Tensor& tensor);

}  // namespace tsrt
