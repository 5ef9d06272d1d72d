#pragma once
// A minimal assertion helper for the C++ unit tests run by ctest. Each test is a
// small executable that exits non-zero on the first failed check. (GoogleTest is
// not in the torch wheel nor on PyPI, and GPU build machines have no network.)

#include <cstdlib>
#include <exception>
#include <iostream>
#include <string>

#define TSRT_CHECK(cond)                                                        \
  do {                                                                          \
    if (!(cond)) {                                                              \
      std::cerr << __FILE__ << ":" << __LINE__ << ": check failed: " #cond "\n"; \
      std::exit(1);                                                             \
    }                                                                           \
  } while (0)

// Checks that `stmt` throws tsrt::Error with code `err_code` whose message contains `needle`.
#define TSRT_CHECK_THROWS(stmt, err_code, needle)                                       \
  do {                                                                                  \
    bool thrown_ = false;                                                               \
    try {                                                                               \
      stmt;                                                                             \
    } catch (const tsrt::Error& e_) {                                                   \
      thrown_ = true;                                                                   \
      if (e_.code() != (err_code) || std::string(e_.what()).find(needle) == std::string::npos) { \
        std::cerr << __FILE__ << ":" << __LINE__ << ": wrong error for " #stmt ": ["    \
                  << tsrt::error_code_name(e_.code()) << "] " << e_.what() << "\n";     \
        std::exit(1);                                                                   \
      }                                                                                 \
    }                                                                                   \
    if (!thrown_) {                                                                     \
      std::cerr << __FILE__ << ":" << __LINE__ << ": expected tsrt::Error from " #stmt "\n"; \
      std::exit(1);                                                                     \
    }                                                                                   \
  } while (0)
