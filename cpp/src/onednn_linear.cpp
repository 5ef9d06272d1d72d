#include "onednn_linear.h"

#include <ATen/Context.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <torch/csrc/jit/ir/ir.h>

#include <functional>
#include <optional>
#include <vector>

namespace tsrt::detail {
namespace {

// oneDNN's call costs ~20-25 us more than MKL's around a small matrix product. In one
// interleaved run (scripts-style, 2 threads, load average 8, 2026-12-04; ratio oneDNN /
// MKL at 1 / 8 / 64 rows): 256x256 2.94 / 1.52 / 1.06, 512x512 1.23 / 0.79 / 0.86,
// 768x768 0.97 / 0.67 / 0.03 (MKL's outlier), 1024x1024 0.72 / 0.36 / 0.56. So only
// weights from between those two sizes up are pre-packed (the zoo MLP's stay on MKL).
constexpr int64_t kMinPrepackElements = 384 * 1024;

const c10::Symbol kLinear = c10::Symbol::fromQualString("aten::linear");
const c10::Symbol kLinearPointwise = c10::Symbol::fromQualString("mkldnn::_linear_pointwise");

// The float32 weight a linear can take pre-packed: a 2-D CPU constant.
std::optional<at::Tensor> constant_weight(torch::jit::Value* weight) {
  torch::jit::Node* producer = weight->node();
  if (producer->kind() != c10::prim::Constant || !producer->hasAttribute(c10::attr::value) ||
      producer->kindOf(c10::attr::value) != torch::jit::AttributeKind::t) {
    return std::nullopt;
  }
  const at::Tensor& tensor = producer->t(c10::attr::value);
  if (tensor.scalar_type() != at::kFloat || tensor.dim() != 2 || !tensor.device().is_cpu() ||
      tensor.layout() != at::kStrided || tensor.numel() < kMinPrepackElements) {
    return std::nullopt;
  }
  return tensor;
}

// A bias _linear_pointwise takes: absent, or a 1-D float32 constant.
bool usable_bias(torch::jit::Value* bias) {
  if (bias->type()->kind() == c10::TypeKind::NoneType) return true;
  torch::jit::Node* producer = bias->node();
  if (producer->kind() != c10::prim::Constant) return false;
  if (!producer->hasAttribute(c10::attr::value)) return true;  // None
  if (producer->kindOf(c10::attr::value) != torch::jit::AttributeKind::t) return false;
  const at::Tensor& tensor = producer->t(c10::attr::value);
  return tensor.scalar_type() == at::kFloat && tensor.dim() == 1 && tensor.device().is_cpu();
}

at::Tensor reorder_weight(const at::Tensor& weight) {
  static const auto reorder = c10::Dispatcher::singleton()
                                  .findSchemaOrThrow("mkldnn::_reorder_linear_weight", "")
                                  .typed<at::Tensor(const at::Tensor&, std::optional<int64_t>)>();
  return reorder.call(weight.contiguous(), std::nullopt);
}

int rewrite_block(torch::jit::Block* block) {
  int rewritten = 0;
  std::vector<torch::jit::Node*> linears;
  for (torch::jit::Node* node : block->nodes()) {
    for (torch::jit::Block* sub : node->blocks()) rewritten += rewrite_block(sub);
    if (node->kind() == kLinear && node->inputs().size() == 3) linears.push_back(node);
  }
  for (torch::jit::Node* node : linears) {
    const std::optional<at::Tensor> weight = constant_weight(node->input(1));
    if (!weight || !usable_bias(node->input(2))) continue;
    torch::jit::Graph* graph = node->owningGraph();
    torch::jit::WithInsertPoint insert_before(node);
    // insertConstant refuses an opaque oneDNN tensor (it has no strides to type it by),
    // so the constant is made by hand, typed as a plain Tensor.
    torch::jit::Node* packed_node = graph->create(c10::prim::Constant);
    packed_node->t_(c10::attr::value, reorder_weight(*weight));
    packed_node->output()->setType(c10::TensorType::get());
    torch::jit::Value* packed = graph->insertNode(packed_node)->output();
    torch::jit::Value* no_scalars =
        graph->insertNode(graph->createList(c10::OptionalType::create(c10::NumberType::get()), {}))->output();
    torch::jit::Value* no_algorithm = graph->insertConstant(c10::IValue());
    torch::jit::Value* fused = graph->insert(
        kLinearPointwise, {node->input(0), packed, node->input(2), std::string("none"), no_scalars, no_algorithm});
    fused->setType(node->output()->type());
    node->output()->replaceAllUsesWith(fused);
    node->destroy();
    ++rewritten;
  }
  return rewritten;
}

bool has_onednn_linear() {
  if (!at::hasMKLDNN()) return false;
  return c10::Dispatcher::singleton().findSchema({"mkldnn::_linear_pointwise", ""}).has_value() &&
         c10::Dispatcher::singleton().findSchema({"mkldnn::_reorder_linear_weight", ""}).has_value();
}

}  // namespace

int prepack_linears_for_onednn(torch::jit::Module& module) {
  if (!has_onednn_linear()) return 0;
  int rewritten = 0;
  for (const auto& submodule : module.modules()) {
    for (const auto& method : submodule.get_methods()) rewritten += rewrite_block(method.graph()->block());
  }
  return rewritten;
}

}  // namespace tsrt::detail
