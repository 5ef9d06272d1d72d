#pragma once
// The .npy header: preamble, version and the Python-literal dict that says dtype
// and shape. Parsed on its own so that a caller can see how many bytes a file
// claims (and refuse them) before reading or allocating its data.

#include <c10/core/ScalarType.h>

#include <cstddef>
#include <cstring>
#include <cstdint>
#include <string>
#include <vector>

#include "tsrt/error.h"

namespace tsrt::detail {

inline constexpr char kMagic[] = "\x93NUMPY";
inline constexpr size_t kMagicSize = 6;
// Magic, two version bytes, then the header length: 2 bytes in version 1.0 (the
// only one tsrt writes), 4 bytes in 2.0 and 3.0.
inline constexpr size_t kPreambleSizeV1 = kMagicSize + 2 + 2;
inline constexpr size_t kPreambleSizeV2 = kMagicSize + 2 + 4;
// numpy pads the header so the data starts on a 64-byte boundary (for mmap).
inline constexpr size_t kArrayAlign = 64;
// numpy leaves room after the header dict for the first dimension to grow to this
// many digits (appending in place); tsrt does the same so that its files are
// byte-identical to np.save's.
inline constexpr size_t kGrowthAxisMaxDigits = 21;
// Real headers nest two levels (dict, shape tuple; three for structured dtypes);
// the limit keeps a hostile header from exhausting the stack.
inline constexpr int kMaxHeaderDepth = 32;
// Longest excerpt of a header quoted in an error message.
inline constexpr size_t kMaxQuotedHeader = 200;

/// A numpy type (kind character and item size) that torch also has.
struct NpyType {
  char kind;
  size_t itemsize;
  c10::ScalarType type;
};

inline constexpr NpyType kNpyTypes[] = {
    {'b', 1, c10::ScalarType::Bool},        {'u', 1, c10::ScalarType::Byte},
    {'i', 1, c10::ScalarType::Char},        {'i', 2, c10::ScalarType::Short},
    {'i', 4, c10::ScalarType::Int},         {'i', 8, c10::ScalarType::Long},
    {'u', 2, c10::ScalarType::UInt16},      {'u', 4, c10::ScalarType::UInt32},
    {'u', 8, c10::ScalarType::UInt64},      {'f', 2, c10::ScalarType::Half},
    {'f', 4, c10::ScalarType::Float},       {'f', 8, c10::ScalarType::Double},
    {'c', 8, c10::ScalarType::ComplexFloat}, {'c', 16, c10::ScalarType::ComplexDouble},
};

inline bool host_is_little_endian() {
  const uint16_t one = 1;
  unsigned char first_byte;
  std::memcpy(&first_byte, &one, 1);
  return first_byte == 1;
}

[[noreturn]] inline void fail(const std::string& source, const std::string& message) {
  throw Error(ErrorCode::kInvalidArgument, source + ": " + message);
}

/// Fails for a header that numpy would not have written.
[[noreturn]] inline void fail_malformed(const std::string& source, const std::string& problem) {
  fail(source, problem + "; the file is corrupt or was not written by numpy");
}

/// Returns `text` in single quotes, non-printable bytes escaped and long text cut,
/// so that a corrupt header can be shown in an error message.
std::string quote(const std::string& text);

/// Formats a shape as Python does a tuple: (), (5,), (2, 3).
std::string shape_repr(const std::vector<int64_t>& shape);

/// What a .npy header says about the data that follows it.
struct NpyHeader {
  std::string descr;  ///< as written, e.g. "<f4"
  c10::ScalarType type = c10::ScalarType::Float;
  size_t itemsize = 0;
  /// Bytes to reverse per value when the file's byte order differs from the host's
  /// (the item size, or half of it for complex numbers); 0 when no swap is needed.
  size_t swap_unit = 0;
  std::vector<int64_t> shape;
  size_t data_offset = 0;  ///< where the data starts: preamble plus header
  size_t data_bytes = 0;   ///< prod(shape) * itemsize, checked for overflow
};

/// Parses the preamble and header of the .npy bytes at `data` (`size` of them: the
/// whole file, or at least its header). `source` names them in messages. Throws
/// Error(kInvalidArgument) for anything numpy would not have written or tsrt cannot
/// represent; does not look at the data.
NpyHeader parse_npy_header(const char* data, size_t size, const std::string& source);

}  // namespace tsrt::detail
