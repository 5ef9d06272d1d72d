#include "thread_probe.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <limits>
#include <optional>

#include "one_thread_scope.h"

namespace tsrt::detail {
namespace {

using Clock = std::chrono::steady_clock;

constexpr int kMaxSizes = 8;             // the declared shape and 7 doublings
constexpr int kMaxRounds = 15;           // interleaved pairs of calls per size
constexpr int kMinRounds = 5;            // ... and at least these, however slow
constexpr double kSizeBudgetMs = 10;     // per size, once kMinRounds are done
constexpr double kLongCallMs = 1.0;      // above: a wake-up (~0.03 ms) is noise
constexpr double kLongFirstCallMs = 200; // a first call this long is taken as it is
constexpr int kMaxCheckCalls = 3;        // calls timed, the shortest deciding, before a model counts as slow
constexpr double kClearlyFaster = 0.8;   // the caller's threads at < 0.8x one thread's time
constexpr int kClearWinsToStop = 2;      // ... at this many sizes in a row: they win above too

struct Measured {
  std::string label;  // "8x64", inputs separated by ","
  int64_t elements = 0;
  double one_ms = 0;   // median, on one thread
  double many_ms = 0;  // median, on the caller's threads
};

double ms_between(Clock::time_point start, Clock::time_point end) {
  return std::chrono::duration<double, std::milli>(end - start).count();
}

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values[values.size() / 2];
}

std::string ms_text(double ms) {
  char text[32];
  std::snprintf(text, sizeof text, ms < 10 ? "%.3f" : "%.0f", ms);
  return text;
}

std::string shapes_label(const std::vector<TensorSpec>& specs) {
  std::string label;
  for (const TensorSpec& spec : specs) {
    if (!label.empty()) label += ",";
    const std::string shape = shape_text(spec.shape);
    label += shape.empty() ? "scalar" : shape;
  }
  return label;
}

// `declared` with the first dynamic dimension of each input times `scale`.
std::vector<TensorSpec> grown(const std::vector<TensorSpec>& declared, int64_t scale) {
  std::vector<TensorSpec> specs = declared;
  for (TensorSpec& spec : specs) {
    for (int64_t dim = 0; dim < static_cast<int64_t>(spec.shape.size()); ++dim) {
      if (!spec.is_dynamic(dim)) continue;
      spec.shape[dim] = std::max<int64_t>(spec.shape[dim], 1) * scale;
      break;
    }
  }
  return specs;
}

// Medians of interleaved calls, so that the machine's load at the moment weighs on
// both counts alike; the order alternates so that neither always follows the other.
Measured measure(const std::vector<c10::IValue>& inputs,
                 const std::function<void(const std::vector<c10::IValue>&)>& call) {
  auto timed = [&](bool one_thread) {
    std::optional<OneThreadScope> scope;
    if (one_thread) scope.emplace();
    const auto start = Clock::now();
    call(inputs);
    return ms_between(start, Clock::now());
  };
  std::vector<double> one, many;
  const auto start = Clock::now();
  for (int round = 0; round < kMaxRounds; ++round) {
    const bool one_first = round % 2 == 0;
    const double first = timed(one_first);
    const double second = timed(!one_first);
    one.push_back(one_first ? first : second);
    many.push_back(one_first ? second : first);
    if (round + 1 >= kMinRounds && ms_between(start, Clock::now()) > kSizeBudgetMs) break;
  }
  Measured measured;
  measured.one_ms = median(one);
  measured.many_ms = median(many);
  return measured;
}

std::string timings(const Measured& m, int threads) {
  return m.label + ": " + ms_text(m.one_ms) + " ms on 1 thread, " + ms_text(m.many_ms) + " ms on " +
         std::to_string(threads);
}

}  // namespace

int64_t tensor_elements(const std::vector<c10::IValue>& inputs) {
  int64_t elements = 0;
  for (const c10::IValue& input : inputs) {
    if (input.isTensor()) elements += input.toTensor().numel();
  }
  return elements;
}

ThreadChoice probe_threads(const std::vector<TensorSpec>& declared,
                           const std::function<void(const std::vector<c10::IValue>&)>& call, int threads,
                           bool warmed_up, uint64_t max_input_bytes) {
  const auto start = Clock::now();
  const std::string always = "threads per call: always " + std::to_string(threads);
  auto took = [&] {
    char text[32];
    std::snprintf(text, sizeof text, "%.1f ms", ms_between(start, Clock::now()));
    return std::string(text);
  };
  const bool dynamic = std::any_of(declared.begin(), declared.end(),
                                   [](const TensorSpec& spec) { return !spec.dynamic_dims.empty(); });

  ThreadChoice choice;
  std::vector<Measured> sizes;
  std::string failed;  // the shapes whose call threw, which ended the probe
  try {
    // A model whose call takes over a millisecond is not probed further (ResNet-18:
    // tens of ms), and costs load one call: the first, unless it was fast enough to
    // be mostly lazy initialisation, when a second one is timed.
    const std::vector<c10::IValue> inputs = random_inputs(declared, max_input_bytes);
    auto timed_call = [&] {
      const auto call_start = Clock::now();
      call(inputs);
      return ms_between(call_start, Clock::now());
    };
    // The shortest of up to kMaxCheckCalls decides: a first call pays lazy initialisation
    // and a later one can be preempted, and either alone once locked a 0.01 ms MLP to
    // every thread (first calls of 22-54 ms). Only a first call that long is believed.
    double call_ms = timed_call();
    if (call_ms <= kLongFirstCallMs) {
      const int max_calls = warmed_up ? kMaxCheckCalls - 1 : kMaxCheckCalls;
      for (int calls = 1; calls < max_calls && call_ms > kLongCallMs; ++calls) {
        call_ms = std::min(call_ms, timed_call());
      }
    }
    if (call_ms > kLongCallMs) {
      choice.report = always + " (a call at " + shapes_label(declared) + " takes " + ms_text(call_ms) +
                      " ms, where a thread's wake-up does not count); not probed further, checked in " + took();
      return choice;
    }
  } catch (const std::exception& e) {
    const std::string message = e.what();
    choice.report = always + " (the probe's call at the declared shapes failed: " +
                    message.substr(0, message.find('\n')) + ")";
    return choice;
  }

  int clear_wins = 0;
  for (int step = 0; step < (dynamic ? kMaxSizes : 1); ++step) {
    const std::vector<TensorSpec> specs = grown(declared, int64_t{1} << step);
    Measured measured;
    try {
      const std::vector<c10::IValue> inputs = random_inputs(specs, max_input_bytes);
      if (step > 0) call(inputs);  // a new shape's first call allocates
      measured = measure(inputs, call);
      measured.elements = tensor_elements(inputs);
    } catch (const std::exception&) {
      failed = shapes_label(specs);
      break;
    }
    measured.label = shapes_label(specs);
    sizes.push_back(measured);
    if (measured.one_ms > kLongCallMs) break;
    clear_wins = measured.many_ms < kClearlyFaster * measured.one_ms ? clear_wins + 1 : 0;
    if (clear_wins >= kClearWinsToStop) break;
  }

  // One thread for the sizes where the caller's threads did not win clearly, from the
  // smallest up to the first where they did: a later loss past a clear win is taken for
  // noise. A tie goes to one thread because the stakes are uneven: below 1 ms one thread
  // loses at most the threads' speed-up, while a wake-up that the probe happened not to
  // see costs many times the call (the MLP's package at batch 8 on an idle core: 0.18 ms
  // on 2 threads against 0.009 on one, after a probe, right behind an Inductor compile
  // that kept the other core awake, had measured a tie).
  size_t won = 0;
  while (won < sizes.size() && sizes[won].many_ms >= kClearlyFaster * sizes[won].one_ms) ++won;
  // "probed 3 sizes (4x64 to 16x64; 32x64 failed) in 5.1 ms"
  std::string tail = "probed " + std::to_string(sizes.size()) + (sizes.size() == 1 ? " size (" : " sizes (");
  if (!sizes.empty()) tail += sizes.front().label + (sizes.size() > 1 ? " to " + sizes.back().label : "");
  if (!failed.empty()) tail += (sizes.empty() ? "" : "; ") + failed + " failed";
  tail += ") in " + took();
  if (sizes.empty()) {
    choice.report = always + "; " + tail;
  } else if (won == 0) {
    choice.report = always + " (" + std::to_string(threads) + " threads won clearly from the first size; " +
                    timings(sizes[0], threads) + "); " + tail;
  } else if (!dynamic) {
    choice.one_thread_up_to = std::numeric_limits<int64_t>::max();
    choice.report = "threads per call: 1, the file's shapes being fixed (" + timings(sizes[0], threads) + "); " + tail;
  } else {
    const Measured& last_won = sizes[won - 1];
    choice.one_thread_up_to = last_won.elements;
    choice.report = "threads per call: 1 up to " + std::to_string(last_won.elements) + " input elements (" +
                    timings(last_won, threads) + "), " + std::to_string(threads) + " above";
    if (won < sizes.size()) choice.report += " (" + timings(sizes[won], threads) + ")";
    choice.report += "; " + tail;
  }
  return choice;
}

}  // namespace tsrt::detail
