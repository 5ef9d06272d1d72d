#pragma once
// Dynamic batching for one model: requests that arrive within a short delay of each
// other are stacked along dimension 0, run as one forward call, and the outputs are
// split back, so that each caller gets what its own call would have returned.
//
// The first request of a batch waits up to max_delay for company, but only while other
// requests for the model are on their way (received, not yet queued: each holds a
// Ticket): with nobody coming, waiting would only add latency, so the batch runs at once,
// and a request that finds nothing queued, nobody coming and no call running runs on
// the caller's thread.
//
// Several runner threads (BatchOptions::workers) may take batches from the one queue:
// while one runs forward, the next gathers the requests that arrive meanwhile, and
// stacking and splitting overlap with a forward call instead of waiting for it.
//
// Only requests whose inputs agree in everything but dimension 0 (names, dtypes,
// the other sizes) are stacked; a request that can't be (a 0-d input, a batch over
// max_batch) runs alone. When a stacked call fails, each request runs again alone and
// gets its own answer or its own error: one bad request can't fail its neighbours.

#include <chrono>
#include <condition_variable>
#include <deque>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <ATen/core/ivalue.h>

#include "metrics.h"
#include "model_info.h"
#include "tsrt/model.h"

namespace tsrt_serve {

struct BatchOptions {
  int max_batch = 32;                                  ///< rows (sum of dimension 0) in one call
  std::chrono::microseconds max_delay{2000};           ///< how long the first request waits for company
  int workers = 1;                                     ///< runner threads taking batches from the queue
};

class Batcher {
 public:
  Batcher(const tsrt::Model& model, std::string name, BatchOptions options, Metrics& metrics);
  /// Answers what is queued, then stops the runner threads.
  ~Batcher();
  Batcher(const Batcher&) = delete;
  Batcher& operator=(const Batcher&) = delete;

  /// Held by a request from its arrival (before its body is read) until it is queued,
  /// or until it fails before that: while tickets are out, a batch waits for them.
  class Ticket {
   public:
    explicit Ticket(Batcher& batcher);
    ~Ticket();
    Ticket(const Ticket&) = delete;
    Ticket& operator=(const Ticket&) = delete;

   private:
    friend class Batcher;
    Batcher* batcher_;  // null once handed in
  };

  /// Runs forward on `inputs` (CPU tensors by name), stacked with others when it
  /// can; blocks until done. Hands in `ticket` (may be null). Throws what
  /// tsrt::Model::run throws.
  c10::IValue run(std::map<std::string, c10::IValue> inputs, Ticket* ticket = nullptr);

 private:
  struct Pending {
    std::map<std::string, c10::IValue> inputs;
    std::string key;  // names, dtypes and sizes but dimension 0: requests with one key stack
    int64_t rows = 0;
    std::chrono::steady_clock::time_point enqueued;
    std::promise<c10::IValue> result;
  };
  void hand_in(Ticket* ticket);  // with mutex_ held
  void loop();
  void execute(std::vector<std::unique_ptr<Pending>>& group);

  const tsrt::Model model_;
  const std::string name_;
  const BatchOptions options_;
  Metrics& metrics_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::unique_ptr<Pending>> queue_;
  bool stopping_ = false;
  int64_t coming_ = 0;  // tickets out
  bool gathering_ = false;  // a runner is forming a batch: the others wait their turn
  int64_t running_ = 0;     // forward calls under way, on runners or on callers' threads
  std::vector<std::thread> workers_;
};

/// Whether forward treats the rows of a batch independently, tried on random inputs:
/// two requests (the second's floats negated, so that a batch-wide statistic such as
/// x.mean() differs between them) run alone and stacked must agree within the
/// file's tolerance. "" when they do, otherwise what differed. Batching a model that
/// mixes rows would change its answers; this catches the common cases, not all.
std::string check_rows_independent(const tsrt::Model& model, const ModelInfo& info);

}  // namespace tsrt_serve
