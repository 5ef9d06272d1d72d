#pragma once
// Backend for AOTInductor packages (.pt2) written by
// torch._inductor.aoti_compile_and_package (or tsrt export --format aoti).

#include <map>
#include <memory>
#include <string>

#include <c10/core/Device.h>

#include "backend.h"
#include "model_file.h"

namespace tsrt::detail {

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
