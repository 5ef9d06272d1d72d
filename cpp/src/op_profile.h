#pragma once
// Which operators a model's calls spend their time in, from LibTorch's profiler.

#include <functional>
#include <vector>

#include "tsrt/benchmark.h"

namespace tsrt::detail {

/// Runs `call` `iterations` times under LibTorch's CPU profiler (on this thread)
/// and returns the `top` operators by self time, per iteration.
std::vector<OperatorTime> profile_operators(const std::function<void()>& call, int iterations, int top);

}  // namespace tsrt::detail
