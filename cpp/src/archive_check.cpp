#include "archive_check.h"

#include <algorithm>
#include <cctype>
#include <exception>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <set>
#include <vector>

#include <unistd.h>

#include "crc32.h"
#include "regular_file.h"
#include "tsrt/error.h"

namespace tsrt::detail {
namespace {

constexpr uint32_t kLocalHeader = 0x04034b50;
constexpr uint32_t kCentralHeader = 0x02014b50;
constexpr uint32_t kEndOfCentralDirectory = 0x06054b50;
constexpr uint32_t kZip64Locator = 0x07064b50;
constexpr uint32_t kZip64End = 0x06064b50;
constexpr uint64_t kMaxEntries = 1 << 20;  // no real model has a million records

uint16_t u16(const unsigned char* p) { return static_cast<uint16_t>(p[0] | p[1] << 8); }
uint32_t u32(const unsigned char* p) { return u16(p) | static_cast<uint32_t>(u16(p + 2)) << 16; }
uint64_t u64(const unsigned char* p) { return u32(p) | static_cast<uint64_t>(u32(p + 4)) << 32; }

class File {
 public:
  explicit File(const std::string& path) : path_(path), file_(open_file(path), &std::fclose) {
    std::fseek(file_.get(), 0, SEEK_END);
    size_ = static_cast<uint64_t>(std::ftell(file_.get()));
  }
  uint64_t size() const { return size_; }

  // Reads exactly `length` bytes at `offset`, or throws naming `what`.
  std::string read(uint64_t offset, uint64_t length, const std::string& what) const {
    if (offset > size_ || length > size_ - offset) damaged(what + " lies past the end of the file (truncated?)");
    std::string bytes(length, '\0');
    std::fseek(file_.get(), static_cast<long>(offset), SEEK_SET);
    if (length && std::fread(bytes.data(), 1, length, file_.get()) != length) damaged("cannot read " + what);
    return bytes;
  }

  // CRC-32 of `length` bytes at `offset`, read in blocks small enough to stay in
  // the cache between the copy and the CRC. (Mapping the file instead costs more
  // in page-table work than the copy: 105 against ~70 ms for BERT-base's 438 MB.)
  uint32_t crc32(uint64_t offset, uint64_t length) const {
    if (offset > size_ || length > size_ - offset) damaged("entry data lies past the end of the file (truncated?)");
    constexpr size_t kBlock = 256 << 10;
    thread_local std::unique_ptr<unsigned char[]> buffer(new unsigned char[kBlock]);
    uint32_t crc = 0;
    while (length > 0) {
      const size_t chunk = static_cast<size_t>(std::min<uint64_t>(length, kBlock));
      const ssize_t got = pread(fileno(file_.get()), buffer.get(), chunk, static_cast<off_t>(offset));
      if (got != static_cast<ssize_t>(chunk)) damaged("cannot read entry data");
      crc = detail::crc32(buffer.get(), chunk, crc);
      offset += chunk;
      length -= chunk;
    }
    return crc;
  }

  // Only a regular file: a FIFO put in its place after identify_model_file must not block.
  static FILE* open_file(const std::string& path) {
    const int fd = open_regular_file(path, "model file");
    FILE* file = ::fdopen(fd, "rb");
    if (file == nullptr) {
      ::close(fd);
      throw Error(ErrorCode::kIO, "model file '" + path + "' cannot be opened for reading");
    }
    return file;
  }

  [[noreturn]] void damaged(const std::string& what) const {
    throw Error(ErrorCode::kInvalidModel, "model file '" + path_ + "' is damaged: " + what +
                                              ". Re-export or re-copy the file; do not use it.");
  }

 private:
  std::string path_;
  std::unique_ptr<FILE, int (*)(FILE*)> file_;
  uint64_t size_ = 0;
};

// LibTorch's bundled miniz inflates deflated records with its CRC check compiled
// out, and uses whatever a failed inflate left in the buffer; it also trusts the
// recorded sizes. Inflate here (with the same miniz, exported by libtorch), in
// pieces through a callback, so that what a record claims is never allocated and
// a bomb stops one piece past its recorded size.
extern "C" int tinfl_decompress_mem_to_callback(const void* source, size_t* source_length,
                                                int (*put)(const void* piece, int length, void* user), void* user,
                                                int flags);

struct InflateState {
  const std::function<void(const char*, size_t)>* sink;
  uint64_t limit = 0;     // the recorded size: one byte more is a lie
  uint64_t produced = 0;
  uint32_t crc = 0;
  bool overflowed = false;
  std::exception_ptr failure;  // what the sink threw: rethrown outside miniz's C frames
};

int put_inflated(const void* piece, int length, void* user) {
  auto& state = *static_cast<InflateState*>(user);
  const auto bytes = static_cast<uint64_t>(length);
  if (bytes > state.limit - state.produced) {
    state.overflowed = true;
    return 0;
  }
  state.produced += bytes;
  state.crc = detail::crc32(piece, bytes, state.crc);
  if (*state.sink) {
    try {
      (*state.sink)(static_cast<const char*>(piece), bytes);
    } catch (...) {
      state.failure = std::current_exception();
      return 0;
    }
  }
  return 1;
}

// Checks a recorded inflated size against the limits before anything is inflated.
void check_inflated_size(const File& file, const ArchiveEntry& entry) {
  const std::string name = "entry " + quote_entry_name(entry.name);
  if (entry.inflated_size > kMaxInflated) {
    file.damaged(name + " claims " + std::to_string(entry.inflated_size) + " bytes inflated (more than the " +
                 std::to_string(kMaxInflated >> 20) + " MiB any model record needs)");
  }
  if (entry.inflated_size > kMaxInflateRatio * entry.size + kInflateSlack) {
    file.damaged(name + " claims " + std::to_string(entry.inflated_size) + " bytes inflated from " +
                 std::to_string(entry.size) + " compressed: more than deflate can expand (a zip bomb?)");
  }
}

void stream(const File& file, const ArchiveEntry& entry, const std::function<void(const char*, size_t)>& sink) {
  const std::string name = "entry " + quote_entry_name(entry.name);
  uint32_t crc = 0;
  if (entry.method == 8) {
    check_inflated_size(file, entry);
    const std::string compressed = file.read(entry.data_offset, entry.size, name);
    InflateState state;
    state.sink = &sink;
    state.limit = entry.inflated_size;
    size_t consumed = compressed.size();
    const int done = tinfl_decompress_mem_to_callback(compressed.data(), &consumed, &put_inflated, &state, 0);
    if (state.failure) std::rethrow_exception(state.failure);
    if (state.overflowed) {
      file.damaged(name + " inflates to more than its recorded " + std::to_string(entry.inflated_size) +
                   " bytes (a zip bomb?)");
    }
    if (!done || state.produced != entry.inflated_size) {
      file.damaged(name + " does not inflate to its recorded size");
    }
    crc = state.crc;
  } else {
    constexpr uint64_t kPiece = 1 << 20;
    for (uint64_t at = 0; at < entry.size; at += kPiece) {
      const std::string piece = file.read(entry.data_offset + at, std::min(kPiece, entry.size - at), name);
      crc = detail::crc32(piece.data(), piece.size(), crc);
      if (sink) sink(piece.data(), piece.size());
    }
  }
  if (crc != entry.crc32) file.damaged(name + " fails its CRC-32 check: its bytes changed after it was written");
}

// The file-type bits of a zip entry's Unix mode (external attributes, high half).
constexpr uint32_t kTypeMask = 0170000, kRegular = 0100000, kDirectory = 0040000, kSymlink = 0120000;

struct Directory {
  uint64_t offset = 0, size = 0, entries = 0;
};

Directory find_directory(const File& file) {
  // The end record is 22 bytes plus a comment of up to 64 KiB, at the end of the file.
  const uint64_t tail = std::min<uint64_t>(file.size(), 22 + 65535);
  if (file.size() < 22) file.damaged("too short to be a zip archive");
  const std::string bytes = file.read(file.size() - tail, tail, "the end of the archive");
  const auto* data = reinterpret_cast<const unsigned char*>(bytes.data());
  for (int64_t at = static_cast<int64_t>(tail) - 22; at >= 0; --at) {
    if (u32(data + at) != kEndOfCentralDirectory) continue;
    Directory directory{u32(data + at + 16), u32(data + at + 12), u16(data + at + 10)};
    const uint64_t end_offset = file.size() - tail + static_cast<uint64_t>(at);
    const bool needs_zip64 = directory.offset == 0xFFFFFFFFu || directory.size == 0xFFFFFFFFu || directory.entries == 0xFFFFu;
    // PyTorch writes a zip64 end record into every archive, and LibTorch's reader
    // follows it: both records must describe the same directory, or the file
    // could show one directory to this check and another to the loader.
    const std::string locator = end_offset >= 20 ? file.read(end_offset - 20, 20, "the zip64 locator") : std::string();
    const auto* l = reinterpret_cast<const unsigned char*>(locator.data());
    const bool has_zip64 = locator.size() == 20 && u32(l) == kZip64Locator;
    if (needs_zip64 && !has_zip64) file.damaged("zip64 locator missing");
    if (has_zip64) {
      const std::string end64 = file.read(u64(l + 8), 56, "the zip64 end record");
      const auto* e = reinterpret_cast<const unsigned char*>(end64.data());
      if (u32(e) != kZip64End) file.damaged("bad zip64 end record");
      const Directory directory64{u64(e + 48), u64(e + 40), u64(e + 32)};
      const bool agree = (directory.offset == 0xFFFFFFFFu || directory.offset == directory64.offset) &&
                         (directory.size == 0xFFFFFFFFu || directory.size == directory64.size) &&
                         (directory.entries == 0xFFFFu || directory.entries == directory64.entries);
      if (!agree) file.damaged("the zip and zip64 end records describe different central directories");
      directory = directory64;
    }
    return directory;
  }
  file.damaged("no end-of-central-directory record: the file is truncated or not a zip archive");
}

}  // namespace

namespace {

// The parts of an entry name between slashes (backslashes count as slashes), without
// the empty and "." ones: what both the safety check and the normalisation walk.
std::vector<std::string> entry_name_parts(const std::string& slashed) {
  std::vector<std::string> parts;
  for (size_t start = 0; start <= slashed.size();) {
    const size_t end = std::min(slashed.find('/', start), slashed.size());
    std::string part = slashed.substr(start, end - start);
    start = end + 1;
    if (!part.empty() && part != ".") parts.push_back(std::move(part));
  }
  return parts;
}

std::string with_slashes(std::string name) {
  std::replace(name.begin(), name.end(), '\\', '/');
  return name;
}

}  // namespace

std::string unsafe_entry_name(const std::string& name) {
  if (name.find('\0') != std::string::npos) return "holds a NUL byte";
  const std::string slashed = with_slashes(name);
  if (!slashed.empty() && slashed[0] == '/') return "is absolute";
  if (slashed.size() >= 2 && slashed[1] == ':' && std::isalpha(static_cast<unsigned char>(slashed[0]))) {
    return "starts with a drive letter";
  }
  size_t depth = 0;
  for (const std::string& part : entry_name_parts(slashed)) {
    if (part == "..") {
      if (depth == 0) return "climbs out of the archive";
      --depth;
    } else {
      ++depth;
    }
  }
  if (depth == 0) return "names no file";
  return "";
}

std::string normalize_entry_name(const std::string& name) {
  std::vector<std::string> parts;
  for (const std::string& part : entry_name_parts(with_slashes(name))) {
    if (part == "..") {
      if (!parts.empty()) parts.pop_back();
    } else {
      parts.push_back(part);
    }
  }
  std::string joined;
  for (const std::string& part : parts) joined += (joined.empty() ? "" : "/") + part;
  return joined;
}

std::string record_name(const std::string& name) {
  const std::string normalized = normalize_entry_name(name);
  const size_t slash = normalized.find('/');
  return slash == std::string::npos ? "" : normalized.substr(slash + 1);
}

std::string quote_entry_name(const std::string& name) {
  static const char kHex[] = "0123456789abcdef";
  std::string out = "'";
  for (const char ch : name) {
    const unsigned char c = static_cast<unsigned char>(ch);
    if (c == '\'' || c == '\n' || c == '\t' || c == '\\') {
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 0xF];
    } else {
      out += ch;
    }
  }
  // Error's constructor escapes what is left: bytes that are not UTF-8, controls.
  return escape_bytes(out) + "'";
}

void stream_entry(const std::string& path, const ArchiveEntry& entry,
                  const std::function<void(const char*, size_t)>& sink) {
  const File file(path);
  stream(file, entry, sink);
}

std::string read_entry(const std::string& path, const ArchiveEntry& entry) {
  const File file(path);
  std::string bytes;
  // stream() has checked the recorded size against the file before the first piece.
  stream(file, entry, [&](const char* piece, size_t length) {
    if (bytes.empty()) bytes.reserve(static_cast<size_t>(entry.method == 8 ? entry.inflated_size : entry.size));
    bytes.append(piece, length);
  });
  return bytes;
}

void check_checksums(const std::string& path, const std::vector<ArchiveEntry>& entries) {
  const File file(path);
  for (const ArchiveEntry& entry : entries) {
    if (entry.method == 0 && file.crc32(entry.data_offset, entry.size) != entry.crc32) {
      file.damaged("entry " + quote_entry_name(entry.name) +
                   " fails its CRC-32 check: its bytes changed after it was written");
    }
  }
}

std::vector<ArchiveEntry> check_archive(const std::string& path,
                                        const std::function<bool(const std::string&)>& defer_crc) {
  const File file(path);
  const Directory directory = find_directory(file);
  if (directory.entries > kMaxEntries) file.damaged("implausible entry count " + std::to_string(directory.entries));
  const std::string central = file.read(directory.offset, directory.size, "the central directory");
  const auto* data = reinterpret_cast<const unsigned char*>(central.data());

  std::vector<ArchiveEntry> entries;
  std::set<std::string> names;
  uint64_t at = 0;
  for (uint64_t i = 0; i < directory.entries; ++i) {
    if (at + 46 > central.size() || u32(data + at) != kCentralHeader) file.damaged("central directory entry " + std::to_string(i) + " is corrupt");
    const uint16_t name_length = u16(data + at + 28), extra_length = u16(data + at + 30), comment_length = u16(data + at + 32);
    if (at + 46 + name_length + extra_length + comment_length > central.size()) file.damaged("central directory entry " + std::to_string(i) + " runs past the directory");
    ArchiveEntry entry;
    entry.name.assign(central, at + 46, name_length);
    const std::string quoted = quote_entry_name(entry.name);
    entry.method = u16(data + at + 10);
    entry.crc32 = u32(data + at + 16);
    uint64_t compressed = u32(data + at + 20), uncompressed = u32(data + at + 24), local = u32(data + at + 42);
    // Zip64 extra field: the 64-bit values of the fields that hold 0xFFFFFFFF, in order.
    for (uint64_t x = at + 46 + name_length; x + 4 <= at + 46 + name_length + extra_length;) {
      const uint16_t id = u16(data + x), size = u16(data + x + 2);
      const unsigned char* field = data + x + 4;
      if (x + 4 + size > at + 46 + name_length + extra_length) file.damaged("entry " + quoted + " has a bad extra field");
      if (id == 0x0001) {
        const unsigned char* end = field + size;
        if (uncompressed == 0xFFFFFFFFu && field + 8 <= end) uncompressed = u64(field), field += 8;
        if (compressed == 0xFFFFFFFFu && field + 8 <= end) compressed = u64(field), field += 8;
        if (local == 0xFFFFFFFFu && field + 8 <= end) local = u64(field), field += 8;
      }
      x += 4 + size;
    }
    // A package's entries are written to disk by name (LibTorch's AOTInductor loader
    // extracts them): a name must not reach outside the folder it is extracted into.
    const std::string unsafe = unsafe_entry_name(entry.name);
    if (!unsafe.empty()) {
      file.damaged("entry " + quoted + " " + unsafe + ": a model archive's entries must stay inside it");
    }
    // Unix mode in the high half of the external attributes: an extractor that
    // honours it would create a symlink (then write through it) or a device node.
    const uint32_t type = (u32(data + at + 38) >> 16) & kTypeMask;
    if (type == kSymlink) file.damaged("entry " + quoted + " is a symbolic link: a model archive holds files only");
    if (type != 0 && type != kRegular && type != kDirectory) {
      file.damaged("entry " + quoted + " is a special file (mode " + std::to_string(type >> 12) +
                   "): a model archive holds files only");
    }
    // LibTorch's zip reader looks names up ignoring case: "A/x" and "a/X" collide.
    std::string folded = entry.name;
    for (char& c : folded) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (!names.insert(folded).second) file.damaged("entry " + quoted + " appears twice (names are compared ignoring case)");
    if (entry.method != 0 && entry.method != 8) file.damaged("entry " + quoted + " uses an unknown compression method " + std::to_string(entry.method));
    if (entry.method == 0 && compressed != uncompressed) file.damaged("entry " + quoted + " has inconsistent sizes");

    const std::string header = file.read(local, 30, "the local header of " + quoted);
    const auto* h = reinterpret_cast<const unsigned char*>(header.data());
    if (u32(h) != kLocalHeader) file.damaged("the local header of " + quoted + " is corrupt");
    const uint16_t local_name_length = u16(h + 26), local_extra_length = u16(h + 28);
    if (file.read(local + 30, local_name_length, "the name of " + quoted) != entry.name) {
      file.damaged("the local header of " + quoted + " names another entry");
    }
    entry.data_offset = local + 30 + local_name_length + local_extra_length;
    entry.size = compressed;
    entry.inflated_size = uncompressed;
    if (entry.data_offset > file.size() || entry.size > file.size() - entry.data_offset) {
      file.damaged("entry " + quoted + " runs past the end of the file (truncated?)");
    }
    const bool deferred = defer_crc && defer_crc(entry.name);
    if (!deferred && entry.method == 0 && file.crc32(entry.data_offset, entry.size) != entry.crc32) {
      file.damaged("entry " + quoted + " fails its CRC-32 check: its bytes changed after it was written");
    }
    // Deflated records are inflated (in pieces, bounded) and CRC-checked here: the
    // length and CRC are all that is kept.
    if (entry.method == 8) stream(file, entry, nullptr);
    entries.push_back(std::move(entry));
    at += 46 + name_length + extra_length + comment_length;
  }
  return entries;
}

}  // namespace tsrt::detail
