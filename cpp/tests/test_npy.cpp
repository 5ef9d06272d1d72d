// Unit tests for tsrt's .npy reader and writer (cpp/src/npy.cpp).
// Usage: test_npy SCRATCH_DIR  (created if missing; test files are written there)
//
// The byte strings below are written by hand from the format description
// (numpy/lib/format.py), not produced by tsrt, so that a writer bug and a
// matching reader bug cannot cancel out.

#include "tsrt/npy.h"

#include <ATen/ATen.h>

#include <complex>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "check.h"
#include "tsrt/error.h"

namespace {

using at::ScalarType;
using tsrt::ErrorCode;

namespace fs = std::filesystem;

std::string bytes_of(const char* literal, size_t size) { return std::string(literal, size); }
#define BYTES(literal) bytes_of(literal, sizeof(literal) - 1)

/// Builds a .npy file from a header text and data, computing only the length field.
std::string make_npy(int major, const std::string& header, const std::string& data = "") {
  std::string out = BYTES("\x93NUMPY");
  out += static_cast<char>(major);
  out += '\0';
  const size_t length_bytes = major == 1 ? 2 : 4;
  for (size_t i = 0; i < length_bytes; ++i) out += static_cast<char>((header.size() >> (8 * i)) & 0xff);
  return out + header + data;
}

at::Tensor parse(const std::string& bytes) { return tsrt::parse_npy(bytes.data(), bytes.size(), "test.npy"); }

void write_file(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  TSRT_CHECK(out.good());
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

/// The raw bytes of a tensor's elements in C order.
std::string raw_bytes(const at::Tensor& tensor) {
  const at::Tensor t = tensor.contiguous();
  const size_t n = static_cast<size_t>(t.numel()) * t.element_size();
  return n == 0 ? std::string() : std::string(static_cast<const char*>(t.const_data_ptr()), n);
}

/// Same dtype, shape and bytes: exact, and works for dtypes (uint32, NaN floats)
/// where at::equal is unsupported or not bitwise.
bool identical(const at::Tensor& a, const at::Tensor& b) {
  return a.scalar_type() == b.scalar_type() && a.sizes() == b.sizes() && raw_bytes(a) == raw_bytes(b);
}

/// A tensor of `shape` and `type` whose bytes are an irregular pattern (bools: 0/1).
at::Tensor patterned(ScalarType type, at::IntArrayRef shape) {
  at::Tensor t = at::empty(shape, at::TensorOptions().dtype(type));
  auto* p = static_cast<unsigned char*>(t.mutable_data_ptr());
  const size_t n = static_cast<size_t>(t.numel()) * t.element_size();
  for (size_t i = 0; i < n; ++i) {
    p[i] = type == ScalarType::Bool ? static_cast<unsigned char>(i % 3 == 0) : static_cast<unsigned char>(i * 131 + 7);
  }
  return t;
}

/// Returns the message of the tsrt::Error that `f` throws (fails if none).
template <typename F>
std::string error_message(F f) {
  try {
    f();
  } catch (const tsrt::Error& e) {
    return e.what();
  }
  TSRT_CHECK(!"expected a tsrt::Error");
  return "";
}

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

// ---- tests ---------------------------------------------------------------------------

void test_round_trip_every_dtype(const std::string& dir) {
  const std::vector<std::pair<ScalarType, std::string>> types = {
      {ScalarType::Bool, "|b1"},          {ScalarType::Byte, "|u1"},          {ScalarType::Char, "|i1"},
      {ScalarType::Short, "<i2"},         {ScalarType::Int, "<i4"},           {ScalarType::Long, "<i8"},
      {ScalarType::UInt16, "<u2"},        {ScalarType::UInt32, "<u4"},        {ScalarType::UInt64, "<u8"},
      {ScalarType::Half, "<f2"},          {ScalarType::Float, "<f4"},         {ScalarType::Double, "<f8"},
      {ScalarType::ComplexFloat, "<c8"},  {ScalarType::ComplexDouble, "<c16"},
  };
  const std::vector<std::vector<int64_t>> shapes = {{}, {0, 3}, {2, 3, 4}, {5}, {3, 0}};
  for (const auto& [type, descr] : types) {
    for (const auto& shape : shapes) {
      const at::Tensor t = patterned(type, shape);
      const std::string bytes = tsrt::serialize_npy(t);
      // Version 1.0, descr as numpy writes it, data 64-byte aligned.
      TSRT_CHECK(bytes.compare(0, 8, BYTES("\x93NUMPY\x01\x00")) == 0);
      TSRT_CHECK(contains(bytes, "{'descr': '" + descr + "', 'fortran_order': False, 'shape': "));
      const size_t header_end = 10 + static_cast<unsigned char>(bytes[8]) + 256 * static_cast<unsigned char>(bytes[9]);
      TSRT_CHECK(header_end % 64 == 0);
      TSRT_CHECK(bytes[header_end - 1] == '\n');
      TSRT_CHECK(bytes.size() == header_end + static_cast<size_t>(t.numel()) * t.element_size());

      const at::Tensor back = parse(bytes);
      TSRT_CHECK(identical(back, t));
      TSRT_CHECK(back.is_contiguous());
      TSRT_CHECK(back.device().is_cpu());

      const std::string path = dir + "/roundtrip_" + descr.substr(1) + "_" + std::to_string(shape.size()) + ".npy";
      tsrt::save_npy(path, t);
      TSRT_CHECK(read_file(path) == bytes);
      TSRT_CHECK(identical(tsrt::load_npy(path), t));
    }
  }
}

void test_exact_bytes_written() {
  // np.save(f, np.arange(6, dtype='<i4').reshape(2, 3)): header length 0x76, the
  // dict, 20 spaces that numpy reserves for the first axis to grow, padding to 128.
  const std::string expected_2x3 =
      BYTES("\x93NUMPY\x01\x00\x76\x00") + "{'descr': '<i4', 'fortran_order': False, 'shape': (2, 3), }" +
      std::string(58, ' ') + "\n" +
      BYTES("\x00\x00\x00\x00\x01\x00\x00\x00\x02\x00\x00\x00\x03\x00\x00\x00\x04\x00\x00\x00\x05\x00\x00\x00");
  TSRT_CHECK(expected_2x3.size() == 128 + 24);
  TSRT_CHECK(tsrt::serialize_npy(at::arange(6, at::kInt).reshape({2, 3})) == expected_2x3);

  // np.save(f, np.array(1.5)): a 0-d array has shape () and no growth padding.
  const std::string expected_scalar = BYTES("\x93NUMPY\x01\x00\x76\x00") +
                                      "{'descr': '<f8', 'fortran_order': False, 'shape': (), }" +
                                      std::string(62, ' ') + "\n" + BYTES("\x00\x00\x00\x00\x00\x00\xf8\x3f");
  TSRT_CHECK(tsrt::serialize_npy(at::scalar_tensor(1.5, at::kDouble)) == expected_scalar);

  // np.save(f, np.array([1, 2, 3], dtype=np.uint8)): a 1-tuple is written (3,).
  const std::string expected_u1 = BYTES("\x93NUMPY\x01\x00\x76\x00") +
                                  "{'descr': '|u1', 'fortran_order': False, 'shape': (3,), }" +
                                  std::string(60, ' ') + "\n" + BYTES("\x01\x02\x03");
  TSRT_CHECK(tsrt::serialize_npy(at::arange(1, 4, at::kByte)) == expected_u1);

  // np.save(f, np.zeros((0, 3), np.float32)): no data at all.
  const std::string expected_empty = BYTES("\x93NUMPY\x01\x00\x76\x00") +
                                     "{'descr': '<f4', 'fortran_order': False, 'shape': (0, 3), }" +
                                     std::string(58, ' ') + "\n";
  TSRT_CHECK(tsrt::serialize_npy(at::zeros({0, 3}, at::kFloat)) == expected_empty);
}

void test_read_hand_written_files() {
  // Version 1.0, minimal header (no padding, no trailing comma), int16 [1, -1, 256].
  const std::string v1 = BYTES("\x93NUMPY\x01\x00\x38\x00") +
                         "{'descr': '<i2', 'fortran_order': False, 'shape': (3,)}\n" +
                         BYTES("\x01\x00\xff\xff\x00\x01");
  TSRT_CHECK(v1.size() == 10 + 0x38 + 6);
  at::Tensor t = parse(v1);
  TSRT_CHECK(t.scalar_type() == ScalarType::Short);
  TSRT_CHECK(t.sizes() == at::IntArrayRef({3}));
  TSRT_CHECK(t.data_ptr<int16_t>()[0] == 1 && t.data_ptr<int16_t>()[1] == -1 && t.data_ptr<int16_t>()[2] == 256);

  // Version 2.0: a 4-byte header length. float32 [[1.0], [-2.0]], keys reordered.
  const std::string v2 = BYTES("\x93NUMPY\x02\x00\x3c\x00\x00\x00") +
                         "{'shape': (2, 1), 'fortran_order': False, 'descr': '<f4', }\n" +
                         BYTES("\x00\x00\x80\x3f\x00\x00\x00\xc0");
  TSRT_CHECK(v2.size() == 12 + 0x3c + 8);
  t = parse(v2);
  TSRT_CHECK(t.scalar_type() == ScalarType::Float);
  TSRT_CHECK(t.sizes() == at::IntArrayRef({2, 1}));
  TSRT_CHECK(t.data_ptr<float>()[0] == 1.0f && t.data_ptr<float>()[1] == -2.0f);

  // Version 3.0 (utf-8 header), otherwise as 2.0: a 0-d uint8.
  const std::string v3 = BYTES("\x93NUMPY\x03\x00\x36\x00\x00\x00") +
                         "{'descr': '|u1', 'fortran_order': False, 'shape': ()}\n" + BYTES("\x2a");
  TSRT_CHECK(v3.size() == 12 + 0x36 + 1);
  t = parse(v3);
  TSRT_CHECK(t.dim() == 0 && t.scalar_type() == ScalarType::Byte && t.item<uint8_t>() == 42);

  // Big-endian int32 [1, 256, -2].
  const std::string be_i4 = BYTES("\x93NUMPY\x01\x00\x38\x00") +
                            "{'descr': '>i4', 'fortran_order': False, 'shape': (3,)}\n" +
                            BYTES("\x00\x00\x00\x01\x00\x00\x01\x00\xff\xff\xff\xfe");
  t = parse(be_i4);
  TSRT_CHECK(t.scalar_type() == ScalarType::Int);
  TSRT_CHECK(t.data_ptr<int32_t>()[0] == 1 && t.data_ptr<int32_t>()[1] == 256 && t.data_ptr<int32_t>()[2] == -2);

  // Big-endian float64 [1.5, -2.0].
  const std::string be_f8 = BYTES("\x93NUMPY\x01\x00\x38\x00") +
                            "{'descr': '>f8', 'fortran_order': False, 'shape': (2,)}\n" +
                            BYTES("\x3f\xf8\x00\x00\x00\x00\x00\x00\xc0\x00\x00\x00\x00\x00\x00\x00");
  t = parse(be_f8);
  TSRT_CHECK(t.scalar_type() == ScalarType::Double);
  TSRT_CHECK(t.data_ptr<double>()[0] == 1.5 && t.data_ptr<double>()[1] == -2.0);

  // Big-endian complex64 1+2j: each half is swapped on its own.
  const std::string be_c8 = BYTES("\x93NUMPY\x01\x00\x38\x00") +
                            "{'descr': '>c8', 'fortran_order': False, 'shape': (1,)}\n" +
                            BYTES("\x3f\x80\x00\x00\x40\x00\x00\x00");
  t = parse(be_c8);
  TSRT_CHECK(t.scalar_type() == ScalarType::ComplexFloat);
  const auto c = t.data_ptr<c10::complex<float>>()[0];
  TSRT_CHECK(c.real() == 1.0f && c.imag() == 2.0f);

  // Big-endian uint16 and a 1-byte type whose '>' means nothing.
  t = parse(make_npy(1, "{'descr': '>u2', 'fortran_order': False, 'shape': (1,)}\n", BYTES("\x01\x02")));
  TSRT_CHECK(t.scalar_type() == ScalarType::UInt16);
  uint16_t u2;
  std::memcpy(&u2, t.const_data_ptr(), 2);
  TSRT_CHECK(u2 == 0x0102);
  t = parse(make_npy(1, "{'descr': '>i1', 'fortran_order': False, 'shape': (1,)}\n", BYTES("\xfe")));
  TSRT_CHECK(t.item<int8_t>() == -2);

  // '=' (native) and '|' (not applicable) orders; Python 2 'L' suffixes.
  t = parse(make_npy(1, "{'descr': '=i2', 'fortran_order': False, 'shape': (1L, 1L), }", BYTES("\x05\x00")));
  TSRT_CHECK(t.sizes() == at::IntArrayRef({1, 1}) && t.item<int16_t>() == 5);

  // Odd but valid spacing and quoting, double quotes, no trailing comma.
  t = parse(make_npy(1, "  {  \"fortran_order\" :False ,\"shape\":( 2 , ) ,\"descr\" : \"<u1\"  }  \n\n",
                     BYTES("\x07\x08")));
  TSRT_CHECK(t.sizes() == at::IntArrayRef({2}) && t.data_ptr<uint8_t>()[1] == 8);

  // Zero-size arrays: a (0, 3) file with no data bytes; (3, 0, 2**40) too.
  t = parse(make_npy(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (0, 3), }\n"));
  TSRT_CHECK(t.sizes() == at::IntArrayRef({0, 3}) && t.scalar_type() == ScalarType::Float);
  t = parse(make_npy(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 0, 1099511627776), }\n"));
  TSRT_CHECK(t.numel() == 0 && t.size(2) == 1099511627776LL);

  // numpy reads any nonzero byte as True; torch requires 0 or 1.
  t = parse(make_npy(1, "{'descr': '|b1', 'fortran_order': False, 'shape': (3,), }", BYTES("\x00\x02\xff")));
  TSRT_CHECK(t.scalar_type() == ScalarType::Bool);
  TSRT_CHECK(raw_bytes(t) == BYTES("\x00\x01\x01"));

  // The result owns its memory: the buffer may go away.
  {
    std::string buffer = v1;
    t = tsrt::parse_npy(buffer.data(), buffer.size(), "buffer");
    std::fill(buffer.begin(), buffer.end(), '\0');
  }
  TSRT_CHECK(t.data_ptr<int16_t>()[2] == 256);
}

void test_writes_any_tensor() {
  // Views: transposed, strided with an offset, expanded (stride 0).
  const at::Tensor base = at::arange(24, at::kFloat).reshape({4, 6});
  for (const at::Tensor& view : {base.t(), base.slice(1, 1, 5, 2), base.select(0, 2), at::arange(3).expand({4, 3})}) {
    TSRT_CHECK(identical(parse(tsrt::serialize_npy(view)), view.contiguous()));
  }
  // Lazy conjugate and negative views must be materialised, not written raw.
  const at::Tensor z = at::complex(at::arange(3, at::kFloat), at::ones({3}, at::kFloat));
  const at::Tensor zc = z.conj();
  TSRT_CHECK(zc.is_conj());
  TSRT_CHECK(identical(parse(tsrt::serialize_npy(zc)), zc.resolve_conj()));
  const at::Tensor neg_imag = at::imag(zc);
  TSRT_CHECK(neg_imag.is_neg());
  TSRT_CHECK(at::equal(parse(tsrt::serialize_npy(neg_imag)), -at::ones({3}, at::kFloat)));
  // Autograd leaves, sparse tensors.
  const at::Tensor leaf = at::ones({2}, at::kFloat).set_requires_grad(true);
  TSRT_CHECK(at::equal(parse(tsrt::serialize_npy(leaf)), at::ones({2}, at::kFloat)));
  const at::Tensor eye = at::eye(3, at::kDouble);
  TSRT_CHECK(at::equal(parse(tsrt::serialize_npy(eye.to_sparse())), eye));
}

void test_refused_files(const std::string& dir) {
  const auto kArg = ErrorCode::kInvalidArgument;
  const std::string f4_2x3 = std::string(24, '\0');
  auto header = [](const std::string& descr, const std::string& shape, const std::string& fortran = "False") {
    return "{'descr': " + descr + ", 'fortran_order': " + fortran + ", 'shape': " + shape + ", }\n";
  };

  // Fortran order, with the fix in the message and the file named.
  const std::string fortran = make_npy(1, header("'<f4'", "(2, 3)", "True"), f4_2x3);
  TSRT_CHECK_THROWS(parse(fortran), kArg, "np.ascontiguousarray(a)");
  const std::string fortran_path = dir + "/fortran.npy";
  write_file(fortran_path, fortran);
  TSRT_CHECK_THROWS(tsrt::load_npy(fortran_path), kArg, fortran_path + ": ");

  // Dtypes tsrt can't represent.
  TSRT_CHECK_THROWS(parse(make_npy(1, header("'|O'", "(1,)"), std::string(8, '\0'))), kArg, "Python objects");
  TSRT_CHECK_THROWS(parse(make_npy(1, header("[('a', '<i4'), ('b', '<f4')]", "(1,)"), std::string(8, '\0'))),
                    kArg, "structured");
  TSRT_CHECK_THROWS(parse(make_npy(1, header("('<f4', (2,))", "(1,)"), std::string(8, '\0'))), kArg,
                    "structured");
  TSRT_CHECK_THROWS(parse(make_npy(1, header("'<U5'", "(1,)"), std::string(20, '\0'))), kArg, "strings");
  TSRT_CHECK_THROWS(parse(make_npy(1, header("'|S3'", "(1,)"), std::string(3, '\0'))), kArg, "strings");
  TSRT_CHECK_THROWS(parse(make_npy(1, header("'|V8'", "(1,)"), std::string(8, '\0'))), kArg, "void/record");
  TSRT_CHECK_THROWS(parse(make_npy(1, header("'<M8[ns]'", "(1,)"), std::string(8, '\0'))), kArg, "datetime64");
  TSRT_CHECK_THROWS(parse(make_npy(1, header("'<m8[s]'", "(1,)"), std::string(8, '\0'))), kArg, "a.astype(np.int64)");
  TSRT_CHECK_THROWS(parse(make_npy(1, header("'<f16'", "(1,)"), std::string(16, '\0'))), kArg, "np.longdouble");
  TSRT_CHECK_THROWS(parse(make_npy(1, header("'<x4'", "(1,)"), std::string(4, '\0'))), kArg, "unsupported dtype '<x4'");
  TSRT_CHECK_THROWS(parse(make_npy(1, header("'<i3'", "(1,)"), std::string(3, '\0'))), kArg, "unsupported dtype '<i3'");
  TSRT_CHECK_THROWS(parse(make_npy(1, header("'float32'", "(1,)"), std::string(4, '\0'))), kArg, "unknown dtype");
  TSRT_CHECK_THROWS(parse(make_npy(1, header("''", "(1,)"), std::string(4, '\0'))), kArg, "unknown dtype");
  TSRT_CHECK_THROWS(parse(make_npy(1, header("4", "(1,)"), std::string(4, '\0'))), kArg, "'descr' is not a string");

  // Not .npy at all, or cut short before the header ends.
  TSRT_CHECK_THROWS(parse(""), kArg, "not a .npy file");
  TSRT_CHECK_THROWS(parse("hello, world"), kArg, "magic string");
  TSRT_CHECK_THROWS(parse(BYTES("PK\x03\x04 rest of a zip")), kArg, ".npz archive");
  TSRT_CHECK_THROWS(parse(BYTES("\x93NUMPY\x01")), kArg, "ends inside the .npy preamble");
  TSRT_CHECK_THROWS(parse(BYTES("\x93NUMPY\x02\x00\x10\x00")), kArg, "ends inside the .npy preamble");
  TSRT_CHECK_THROWS(parse(BYTES("\x93NUMPY\x04\x00\x10\x00")), kArg, "unsupported .npy format version 4.0");
  TSRT_CHECK_THROWS(parse(BYTES("\x93NUMPY\x01\x01\x10\x00")), kArg, "version 1.1");
  const std::string past_end = BYTES("\x93NUMPY\x01\x00\x00\x10") + header("'<f4'", "(1,)");
  TSRT_CHECK_THROWS(parse(past_end), kArg, "header runs past the end of the file (it claims 4096 bytes");
  const std::string past_end_v2 = BYTES("\x93NUMPY\x02\x00\xff\xff\xff\xff") + header("'<f4'", "(1,)");
  TSRT_CHECK_THROWS(parse(past_end_v2), kArg, "header runs past the end");

  // Shapes that can't be.
  TSRT_CHECK_THROWS(parse(make_npy(1, header("'<f4'", "(-1, 3)"))), kArg, "negative dimension -1");
  TSRT_CHECK_THROWS(parse(make_npy(1, header("'<f4'", "(99999999999999999999,)"))), kArg,
                    "dimension 99999999999999999999 in the header's shape is too large");
  TSRT_CHECK_THROWS(parse(make_npy(1, header("'<f4'", "(9223372036854775808,)"))), kArg, "too large");
  TSRT_CHECK_THROWS(parse(make_npy(1, header("'<f4'", "(4294967296, 4294967296)"))), kArg, "overflows 64 bits");
  TSRT_CHECK_THROWS(parse(make_npy(1, header("'<f4'", "(0, 4611686018427387904, 4)"))), kArg, "overflows 64 bits");
  // (5) is 5 in Python, not a 1-tuple.
  const std::string not_tuple = "'shape' is not a tuple";
  TSRT_CHECK_THROWS(parse(make_npy(1, header("'<f4'", "(5)"), std::string(20, '\0'))), kArg, not_tuple);
  TSRT_CHECK_THROWS(parse(make_npy(1, header("'<f4'", "[5]"), std::string(20, '\0'))), kArg, not_tuple);
  TSRT_CHECK_THROWS(parse(make_npy(1, header("'<f4'", "(True,)"), std::string(4, '\0'))), kArg, not_tuple);
  TSRT_CHECK_THROWS(parse(make_npy(1, header("'<f4'", "(2.5,)"))), kArg, "expected an integer");

  // Data that doesn't match the shape, either way.
  TSRT_CHECK_THROWS(parse(make_npy(1, header("'<f4'", "(2, 3)"), std::string(20, '\0'))), kArg,
                    "data section is 20 bytes but shape (2, 3) of dtype '<f4' needs 24 bytes; the file is truncated");
  TSRT_CHECK_THROWS(parse(make_npy(1, header("'<f4'", "(2, 3)"), std::string(28, '\0'))), kArg,
                    "is 28 bytes but shape (2, 3) of dtype '<f4' needs 24 bytes; the file has trailing data");
  TSRT_CHECK_THROWS(parse(make_npy(1, header("'<f4'", "()"))), kArg, "is 0 bytes but shape () of dtype '<f4' needs 4");
  TSRT_CHECK_THROWS(parse(make_npy(1, header("'<f4'", "(0, 3)"), "x")), kArg, "trailing data");

  // Headers that aren't the dict numpy writes.
  TSRT_CHECK_THROWS(parse(make_npy(1, "{'descr': '<f4', 'fortran_order': False}\n")), kArg, "no 'shape' key");
  TSRT_CHECK_THROWS(parse(make_npy(1, "{'shape': (), 'fortran_order': False}\n", "abcd")), kArg, "no 'descr' key");
  TSRT_CHECK_THROWS(parse(make_npy(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (), 'x': 1}\n", "abcd")),
                    kArg, "unexpected key 'x'");
  TSRT_CHECK_THROWS(parse(make_npy(1, "{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': ()}")),
                    kArg, "'descr' appears twice");
  TSRT_CHECK_THROWS(parse(make_npy(1, header("'<f4'", "(1,)", "'no'"), "abcd")), kArg, "not True or False");
  TSRT_CHECK_THROWS(parse(make_npy(1, "{'descr' '<f4', 'fortran_order': False, 'shape': ()}")), kArg,
                    "malformed .npy header (expected ':' after a dict key");
  TSRT_CHECK_THROWS(parse(make_npy(1, "{'descr': '<f4, 'fortran_order': False, 'shape': ()}")), kArg,
                    "malformed .npy header");
  TSRT_CHECK_THROWS(parse(make_npy(1, "{'descr': '<f4")), kArg, "unterminated string");
  TSRT_CHECK_THROWS(parse(make_npy(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1,),")), kArg,
                    "unexpected end");
  TSRT_CHECK_THROWS(parse(make_npy(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (,)}")), kArg,
                    "unexpected character");
  TSRT_CHECK_THROWS(parse(make_npy(1, "{'descr': '<f4', 'fortran_order': false, 'shape': ()}")), kArg,
                    "unexpected name 'false'");
  TSRT_CHECK_THROWS(parse(make_npy(1, header("'<f4'", "()") + "junk")), kArg, "unexpected text after the header");
  TSRT_CHECK_THROWS(parse(make_npy(1, "['descr', '<f4']\n")), kArg, "header is not a dict");
  TSRT_CHECK_THROWS(parse(make_npy(1, "")), kArg, "unexpected end");
  TSRT_CHECK_THROWS(parse(make_npy(1, std::string(5000, '(') + std::string(5000, ')'))), kArg, "nested too deeply");
  TSRT_CHECK_THROWS(parse(make_npy(1, BYTES("{'descr': '<f4'\x00}"))), kArg, "\\x00");
}

void test_io_errors(const std::string& dir) {
  TSRT_CHECK_THROWS(tsrt::load_npy(dir + "/does_not_exist.npy"), ErrorCode::kIO,
                    "cannot open " + dir + "/does_not_exist.npy for reading: No such file");
  TSRT_CHECK_THROWS(tsrt::load_npy(dir), ErrorCode::kIO, "cannot read " + dir);
  TSRT_CHECK_THROWS(tsrt::save_npy(dir + "/no/such/dir/x.npy", at::ones({2})), ErrorCode::kIO,
                    "cannot open " + dir + "/no/such/dir/x.npy for writing");
}

void test_refused_tensors(const std::string& dir) {
  const auto kArg = ErrorCode::kInvalidArgument;
  const std::string bf16_path = dir + "/bf16.npy";
  fs::remove(bf16_path);
  TSRT_CHECK_THROWS(tsrt::save_npy(bf16_path, at::ones({2}, at::kBFloat16)), kArg, "convert the tensor to float32");
  TSRT_CHECK_THROWS(tsrt::save_npy(bf16_path, at::ones({2}, at::kBFloat16)), kArg, bf16_path);
  TSRT_CHECK(!fs::exists(bf16_path));  // refused before anything is written
  TSRT_CHECK_THROWS(tsrt::serialize_npy(at::ones({2}, at::kBFloat16)), kArg, "numpy has no bfloat16");
  TSRT_CHECK_THROWS(tsrt::serialize_npy(at::empty({2}, at::kComplexHalf)), kArg, "complex64");
  TSRT_CHECK_THROWS(tsrt::serialize_npy(at::empty({2}, at::kFloat8_e4m3fn)), kArg, "float32");
  TSRT_CHECK_THROWS(tsrt::serialize_npy(at::quantize_per_tensor(at::ones({2}), 0.1, 0, at::kQInt8)), kArg,
                    "dequantize()");
  TSRT_CHECK_THROWS(tsrt::serialize_npy(at::Tensor()), kArg, "undefined");
  TSRT_CHECK_THROWS(tsrt::serialize_npy(at::empty({2}, at::TensorOptions().device(at::kMeta))), kArg, "meta tensor");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: test_npy SCRATCH_DIR\n";
    return 2;
  }
  const std::string dir = argv[1];
  fs::create_directories(dir);

  test_round_trip_every_dtype(dir);
  test_exact_bytes_written();
  test_read_hand_written_files();
  test_writes_any_tensor();
  test_refused_files(dir);
  test_io_errors(dir);
  test_refused_tensors(dir);
  std::cout << "test_npy: all checks passed\n";
  return 0;
}
