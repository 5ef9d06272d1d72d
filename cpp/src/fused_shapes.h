#pragma once
// oneDNN Graph fusion for TorchScript files with dynamic dimensions: one fused
// module per input shape, compiled at the first call of that shape, up to a bound.
//
// oneDNN Graph partitions are compiled for the exact shapes LibTorch's profiling
// executor saw; one executor given a second shape falls back to an unfused graph
// (ResNet-18 warmed at batch 1, run at 8: 306 ms against 223 ms for
// optimize_for_inference, and slower still after several shapes). So each shape
// gets its own clone of the frozen module, with its own executor that only ever
// sees that shape. Calls at a shape beyond the bound, calls while another thread
// compiles their shape, and calls with inputs the guards could not match (a
// non-contiguous tensor, a non-tensor input) run the optimize_for_inference graph.

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <ATen/core/ivalue.h>
#include <torch/csrc/jit/api/module.h>

namespace tsrt::detail {

/// While one exists, FusedShapes::run on this thread declines (nullopt) without
/// compiling or counting: load's thread probe times forward at sizes no request asked
/// for, which must not take the fusion slots.
class UnfusedOnThisThread {
 public:
  UnfusedOnThisThread();
  ~UnfusedOnThisThread();
  UnfusedOnThisThread(const UnfusedOnThisThread&) = delete;
  UnfusedOnThisThread& operator=(const UnfusedOnThisThread&) = delete;
};

class FusedShapes {
 public:
  /// `frozen`: the frozen float32 module, before optimize_for_inference (which
  /// rewrites its graphs in place: pass a clone). `capacity`: shapes fused at most.
  FusedShapes(torch::jit::Module frozen, size_t capacity);

  /// Runs `method` on the module fused for these inputs' shapes, compiling it first
  /// when the shape is new and a slot is free. nullopt: the caller runs its unfused
  /// graph (no slot, another thread is compiling this shape, inputs it cannot key,
  /// or the fused compile failed for this shape).
  std::optional<c10::IValue> run(const std::string& method, const std::vector<c10::IValue>& inputs);

  /// A line for each shape fused so far (compile time, calls served) and one for the
  /// calls that ran unfused.
  std::vector<std::string> report() const;

  size_t capacity() const { return capacity_; }

 private:
  struct Shape {
    std::string description;  // "forward(8x3x224x224 float)"
    torch::jit::Module module;
    std::atomic<bool> ready{false};
    std::atomic<bool> failed{false};
    std::atomic<uint64_t> calls{0};
    double compile_ms = 0;  // written before `ready`
  };

  /// Method name and every input's dtype and sizes; nullopt when an input is not a
  /// contiguous tensor (the fused graph's guards would reject it every call).
  static std::optional<std::string> key_of(const std::string& method, const std::vector<c10::IValue>& inputs);
  c10::IValue compile(Shape& shape, const std::string& method, const std::vector<c10::IValue>& inputs);

  torch::jit::Module frozen_;
  const size_t capacity_;
  mutable std::mutex mutex_;
  std::map<std::string, std::shared_ptr<Shape>> shapes_;
  std::atomic<uint64_t> unfused_calls_{0};
  std::atomic<uint64_t> over_capacity_calls_{0};
};

}  // namespace tsrt::detail
