#pragma once
// Backend for AOTInductor packages (.pt2) written by
// torch._inductor.aoti_compile_and_package (or tsrt export --format aoti).

#include <map>
#include <memory>
#include <optional>
#include <string>

#include <c10/core/Device.h>

#include "backend.h"
#include "model_file.h"
#include "tsrt/metadata.h"

namespace tsrt::detail {

/// Where a record sits in a package, its archive's top folder dropped.
struct PackageRecord {
  std::string relative;  ///< "data/aotinductor/model/x.wrapper.so", "extra/tsrt.json", ...
  std::string model;     ///< <model> of a record under data/aotinductor/<model>/, else ""
  bool ends_with(const std::string& suffix) const {
    return relative.size() >= suffix.size() &&
           relative.compare(relative.size() - suffix.size(), suffix.size(), suffix) == 0;
  }
};

/// `entry`'s place in the package; nullopt for a name without a top folder.
std::optional<PackageRecord> package_record(const ArchiveEntry& entry);

/// The method a package's model serves: aoti_compile_and_package names its one model
/// "model", which is forward; tsrt export adds other methods as models of their name.
std::string method_of_model(const std::string& model);

/// Reads every extra/ record of the package into `extra_files` (its loader ignores
/// them) and returns the tsrt metadata among them, if any.
std::optional<ModelMetadata> read_extra_files(const std::string& path, const ModelFile& file,
                                              std::map<std::string, std::string>& extra_files);

/// Loads the package at `path` (identified as `file`) with
/// torch::inductor::AOTIModelPackageLoader onto `device`, filling in `extra_files`
/// (every extra/ record: the loader ignores them). The compiled library's checksum
/// is verified before it is loaded. Throws Error(kInvalidModel) for a damaged
/// package, Error(kUnsupported) for one compiled for another device than `device`,
/// c10::Error / std::exception when the loader fails.
std::unique_ptr<Backend> load_aoti(const std::string& path, c10::Device device, const ModelFile& file,
                                   std::map<std::string, std::string>& extra_files);

/// The package described from its archive alone (LoadOptions::describe_only): method
/// names, the tsrt metadata's inputs, the forward model's wrapper metadata. Its
/// library is never loaded (dlopen runs a library's constructors); run() throws
/// Error(kUnsupported).
std::unique_ptr<Backend> describe_aoti(const std::string& path, const ModelFile& file,
                                       std::map<std::string, std::string>& extra_files);

}  // namespace tsrt::detail
