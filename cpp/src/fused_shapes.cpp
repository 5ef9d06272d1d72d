#include "fused_shapes.h"

#include <chrono>
#include <sstream>

#include "torchscript_optimize.h"
#include "tsrt/tensor_spec.h"

namespace tsrt::detail {

namespace {
thread_local int unfused_scopes = 0;
}  // namespace

UnfusedOnThisThread::UnfusedOnThisThread() { ++unfused_scopes; }
UnfusedOnThisThread::~UnfusedOnThisThread() { --unfused_scopes; }

FusedShapes::FusedShapes(torch::jit::Module frozen, size_t capacity) : frozen_(std::move(frozen)), capacity_(capacity) {}

std::optional<std::string> FusedShapes::key_of(const std::string& method, const std::vector<c10::IValue>& inputs) {
  std::ostringstream key;
  key << method << "(";
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (!inputs[i].isTensor()) return std::nullopt;
    const at::Tensor& tensor = inputs[i].toTensor();
    if (!tensor.is_contiguous()) return std::nullopt;
    key << (i ? ", " : "");
    key << shape_text(tensor.sizes()) << " " << c10::toString(tensor.scalar_type());
  }
  key << ")";
  return key.str();
}

namespace {

// The profiling executor optimising (it compiles the fusion groups), inside a window.
c10::IValue call_fused(torch::jit::Module& module, const std::string& method, std::vector<c10::IValue> inputs) {
  CallScope scope(/*graph_executor_optimize=*/true, /*onednn_fusion=*/true);
  return module.get_method(method)(std::move(inputs));
}

}  // namespace

c10::IValue FusedShapes::compile(Shape& shape, const std::string& method, const std::vector<c10::IValue>& inputs) {
  const auto start = std::chrono::steady_clock::now();
  // A clone has its own types, methods and so graph executors; the frozen weights
  // are graph constants that the clone's graphs share.
  shape.module = frozen_.clone();
  c10::IValue output;
  for (int call = 0; call < kOneDnnCompileCalls; ++call) output = call_fused(shape.module, method, inputs);
  shape.compile_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  shape.ready.store(true, std::memory_order_release);
  return output;
}

std::optional<c10::IValue> FusedShapes::run(const std::string& method, const std::vector<c10::IValue>& inputs) {
  if (unfused_scopes > 0) return std::nullopt;
  const std::optional<std::string> key = key_of(method, inputs);
  if (!key) {
    unfused_calls_.fetch_add(1, std::memory_order_relaxed);
    return std::nullopt;
  }
  std::shared_ptr<Shape> shape;
  bool compile_here = false;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    auto found = shapes_.find(*key);
    if (found != shapes_.end()) {
      shape = found->second;
    } else if (shapes_.size() < capacity_) {
      shape = std::make_shared<Shape>();
      shape->description = *key;
      shapes_.emplace(*key, shape);
      compile_here = true;
    }
  }
  if (!shape) {
    over_capacity_calls_.fetch_add(1, std::memory_order_relaxed);
    unfused_calls_.fetch_add(1, std::memory_order_relaxed);
    return std::nullopt;
  }
  if (compile_here) {
    try {
      c10::IValue output = compile(*shape, method, inputs);
      shape->calls.fetch_add(1, std::memory_order_relaxed);
      return output;
    } catch (const std::exception&) {
      // The unfused graph gives this call its answer, or the model's own error.
      shape->failed.store(true, std::memory_order_release);
      unfused_calls_.fetch_add(1, std::memory_order_relaxed);
      return std::nullopt;
    }
  }
  if (!shape->ready.load(std::memory_order_acquire) || shape->failed.load(std::memory_order_acquire)) {
    unfused_calls_.fetch_add(1, std::memory_order_relaxed);
    return std::nullopt;
  }
  shape->calls.fetch_add(1, std::memory_order_relaxed);
  return call_fused(shape->module, method, inputs);
}

std::vector<std::string> FusedShapes::report() const {
  std::vector<std::string> lines;
  std::lock_guard<std::mutex> lock(mutex_);
  for (const auto& [key, shape] : shapes_) {
    std::ostringstream line;
    line << "oneDNN fusion for " << shape->description << ": ";
    if (shape->failed.load()) {
      line << "compile failed, runs unfused";
    } else if (!shape->ready.load()) {
      line << "compiling";
    } else {
      line.precision(0);
      line << std::fixed << "compiled in " << shape->compile_ms << " ms, " << shape->calls.load() << " calls";
    }
    lines.push_back(line.str());
  }
  const uint64_t unfused = unfused_calls_.load();
  if (unfused > 0) {
    lines.push_back("oneDNN fusion: " + std::to_string(unfused) + " calls ran unfused (optimize_for_inference), " +
                    std::to_string(over_capacity_calls_.load()) + " of them because " + std::to_string(capacity_) +
                    " shapes were fused already");
  }
  return lines;
}

}  // namespace tsrt::detail
