#include "tsrt/libraries.h"

#include <dlfcn.h>

#include <filesystem>
#include <system_error>

#include "tsrt/error.h"

namespace tsrt {

void load_library(const std::string& path) {
  std::error_code ignored;
  // dlopen's own message for a missing file ("cannot open shared object file") does not
  // say which option named it; a plain name (no '/') is left to the loader's search path.
  if (path.find('/') != std::string::npos && !std::filesystem::exists(path, ignored)) {
    throw Error(ErrorCode::kIO, "operator library '" + escape_bytes(path) +
                                    "' does not exist (LoadOptions::libraries / infer --load-library)");
  }
  // RTLD_GLOBAL: a library's registrations may need symbols of another loaded before it.
  // The handle is never closed: its operators must outlive every model that calls them.
  if (dlopen(path.c_str(), RTLD_NOW | RTLD_GLOBAL) == nullptr) {
    const char* reason = dlerror();
    throw Error(ErrorCode::kInvalidArgument, "cannot load operator library '" + escape_bytes(path) +
                                                 "': " + (reason ? reason : "unknown dlopen error"));
  }
}

std::string torchvision_ops_library() {
  // The directory of libtsrt itself: the op library is installed beside it.
  Dl_info info{};
  if (dladdr(reinterpret_cast<const void*>(&torchvision_ops_library), &info) == 0 || info.dli_fname == nullptr) {
    return "";
  }
  std::error_code ignored;
  const std::filesystem::path library =
      std::filesystem::path(info.dli_fname).parent_path() / "libtsrt_torchvision_ops.so";
  // lexically_normal: tsrt/bin/../lib/x.so (infer) and tsrt/lib/x.so (tsrt._C) are one path.
  return std::filesystem::exists(library, ignored) ? std::filesystem::absolute(library, ignored).lexically_normal().string()
                                                   : "";
}

}  // namespace tsrt
