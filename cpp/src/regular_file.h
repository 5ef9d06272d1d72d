#pragma once
// Opens a file that must be a regular file, without ever blocking: a FIFO with no
// writer blocks open(2) and read(2) forever, and a device may never end.

#include <string>

namespace tsrt::detail {

/// Opens `path` read-only (O_NONBLOCK, so that a FIFO cannot block the open),
/// checks with fstat that the opened thing is a regular file, and returns its
/// descriptor in blocking mode; the caller closes it. Throws Error(kIO) naming
/// `what` ("model file") and `path` when it cannot be opened or is a FIFO, socket,
/// device or directory.
int open_regular_file(const std::string& path, const std::string& what);

}  // namespace tsrt::detail
