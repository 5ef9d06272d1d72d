// tsrt::Generator: prefill, decode steps and sampling over a causal LM file.
#include "tsrt/generator.h"

#include <algorithm>
#include <chrono>
#include <limits>
#include <string>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <c10/core/InferenceMode.h>
#include <nlohmann/json.hpp>

namespace tsrt {

// The cache the file's methods return, and the logits that next_token() chooses from.
struct Generator::State {
  at::Tensor keys, values;  // [layers, 1, kv_heads, cached, head_dim]; undefined before the prefill
  at::Tensor logits;        // [vocab] float32 on CPU, for the position after `cached`
  size_t cached = 0;        // tokens the cache holds
  at::Generator random;
};

namespace {

GenerationContract read_contract(const Model& model) {
  const auto& metadata = model.metadata();
  const std::string refusal = model.path() + " is not a causal language model exported by tsrt.export_causal_lm";
  if (!metadata) throw Error(ErrorCode::kInvalidArgument, refusal + " (it has no tsrt metadata)");
  const nlohmann::json doc = nlohmann::json::parse(metadata->json, nullptr, false);
  if (!doc.is_object() || doc.value("task", "") != "causal_lm" || !doc.contains("generation") ||
      !doc["generation"].is_object()) {
    throw Error(ErrorCode::kInvalidArgument, refusal + " (its tsrt.json has no task 'causal_lm')");
  }
  const nlohmann::json& generation = doc["generation"];
  GenerationContract contract;
  try {
    contract.context_limit = generation.at("context_limit").get<int64_t>();
    contract.vocab_size = generation.at("vocab_size").get<int64_t>();
    contract.eos_token_ids = generation.value("eos_token_ids", std::vector<int64_t>{});
  } catch (const nlohmann::json::exception& e) {
    throw Error(ErrorCode::kInvalidModel, model.path() + ": tsrt.json 'generation' is malformed: " + e.what());
  }
  if (!model.has_method("prefill") || !model.has_method("decode")) {
    throw Error(ErrorCode::kInvalidModel, model.path() + " records task 'causal_lm' but lacks prefill or decode");
  }
  return contract;
}

// The three tensors (logits, past_keys, past_values) a prefill or decode returns.
std::vector<at::Tensor> step_outputs(const c10::IValue& output, const std::string& method) {
  if (!output.isTuple() || output.toTupleRef().elements().size() != 3) {
    throw Error(ErrorCode::kInvalidModel, method + " must return (logits, past_keys, past_values)");
  }
  std::vector<at::Tensor> tensors;
  for (const auto& element : output.toTupleRef().elements()) tensors.push_back(element.toTensor());
  return tensors;
}

double elapsed_ms(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - since).count();
}

}  // namespace

double GenerationStats::decode_tokens_per_second() const {
  return new_tokens > 1 && decode_ms > 0 ? (new_tokens - 1) * 1000.0 / decode_ms : 0.0;
}

Generator::Generator(Model model, SamplingOptions sampling)
    : model_(std::move(model)), sampling_(sampling), contract_(read_contract(model_)),
      state_(std::make_shared<State>()) {
  if (sampling_.temperature < 0) throw Error(ErrorCode::kInvalidArgument, "temperature must be >= 0 (0: greedy)");
  if (sampling_.top_k < 0) throw Error(ErrorCode::kInvalidArgument, "top_k must be >= 0 (0: no cut)");
  if (!(sampling_.top_p > 0 && sampling_.top_p <= 1)) {
    throw Error(ErrorCode::kInvalidArgument, "top_p must be in (0, 1] (1: no cut)");
  }
  state_->random = at::make_generator<at::CPUGeneratorImpl>(sampling_.seed);
}

void Generator::append_tokens(const std::vector<int64_t>& tokens) {
  for (int64_t id : tokens) {
    if (id < 0 || id >= contract_.vocab_size) {
      throw Error(ErrorCode::kInvalidArgument, "token id " + std::to_string(id) + " is outside the vocabulary [0, " +
                                                   std::to_string(contract_.vocab_size) + ")");
    }
  }
  if (static_cast<int64_t>(tokens_.size() + tokens.size()) > contract_.context_limit) {
    throw Error(ErrorCode::kInvalidArgument,
                std::to_string(tokens_.size() + tokens.size()) + " tokens pass the model's context limit of " +
                    std::to_string(contract_.context_limit) + " positions; shorten the prompt");
  }
  tokens_.insert(tokens_.end(), tokens.begin(), tokens.end());
}

int64_t Generator::next_token() {
  if (tokens_.empty()) throw Error(ErrorCode::kInvalidArgument, "next_token() needs tokens: append a prompt first");
  if (static_cast<int64_t>(tokens_.size()) >= contract_.context_limit) {
    throw Error(ErrorCode::kInvalidArgument, "the sequence is at the model's context limit of " +
                                                 std::to_string(contract_.context_limit) + " positions");
  }
  c10::InferenceMode guard;
  State& state = *state_;
  const auto options = at::TensorOptions().dtype(at::kLong).device(model_.device());
  auto ids = [&](size_t from, size_t to) {
    return at::tensor(std::vector<int64_t>(tokens_.begin() + from, tokens_.begin() + to), at::kLong)
        .view({1, static_cast<int64_t>(to - from)})
        .to(model_.device());
  };
  if (!state.keys.defined()) {  // the whole prompt in one call
    const size_t length = tokens_.size();
    std::vector<c10::IValue> inputs{ids(0, length), at::ones({1, static_cast<int64_t>(length)}, options)};
    auto out = step_outputs(model_.run("prefill", std::move(inputs)), "prefill");
    state.logits = out[0][0].to(at::kCPU, at::kFloat);
    state.keys = out[1];
    state.values = out[2];
    state.cached = length;
  }
  // Tokens appended after the prefill (the last generated one included) go one decode step each.
  while (state.cached < tokens_.size()) {
    const int64_t positions = static_cast<int64_t>(state.cached) + 1;
    std::vector<c10::IValue> inputs{ids(state.cached, state.cached + 1), at::ones({1, positions}, options),
                                    state.keys, state.values};
    auto out = step_outputs(model_.run("decode", std::move(inputs)), "decode");
    state.logits = out[0][0].to(at::kCPU, at::kFloat);
    state.keys = out[1];
    state.values = out[2];
    ++state.cached;
  }
  int64_t chosen;
  if (sampling_.temperature == 0) {
    chosen = state.logits.argmax().item<int64_t>();
  } else {
    at::Tensor scores = state.logits / sampling_.temperature;
    if (sampling_.top_k > 0 && sampling_.top_k < scores.size(0)) {
      // Everything below the k-th largest score is out.
      const at::Tensor kth = std::get<0>(scores.topk(sampling_.top_k)).select(0, sampling_.top_k - 1);
      scores = scores.masked_fill(scores < kth, -std::numeric_limits<float>::infinity());
    }
    if (sampling_.top_p < 1) {
      // Hugging Face's TopPLogitsWarper: out go the tokens whose cumulative probability,
      // summed from the least likely, stays within 1 - top_p; the most likely always stays.
      auto [sorted, order] = scores.sort(/*dim=*/0, /*descending=*/false);
      at::Tensor cumulative = sorted.softmax(0).cumsum(0);
      at::Tensor remove_sorted = cumulative <= (1 - sampling_.top_p);
      remove_sorted.index_put_({-1}, false);
      at::Tensor remove = remove_sorted.scatter(0, order, remove_sorted);
      scores = scores.masked_fill(remove, -std::numeric_limits<float>::infinity());
    }
    chosen = at::multinomial(scores.softmax(0), 1, /*replacement=*/false, state.random).item<int64_t>();
  }
  tokens_.push_back(chosen);  // fed to the model at the next call
  return chosen;
}

std::vector<int64_t> Generator::generate(int64_t max_new_tokens, const std::function<void(int64_t)>& on_token) {
  stats_ = {};
  std::vector<int64_t> generated;
  const auto started = std::chrono::steady_clock::now();
  auto decode_started = started;
  for (int64_t i = 0; i < max_new_tokens && static_cast<int64_t>(tokens_.size()) < contract_.context_limit; ++i) {
    const int64_t token = next_token();
    generated.push_back(token);
    if (i == 0) {
      stats_.first_token_ms = elapsed_ms(started);
      decode_started = std::chrono::steady_clock::now();
    }
    if (on_token) on_token(token);
    if (std::find(contract_.eos_token_ids.begin(), contract_.eos_token_ids.end(), token) !=
        contract_.eos_token_ids.end()) {
      break;
    }
  }
  stats_.new_tokens = static_cast<int64_t>(generated.size());
  if (generated.size() > 1) stats_.decode_ms = elapsed_ms(decode_started);
  return generated;
}

void Generator::rewind(size_t length) {
  if (length > tokens_.size()) {
    throw Error(ErrorCode::kInvalidArgument, "cannot rewind to " + std::to_string(length) + " tokens: the sequence holds " +
                                                 std::to_string(tokens_.size()));
  }
  tokens_.resize(length);
  State& state = *state_;
  if (length == 0) {
    state.keys = state.values = at::Tensor();
    state.cached = 0;
  } else if (state.keys.defined() && state.cached >= length) {
    // Keep the cache of all but the last kept token, which runs again to give its logits.
    state.cached = length - 1;
    if (state.cached == 0) {
      state.keys = state.values = at::Tensor();
    } else {
      state.keys = state.keys.narrow(3, 0, static_cast<int64_t>(state.cached));
      state.values = state.values.narrow(3, 0, static_cast<int64_t>(state.cached));
    }
  }
}

}  // namespace tsrt
