#include "one_thread_scope.h"

#include <ATen/Parallel.h>

// Declared here rather than through <omp.h> and MKL's headers: LibTorch ships its own
// libgomp and links MKL statically into libtorch_cpu.so (which exports the MKL
// service functions), and these must reach those copies, not a second runtime. Weak,
// so that a LibTorch built without them (no OpenMP, OpenBLAS instead of MKL) still
// loads libtsrt; the scope then changes what is there.
//
// MKL_Set_Num_Threads_Local is what mkl_service.h's C name mkl_set_num_threads_local
// is #defined to: the lower-case symbol libtorch_cpu.so exports is the Fortran entry,
// which takes a pointer (calling it with an int crashed).
extern "C" {
__attribute__((weak)) void omp_set_num_threads(int threads);
__attribute__((weak)) int MKL_Set_Num_Threads_Local(int threads);
}

namespace tsrt::detail {

OneThreadScope::OneThreadScope() {
  // at::get_num_threads first: on a thread's first call it applies LibTorch's count
  // (at::init_num_threads), which would otherwise overwrite ours inside the call.
  const int threads = at::get_num_threads();
  if (threads <= 1 || omp_set_num_threads == nullptr) return;
  openmp_threads_ = threads;
  omp_set_num_threads(1);
  if (MKL_Set_Num_Threads_Local != nullptr) mkl_threads_ = MKL_Set_Num_Threads_Local(1);
}

OneThreadScope::~OneThreadScope() {
  if (openmp_threads_ == 0) return;
  omp_set_num_threads(openmp_threads_);
  if (MKL_Set_Num_Threads_Local != nullptr) MKL_Set_Num_Threads_Local(mkl_threads_);
}

}  // namespace tsrt::detail
