#include "tsrt/benchmark.h"

#include <ATen/Parallel.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <fstream>
#include <mutex>
#include <thread>

#include "input_check.h"
#include "intra_op_threads.h"
#include "op_profile.h"
#include "tsrt/error.h"
#include "tsrt/openmp.h"

namespace tsrt {
namespace {

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

int64_t peak_rss_bytes() {
  struct rusage usage {};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<int64_t>(usage.ru_maxrss) * 1024;  // Linux reports KiB
}

int64_t current_rss_bytes() {
  std::ifstream statm("/proc/self/statm");
  int64_t size_pages = 0, resident_pages = 0;
  statm >> size_pages >> resident_pages;
  return resident_pages * static_cast<int64_t>(sysconf(_SC_PAGESIZE));
}

// Nearest-rank percentile of sorted values.
double percentile(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0;
  const size_t rank = static_cast<size_t>(std::ceil(p / 100.0 * static_cast<double>(sorted.size())));
  return sorted[std::min(sorted.size() - 1, rank == 0 ? 0 : rank - 1)];
}

LatencyStats latency_stats(std::vector<double> latencies) {
  LatencyStats stats;
  if (latencies.empty()) return stats;
  std::sort(latencies.begin(), latencies.end());
  double sum = 0;
  for (double value : latencies) sum += value;
  stats.mean = sum / static_cast<double>(latencies.size());
  double squares = 0;
  for (double value : latencies) squares += (value - stats.mean) * (value - stats.mean);
  stats.stddev = std::sqrt(squares / static_cast<double>(latencies.size()));
  stats.cv = stats.mean > 0 ? stats.stddev / stats.mean : 0;
  stats.min = latencies.front();
  stats.max = latencies.back();
  stats.median = percentile(latencies, 50);
  stats.p90 = percentile(latencies, 90);
  stats.p95 = percentile(latencies, 95);
  stats.p99 = percentile(latencies, 99);
  return stats;
}

void check_options(const BenchmarkOptions& options) {
  auto refuse = [](const std::string& what) { throw Error(ErrorCode::kInvalidArgument, "benchmark: " + what); };
  if (options.concurrency < 1) refuse("concurrency must be at least 1, got " + std::to_string(options.concurrency));
  if (options.warmup_iters < 0) refuse("warm-up iterations must not be negative");
  if (options.warmup_seconds < 0 || options.duration_seconds < 0) refuse("durations must not be negative");
  if (options.iters < 0) refuse("iterations must not be negative");
  if (options.profile_iters < 0) refuse("profile iterations must not be negative");
}

// The timed run: `concurrency` threads call the model until `iters` calls are
// made in all or `duration` has passed. Returns every call's latency.
std::vector<double> timed_run(const Model& model, const std::vector<c10::IValue>& inputs,
                              const BenchmarkOptions& options, double& wall_seconds) {
  const int64_t max_calls = options.iters > 0 ? options.iters : (options.duration_seconds > 0 ? INT64_MAX : 100);
  const double max_ms = options.duration_seconds > 0 ? options.duration_seconds * 1000.0 : INFINITY;
  std::atomic<int64_t> claimed{0};
  std::atomic<bool> stop{false};
  std::mutex merge;
  std::vector<double> latencies;
  std::exception_ptr failure;
  const auto start = Clock::now();
  auto worker = [&] {
    std::vector<double> mine;
    try {
      while (!stop.load(std::memory_order_relaxed) && claimed.fetch_add(1) < max_calls) {
        const auto call_start = Clock::now();
        model.run(options.method, inputs);
        mine.push_back(ms_since(call_start));
        if (ms_since(start) >= max_ms) stop = true;
      }
    } catch (...) {
      stop = true;
      std::lock_guard<std::mutex> lock(merge);
      if (!failure) failure = std::current_exception();
    }
    std::lock_guard<std::mutex> lock(merge);
    latencies.insert(latencies.end(), mine.begin(), mine.end());
  };
  std::vector<std::thread> threads;
  for (int i = 1; i < options.concurrency; ++i) threads.emplace_back(worker);
  worker();
  for (auto& thread : threads) thread.join();
  wall_seconds = ms_since(start) / 1000.0;
  if (failure) std::rethrow_exception(failure);
  return latencies;
}

// Dimension 0 of the first tensor, depth first through lists, tuples and dicts.
int64_t first_batch_size(const c10::IValue& value) {
  if (value.isTensor()) return value.toTensor().dim() > 0 ? value.toTensor().size(0) : 0;
  std::vector<c10::IValue> children;
  if (value.isTuple()) children = value.toTupleRef().elements().vec();
  if (value.isList()) children = value.toList().vec();
  if (value.isGenericDict()) {
    for (const auto& entry : value.toGenericDict()) children.push_back(entry.value());
  }
  for (const c10::IValue& child : children) {
    if (const int64_t batch = first_batch_size(child)) return batch;
  }
  return 0;
}

}  // namespace

namespace {
std::atomic<int> chosen_intra_op_threads{0};  // 0: LibTorch's own choice
}  // namespace

void set_intra_op_threads(int threads) {
  if (threads < 0) throw Error(ErrorCode::kInvalidArgument, "thread count must not be negative");
  if (threads > 0) {
    at::set_num_threads(threads);
    chosen_intra_op_threads.store(threads);
  }
}

void detail::apply_intra_op_threads() {
  thread_local int applied = 0;
  const int chosen = chosen_intra_op_threads.load(std::memory_order_relaxed);
  if (chosen > 0 && chosen != applied) {
    at::set_num_threads(chosen);
    applied = chosen;
  }
}

BenchmarkResult benchmark(const Model& model, const std::vector<c10::IValue>& inputs,
                          const BenchmarkOptions& options) {
  check_options(options);
  BenchmarkResult result;
  result.model_path = model.path();
  result.method = options.method;
  result.device = model.device().str();
  result.format = model.format();
  result.optimizations = model.optimizations();
  result.intra_op_threads = at::get_num_threads();
  result.openmp_wait = openmp_wait_setting();
  result.concurrency = options.concurrency;
  result.load_ms = model.load_ms();
  result.rss_before_bytes = current_rss_bytes();

  const auto first_start = Clock::now();
  model.run(options.method, inputs);  // bad inputs fail here, before any timing
  result.first_inference_ms = ms_since(first_start);

  const auto warmup_start = Clock::now();
  while (result.warmup_iters < options.warmup_iters || ms_since(warmup_start) < options.warmup_seconds * 1000.0) {
    model.run(options.method, inputs);
    ++result.warmup_iters;
  }
  result.warmup_seconds = ms_since(warmup_start) / 1000.0;

  const std::vector<double> latencies = timed_run(model, inputs, options, result.wall_seconds);
  result.iters = static_cast<int64_t>(latencies.size());
  result.throughput = result.wall_seconds > 0 ? static_cast<double>(result.iters) / result.wall_seconds : 0;
  result.inputs = detail::describe_inputs(model.signature(options.method), inputs);
  for (const c10::IValue& input : inputs) {
    if ((result.batch_size = first_batch_size(input)) > 0) break;
  }
  result.samples_per_second = result.throughput * static_cast<double>(result.batch_size);
  result.latency_ms = latency_stats(latencies);
  result.unstable = result.latency_ms.cv > options.unstable_cv;
  result.peak_rss_bytes = peak_rss_bytes();
  // What the model compiled on the way (a shape fused in oneDNN at the first call).
  for (std::string& line : model.runtime_report()) result.optimizations.push_back(std::move(line));

  if (options.profile_iters > 0) {
    result.profile = detail::profile_operators([&] { model.run(options.method, inputs); }, options.profile_iters,
                                               options.profile_top);
    // The method's own row holds what no operator reported: pre-packed oneDNN
    // convolutions and oneDNN Graph partitions run without the profiler's hooks.
    for (OperatorTime& row : result.profile) {
      if (row.name == options.method) row.name += " (self: fused/pre-packed kernels, interpreter)";
    }
  }
  return result;
}


}  // namespace tsrt
