// Unit test of the load-time thread probe (cpp/src/thread_probe.h): which calls it
// believes when it decides that a model is too slow for a thread's wake-up to matter.
// A slow first call (lazy initialisation) or one preempted call must not lock a fast
// model to every thread; only a first call over 200 ms is taken as it is.

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "check.h"
#include "thread_probe.h"

namespace {

using tsrt::detail::probe_threads;
using tsrt::detail::ThreadChoice;

std::vector<tsrt::TensorSpec> fixed_input() {
  tsrt::TensorSpec spec;
  spec.name = "x";
  spec.shape = {1, 8};
  return {spec};
}

// A call that sleeps `first_ms`, `second_ms`, ... on its first calls and returns at once after.
struct ScriptedCall {
  std::vector<int> sleeps_ms;
  int calls = 0;
  void operator()(const std::vector<c10::IValue>&) {
    if (calls < static_cast<int>(sleeps_ms.size())) {
      std::this_thread::sleep_for(std::chrono::milliseconds(sleeps_ms[calls]));
    }
    ++calls;
  }
};

ThreadChoice probe(ScriptedCall& scripted, bool warmed_up) {
  return probe_threads(fixed_input(), [&](const std::vector<c10::IValue>& in) { scripted(in); }, 2,
                       warmed_up, 0);
}

bool not_probed(const ThreadChoice& choice) {
  return choice.report.find("not probed further") != std::string::npos;
}

// The misfire: a 22-54 ms first call, then 0.01 ms calls.
void test_a_slow_first_call_is_retimed() {
  ScriptedCall scripted{{40}};
  const ThreadChoice choice = probe(scripted, false);
  TSRT_CHECK(!not_probed(choice));
  TSRT_CHECK(choice.one_thread_up_to != -1);  // a no-op call ties: one thread
}

// A warmed-up model preempted once while the probe timed it.
void test_one_preempted_call_is_retimed() {
  ScriptedCall scripted{{15}};
  const ThreadChoice choice = probe(scripted, true);
  TSRT_CHECK(!not_probed(choice));
}

// A model slow on every call is left on all threads after three calls.
void test_a_slow_model_costs_three_calls() {
  ScriptedCall scripted{{3, 3, 3, 3, 3, 3}};
  const ThreadChoice choice = probe(scripted, false);
  TSRT_CHECK(not_probed(choice));
  TSRT_CHECK(choice.one_thread_up_to == -1);
  TSRT_CHECK(scripted.calls == 3);
}

// A first call that long is not repeated: load pays it once.
void test_a_very_long_first_call_is_believed() {
  ScriptedCall scripted{{250}};
  const ThreadChoice choice = probe(scripted, false);
  TSRT_CHECK(not_probed(choice));
  TSRT_CHECK(scripted.calls == 1);
}

}  // namespace

int main() {
  test_a_slow_first_call_is_retimed();
  test_one_preempted_call_is_retimed();
  test_a_slow_model_costs_three_calls();
  test_a_very_long_first_call_is_believed();
  return 0;
}
