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
  uint32_t crc32 = 0;        ///< as recorded in the central directory
  uint16_t method = 0;       ///< 0: stored, 8: deflated
};

/// Reads the central directory of `path` and checks, for every entry: the
/// headers' signatures, names and sizes lie within the file, the local header
/// agrees with the central one, and names are unique. The CRC-32 of each stored
/// entry is checked too, except those for which `defer_crc(name)` is true: the
/// caller checks them later with check_checksums. Throws Error(kInvalidModel)
/// naming the damaged entry.
std::vector<ArchiveEntry> check_archive(const std::string& path,
                                        const std::function<bool(const std::string&)>& defer_crc = nullptr);

/// The bytes of `entry` of `path` (inflated when deflated), CRC-checked. For
/// archives LibTorch's reader does not open: AOTInductor packages' extra files.
/// Throws Error(kInvalidModel) when they are damaged.
std::string read_entry(const std::string& path, const ArchiveEntry& entry);

/// Checks the CRC-32 of the stored `entries` of `path`; throws Error(kInvalidModel)
/// naming the first damaged one.
void check_checksums(const std::string& path, const std::vector<ArchiveEntry>& entries);

}  // namespace tsrt::detail
