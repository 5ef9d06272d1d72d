#pragma once
// A private folder that an AOTInductor package is extracted into by tsrt, not by
// LibTorch's loader: the loader writes every entry by its name into a folder under
// /tmp, so a crafted name or a loader bug could write elsewhere. tsrt writes only
// the entries the loader needs, each CRC-checked and bounded in size, as plain
// files (never following a link) inside a fresh mode-0700 folder that it removes.

#include <memory>
#include <string>
#include <vector>

#include "archive_check.h"

namespace tsrt::detail {

class PrivateDirectory {
 public:
  /// Creates a fresh folder (mode 0700) under $TMPDIR (or /tmp), named tsrt-pt2-XXXXXX.
  /// Throws Error(kIO) when it cannot.
  PrivateDirectory();
  /// Creates the folder `path` itself (mode 0700, its parent must exist); nullptr when
  /// anything exists at `path` already (never reuses what it did not create).
  static std::unique_ptr<PrivateDirectory> create_at(const std::string& path);
  /// Removes the folder and everything in it, without following links.
  ~PrivateDirectory();
  PrivateDirectory(const PrivateDirectory&) = delete;
  PrivateDirectory& operator=(const PrivateDirectory&) = delete;

  const std::string& path() const { return path_; }
  /// Where folders are made: $TMPDIR when it is an absolute path, else /tmp.
  static std::string root();

  /// Writes the bytes of `entry` of `archive` (inflated, CRC-checked) to
  /// `relative` (a normalised name, see normalize_entry_name) inside the folder,
  /// creating its parent folders (0700). Refuses a name that exists already.
  void extract(const std::string& archive, const ArchiveEntry& entry, const std::string& relative);

 private:
  explicit PrivateDirectory(std::string path) : path_(std::move(path)) {}
  std::string path_;
};

}  // namespace tsrt::detail
