#include "package_dir.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "tsrt/error.h"

namespace tsrt::detail {
namespace {

[[noreturn]] void io_error(const std::string& what) {
  throw Error(ErrorCode::kIO, what + ": " + std::strerror(errno));
}

}  // namespace

std::string PrivateDirectory::root() {
  const char* tmpdir = std::getenv("TMPDIR");
  if (tmpdir != nullptr && tmpdir[0] == '/') return tmpdir;
  return "/tmp";
}

PrivateDirectory::PrivateDirectory() {
  std::string pattern = root() + "/tsrt-pt2-XXXXXX";
  // mkdtemp creates the folder with mode 0700 and a name no other process holds.
  if (mkdtemp(pattern.data()) == nullptr) {
    io_error("cannot create a private folder to extract the package into (" + pattern + ")");
  }
  path_ = pattern;
}

std::unique_ptr<PrivateDirectory> PrivateDirectory::create_at(const std::string& path) {
  // mkdir fails with EEXIST on anything already there, a link included: the folder
  // is ours only if this call made it.
  if (mkdir(path.c_str(), 0700) != 0) return nullptr;
  return std::unique_ptr<PrivateDirectory>(new PrivateDirectory(path));
}

PrivateDirectory::~PrivateDirectory() {
  // remove_all does not follow symlinks; tsrt creates none, but nothing here may
  // delete outside the folder even if something else put one there.
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

void PrivateDirectory::extract(const std::string& archive, const ArchiveEntry& entry, const std::string& relative) {
  // Folders one at a time, each refused if it is anything but a folder we made:
  // mkdir never follows a link at the last component, and O_NOFOLLOW|O_DIRECTORY
  // below refuses a link in the middle.
  std::string at = path_;
  for (size_t start = 0, slash; (slash = relative.find('/', start)) != std::string::npos; start = slash + 1) {
    at += "/" + relative.substr(start, slash - start);
    if (mkdir(at.c_str(), 0700) != 0 && errno != EEXIST) io_error("cannot create " + at);
    const int folder = open(at.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (folder < 0) io_error("cannot use " + at + " as a folder");
    close(folder);
  }
  const std::string target = path_ + "/" + relative;
  // O_EXCL: a second entry of the same name (after normalisation) is refused, not merged.
  const int fd = open(target.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) {
    if (errno == EEXIST) {
      throw Error(ErrorCode::kInvalidModel, "model file '" + archive + "' is damaged: entry " +
                                                quote_entry_name(entry.name) + " names the same file as another entry");
    }
    io_error("cannot create " + target);
  }
  try {
    stream_entry(archive, entry, [&](const char* piece, size_t length) {
      while (length > 0) {
        const ssize_t written = write(fd, piece, length);
        if (written < 0 && errno == EINTR) continue;
        if (written <= 0) io_error("cannot write " + target);
        piece += written;
        length -= static_cast<size_t>(written);
      }
    });
  } catch (...) {
    close(fd);
    throw;
  }
  if (close(fd) != 0) io_error("cannot write " + target);
}

}  // namespace tsrt::detail
