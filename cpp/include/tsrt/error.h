#pragma once
// tsrt::Error: the one exception type that libtsrt throws.
//
// Every failure inside load, run or file I/O surfaces as a tsrt::Error whose
// message names the thing that failed (a file, an input, a method), what was
// expected, what came instead, and what to do. LibTorch's c10::Error is caught at
// the library's edges and wrapped, its C++ backtrace dropped.

#include <stdexcept>
#include <string>
#include <string_view>

namespace tsrt {

/// What kind of failure an Error reports. Front ends map it to exit codes:
/// the `infer` CLI exits 2 for kInvalidArgument and kIO, 1 for the others.
enum class ErrorCode {
  kInvalidArgument,  ///< the caller's inputs or options are wrong (count, dtype, rank, device, flag)
  kIO,               ///< a file could not be opened, read or written
  kInvalidModel,     ///< the model file is not a model tsrt can load (corrupt, truncated, unknown format)
  kRuntime,          ///< the model failed while running (an error inside forward, out of memory)
  kUnsupported,      ///< valid, but not supported by this build (e.g. CUDA without a CUDA torch)
};

/// Returns a stable lower-case name for `code`, e.g. "invalid_argument".
const char* error_code_name(ErrorCode code);

/// Returns `bytes` as text that is safe to print, log or put in JSON: valid UTF-8
/// is kept; every other byte, and control characters other than newline and tab,
/// become `\xNN` (a backslash is kept as is). Names read from a model file (zip
/// entries, metadata) and paths pass through here before they reach a message.
std::string escape_bytes(std::string_view bytes);

/// The exception thrown by every tsrt API.
class Error : public std::runtime_error {
 public:
  /// `message` may quote bytes from a file: what() returns it through escape_bytes,
  /// so that stderr, logs, JSON and Python's str always receive valid UTF-8.
  Error(ErrorCode code, const std::string& message)
      : std::runtime_error(escape_bytes(message)), code_(code) {}

  /// The category of the failure; see ErrorCode.
  ErrorCode code() const noexcept { return code_; }

 private:
  ErrorCode code_;
};

}  // namespace tsrt
