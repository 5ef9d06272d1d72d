#pragma once
// Checks a model archive (a zip file) before LibTorch reads it. LibTorch's zip
// reader trusts sizes and offsets, and does not verify the CRC-32 of stored
// entries: a flipped byte in a weight loads silently and changes the answers.

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace tsrt::detail {

struct ArchiveEntry {
  std::string name;          ///< full name inside the zip, e.g. "model/data/0"
  uint64_t data_offset = 0;  ///< where the entry's bytes start in the file
  uint64_t size = 0;         ///< stored size in the file
  uint64_t inflated_size = 0;  ///< size once inflated, as recorded (equal to size when stored)
  uint32_t crc32 = 0;        ///< as recorded in the central directory
  uint16_t method = 0;       ///< 0: stored, 8: deflated
};

/// Reads the central directory of `path` and checks, for every entry: the
/// headers' signatures, names and sizes lie within the file, the local header
/// agrees with the central one, and names are unique. Names must stay inside the
/// archive: an absolute name, one that climbs out with `..` (after normalising
/// `.`, backslashes and repeated slashes), holds a NUL or a drive letter, or an
/// entry that is a symlink or device (zip external attributes) is refused, as is a
/// deflated entry that would inflate past its recorded size or past kMaxInflateRatio
/// times its compressed size. The CRC-32 of each stored
/// entry is checked too, except those for which `defer_crc(name)` is true: the
/// caller checks them later with check_checksums. Throws Error(kInvalidModel)
/// naming the damaged entry.
std::vector<ArchiveEntry> check_archive(const std::string& path,
                                        const std::function<bool(const std::string&)>& defer_crc = nullptr);

/// Deflate cannot expand data more than ~1032:1; a recorded size beyond this ratio
/// (plus kInflateSlack bytes) is a lie, whatever the bytes inflate to.
constexpr uint64_t kMaxInflateRatio = 1032;
constexpr uint64_t kInflateSlack = 4096;
/// No record of a model (code, pickles, metadata, golden pairs) needs to inflate to more.
constexpr uint64_t kMaxInflated = 1ull << 30;

/// Why `name` cannot be written under a folder, or "" when it can: "is absolute",
/// "climbs out of the archive", "holds a NUL byte", "starts with a drive letter",
/// "names no file".
std::string unsafe_entry_name(const std::string& name);

/// The name after normalisation: backslashes as slashes, no empty or "." parts,
/// ".." applied. Only meaningful when unsafe_entry_name(name) is "".
std::string normalize_entry_name(const std::string& name);

/// The record an entry holds, the archive's top folder (named after the archive)
/// dropped from its normalised name: "data/0", "code/__torch__.py". "" for a name
/// outside any folder. Only meaningful when unsafe_entry_name(name) is "".
std::string record_name(const std::string& name);

/// `name` quoted for a message: newlines, tabs and quotes escaped as well as
/// bytes that are not UTF-8 (see escape_bytes).
std::string quote_entry_name(const std::string& name);

/// Passes the bytes of `entry` of `path` to `sink` in pieces (inflated when
/// deflated, never more than the recorded size held at once beyond 64 KiB), then
/// checks their length and CRC-32. Throws Error(kInvalidModel) naming the entry
/// when they do not match; a sink that throws stops the read.
void stream_entry(const std::string& path, const ArchiveEntry& entry,
                  const std::function<void(const char*, size_t)>& sink);

/// The bytes of `entry` of `path` (inflated when deflated), CRC-checked. For
/// archives LibTorch's reader does not open: AOTInductor packages' extra files.
/// Throws Error(kInvalidModel) when they are damaged.
std::string read_entry(const std::string& path, const ArchiveEntry& entry);

/// Checks the CRC-32 of the stored `entries` of `path`; throws Error(kInvalidModel)
/// naming the first damaged one.
void check_checksums(const std::string& path, const std::vector<ArchiveEntry>& entries);

}  // namespace tsrt::detail
