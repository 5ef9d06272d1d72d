#pragma once
// tsrt::benchmark: how fast a loaded model runs, measured the way trtexec and
// onnxruntime_perf_test do it, so that ./infer --bench, the Python bindings and a
// service's own health checks all report the same numbers.
//
//   tsrt::Model model = tsrt::Model::load("resnet.pt");
//   tsrt::BenchmarkOptions options;
//   options.duration_seconds = 5;
//   options.concurrency = 4;
//   tsrt::BenchmarkResult result = tsrt::benchmark(model, inputs, options);
//   std::cout << result.latency_ms.median << " ms, " << result.throughput << " /s\n";
//   std::cout << tsrt::to_json(result, 2);  // tsrt/json.h: what ./infer --bench --json prints

#include <cstdint>
#include <string>
#include <vector>

#include <ATen/core/ivalue.h>

#include "tsrt/model.h"

namespace tsrt {

struct BenchmarkOptions {
  std::string method = "forward";
  /// Warm-up before timing: at least this many calls and at least this long.
  int warmup_iters = 10;
  double warmup_seconds = 0;
  /// The timed run stops at whichever bound is reached first; with neither set it
  /// is 100 calls. With concurrency, the bounds count calls of all threads together.
  int64_t iters = 0;
  double duration_seconds = 0;
  /// Threads calling the one Model at the same time.
  int concurrency = 1;
  /// After the timed run, profile this many calls and report the operators that
  /// took the time (0: no profile). Profiling slows calls: it is not timed.
  int profile_iters = 0;
  /// Rows of the profile to keep, by self time.
  int profile_top = 15;
  /// A run whose latencies' coefficient of variation exceeds this is flagged
  /// unstable (another process, frequency scaling, too few calls).
  double unstable_cv = 0.10;
};

/// Latency statistics over the timed calls, in milliseconds.
struct LatencyStats {
  double min = 0, mean = 0, median = 0, p90 = 0, p95 = 0, p99 = 0, max = 0;
  double stddev = 0;
  /// stddev / mean.
  double cv = 0;
};

/// One operator's share of the profiled calls.
struct OperatorTime {
  std::string name;
  int64_t calls = 0;       ///< over all profiled iterations
  double self_ms = 0;      ///< time inside the operator minus its children, per iteration
  double total_ms = 0;     ///< including children, per iteration
  double self_percent = 0; ///< of the sum of self times
};

struct BenchmarkResult {
  std::string model_path;
  std::string method;
  std::string device;
  std::string format;
  std::vector<std::string> optimizations;  ///< Model::optimizations()
  int intra_op_threads = 0;
  std::string openmp_wait;  ///< how OpenMP threads wait (openmp_wait_setting(), tsrt/openmp.h)
  int concurrency = 1;
  double load_ms = 0;             ///< Model::load_ms()
  double first_inference_ms = 0;  ///< the first call of this benchmark (lazy initialisation shows here)
  int64_t warmup_iters = 0;
  double warmup_seconds = 0;
  int64_t iters = 0;              ///< timed calls
  double wall_seconds = 0;        ///< of the timed run
  double throughput = 0;          ///< calls per second over the timed run
  /// What was timed, as messages describe inputs: "x: float32[8, 64]", one entry an argument.
  std::string inputs;
  /// Dimension 0 of the first tensor among the inputs (the batch, for a batched model);
  /// 0 when the inputs hold no tensor with a dimension.
  int64_t batch_size = 0;
  double samples_per_second = 0;  ///< throughput x batch_size
  LatencyStats latency_ms;
  bool unstable = false;
  /// Peak resident set size of the process (getrusage), and the growth over the run.
  int64_t peak_rss_bytes = 0;
  int64_t rss_before_bytes = 0;
  std::vector<OperatorTime> profile;  ///< empty unless profile_iters > 0
};

/// Times `model` on `inputs`. Throws Error(kInvalidArgument) for bad options and
/// whatever Model::run throws for bad inputs (before any timing).
BenchmarkResult benchmark(const Model& model, const std::vector<c10::IValue>& inputs,
                          const BenchmarkOptions& options = {});

/// Sets LibTorch's intra-op thread count for the whole process: at::set_num_threads
/// here, and again on each thread the first time it calls Model::run (LibTorch's
/// count is per thread for OpenMP and MKL). Call it once, before loading models;
/// 0 keeps LibTorch's choice.
void set_intra_op_threads(int threads);

}  // namespace tsrt
