#include "npy_header.h"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "tsrt/error.h"

namespace tsrt::detail {

/// Returns `text` in single quotes, non-printable bytes escaped and long text cut,
/// so that a corrupt header can be shown in an error message.
std::string quote(const std::string& text) {
  std::string out = "'";
  for (size_t i = 0; i < text.size() && i < kMaxQuotedHeader; ++i) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    if (c == '\n') {
      out += "\\n";
    } else if (c < 0x20 || c >= 0x7f) {
      static const char kHex[] = "0123456789abcdef";
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 0xf];
    } else {
      out += static_cast<char>(c);
    }
  }
  if (text.size() > kMaxQuotedHeader) out += "...";
  return out + "'";
}

/// Formats a shape as Python does a tuple: (), (5,), (2, 3).
std::string shape_repr(const std::vector<int64_t>& shape) {
  std::string out = "(";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i > 0) out += ", ";
    out += std::to_string(shape[i]);
  }
  if (shape.size() == 1) out += ",";
  return out + ")";
}


namespace {

// ---- header parsing ----------------------------------------------------------------

/// A value of the subset of Python literals that .npy headers are written in.
struct PyValue {
  enum class Kind { kString, kInt, kBool, kNone, kTuple, kList, kDict };
  Kind kind = Kind::kNone;
  std::string text;            ///< kString: the value; kInt: the literal as written
  int64_t integer = 0;         ///< kInt, when int_fits
  bool int_fits = true;        ///< kInt: false if the literal is outside int64
  bool boolean = false;        ///< kBool
  std::vector<PyValue> items;  ///< kTuple, kList; kDict: key, value, key, value...
};

/// Parses the header text with Python's rules for the literals numpy writes, the
/// way numpy's reader (ast.literal_eval) would, but without evaluating anything.
class HeaderParser {
 public:
  HeaderParser(const std::string& text, const std::string& source) : text_(text), source_(source) {}

  PyValue parse() {
    PyValue value = parse_value(0);
    skip_space();
    if (pos_ != text_.size()) error("unexpected text after the header dict");
    return value;
  }

 private:
  [[noreturn]] void error(const std::string& what) const {
    fail_malformed(source_, "malformed .npy header (" + what + " at character " + std::to_string(pos_) +
                                "): " + quote(text_));
  }

  bool at(char c) const { return pos_ < text_.size() && text_[pos_] == c; }

  void skip_space() {
    while (pos_ < text_.size() && std::isspace(static_cast<unsigned char>(text_[pos_]))) ++pos_;
  }

  PyValue parse_value(int depth) {
    if (depth > kMaxHeaderDepth) error("nested too deeply");
    skip_space();
    if (pos_ >= text_.size()) error("unexpected end");
    const char c = text_[pos_];
    if (c == '\'' || c == '"') return parse_string();
    if (c == '(') return parse_sequence(depth, PyValue::Kind::kTuple, ')');
    if (c == '[') return parse_sequence(depth, PyValue::Kind::kList, ']');
    if (c == '{') return parse_dict(depth);
    if (c == '-' || c == '+' || std::isdigit(static_cast<unsigned char>(c))) return parse_int();
    if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') return parse_name();
    error(std::string("unexpected character ") + quote(std::string(1, c)));
  }

  PyValue parse_string() {
    const char quote_char = text_[pos_++];
    PyValue value;
    value.kind = PyValue::Kind::kString;
    while (pos_ < text_.size() && text_[pos_] != quote_char) {
      char c = text_[pos_++];
      // numpy's reprs only ever escape quotes and backslashes (in field names).
      if (c == '\\' && pos_ < text_.size()) {
        c = text_[pos_++];
        if (c == 'n') c = '\n';
        else if (c == 't') c = '\t';
        else if (c != '\\' && c != '\'' && c != '"') value.text += '\\';
      }
      value.text += c;
    }
    if (pos_ >= text_.size()) error("unterminated string");
    ++pos_;
    return value;
  }

  PyValue parse_int() {
    PyValue value;
    value.kind = PyValue::Kind::kInt;
    const size_t start = pos_;
    const bool negative = text_[pos_] == '-';
    if (text_[pos_] == '-' || text_[pos_] == '+') ++pos_;
    uint64_t magnitude = 0;
    const size_t digits_start = pos_;
    while (pos_ < text_.size() && std::isdigit(static_cast<unsigned char>(text_[pos_]))) {
      const uint64_t digit = static_cast<uint64_t>(text_[pos_] - '0');
      if (magnitude > (std::numeric_limits<uint64_t>::max() - digit) / 10) value.int_fits = false;
      magnitude = magnitude * 10 + digit;
      ++pos_;
    }
    if (pos_ == digits_start) error("expected digits");
    value.text = text_.substr(start, pos_ - start);
    // Python 2's numpy wrote long integers with an L suffix: (3L, 4L).
    if (at('L') || at('l')) ++pos_;
    if (pos_ < text_.size() && (std::isalnum(static_cast<unsigned char>(text_[pos_])) || text_[pos_] == '.')) {
      error("expected an integer");
    }
    if (magnitude > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) value.int_fits = false;
    if (value.int_fits) {
      value.integer = negative ? -static_cast<int64_t>(magnitude) : static_cast<int64_t>(magnitude);
    }
    return value;
  }

  PyValue parse_name() {
    const size_t start = pos_;
    while (pos_ < text_.size() &&
           (std::isalnum(static_cast<unsigned char>(text_[pos_])) || text_[pos_] == '_')) {
      ++pos_;
    }
    const std::string name = text_.substr(start, pos_ - start);
    PyValue value;
    if (name == "True" || name == "False") {
      value.kind = PyValue::Kind::kBool;
      value.boolean = name == "True";
      return value;
    }
    if (name == "None") return value;
    // u'...' and b'...' strings come from Python 2 era writers.
    if ((name == "u" || name == "b") && (at('\'') || at('"'))) return parse_string();
    pos_ = start;
    error("unexpected name " + quote(name));
  }

  PyValue parse_sequence(int depth, PyValue::Kind kind, char close) {
    ++pos_;  // the opening bracket
    PyValue sequence;
    sequence.kind = kind;
    bool saw_comma = false;
    while (true) {
      skip_space();
      if (at(close)) break;
      sequence.items.push_back(parse_value(depth + 1));
      skip_space();
      if (at(',')) {
        ++pos_;
        saw_comma = true;
      } else if (!at(close)) {
        error(std::string("expected ',' or '") + close + "'");
      }
    }
    ++pos_;
    // As in Python, (x) is a parenthesized value; only (x,) is a 1-tuple.
    if (kind == PyValue::Kind::kTuple && sequence.items.size() == 1 && !saw_comma) {
      return std::move(sequence.items[0]);
    }
    return sequence;
  }

  PyValue parse_dict(int depth) {
    ++pos_;  // '{'
    PyValue dict;
    dict.kind = PyValue::Kind::kDict;
    while (true) {
      skip_space();
      if (at('}')) break;
      dict.items.push_back(parse_value(depth + 1));
      skip_space();
      if (!at(':')) error("expected ':' after a dict key");
      ++pos_;
      dict.items.push_back(parse_value(depth + 1));
      skip_space();
      if (at(',')) {
        ++pos_;
      } else if (!at('}')) {
        error("expected ',' or '}'");
      }
    }
    ++pos_;
    return dict;
  }

  const std::string& text_;
  const std::string& source_;
  size_t pos_ = 0;
};

// ---- header interpretation ---------------------------------------------------------

/// How the data of a .npy file maps to a torch dtype.
struct DataType {
  std::string descr;  ///< as written in the header, e.g. ">f8"
  c10::ScalarType type;
  size_t itemsize;
  // Bytes to reverse per value when the file's byte order differs from the host's
  // (the item size, or half of it for complex numbers); 0 when no swap is needed.
  size_t swap_unit;
};

DataType parse_descr(const PyValue& value, const std::string& source) {
  if (value.kind == PyValue::Kind::kList || value.kind == PyValue::Kind::kTuple) {
    fail(source,
         "the array has a structured (record) or subarray dtype, which tsrt cannot represent; "
         "save each field as its own array, e.g. np.save(path, np.ascontiguousarray(a['field']))");
  }
  if (value.kind != PyValue::Kind::kString) {
    fail_malformed(source, "the header's 'descr' is not a string");
  }
  const std::string& descr = value.text;
  const std::string supported =
      "; tsrt reads bool (|b1), int8/16/32/64 (i1..i8), uint8/16/32/64 (u1..u8), "
      "float16/32/64 (f2, f4, f8) and complex64/128 (c8, c16)";
  size_t pos = 0;
  char byte_order = '=';
  if (!descr.empty() && (descr[0] == '<' || descr[0] == '>' || descr[0] == '|' || descr[0] == '=')) {
    byte_order = descr[pos++];
  }
  if (pos >= descr.size()) fail(source, "unknown dtype " + quote(descr) + supported);
  const char kind = descr[pos++];
  switch (kind) {
    case 'O':
      fail(source, "the array holds Python objects (dtype object), which tsrt cannot represent; "
                   "convert it to a numeric dtype first, e.g. np.save(path, a.astype(np.float32))");
    case 'S':
    case 'a':
    case 'U':
      fail(source, "the array holds strings (dtype " + quote(descr) +
                       "), which tsrt cannot represent; tsrt reads numeric and bool arrays only");
    case 'V':
      fail(source, "the array holds raw void/record data (dtype " + quote(descr) +
                       "), which tsrt cannot represent; save each field as its own numeric array");
    case 'M':
    case 'm':
      fail(source, "the array holds datetime64/timedelta64 values (dtype " + quote(descr) +
                       "), which tsrt cannot represent; convert them first, e.g. a.astype(np.int64)");
    default:
      break;
  }
  const std::string size_text = descr.substr(pos);
  const auto is_digit = [](char c) { return std::isdigit(static_cast<unsigned char>(c)) != 0; };
  if (size_text.empty() || size_text.size() > 3 || !std::all_of(size_text.begin(), size_text.end(), is_digit)) {
    fail(source, "unknown dtype " + quote(descr) + supported);
  }
  const size_t itemsize = std::stoul(size_text);
  for (const NpyType& t : kNpyTypes) {
    if (t.kind != kind || t.itemsize != itemsize) continue;
    const bool file_little = byte_order == '<' || (byte_order != '>' && host_is_little_endian());
    const bool swap = itemsize > 1 && file_little != host_is_little_endian();
    const size_t unit = kind == 'c' ? itemsize / 2 : itemsize;
    return DataType{descr, t.type, itemsize, swap ? unit : 0};
  }
  if ((kind == 'f' && itemsize > 8) || (kind == 'c' && itemsize > 16)) {
    fail(source, "dtype " + quote(descr) + " (extended precision, np.longdouble) has no torch equivalent; "
                 "convert it first, e.g. a.astype(np.float64) or a.astype(np.complex128)");
  }
  fail(source, "unsupported dtype " + quote(descr) + supported);
}

std::vector<int64_t> parse_shape(const PyValue& value, const std::string& source) {
  const auto is_int = [](const PyValue& item) { return item.kind == PyValue::Kind::kInt; };
  if (value.kind != PyValue::Kind::kTuple || !std::all_of(value.items.begin(), value.items.end(), is_int)) {
    fail_malformed(source, "the header's 'shape' is not a tuple of integers");
  }
  std::vector<int64_t> shape;
  for (const PyValue& dim : value.items) {
    if (!dim.int_fits) fail(source, "dimension " + dim.text + " in the header's shape is too large");
    if (dim.integer < 0) {
      fail(source, "negative dimension " + dim.text + " in the header's shape; the file is corrupt");
    }
    shape.push_back(dim.integer);
  }
  return shape;
}

/// The header's three fields, as validated values.
struct Header {
  DataType dtype;
  std::vector<int64_t> shape;
};

Header interpret_header(const PyValue& dict, const std::string& source) {
  if (dict.kind != PyValue::Kind::kDict) {
    fail_malformed(source, "the .npy header is not a dict");
  }
  const PyValue* descr = nullptr;
  const PyValue* fortran_order = nullptr;
  const PyValue* shape = nullptr;
  for (size_t i = 0; i + 1 < dict.items.size(); i += 2) {
    const PyValue& key = dict.items[i];
    const PyValue* value = &dict.items[i + 1];
    const PyValue** slot = nullptr;
    if (key.kind == PyValue::Kind::kString) {
      if (key.text == "descr") slot = &descr;
      else if (key.text == "fortran_order") slot = &fortran_order;
      else if (key.text == "shape") slot = &shape;
    }
    if (slot == nullptr) {
      const std::string name = key.kind == PyValue::Kind::kString ? quote(key.text) : std::string("(not a string)");
      fail(source,
           "unexpected key " + name + " in the .npy header; expected exactly 'descr', 'fortran_order' and 'shape'");
    }
    if (*slot != nullptr) fail(source, "key " + quote(key.text) + " appears twice in the .npy header");
    *slot = value;
  }
  for (const auto& [name, field] : {std::pair<const char*, const PyValue*>{"descr", descr},
                                    {"fortran_order", fortran_order}, {"shape", shape}}) {
    if (field == nullptr) {
      fail_malformed(source, std::string("the .npy header has no '") + name + "' key");
    }
  }
  Header header{parse_descr(*descr, source), parse_shape(*shape, source)};
  if (fortran_order->kind != PyValue::Kind::kBool) {
    fail_malformed(source, "the header's 'fortran_order' is not True or False");
  }
  if (fortran_order->boolean) {
    // Transposing on load would hide a copy of the whole array; make the writer fix it.
    fail(source, "the array is stored in Fortran (column-major) order, which tsrt does not read; "
                 "save it with np.save(path, np.ascontiguousarray(a))");
  }
  return header;
}

/// Returns prod(shape) * itemsize, refusing shapes whose size overflows int64.
/// Zero dimensions are skipped while checking, as numpy does, so that the other
/// dimensions of an empty array must still be representable.
size_t data_size(const Header& header, const std::string& source) {
  int64_t size = static_cast<int64_t>(header.dtype.itemsize);
  bool empty = false;
  for (int64_t dim : header.shape) {
    if (dim == 0) {
      empty = true;
    } else if (__builtin_mul_overflow(size, dim, &size)) {
      fail(source, "the shape " + shape_repr(header.shape) + " is too large (its byte size overflows 64 bits); "
                   "the file is corrupt");
    }
  }
  return empty ? 0 : static_cast<size_t>(size);
}

uint64_t read_le(const unsigned char* p, size_t bytes) {
  uint64_t value = 0;
  for (size_t i = 0; i < bytes; ++i) value |= static_cast<uint64_t>(p[i]) << (8 * i);
  return value;
}

}  // namespace

NpyHeader parse_npy_header(const char* data, size_t size, const std::string& source) {
  const auto* bytes = reinterpret_cast<const unsigned char*>(data);
  if (size < kMagicSize || std::memcmp(data, kMagic, kMagicSize) != 0) {
    if (size >= 4 && std::memcmp(data, "PK\x03\x04", 4) == 0) {
      fail(source, "this is an .npz archive (a zip of .npy files), not a .npy file; "
                   "extract one array, e.g. np.save('x.npy', np.load(path)['name'])");
    }
    fail(source, "not a .npy file (it does not start with the magic string \\x93NUMPY); "
                 "write it with numpy.save");
  }
  if (size < kMagicSize + 2) {
    fail(source, "the file ends inside the .npy preamble (" + std::to_string(size) + " bytes)");
  }
  const unsigned major = bytes[kMagicSize];
  const unsigned minor = bytes[kMagicSize + 1];
  if (minor != 0 || major < 1 || major > 3) {
    fail(source, "unsupported .npy format version " + std::to_string(major) + "." + std::to_string(minor) +
                     "; tsrt reads versions 1.0, 2.0 and 3.0 (re-save it with numpy.save)");
  }
  const size_t preamble = major == 1 ? kPreambleSizeV1 : kPreambleSizeV2;
  if (size < preamble) fail(source, "the file ends inside the .npy preamble (" + std::to_string(size) + " bytes)");
  const uint64_t header_size = read_le(bytes + kMagicSize + 2, preamble - kMagicSize - 2);
  if (header_size > size - preamble) {
    fail(source, "the .npy header runs past the end of the file (it claims " + std::to_string(header_size) +
                     " bytes, only " + std::to_string(size - preamble) + " follow); the file is truncated or corrupt");
  }
  const std::string text(data + preamble, static_cast<size_t>(header_size));
  const Header header = interpret_header(HeaderParser(text, source).parse(), source);

  NpyHeader out;
  out.descr = header.dtype.descr;
  out.type = header.dtype.type;
  out.itemsize = header.dtype.itemsize;
  out.swap_unit = header.dtype.swap_unit;
  out.shape = header.shape;
  out.data_offset = preamble + static_cast<size_t>(header_size);
  out.data_bytes = data_size(header, source);
  return out;
}

}  // namespace tsrt::detail
