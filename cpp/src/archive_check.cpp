#include "archive_check.h"

#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <set>

#include <unistd.h>

#include "crc32.h"
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
  explicit File(const std::string& path) : path_(path), file_(std::fopen(path.c_str(), "rb"), &std::fclose) {
    if (!file_) throw Error(ErrorCode::kIO, "model file '" + path + "' cannot be opened for reading");
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
// out, and uses whatever a failed inflate left in the buffer. Inflate here (with
// the same miniz, exported by libtorch) and check size and CRC first.
extern "C" void* tinfl_decompress_mem_to_heap(const void* source, size_t source_length, size_t* out_length, int flags);

void check_deflated(const File& file, const ArchiveEntry& entry, uint64_t uncompressed) {
  constexpr uint64_t kMaxInflated = 1ull << 30;  // code and pickles; tensor storages are stored, not deflated
  if (uncompressed > kMaxInflated) file.damaged("entry '" + entry.name + "' claims " + std::to_string(uncompressed) + " bytes inflated");
  const std::string compressed = file.read(entry.data_offset, entry.size, "entry '" + entry.name + "'");
  size_t length = 0;
  std::unique_ptr<void, void (*)(void*)> inflated(
      tinfl_decompress_mem_to_heap(compressed.data(), compressed.size(), &length, 0), &std::free);
  if (!inflated || length != uncompressed) file.damaged("entry '" + entry.name + "' does not inflate to its recorded size");
  if (detail::crc32(inflated.get(), length) != entry.crc32) {
    file.damaged("entry '" + entry.name + "' fails its CRC-32 check: its bytes changed after it was written");
  }
}

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

std::string read_entry(const std::string& path, const ArchiveEntry& entry) {
  const File file(path);
  std::string bytes = file.read(entry.data_offset, entry.size, "entry '" + entry.name + "'");
  if (entry.method == 8) {
    size_t length = 0;
    std::unique_ptr<void, void (*)(void*)> inflated(
        tinfl_decompress_mem_to_heap(bytes.data(), bytes.size(), &length, 0), &std::free);
    if (!inflated) file.damaged("entry '" + entry.name + "' does not inflate");
    bytes.assign(static_cast<const char*>(inflated.get()), length);
  }
  if (detail::crc32(bytes.data(), bytes.size()) != entry.crc32) {
    file.damaged("entry '" + entry.name + "' fails its CRC-32 check: its bytes changed after it was written");
  }
  return bytes;
}

void check_checksums(const std::string& path, const std::vector<ArchiveEntry>& entries) {
  const File file(path);
  for (const ArchiveEntry& entry : entries) {
    if (entry.method == 0 && file.crc32(entry.data_offset, entry.size) != entry.crc32) {
      file.damaged("entry '" + entry.name + "' fails its CRC-32 check: its bytes changed after it was written");
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
    entry.method = u16(data + at + 10);
    entry.crc32 = u32(data + at + 16);
    uint64_t compressed = u32(data + at + 20), uncompressed = u32(data + at + 24), local = u32(data + at + 42);
    // Zip64 extra field: the 64-bit values of the fields that hold 0xFFFFFFFF, in order.
    for (uint64_t x = at + 46 + name_length; x + 4 <= at + 46 + name_length + extra_length;) {
      const uint16_t id = u16(data + x), size = u16(data + x + 2);
      const unsigned char* field = data + x + 4;
      if (x + 4 + size > at + 46 + name_length + extra_length) file.damaged("entry '" + entry.name + "' has a bad extra field");
      if (id == 0x0001) {
        const unsigned char* end = field + size;
        if (uncompressed == 0xFFFFFFFFu && field + 8 <= end) uncompressed = u64(field), field += 8;
        if (compressed == 0xFFFFFFFFu && field + 8 <= end) compressed = u64(field), field += 8;
        if (local == 0xFFFFFFFFu && field + 8 <= end) local = u64(field), field += 8;
      }
      x += 4 + size;
    }
    // LibTorch's zip reader looks names up ignoring case: "A/x" and "a/X" collide.
    std::string folded = entry.name;
    for (char& c : folded) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (!names.insert(folded).second) file.damaged("entry '" + entry.name + "' appears twice (names are compared ignoring case)");
    if (entry.method != 0 && entry.method != 8) file.damaged("entry '" + entry.name + "' uses an unknown compression method " + std::to_string(entry.method));
    if (entry.method == 0 && compressed != uncompressed) file.damaged("entry '" + entry.name + "' has inconsistent sizes");

    const std::string header = file.read(local, 30, "the local header of '" + entry.name + "'");
    const auto* h = reinterpret_cast<const unsigned char*>(header.data());
    if (u32(h) != kLocalHeader) file.damaged("the local header of '" + entry.name + "' is corrupt");
    const uint16_t local_name_length = u16(h + 26), local_extra_length = u16(h + 28);
    if (file.read(local + 30, local_name_length, "the name of '" + entry.name + "'") != entry.name) {
      file.damaged("the local header of '" + entry.name + "' names another entry");
    }
    entry.data_offset = local + 30 + local_name_length + local_extra_length;
    entry.size = compressed;
    if (entry.data_offset > file.size() || entry.size > file.size() - entry.data_offset) {
      file.damaged("entry '" + entry.name + "' runs past the end of the file (truncated?)");
    }
    const bool deferred = defer_crc && defer_crc(entry.name);
    if (!deferred && entry.method == 0 && file.crc32(entry.data_offset, entry.size) != entry.crc32) {
      file.damaged("entry '" + entry.name + "' fails its CRC-32 check: its bytes changed after it was written");
    }
    if (entry.method == 8) check_deflated(file, entry, uncompressed);
    entries.push_back(std::move(entry));
    at += 46 + name_length + extra_length + comment_length;
  }
  return entries;
}

}  // namespace tsrt::detail
