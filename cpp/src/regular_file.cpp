#include "regular_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "tsrt/error.h"

namespace tsrt::detail {
namespace {

const char* kind_of(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a FIFO (named pipe)";
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  return "not a regular file";
}

}  // namespace

int open_regular_file(const std::string& path, const std::string& what) {
  // The check is on the descriptor, not the name: a name swapped for a FIFO
  // between a stat and the open cannot slip through.
  const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    throw Error(ErrorCode::kIO, what + " '" + path + "' cannot be opened for reading: " + std::strerror(errno));
  }
  struct stat status {};
  const bool stat_ok = ::fstat(fd, &status) == 0;
  if (!stat_ok || !S_ISREG(status.st_mode)) {
    const std::string kind = stat_ok ? kind_of(status.st_mode) : "unreadable";
    ::close(fd);
    throw Error(ErrorCode::kIO, what + " '" + path + "' is " + kind +
                                    ", not a regular file; give the path of a file (tsrt reads only regular files, "
                                    "so that a pipe or device cannot block or feed it without end)");
  }
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  return fd;
}

}  // namespace tsrt::detail
