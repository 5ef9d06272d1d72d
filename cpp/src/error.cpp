#include "tsrt/error.h"

namespace tsrt {

const char* error_code_name(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInvalidArgument: return "invalid_argument";
    case ErrorCode::kIO: return "io";
    case ErrorCode::kInvalidModel: return "invalid_model";
    case ErrorCode::kRuntime: return "runtime";
    case ErrorCode::kUnsupported: return "unsupported";
  }
  return "unknown";
}

}  // namespace tsrt
