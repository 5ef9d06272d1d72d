#include "metrics.h"

#include <algorithm>
#include <cstdio>
#include <sstream>

namespace tsrt_serve {
namespace {

// Seconds: 100 us to 10 s, spread for CPU models that take from well under a
// millisecond (the MLP) to tens of milliseconds (a CNN under load).
const std::vector<double> kLatencyBounds = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
                                            0.025,  0.05,    0.1,    0.25,  0.5,    1.0,   2.5, 5.0, 10.0};
const std::vector<double> kBatchBounds = {1, 2, 4, 8, 16, 32, 64, 128};

std::string number(double value) {
  char text[32];
  std::snprintf(text, sizeof text, "%.17g", value);
  return text;
}

// Label values are model names given on the command line; escape what the format requires.
std::string label(const std::string& value) {
  std::string escaped;
  for (char c : value) {
    if (c == '\\' || c == '"') escaped += '\\';
    if (c == '\n') {
      escaped += "\\n";
      continue;
    }
    escaped += c;
  }
  return escaped;
}

}  // namespace

void Metrics::Histogram::observe(double value) {
  const size_t bucket = std::lower_bound(bounds.begin(), bounds.end(), value) - bounds.begin();  // le: value <= bound
  ++counts[bucket];
  sum += value;
  ++count;
}

Metrics::PerModel::PerModel() : duration(kLatencyBounds), queue(kLatencyBounds), batch(kBatchBounds) {}

Metrics::Metrics(const std::vector<std::string>& models) {
  for (const std::string& model : models) models_.try_emplace(model);
  models_.try_emplace(kUnknownModel);
}

Metrics::PerModel& Metrics::per_model(const std::string& model) {
  const auto found = models_.find(model);
  return found != models_.end() ? found->second : models_.at(kUnknownModel);
}

const Metrics::PerModel& Metrics::per_model(const std::string& model) const {
  return const_cast<Metrics*>(this)->per_model(model);
}

void Metrics::observe_request(const std::string& model, int status, double seconds) {
  std::lock_guard<std::mutex> lock(mutex_);
  PerModel& entry = per_model(model);
  ++entry.requests;
  if (status >= 400) ++entry.failures[status];
  entry.duration.observe(seconds);
}

void Metrics::observe_queue(const std::string& model, double seconds) {
  std::lock_guard<std::mutex> lock(mutex_);
  per_model(model).queue.observe(seconds);
}

void Metrics::observe_batch(const std::string& model, int requests) {
  std::lock_guard<std::mutex> lock(mutex_);
  per_model(model).batch.observe(requests);
}

Metrics::InFlight::InFlight(Metrics& metrics, const std::string& model) : gauge_(metrics.per_model(model).in_flight) {
  ++gauge_;
}

Metrics::InFlight::~InFlight() { --gauge_; }

int64_t Metrics::in_flight() const {
  int64_t total = 0;
  for (const auto& [_, entry] : models_) total += entry.in_flight.load();  // the map itself never changes after construction
  return total;
}

std::string Metrics::render() const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::ostringstream out;
  auto header = [&](const char* name, const char* type, const char* help) {
    out << "# HELP " << name << " " << help << "\n# TYPE " << name << " " << type << "\n";
  };
  auto histogram = [&](const char* name, const char* help, Histogram PerModel::*member) {
    header(name, "histogram", help);
    for (const auto& [model, entry] : models_) {
      const Histogram& h = entry.*member;
      const std::string labels = "model=\"" + label(model) + "\"";
      uint64_t cumulative = 0;
      for (size_t i = 0; i < h.counts.size(); ++i) {
        cumulative += h.counts[i];
        const std::string le = i < h.bounds.size() ? number(h.bounds[i]) : "+Inf";
        out << name << "_bucket{" << labels << ",le=\"" << le << "\"} " << cumulative << "\n";
      }
      out << name << "_sum{" << labels << "} " << number(h.sum) << "\n";
      out << name << "_count{" << labels << "} " << h.count << "\n";
    }
  };

  header("tsrt_requests_total", "counter", "Inference requests answered, by model.");
  for (const auto& [model, entry] : models_) out << "tsrt_requests_total{model=\"" << label(model) << "\"} " << entry.requests << "\n";
  header("tsrt_request_failures_total", "counter", "Inference requests answered with an HTTP error, by model and status.");
  for (const auto& [model, entry] : models_) {
    for (const auto& [code, count] : entry.failures) {
      out << "tsrt_request_failures_total{model=\"" << label(model) << "\",code=\"" << code << "\"} " << count << "\n";
    }
  }
  histogram("tsrt_request_duration_seconds", "Time from the request's body read to its response ready.", &PerModel::duration);
  histogram("tsrt_queue_duration_seconds", "Time a request waited in the dynamic batcher's queue.", &PerModel::queue);
  histogram("tsrt_batch_size", "Requests run together in one model call.", &PerModel::batch);
  header("tsrt_inflight_requests", "gauge", "Inference requests being served now.");
  for (const auto& [model, entry] : models_) {
    out << "tsrt_inflight_requests{model=\"" << label(model) << "\"} " << entry.in_flight.load() << "\n";
  }
  return out.str();
}

}  // namespace tsrt_serve
