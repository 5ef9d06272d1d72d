#pragma once
// Prometheus metrics of tsrt_serve, rendered in the text exposition format (GET /metrics):
//
//   tsrt_requests_total{model}                 inference requests answered
//   tsrt_request_failures_total{model,code}    of those, the ones answered with an HTTP error
//   tsrt_request_duration_seconds{model}       histogram: body read to response ready
//   tsrt_queue_duration_seconds{model}         histogram: time a request waited for its batch
//   tsrt_batch_size{model}                     histogram: requests run together in one call
//   tsrt_inflight_requests{model}              gauge: requests being served now
//
// Labels take only the names of loaded models (requests for other names count under
// model="_unknown"), so a client can't grow the series without bound.

#include <array>
#include <atomic>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace tsrt_serve {

class Metrics {
 public:
  static constexpr const char* kUnknownModel = "_unknown";

  explicit Metrics(const std::vector<std::string>& models);

  /// A request for `model` answered with HTTP `status` after `seconds`.
  void observe_request(const std::string& model, int status, double seconds);
  /// A request that waited `seconds` in the batcher's queue.
  void observe_queue(const std::string& model, double seconds);
  /// One model call that ran `requests` requests together.
  void observe_batch(const std::string& model, int requests);
  /// Counts a request of `model` in flight while it lives.
  class InFlight {
   public:
    InFlight(Metrics& metrics, const std::string& model);
    ~InFlight();
    InFlight(const InFlight&) = delete;
    InFlight& operator=(const InFlight&) = delete;

   private:
    std::atomic<int64_t>& gauge_;
  };

  /// Requests in flight, all models together.
  int64_t in_flight() const;

  /// Everything, in the Prometheus text format (version 0.0.4).
  std::string render() const;

 private:
  struct Histogram {
    explicit Histogram(const std::vector<double>& bounds) : bounds(bounds), counts(bounds.size() + 1, 0) {}
    void observe(double value);
    std::vector<double> bounds;
    std::vector<uint64_t> counts;  // per bucket (not cumulative); the last is +Inf
    double sum = 0;
    uint64_t count = 0;
  };
  struct PerModel {
    PerModel();
    uint64_t requests = 0;
    std::map<int, uint64_t> failures;  // by HTTP status
    Histogram duration, queue, batch;
    std::atomic<int64_t> in_flight{0};
  };
  PerModel& per_model(const std::string& model);
  const PerModel& per_model(const std::string& model) const;

  mutable std::mutex mutex_;  // guards everything but the in-flight gauges
  std::map<std::string, PerModel> models_;
};

}  // namespace tsrt_serve
