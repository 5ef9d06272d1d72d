#include "crc32.h"

#include <caffe2/serialize/crc_alt.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define TSRT_HAVE_PCLMUL_PATH 1
#endif

namespace tsrt::detail {

uint32_t crc32_portable(const void* data, size_t length, uint32_t previous) {
  return crc32_fast(data, length, previous);
}

#ifdef TSRT_HAVE_PCLMUL_PATH
namespace {

// Folding constants for the reflected polynomial 0xEDB88320 from Intel's "Fast
// CRC Computation for Generic Polynomials Using PCLMULQDQ Instruction" (2009), as
// used by zlib-ng and Chromium's zlib: x^(4*128+32) mod P and x^(4*128-32) mod P
// (fold by 4), x^(128+32) and x^(128-32) (fold by 1), x^64 mod P, and Barrett's
// mu and P itself.
alignas(16) const uint64_t kFold4[2] = {0x0154442bd4, 0x01c6e41596};
alignas(16) const uint64_t kFold1[2] = {0x01751997d0, 0x00ccaa009e};
alignas(16) const uint64_t kFold64[2] = {0x0163cd6124, 0x0000000000};
alignas(16) const uint64_t kBarrett[2] = {0x01db710641, 0x01f7011641};

// Folds the 128-bit accumulator over the next 16 bytes with constants `k`.
__attribute__((target("pclmul,sse4.1"))) inline __m128i fold_into(__m128i acc, __m128i next, __m128i k) {
  const __m128i low = _mm_clmulepi64_si128(acc, k, 0x00);
  const __m128i high = _mm_clmulepi64_si128(acc, k, 0x11);
  return _mm_xor_si128(_mm_xor_si128(high, next), low);
}

// `state` is the CRC register (not inverted); `length` >= 64 and a multiple of 16.
__attribute__((target("pclmul,sse4.1"))) uint32_t fold(const unsigned char* p, size_t length, uint32_t state) {
  __m128i x1 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 0x00));
  __m128i x2 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 0x10));
  __m128i x3 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 0x20));
  __m128i x4 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 0x30));
  x1 = _mm_xor_si128(x1, _mm_cvtsi32_si128(static_cast<int>(state)));
  __m128i k = _mm_load_si128(reinterpret_cast<const __m128i*>(kFold4));
  p += 64;
  length -= 64;

  // Four independent 128-bit lanes, each folded 512 bits forward per step.
  while (length >= 64) {
    const __m128i x5 = _mm_clmulepi64_si128(x1, k, 0x00);
    const __m128i x6 = _mm_clmulepi64_si128(x2, k, 0x00);
    const __m128i x7 = _mm_clmulepi64_si128(x3, k, 0x00);
    const __m128i x8 = _mm_clmulepi64_si128(x4, k, 0x00);
    x1 = _mm_clmulepi64_si128(x1, k, 0x11);
    x2 = _mm_clmulepi64_si128(x2, k, 0x11);
    x3 = _mm_clmulepi64_si128(x3, k, 0x11);
    x4 = _mm_clmulepi64_si128(x4, k, 0x11);
    x1 = _mm_xor_si128(_mm_xor_si128(x1, x5), _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 0x00)));
    x2 = _mm_xor_si128(_mm_xor_si128(x2, x6), _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 0x10)));
    x3 = _mm_xor_si128(_mm_xor_si128(x3, x7), _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 0x20)));
    x4 = _mm_xor_si128(_mm_xor_si128(x4, x8), _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 0x30)));
    p += 64;
    length -= 64;
  }

  // Fold the four lanes into one, then the remaining 16-byte blocks into it.
  k = _mm_load_si128(reinterpret_cast<const __m128i*>(kFold1));
  x1 = fold_into(x1, x2, k);
  x1 = fold_into(x1, x3, k);
  x1 = fold_into(x1, x4, k);
  while (length >= 16) {
    x1 = fold_into(x1, _mm_loadu_si128(reinterpret_cast<const __m128i*>(p)), k);
    p += 16;
    length -= 16;
  }

  // 128 bits to 64, then Barrett reduction to the 32-bit remainder.
  __m128i x0;
  const __m128i mask32 = _mm_setr_epi32(~0, 0, ~0, 0);
  x2 = _mm_clmulepi64_si128(x1, k, 0x10);
  x1 = _mm_xor_si128(_mm_srli_si128(x1, 8), x2);
  x0 = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(kFold64));
  x2 = _mm_srli_si128(x1, 4);
  x1 = _mm_and_si128(x1, mask32);
  x1 = _mm_xor_si128(_mm_clmulepi64_si128(x1, x0, 0x00), x2);
  x0 = _mm_load_si128(reinterpret_cast<const __m128i*>(kBarrett));
  x2 = _mm_and_si128(x1, mask32);
  x2 = _mm_clmulepi64_si128(x2, x0, 0x10);
  x2 = _mm_and_si128(x2, mask32);
  x2 = _mm_clmulepi64_si128(x2, x0, 0x00);
  x1 = _mm_xor_si128(x1, x2);
  return static_cast<uint32_t>(_mm_extract_epi32(x1, 1));
}

bool cpu_has_pclmul() {
  static const bool has = __builtin_cpu_supports("pclmul") && __builtin_cpu_supports("sse4.1");
  return has;
}

}  // namespace

uint32_t crc32(const void* data, size_t length, uint32_t previous) {
  if (length < 64 || !cpu_has_pclmul()) return crc32_portable(data, length, previous);
  const size_t folded = length & ~static_cast<size_t>(15);
  const uint32_t crc = ~fold(static_cast<const unsigned char*>(data), folded, ~previous);
  return crc32_portable(static_cast<const unsigned char*>(data) + folded, length - folded, crc);
}

#else

uint32_t crc32(const void* data, size_t length, uint32_t previous) { return crc32_portable(data, length, previous); }

#endif

}  // namespace tsrt::detail
