#include "op_profile.h"

#include <torch/csrc/autograd/profiler_legacy.h>

#include <algorithm>
#include <map>

namespace tsrt::detail {

std::vector<OperatorTime> profile_operators(const std::function<void()>& call, int iterations, int top) {
  using torch::autograd::profiler::EventKind;
  using torch::autograd::profiler::LegacyEvent;
  torch::autograd::profiler::thread_event_lists lists;
  {
    torch::profiler::impl::ProfilerConfig config(torch::profiler::impl::ProfilerState::CPU);
    torch::autograd::profiler::enableProfilerLegacy(config);
    try {
      for (int i = 0; i < iterations; ++i) call();
    } catch (...) {
      torch::autograd::profiler::disableProfilerLegacy();
      throw;
    }
    lists = torch::autograd::profiler::disableProfilerLegacy();
  }

  // Events of one thread come in order, each range a push and its pop: a stack
  // gives each range's children, and self time is its time minus theirs.
  struct Open {
    const LegacyEvent* push;
    double children_us = 0;
  };
  std::map<std::string, OperatorTime> by_name;
  double all_self_us = 0;
  for (const auto& events : lists) {
    std::vector<Open> stack;
    for (const LegacyEvent& event : events) {
      if (event.kind() == EventKind::PushRange) {
        stack.push_back({&event});
      } else if (event.kind() == EventKind::PopRange && !stack.empty()) {
        // Find the push this pop closes; a pop without one (a range opened before
        // profiling started) is ignored.
        auto open = std::find_if(stack.rbegin(), stack.rend(),
                                 [&](const Open& o) { return o.push->handle() == event.handle(); });
        if (open == stack.rend()) continue;
        const double total_us = open->push->cpuElapsedUs(event);
        const double self_us = std::max(0.0, total_us - open->children_us);
        OperatorTime& row = by_name[open->push->name()];
        row.name = open->push->name();
        row.calls += 1;
        row.self_ms += self_us / 1000.0;
        row.total_ms += total_us / 1000.0;
        all_self_us += self_us;
        const size_t index = static_cast<size_t>(stack.rend() - open) - 1;
        stack.resize(index);
        if (!stack.empty()) stack.back().children_us += total_us;
      }
    }
  }
  std::vector<OperatorTime> rows;
  for (auto& [name, row] : by_name) {
    row.self_percent = all_self_us > 0 ? 100.0 * row.self_ms * 1000.0 / all_self_us : 0;
    row.self_ms /= iterations;
    row.total_ms /= iterations;
    rows.push_back(row);
  }
  std::sort(rows.begin(), rows.end(), [](const OperatorTime& a, const OperatorTime& b) { return a.self_ms > b.self_ms; });
  if (top > 0 && rows.size() > static_cast<size_t>(top)) rows.resize(top);
  return rows;
}

}  // namespace tsrt::detail
