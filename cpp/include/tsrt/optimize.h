#pragma once
// What tsrt does to a model at load so that it runs fast, and the switches.
//
//   tsrt::LoadOptions options;
//   options.optimize.precision = tsrt::Precision::kBFloat16;  // opt in
//   options.optimize.optimize_for_inference = false;          // opt out
//   tsrt::Model model = tsrt::Model::load("bert.pt", options);
//   for (const auto& step : model.optimizations()) std::cout << step << "\n";
//
// Every optimisation is on by default except lower precision and warm-up, which
// change numbers or load time; Model::optimizations() lists what was applied.

#include <string>

namespace tsrt {

/// Type of the weights and of the compute. Inputs and outputs stay float32, so a
/// service does not change when the precision does.
enum class Precision {
  kFloat32,
  /// bfloat16 weights, matrix products and convolutions in bfloat16 (autocast);
  /// reductions and normalisations keep float32 where LibTorch's autocast says so.
  kBFloat16,
  /// float16, likewise; on CPU only where the processor has float16 matrix units.
  kFloat16,
};

/// "fp32", "bf16", "fp16".
std::string to_string(Precision precision);
/// Parses "fp32"/"float32", "bf16"/"bfloat16", "fp16"/"float16"; Error(kInvalidArgument) otherwise.
Precision parse_precision(const std::string& text);

struct OptimizeOptions {
  /// Run every call under c10::InferenceMode: no autograd bookkeeping, no version
  /// counters. Off only to compare, or for a model that needs autograd inside.
  bool inference_mode = true;
  /// torch::jit::freeze when the file still holds its weights as attributes (tsrt
  /// export freezes already): weights become constants the optimiser can fold.
  bool freeze = true;
  /// torch::jit::optimize_for_inference on the frozen module: folds conv+batchnorm
  /// and conv+add/relu, pre-packs weights in oneDNN's layouts. float32 only.
  bool optimize_for_inference = true;
  /// CPU float32 graphs with convolutions: oneDNN Graph fusion (convolution with
  /// its bias, batchnorm, add and ReLU as one oneDNN kernel, ONNX Runtime's own
  /// trick) instead of optimize_for_inference. It compiles under LibTorch's
  /// profiling executor at the first two calls of each input shape, so load warms
  /// up twice at the declared shapes. Measured on ResNet-18, one thread: CPU time
  /// per call 45 ms against 55 ms with optimize_for_inference (ONNX Runtime 43 ms);
  /// no gain on BERT or an MLP, where it stays off. A file with dynamic dimensions
  /// gets one fused module per input shape, compiled at the first call of that shape
  /// (load compiles the declared one), up to onednn_fusion_shapes of them; calls at
  /// further shapes run the optimize_for_inference graph. Model::runtime_report()
  /// lists the shapes fused so far.
  bool onednn_fusion = true;
  /// Input shapes fused at most, for a file with dynamic dimensions: each costs a
  /// compile at its first call (ResNet-18: about 2 calls' time) and a copy of the
  /// weights in oneDNN's layouts.
  int onednn_fusion_shapes = 8;
  /// LibTorch's graph executor re-optimises each graph on its first calls,
  /// specialising to the shapes it profiles; on an already optimised frozen graph
  /// that costs slow first calls and a recompile per new shape for no steady-state
  /// gain on CPU. Off by default (on for models that use oneDNN fusion); true gives
  /// LibTorch's default (profiling executor). Applied per call, not process-wide.
  bool graph_executor_optimize = false;
  /// CPU, with more than one intra-op thread: small calls of `forward` run on the
  /// calling thread alone. OpenMP's idle threads sleep (after a ~10 us spin, tsrt's
  /// default), so a call that opens a parallel region first wakes them: on 2 cores the
  /// zoo MLP at batch 8 took 0.031-0.035 ms a call on 2 threads and 0.007 ms on 1 with
  /// threads sleeping at once (ONNX Runtime, which decides per operator, 0.009). Load times forward both ways at the declared
  /// shapes and at doubled batches (the first dynamic dimension of each input) and
  /// sets the input size, in elements, up to which one thread wins; nothing is
  /// probed when a call already takes over 1 ms, or without declared input shapes.
  /// A call switches with OpenMP's and MKL's per-thread counts, restored after it;
  /// Model::optimizations() says what was chosen and the timings it came from.
  bool adaptive_threads = true;
  Precision precision = Precision::kFloat32;
  /// Calls to make at load, on random inputs of each method's declared shapes (from
  /// the tsrt metadata), so the first request does not pay for lazy initialisation.
  int warmup_runs = 0;
};

}  // namespace tsrt
