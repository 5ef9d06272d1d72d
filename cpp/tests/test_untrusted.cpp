// Unit tests of what keeps bytes from untrusted files in their place: the entry-name
// rules a zip archive must pass (cpp/src/archive_check.h), escape_bytes (every
// tsrt::Error message goes through it), and the input-size check.

#include <string>

#include "archive_check.h"
#include "check.h"
#include "tsrt/error.h"
#include "tsrt/input_limit.h"

using tsrt::detail::normalize_entry_name;
using tsrt::detail::quote_entry_name;
using tsrt::detail::unsafe_entry_name;

namespace {

void test_entry_names() {
  TSRT_CHECK(unsafe_entry_name("archive/data/0").empty());
  TSRT_CHECK(unsafe_entry_name("archive/./data//0").empty());
  TSRT_CHECK(unsafe_entry_name("archive/x/../data/0").empty());  // stays inside
  TSRT_CHECK(unsafe_entry_name("/etc/passwd") == "is absolute");
  TSRT_CHECK(unsafe_entry_name("\\tmp\\x.so") == "is absolute");
  TSRT_CHECK(unsafe_entry_name("archive/../../x") == "climbs out of the archive");
  TSRT_CHECK(unsafe_entry_name("archive\\..\\..\\x") == "climbs out of the archive");
  TSRT_CHECK(unsafe_entry_name("archive//.//..//..//x") == "climbs out of the archive");
  TSRT_CHECK(unsafe_entry_name("..") == "climbs out of the archive");
  TSRT_CHECK(unsafe_entry_name("C:/x") == "starts with a drive letter");
  TSRT_CHECK(unsafe_entry_name("c:x") == "starts with a drive letter");
  TSRT_CHECK(unsafe_entry_name(std::string("a/b\0.so", 7)) == "holds a NUL byte");
  TSRT_CHECK(unsafe_entry_name("./") == "names no file");
  TSRT_CHECK(unsafe_entry_name("") == "names no file");
  TSRT_CHECK(normalize_entry_name("archive/./x/..//data\\0") == "archive/data/0");
}

void test_escaping() {
  TSRT_CHECK(tsrt::escape_bytes("plain text, ünïcode ✓") == "plain text, ünïcode ✓");
  TSRT_CHECK(tsrt::escape_bytes("line\nand\ttab") == "line\nand\ttab");
  TSRT_CHECK(tsrt::escape_bytes("\xac" "ase") == "\\xacase");
  TSRT_CHECK(tsrt::escape_bytes("\x1b[31mred") == "\\x1b[31mred");
  TSRT_CHECK(tsrt::escape_bytes("\xc3") == "\\xc3");              // truncated sequence
  TSRT_CHECK(tsrt::escape_bytes("\xc0\xaf") == "\\xc0\\xaf");     // overlong '/'
  TSRT_CHECK(tsrt::escape_bytes("\xed\xa0\x80") == "\\xed\\xa0\\x80");  // a surrogate
  TSRT_CHECK(tsrt::escape_bytes("\xc2\x85") == "\\xc2\\x85");     // C1 control (NEL)
  TSRT_CHECK(tsrt::escape_bytes(std::string("a\0b", 3)) == "a\\x00b");
  const tsrt::Error error(tsrt::ErrorCode::kInvalidModel, "entry '\xff' is bad");
  TSRT_CHECK(std::string(error.what()) == "entry '\\xff' is bad");
  TSRT_CHECK(quote_entry_name("it's\n\xfe") == "'it\\x27s\\x0a\\xfe'");
}

void test_input_bytes() {
  tsrt::check_input_bytes("x", {2, 3}, 4, 24);  // exactly at the limit
  tsrt::check_input_bytes("x", {0, 1000000000000}, 4, 1);  // empty: nothing to allocate
  TSRT_CHECK_THROWS(tsrt::check_input_bytes("input 'x'", {2, 4}, 4, 24), tsrt::ErrorCode::kInvalidArgument,
                    "input 'x': shape 2x4 needs 32 bytes, more than the input limit of 24 bytes");
  TSRT_CHECK_THROWS(tsrt::check_input_bytes("x", {100000, 100000, 100}, 4, 0), tsrt::ErrorCode::kInvalidArgument,
                    "needs 3.6 TiB (4000000000000 bytes)");
  TSRT_CHECK_THROWS(tsrt::check_input_bytes("x", {1LL << 40, 1LL << 40}, 8, 0), tsrt::ErrorCode::kInvalidArgument,
                    "overflows 64 bits");
  TSRT_CHECK_THROWS(tsrt::check_input_bytes("x", {-1}, 4, 0), tsrt::ErrorCode::kInvalidArgument, "negative dimension");
  TSRT_CHECK(tsrt::available_memory_bytes() > 0);
}

}  // namespace

int main() {
  test_entry_names();
  test_escaping();
  test_input_bytes();
  return 0;
}
