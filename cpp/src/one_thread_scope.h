#pragma once

namespace tsrt::detail {

/// While alive, the calling thread's intra-op work runs on that thread alone:
/// OpenMP's thread count (libgomp keeps it per thread, and at::parallel_for and
/// oneDNN read it through omp_get_max_threads) and MKL's thread-local count are 1;
/// the destructor puts both back, also when the call in between throws.
///
/// Not at::set_num_threads: it also resizes caffe2's pthreadpool, which recreates
/// its threads, and sets a process-wide count that other threads read. This costs
/// two stores to thread-local variables. A thread already on one thread is left
/// as it is.
class OneThreadScope {
 public:
  OneThreadScope();
  ~OneThreadScope();
  OneThreadScope(const OneThreadScope&) = delete;
  OneThreadScope& operator=(const OneThreadScope&) = delete;

 private:
  int openmp_threads_ = 0;  ///< the count to restore; 0: nothing was changed
  int mkl_threads_ = 0;     ///< MKL's previous thread-local count (0: "use the global one")
};

}  // namespace tsrt::detail
