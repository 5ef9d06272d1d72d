#include "tsrt/npy.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <limits>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "npy_header.h"
#include "tsrt/error.h"
#include "tsrt/input_limit.h"

namespace tsrt {
namespace {

using at::ScalarType;
using namespace detail;

// How much of a .npy file load_npy reads to see its header.
constexpr size_t kMaxHeadRead = 1 << 20;

using at::ScalarType;

template <size_t kUnit>
void reverse_each(unsigned char* p, size_t count) {
  for (size_t i = 0; i < count; ++i, p += kUnit) std::reverse(p, p + kUnit);
}

/// Reverses the bytes of each `unit`-byte value in `bytes`.
void swap_bytes(unsigned char* p, size_t bytes, size_t unit) {
  // A constant unit lets the compiler turn each reverse into one bswap.
  switch (unit) {
    case 2: reverse_each<2>(p, bytes / 2); break;
    case 4: reverse_each<4>(p, bytes / 4); break;
    case 8: reverse_each<8>(p, bytes / 8); break;
    default:
      for (size_t i = 0; i + unit <= bytes; i += unit) std::reverse(p + i, p + i + unit);
  }
}

// ---- writing -------------------------------------------------------------------------

/// Returns the numpy descr (in native byte order) for `type`, or refuses it.
std::string npy_descr(ScalarType type, const std::string& context) {
  for (const NpyType& t : kNpyTypes) {
    if (t.type != type) continue;
    const char byte_order = t.itemsize == 1 ? '|' : (host_is_little_endian() ? '<' : '>');
    return std::string(1, byte_order) + t.kind + std::to_string(t.itemsize);
  }
  const std::string name = c10::toString(type);
  if (type == ScalarType::BFloat16) {
    fail(context, "numpy has no bfloat16 dtype; convert the tensor to float32 first "
                  "(tensor.to(torch.float32), in C++ tensor.to(at::kFloat))");
  }
  if (type == ScalarType::ComplexHalf) {
    fail(context, "numpy has no complex32 dtype; convert the tensor to complex64 first (tensor.to(torch.complex64))");
  }
  if (c10::isQIntType(type)) {
    fail(context, "the tensor is quantized (" + name + "), which numpy cannot hold; call tensor.dequantize() first");
  }
  if (c10::isFloat8Type(type) || c10::isReducedFloatingType(type)) {
    fail(context, "numpy has no " + name + " dtype; convert the tensor to float32 first (tensor.to(torch.float32))");
  }
  fail(context, "dtype " + name + " has no numpy equivalent; convert the tensor to a standard numeric dtype first");
}

std::string serialize(const at::Tensor& tensor, const std::string& context) {
  if (!tensor.defined()) fail(context, "the tensor is undefined (a default-constructed at::Tensor)");
  const std::string descr = npy_descr(tensor.scalar_type(), context);
  if (tensor.is_meta()) fail(context, "a meta tensor has no data to save");
  if (tensor.is_nested()) fail(context, "a nested tensor has no single shape; save each component on its own");

  at::Tensor data;
  try {
    // detach: the copy must not record autograd history. resolve_conj/resolve_neg:
    // contiguous() keeps lazy conjugate/negative views, whose raw bytes are the
    // un-negated values.
    data = tensor.detach();
    if (data.layout() != at::kStrided) data = data.to_dense();
    data = data.cpu().resolve_conj().resolve_neg().contiguous();
  } catch (const c10::Error& e) {
    throw Error(ErrorCode::kRuntime, context + ": cannot copy the tensor to contiguous CPU memory: " +
                                         e.what_without_backtrace());
  }

  const at::IntArrayRef shape = data.sizes();
  std::string dict = "{'descr': '" + descr + "', 'fortran_order': False, 'shape': " + shape_repr(shape.vec()) + ", }";
  if (!shape.empty()) dict.append(kGrowthAxisMaxDigits - std::to_string(shape[0]).size(), ' ');
  // numpy's rule, kept exactly: pad to the alignment with spaces (a whole block
  // of them when already aligned), then a newline.
  const size_t unpadded = dict.size() + 1;
  const size_t padding = kArrayAlign - (kPreambleSizeV1 + unpadded) % kArrayAlign;
  const size_t header_size = unpadded + padding;
  if (header_size > 0xffff) {
    fail(context, "the tensor has too many dimensions (" + std::to_string(shape.size()) +
                      ") for a version 1.0 .npy header");
  }

  const size_t nbytes = static_cast<size_t>(data.numel()) * data.element_size();
  std::string out;
  out.reserve(kPreambleSizeV1 + header_size + nbytes);
  out.append(kMagic, kMagicSize);
  out += '\x01';
  out += '\x00';
  out += static_cast<char>(header_size & 0xff);
  out += static_cast<char>(header_size >> 8);
  out += dict;
  out.append(padding, ' ');
  out += '\n';
  if (nbytes > 0) out.append(static_cast<const char*>(data.const_data_ptr()), nbytes);
  return out;
}

std::string read_file(const std::string& path) {
  std::FILE* file = std::fopen(path.c_str(), "rb");
  if (file == nullptr) {
    throw Error(ErrorCode::kIO, "cannot open " + path + " for reading: " + std::strerror(errno));
  }
  std::string bytes;
  // Reserving avoids regrowing for large arrays. file_size fails for pipes and
  // directories (whose ftell is meaningless); those just grow, or fail to read.
  std::error_code size_error;
  const std::uintmax_t file_size = std::filesystem::file_size(path, size_error);
  if (!size_error) bytes.reserve(static_cast<size_t>(file_size));
  char buffer[1 << 16];
  size_t n;
  while ((n = std::fread(buffer, 1, sizeof(buffer), file)) > 0) bytes.append(buffer, n);
  const bool failed = std::ferror(file) != 0;
  const int read_errno = errno;
  std::fclose(file);
  if (failed) throw Error(ErrorCode::kIO, "cannot read " + path + ": " + std::strerror(read_errno));
  return bytes;
}

}  // namespace

at::Tensor parse_npy(const char* data, size_t size, const std::string& source) {
  const NpyHeader header = parse_npy_header(data, size, source);
  const size_t data_offset = header.data_offset;
  const size_t expected = header.data_bytes;
  const size_t actual = size - data_offset;
  if (actual != expected) {
    fail(source, "the data section is " + std::to_string(actual) + " bytes but shape " +
                     shape_repr(header.shape) + " of dtype " + quote(header.descr) + " needs " +
                     std::to_string(expected) + " bytes; " +
                     (actual < expected ? "the file is truncated" : "the file has trailing data") +
                     " (re-save it with numpy.save)");
  }

  at::Tensor tensor;
  try {
    tensor = at::empty(header.shape, at::TensorOptions().dtype(header.type));
  } catch (const c10::Error& e) {
    throw Error(ErrorCode::kRuntime, source + ": cannot allocate a tensor of shape " + shape_repr(header.shape) +
                                         ": " + e.what_without_backtrace());
  }
  if (expected > 0) {
    auto* out = static_cast<unsigned char*>(tensor.mutable_data_ptr());
    std::memcpy(out, data + data_offset, expected);
    if (header.swap_unit != 0) swap_bytes(out, expected, header.swap_unit);
    if (header.type == ScalarType::Bool) {
      // torch assumes bools are 0 or 1; numpy reads any nonzero byte as True.
      for (size_t i = 0; i < expected; ++i) out[i] = out[i] != 0;
    }
  }
  return tensor;
}

at::Tensor load_npy(const std::string& path, uint64_t max_bytes) {
  // The header first (numpy writes at most 64 KiB of it, and refuses to read more
  // than 10 KB by default): what it claims is checked before the data is read.
  {
    std::FILE* file = std::fopen(path.c_str(), "rb");
    if (file == nullptr) throw Error(ErrorCode::kIO, "cannot open " + path + " for reading: " + std::strerror(errno));
    std::string head(kMaxHeadRead, '\0');
    head.resize(std::fread(head.data(), 1, head.size(), file));
    std::fclose(file);
    NpyHeader header;
    try {
      header = parse_npy_header(head.data(), head.size(), path);
    } catch (const Error&) {
      // A header that does not fit in what was read is parsed again below, with
      // the whole file, to get the same message as parse_npy.
      header.data_bytes = 0;
    }
    if (header.data_bytes != 0) check_input_bytes(path, header.shape, header.itemsize, max_bytes, 2);
  }
  const std::string bytes = read_file(path);
  return parse_npy(bytes.data(), bytes.size(), path);
}

std::string serialize_npy(const at::Tensor& tensor) {
  return serialize(tensor, "cannot serialize the tensor as .npy");
}

void save_npy(const std::string& path, const at::Tensor& tensor) {
  const std::string bytes = serialize(tensor, "cannot save the tensor to " + path);
  std::FILE* file = std::fopen(path.c_str(), "wb");
  if (file == nullptr) {
    throw Error(ErrorCode::kIO, "cannot open " + path + " for writing: " + std::strerror(errno));
  }
  bool ok = std::fwrite(bytes.data(), 1, bytes.size(), file) == bytes.size();
  int write_errno = errno;
  if (std::fclose(file) != 0 && ok) {
    ok = false;
    write_errno = errno;
  }
  if (!ok) {
    // A partial file would later fail to load with a confusing size error.
    std::remove(path.c_str());
    throw Error(ErrorCode::kIO, "cannot write " + path + ": " + std::strerror(write_errno));
  }
}

}  // namespace tsrt
