#include "tsrt/optimize.h"

#include "tsrt/error.h"

namespace tsrt {

std::string to_string(Precision precision) {
  switch (precision) {
    case Precision::kFloat32:
      return "fp32";
    case Precision::kBFloat16:
      return "bf16";
    case Precision::kFloat16:
      return "fp16";
  }
  return "fp32";
}

Precision parse_precision(const std::string& text) {
  if (text == "fp32" || text == "float32") return Precision::kFloat32;
  if (text == "bf16" || text == "bfloat16") return Precision::kBFloat16;
  if (text == "fp16" || text == "float16") return Precision::kFloat16;
  throw Error(ErrorCode::kInvalidArgument, "unknown precision '" + text + "'; expected fp32, bf16 or fp16");
}

}  // namespace tsrt
