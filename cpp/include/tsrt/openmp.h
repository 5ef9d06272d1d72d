#pragma once
// How LibTorch's OpenMP threads wait for work. GNU OpenMP (libgomp, which LibTorch,
// MKL and oneDNN share in the torch wheel) reads OMP_WAIT_POLICY and GOMP_SPINCOUNT
// once, when the process loads it: before main() of any program that links libtsrt.
//
// Its default spins at every barrier for a few milliseconds. On a machine whose other
// processes hold the cores, a descheduled team thread makes every parallel region wait,
// and 2 threads cost ResNet-18 or BERT-base 8-13x what sleeping at once
// (OMP_WAIT_POLICY=PASSIVE) costs. Sleeping at once costs a wake-up per parallel region
// instead, which on an idle machine put ResNet-18 4-7% behind ONNX Runtime. tsrt's
// programs start with GOMP_SPINCOUNT=1000 (spin ~10 us, then sleep) unless the
// environment chose otherwise: side by side it was within 5% of the better of the two
// on both an idle and a busy machine (docs/speed.md, "How OpenMP threads wait").

#include <string>

namespace tsrt {

/// The variable and value tsrt's programs start with when the environment sets neither
/// OMP_WAIT_POLICY nor GOMP_SPINCOUNT.
inline constexpr const char* kOpenMPWaitVariable = "GOMP_SPINCOUNT";
inline constexpr const char* kOpenMPWaitDefault = "1000";

/// Whether this process's environment chooses how OpenMP threads wait: OMP_WAIT_POLICY
/// or GOMP_SPINCOUNT set to anything (then tsrt leaves it alone: a user's value wins).
bool openmp_wait_chosen();

/// The environment's choice as text, for reports: "OMP_WAIT_POLICY=PASSIVE",
/// "GOMP_SPINCOUNT=1000" (both when both are set), or "spin (OpenMP's default)".
std::string openmp_wait_setting();

/// For main(), first thing: when openmp_wait_chosen() is false, sets
/// kOpenMPWaitVariable=kOpenMPWaitDefault and replaces the process by a fresh start of the same
/// program with the same `argv` (execv of /proc/self/exe), so that OpenMP reads it as it
/// loads; the new process finds the variable set and goes on. Returns only when it did
/// nothing: the environment had chosen, or the restart is not possible here (not Linux,
/// exec failed), in which case the variable is removed again and the program runs
/// with OpenMP's default. Costs one more program start (LibTorch's libraries loaded
/// twice). `argv` is main's, terminated by a null pointer.
void restart_with_openmp_wait_default(char** argv);

}  // namespace tsrt
