#include "batcher.h"

#include <algorithm>

#include <ATen/core/Tensor.h>
#include <ATen/ops/allclose.h>
#include <ATen/ops/cat.h>

#include "tsrt/outputs.h"

namespace tsrt_serve {
namespace {

using Clock = std::chrono::steady_clock;

struct NotSplittable : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Rows [start, start + length) of every tensor in an output structure.
c10::IValue slice(const c10::IValue& value, int64_t start, int64_t length, int64_t total) {
  if (value.isTensor()) {
    const at::Tensor& tensor = value.toTensor();
    if (tensor.dim() == 0 || tensor.size(0) != total) throw NotSplittable("an output does not follow the batch");
    return tensor.narrow(0, start, length);
  }
  if (value.isTuple()) {
    std::vector<c10::IValue> items;
    for (const c10::IValue& item : value.toTupleRef().elements()) items.push_back(slice(item, start, length, total));
    return c10::ivalue::Tuple::create(std::move(items));
  }
  if (value.isList()) {
    const c10::List<c10::IValue> source = value.toList();
    c10::impl::GenericList out(source.elementType());
    for (const c10::IValue& item : source) out.push_back(slice(item, start, length, total));
    return out;
  }
  if (value.isGenericDict()) {
    const c10::Dict<c10::IValue, c10::IValue> source = value.toGenericDict();
    c10::impl::GenericDict out(source.keyType(), source.valueType());
    for (const auto& entry : source) out.insert(entry.key(), slice(entry.value(), start, length, total));
    return out;
  }
  if (value.isNone()) return value;
  throw NotSplittable("an output is a scalar, shared by the whole batch");
}

// The key of a request whose inputs can stack, with its row count; "" when they can't.
std::string stack_key(const std::map<std::string, c10::IValue>& inputs, int64_t& rows) {
  std::string key;
  rows = -1;
  for (const auto& [name, value] : inputs) {
    if (!value.isTensor() || value.toTensor().dim() == 0) return "";
    const at::Tensor& tensor = value.toTensor();
    if (rows >= 0 && tensor.size(0) != rows) return "";  // inputs that disagree on the batch: libtsrt says why
    rows = tensor.size(0);
    key += name + ":" + c10::toString(tensor.scalar_type());
    for (int64_t dim = 1; dim < tensor.dim(); ++dim) key += "," + std::to_string(tensor.size(dim));
    key += ";";
  }
  return rows > 0 ? key : "";
}

c10::IValue cat(const std::vector<const std::map<std::string, c10::IValue>*>& requests, const std::string& name) {
  std::vector<at::Tensor> parts;
  for (const auto* inputs : requests) parts.push_back(inputs->at(name).toTensor());
  return at::cat(parts, 0);
}

}  // namespace

Batcher::Batcher(const tsrt::Model& model, std::string name, BatchOptions options, Metrics& metrics)
    : model_(model), name_(std::move(name)), options_(options), metrics_(metrics) {
  for (int i = 0; i < std::max(1, options_.workers); ++i) workers_.emplace_back([this] { loop(); });
}

Batcher::~Batcher() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  for (std::thread& worker : workers_) worker.join();
}

Batcher::Ticket::Ticket(Batcher& batcher) : batcher_(&batcher) {
  std::lock_guard<std::mutex> lock(batcher.mutex_);
  ++batcher.coming_;
}

Batcher::Ticket::~Ticket() {
  Batcher* batcher = batcher_;
  if (!batcher) return;
  {
    std::lock_guard<std::mutex> lock(batcher->mutex_);
    batcher->hand_in(this);
  }
  batcher->wake_.notify_all();  // the batch may be waiting for this request only: it is not coming
}

void Batcher::hand_in(Ticket* ticket) {
  if (ticket && ticket->batcher_) {
    --coming_;
    ticket->batcher_ = nullptr;
  }
}

c10::IValue Batcher::run(std::map<std::string, c10::IValue> inputs, Ticket* ticket) {
  auto pending = std::make_unique<Pending>();
  pending->key = stack_key(inputs, pending->rows);
  if (pending->key.empty() || pending->rows > options_.max_batch) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      hand_in(ticket);
    }
    wake_.notify_all();
    metrics_.observe_batch(name_, 1);
    return model_.run("forward", std::move(inputs));
  }
  pending->inputs = std::move(inputs);
  pending->enqueued = Clock::now();
  std::future<c10::IValue> result = pending->result.get_future();
  bool alone = false;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    hand_in(ticket);
    // Nothing queued, nobody on the way, no forward call running: the batch would be
    // this request alone, so it runs here. Handing it to a runner and back cost 0.1 ms
    // of CPU a request and 0.81x the throughput at one client (serve_load.py bench,
    // wide_mlp). While a call runs, requests queue behind it and stack: without that
    // condition, at 8 clients each ran alone (1.1 requests a call instead of 3.8).
    alone = queue_.empty() && coming_ == 0 && running_ == 0;
    if (alone) {
      ++running_;
    } else {
      queue_.push_back(std::move(pending));
    }
  }
  wake_.notify_all();
  if (!alone) return result.get();
  metrics_.observe_queue(name_, 0.0);
  metrics_.observe_batch(name_, 1);
  try {
    c10::IValue output = model_.run("forward", std::move(pending->inputs));
    std::lock_guard<std::mutex> lock(mutex_);
    --running_;
    return output;
  } catch (...) {
    std::lock_guard<std::mutex> lock(mutex_);
    --running_;
    throw;
  }
}

void Batcher::loop() {
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {
    // One runner gathers at a time; the others run the batches it has taken, or wait.
    wake_.wait(lock, [this] { return (stopping_ || !queue_.empty()) && !gathering_; });
    if (queue_.empty()) return;  // stopping, and nothing left to answer
    gathering_ = true;
    // The oldest request waits up to max_delay from its arrival for others to join it;
    // under load that time has passed while the previous batch ran, so it goes at once.
    const std::string key = queue_.front()->key;
    const Clock::time_point deadline = queue_.front()->enqueued + options_.max_delay;
    for (;;) {
      int64_t rows = 0;
      for (const auto& pending : queue_) rows += pending->key == key ? pending->rows : 0;
      if (rows >= options_.max_batch || coming_ == 0 || stopping_) break;
      if (wake_.wait_until(lock, deadline) == std::cv_status::timeout) break;
    }
    std::vector<std::unique_ptr<Pending>> group;
    int64_t rows = 0;
    for (auto it = queue_.begin(); it != queue_.end();) {
      if ((*it)->key == key && (group.empty() || rows + (*it)->rows <= options_.max_batch)) {
        rows += (*it)->rows;
        group.push_back(std::move(*it));
        it = queue_.erase(it);
      } else {
        ++it;
      }
    }
    gathering_ = false;
    ++running_;
    lock.unlock();
    wake_.notify_all();  // another runner may gather the next batch while this one runs
    execute(group);
    lock.lock();
    --running_;
  }
}

void Batcher::execute(std::vector<std::unique_ptr<Pending>>& group) {
  const Clock::time_point started = Clock::now();
  for (const auto& pending : group) {
    metrics_.observe_queue(name_, std::chrono::duration<double>(started - pending->enqueued).count());
  }
  auto alone = [this](Pending& pending) {
    metrics_.observe_batch(name_, 1);
    try {
      pending.result.set_value(model_.run("forward", std::move(pending.inputs)));
    } catch (...) {
      pending.result.set_exception(std::current_exception());
    }
  };
  if (group.size() == 1) return alone(*group.front());

  std::vector<const std::map<std::string, c10::IValue>*> requests;
  int64_t total = 0;
  for (const auto& pending : group) {
    requests.push_back(&pending->inputs);
    total += pending->rows;
  }
  std::vector<c10::IValue> answers;
  try {
    std::map<std::string, c10::IValue> stacked;
    for (const auto& [name, _] : group.front()->inputs) stacked.emplace(name, cat(requests, name));
    const c10::IValue output = model_.run("forward", std::move(stacked));
    int64_t start = 0;
    for (const auto& pending : group) {
      answers.push_back(slice(output, start, pending->rows, total));
      start += pending->rows;
    }
  } catch (const std::exception&) {
    // A bad request among them, or an output that can't be split: each on its own.
    for (const auto& pending : group) alone(*pending);
    return;
  }
  metrics_.observe_batch(name_, static_cast<int>(group.size()));
  for (size_t i = 0; i < group.size(); ++i) group[i]->result.set_value(std::move(answers[i]));
}

std::string check_rows_independent(const tsrt::Model& model, const ModelInfo& info) {
  if (!info.unbatchable.empty()) return info.unbatchable;
  const std::map<std::string, c10::IValue> first = random_inputs(model, 2, 21);
  std::map<std::string, c10::IValue> second = random_inputs(model, 3, 22);
  for (auto& [name, value] : second) {
    if (at::isFloatingType(value.toTensor().scalar_type())) value = value.toTensor().neg();
  }
  std::map<std::string, c10::IValue> stacked;
  for (const auto& [name, value] : first) stacked.emplace(name, at::cat({value.toTensor(), second.at(name).toTensor()}, 0));
  const c10::IValue together = model.run("forward", stacked);
  const double atol = model.metadata() ? model.metadata()->atol : 1e-5;
  const double rtol = model.metadata() ? model.metadata()->rtol : 1e-4;
  int64_t start = 0;
  const std::map<std::string, c10::IValue>* requests[] = {&first, &second};
  for (const auto* inputs : requests) {
    const int64_t rows = inputs->begin()->second.toTensor().size(0);
    const auto expected = tsrt::flatten_outputs(model.run("forward", *inputs), info.output_names);
    const auto actual = tsrt::flatten_outputs(slice(together, start, rows, 5), info.output_names);
    for (size_t i = 0; i < expected.size(); ++i) {
      if (!expected[i].value.isTensor()) continue;
      if (!at::allclose(actual[i].value.toTensor(), expected[i].value.toTensor(), rtol, atol)) {
        return "output '" + expected[i].path + "' of a request differs when it runs stacked with another: "
               "forward mixes the rows of a batch";
      }
    }
    start += rows;
  }
  return "";
}

}  // namespace tsrt_serve
