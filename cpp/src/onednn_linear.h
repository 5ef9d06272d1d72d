#pragma once
// Pre-packs the weights of a frozen module's linear layers for oneDNN.
//
// torch::jit::optimize_for_inference hands linears to oneDNN only inside graphs that
// have convolutions; elsewhere aten::linear runs MKL's sgemm on the plain weight. On
// this project's machines oneDNN with a pre-packed weight takes 0.36-0.83x MKL's
// time on every BERT-base GEMM shape (docs/speed.md), so a traced transformer as
// users bring it ran at eager speed. This pass is what the AOTInductor packages
// already do: each aten::linear whose weight is a 2-D float32 constant becomes
// mkldnn::_linear_pointwise on a weight reordered once, at load, when the weight is
// large enough (at least 384x1024 elements) for oneDNN's call overhead not to count.

#include <torch/csrc/jit/api/module.h>

namespace tsrt::detail {

/// Rewrites every method graph of `module` (frozen: weights are constants) in place;
/// returns how many linears were rewritten. Does nothing (returns 0) where this
/// torch has no oneDNN.
int prepack_linears_for_onednn(torch::jit::Module& module);

}  // namespace tsrt::detail
