#include "tsrt/error.h"

namespace tsrt {

namespace {

// Length of the valid UTF-8 sequence at the start of `s` (1-4), or 0 when it is
// not one: overlong forms, surrogates and code points past U+10FFFF are invalid,
// as in Python's strict decoder, so that what passes here decodes there.
size_t utf8_sequence(std::string_view s) {
  const auto byte = [&](size_t i) { return static_cast<unsigned char>(s[i]); };
  const unsigned char lead = byte(0);
  if (lead < 0x80) return 1;
  size_t length = 0;
  unsigned char low = 0x80, high = 0xBF;  // allowed range of the second byte
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3;
    if (lead == 0xE0) low = 0xA0;
    if (lead == 0xED) high = 0x9F;
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4;
    if (lead == 0xF0) low = 0x90;
    if (lead == 0xF4) high = 0x8F;
  } else {
    return 0;
  }
  if (s.size() < length || byte(1) < low || byte(1) > high) return 0;
  for (size_t i = 2; i < length; ++i) {
    if (byte(i) < 0x80 || byte(i) > 0xBF) return 0;
  }
  return length;
}

}  // namespace

std::string escape_bytes(std::string_view bytes) {
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size());
  for (size_t i = 0; i < bytes.size();) {
    const unsigned char c = static_cast<unsigned char>(bytes[i]);
    const size_t length = utf8_sequence(bytes.substr(i));
    // C0 controls (but newline and tab, which messages use), DEL and C1 controls
    // (U+0080..U+009F, two bytes C2 80..C2 9F) move terminals and break log lines.
    const bool control = (c < 0x20 && c != '\n' && c != '\t') || c == 0x7F ||
                         (length == 2 && c == 0xC2 && static_cast<unsigned char>(bytes[i + 1]) < 0xA0);
    if (length == 0 || control) {
      const size_t count = length == 0 ? 1 : length;
      for (size_t k = 0; k < count; ++k) {
        const unsigned char b = static_cast<unsigned char>(bytes[i + k]);
        out += "\\x";
        out += kHex[b >> 4];
        out += kHex[b & 0xF];
      }
      i += count;
    } else {
      out.append(bytes.substr(i, length));
      i += length;
    }
  }
  return out;
}

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
