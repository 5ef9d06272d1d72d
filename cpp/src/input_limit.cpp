#include "tsrt/input_limit.h"

#include <unistd.h>

#include <fstream>
#include <sstream>

#include "tsrt/error.h"
#include "tsrt/tensor_spec.h"

namespace tsrt {
namespace {

std::string human_bytes(uint64_t bytes) {
  const char* units[] = {"bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  double value = static_cast<double>(bytes);
  int unit = 0;
  while (value >= 1024 && unit < 6) value /= 1024, ++unit;
  std::ostringstream out;
  out.precision(unit == 0 ? 0 : 1);
  out << std::fixed << value << " " << units[unit];
  return out.str();
}

std::string shape_or_scalar(const std::vector<int64_t>& shape) {
  const std::string text = shape_text(shape);
  return text.empty() ? "a scalar" : text;
}

}  // namespace

uint64_t available_memory_bytes() {
  // MemAvailable counts reclaimable cache too: what a new allocation can get
  // without swapping. cgroup limits are not read; the fixed limit covers them.
  std::ifstream meminfo("/proc/meminfo");
  std::string key;
  uint64_t kib = 0;
  std::string unit;
  while (meminfo >> key >> kib >> unit) {
    if (key == "MemAvailable:") return kib * 1024;
  }
  const long pages = sysconf(_SC_AVPHYS_PAGES), page = sysconf(_SC_PAGESIZE);
  return pages > 0 && page > 0 ? static_cast<uint64_t>(pages) * static_cast<uint64_t>(page) : 0;
}

void check_input_bytes(const std::string& what, const std::vector<int64_t>& shape, size_t element_size,
                       uint64_t limit, uint64_t working_factor) {
  uint64_t bytes = element_size;
  bool empty = false;
  for (const int64_t dim : shape) {
    if (dim < 0) throw Error(ErrorCode::kInvalidArgument, what + ": negative dimension in shape " + shape_or_scalar(shape));
    if (dim == 0) empty = true;
    if (dim != 0 && __builtin_mul_overflow(bytes, static_cast<uint64_t>(dim), &bytes)) {
      throw Error(ErrorCode::kInvalidArgument,
                  what + ": shape " + shape_or_scalar(shape) + " is too large: its byte count overflows 64 bits");
    }
  }
  if (empty) return;
  const std::string exact = bytes < 1024 ? std::string() : " (" + std::to_string(bytes) + " bytes)";
  const std::string size = what + ": shape " + shape_or_scalar(shape) + " needs " + human_bytes(bytes) + exact;
  if (limit != 0 && bytes > limit) {
    throw Error(ErrorCode::kInvalidArgument, size + ", more than the input limit of " + human_bytes(limit) +
                                                 "; give a smaller shape, or raise the limit (--max-input-bytes, "
                                                 "LoadOptions::max_input_bytes)");
  }
  uint64_t needed = 0;
  const uint64_t available = available_memory_bytes();
  if (available != 0 && (__builtin_mul_overflow(bytes, working_factor, &needed) || needed > available)) {
    throw Error(ErrorCode::kInvalidArgument, size + (working_factor > 1 ? " (" + std::to_string(working_factor) +
                                                                             "x while it is made)" : std::string()) +
                                                 ", more than the " + human_bytes(available) +
                                                 " of memory available now; give a smaller shape");
  }
}

}  // namespace tsrt
