#include "tsrt/openmp.h"

#include <cstdlib>
#include <string>

#if defined(__linux__)
#include <unistd.h>
#endif

namespace tsrt {
namespace {
// Either one set means the environment chose how libgomp's threads wait.
constexpr const char* kOpenMPWaitVariables[] = {"OMP_WAIT_POLICY", "GOMP_SPINCOUNT"};
}  // namespace

bool openmp_wait_chosen() {
  for (const char* name : kOpenMPWaitVariables) {
    if (std::getenv(name) != nullptr) return true;
  }
  return false;
}

std::string openmp_wait_setting() {
  std::string text;
  for (const char* name : kOpenMPWaitVariables) {
    if (const char* value = std::getenv(name)) text += (text.empty() ? "" : " ") + std::string(name) + "=" + value;
  }
  return text.empty() ? "spin (OpenMP's default)" : text;
}

void restart_with_openmp_wait_default(char** argv) {
#if defined(__linux__)
  if (openmp_wait_chosen() || argv == nullptr || argv[0] == nullptr) return;
  // The restarted process sees the variable set, so it does not restart again.
  if (setenv(kOpenMPWaitVariable, kOpenMPWaitDefault, 0) != 0) return;
  execv("/proc/self/exe", argv);
  unsetenv(kOpenMPWaitVariable);  // exec failed: run on, as the environment was
#else
  (void)argv;
#endif
}

}  // namespace tsrt
