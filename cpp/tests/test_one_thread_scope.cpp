// Unit test of OneThreadScope (cpp/src/one_thread_scope.h), the per-call switch of
// adaptive_threads: inside it at::parallel_for and MKL see one thread, after it the
// calling thread has its count back, also when the call in between threw; other
// threads are not touched.

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <atomic>
#include <stdexcept>
#include <thread>

#include "check.h"
#include "one_thread_scope.h"

extern "C" __attribute__((weak)) int MKL_Get_Max_Threads();

namespace {

using tsrt::detail::OneThreadScope;

// How many distinct threads at::parallel_for used on a range it would split.
int parallel_for_team() {
  std::atomic<uint64_t> seen{0};
  at::parallel_for(0, 1 << 16, 1, [&](int64_t, int64_t) { seen |= uint64_t{1} << at::get_thread_num(); });
  return __builtin_popcountll(seen.load());
}

void test_one_thread_inside_and_restored_after() {
  TSRT_CHECK(parallel_for_team() == 2);  // the check below can fail
  {
    OneThreadScope scope;
    TSRT_CHECK(at::get_num_threads() == 1);
    TSRT_CHECK(parallel_for_team() == 1);
    if (MKL_Get_Max_Threads != nullptr) TSRT_CHECK(MKL_Get_Max_Threads() == 1);
  }
  TSRT_CHECK(at::get_num_threads() == 2);
  TSRT_CHECK(parallel_for_team() == 2);
  if (MKL_Get_Max_Threads != nullptr) TSRT_CHECK(MKL_Get_Max_Threads() == 2);
}

void test_restored_when_the_call_throws() {
  try {
    OneThreadScope scope;
    throw std::runtime_error("the model failed");
  } catch (const std::runtime_error&) {
  }
  TSRT_CHECK(at::get_num_threads() == 2);
}

void test_other_threads_keep_their_count() {
  OneThreadScope scope;
  int other = 0;
  std::thread([&] { other = at::get_num_threads(); }).join();
  TSRT_CHECK(other == 2);
  TSRT_CHECK(at::get_num_threads() == 1);
}

void test_a_thread_on_one_thread_is_left_alone() {
  std::thread([] {
    at::set_num_threads(1);
    { OneThreadScope scope; }
    TSRT_CHECK(at::get_num_threads() == 1);
  }).join();
}

}  // namespace

int main() {
  at::set_num_threads(2);  // whatever the machine: a team of two is what is switched
  test_one_thread_inside_and_restored_after();
  test_restored_when_the_call_throws();
  test_other_threads_keep_their_count();
  test_a_thread_on_one_thread_is_left_alone();
  return 0;
}
