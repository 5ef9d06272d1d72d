#pragma once
// How big an input tsrt will make: a --shape, a .npy header or a request can ask
// for terabytes with a few characters. The byte count is checked before anything
// is allocated, against a limit the caller sets and against the memory the
// machine has free now, so that the answer is an error, not an out-of-memory kill.

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace tsrt {

/// Bytes of memory the system could give this process now (MemAvailable of
/// /proc/meminfo, else free pages), or 0 when it cannot tell.
uint64_t available_memory_bytes();

/// Throws Error(kInvalidArgument) naming `what` when a tensor of `shape` with
/// `element_size`-byte elements would take more than `limit` bytes (0: no fixed
/// limit), more than the memory available now, or a size that overflows 64 bits.
/// `working_factor` counts temporaries made while filling it (e.g. 2 when a copy
/// is made). The message gives the byte count, the limit and the fix.
void check_input_bytes(const std::string& what, const std::vector<int64_t>& shape, size_t element_size,
                       uint64_t limit, uint64_t working_factor = 1);

}  // namespace tsrt
