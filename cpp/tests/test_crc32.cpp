// The fast CRC-32 gives the table-driven CRC-32 at every length and alignment,
// in one piece and continued over pieces, and the known check value.

#include <cstring>
#include <iostream>
#include <random>
#include <string>
#include <vector>

#include "../src/crc32.h"
#include "check.h"

int main() {
  using tsrt::detail::crc32;
  using tsrt::detail::crc32_portable;
  const char* check_input = "123456789";
  TSRT_CHECK(crc32(check_input, 9) == 0xCBF43926u);  // the CRC-32 catalogue's check value

  std::mt19937 random(7);
  std::vector<unsigned char> bytes(1 << 16);
  for (auto& byte : bytes) byte = static_cast<unsigned char>(random());
  for (size_t length : {0, 1, 15, 16, 17, 63, 64, 65, 79, 127, 128, 129, 1000, 4096, 65535 - 7}) {
    for (size_t offset : {0, 1, 3, 7}) {
      const unsigned char* data = bytes.data() + offset;
      TSRT_CHECK(crc32(data, length) == crc32_portable(data, length));
      TSRT_CHECK(crc32(data, length, 0x12345678u) == crc32_portable(data, length, 0x12345678u));
      const size_t half = length / 3;
      TSRT_CHECK(crc32(data + half, length - half, crc32(data, half)) == crc32_portable(data, length));
    }
  }
  // All zeros and all ones: the folding constants' edge cases.
  std::vector<unsigned char> zeros(1 << 12, 0), ones(1 << 12, 0xff);
  TSRT_CHECK(crc32(zeros.data(), zeros.size()) == crc32_portable(zeros.data(), zeros.size()));
  TSRT_CHECK(crc32(ones.data(), ones.size()) == crc32_portable(ones.data(), ones.size()));
  std::cout << "test_crc32: ok\n";
  return 0;
}
