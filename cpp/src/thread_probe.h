#pragma once
// Whether a model's small calls run faster on one thread, measured at load.
//
// OpenMP's idle threads sleep (after a ~10 us spin, tsrt's default), so a call that
// opens a parallel region first wakes the other threads, 0.03-0.3 ms on a 2-core
// machine: more than a small MLP's whole call (0.007 ms on one thread). The probe times forward on
// one thread and on the caller's count at the declared shapes and at growing
// batches, and finds the input size below which one thread wins.

#include <ATen/core/ivalue.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "tsrt/tensor_spec.h"

namespace tsrt::detail {

struct ThreadChoice {
  /// Calls whose tensor inputs hold at most this many elements in all run on one
  /// thread; -1: none (every call keeps the caller's thread count).
  int64_t one_thread_up_to = -1;
  /// The line for Model::optimizations(): what was chosen, from which timings, and
  /// what the probe cost.
  std::string report;
};

/// Times `call` (forward on the given inputs, at the calling thread's `threads`)
/// against the same call inside a OneThreadScope: at `inputs`' declared shapes, then
/// with the first dynamic dimension of each input doubled, up to 8 sizes. Stops when
/// the one-thread call passes 1 ms, when `threads` win clearly at two sizes in a
/// row, or when a call throws (a model that only takes small batches); never throws
/// itself. Nothing is probed when a call at the declared shapes already takes more
/// than 1 ms, where a thread's wake-up does not matter: the shortest of up to three
/// calls (two when `warmed_up`) decides, so that neither lazy initialisation in the
/// first call nor a preempted one counts; a first call over 200 ms is taken as it is.
/// `max_input_bytes` bounds the inputs made, as random_tensor's.
ThreadChoice probe_threads(const std::vector<TensorSpec>& inputs,
                           const std::function<void(const std::vector<c10::IValue>&)>& call, int threads,
                           bool warmed_up, uint64_t max_input_bytes);

/// The elements of the tensors among `inputs`, which the choice is compared with.
int64_t tensor_elements(const std::vector<c10::IValue>& inputs);

}  // namespace tsrt::detail
