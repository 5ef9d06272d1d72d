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

// The next token from one row of logits [vocab] (float32, CPU): see SamplingOptions.
int64_t choose_token(const at::Tensor& logits, const SamplingOptions& sampling, at::Generator& random) {
  if (sampling.temperature == 0) return logits.argmax().item<int64_t>();
  at::Tensor scores = logits / sampling.temperature;
  if (sampling.top_k > 0 && sampling.top_k < scores.size(0)) {
    // Everything below the k-th largest score is out.
    const at::Tensor kth = std::get<0>(scores.topk(sampling.top_k)).select(0, sampling.top_k - 1);
    scores = scores.masked_fill(scores < kth, -std::numeric_limits<float>::infinity());
  }
  if (sampling.top_p < 1) {
    // Hugging Face's TopPLogitsWarper: out go the tokens whose cumulative probability,
    // summed from the least likely, stays within 1 - top_p; the most likely always stays.
    auto [sorted, order] = scores.sort(/*dim=*/0, /*descending=*/false);
    at::Tensor remove_sorted = sorted.softmax(0).cumsum(0) <= (1 - sampling.top_p);
    remove_sorted.index_put_({-1}, false);
    scores = scores.masked_fill(remove_sorted.scatter(0, order, remove_sorted), -std::numeric_limits<float>::infinity());
  }
  return at::multinomial(scores.softmax(0), 1, /*replacement=*/false, random).item<int64_t>();
}

void check_sampling(const SamplingOptions& sampling) {
  if (sampling.temperature < 0) throw Error(ErrorCode::kInvalidArgument, "temperature must be >= 0 (0: greedy)");
  if (sampling.top_k < 0) throw Error(ErrorCode::kInvalidArgument, "top_k must be >= 0 (0: no cut)");
  if (!(sampling.top_p > 0 && sampling.top_p <= 1)) {
    throw Error(ErrorCode::kInvalidArgument, "top_p must be in (0, 1] (1: no cut)");
  }
}

void check_ids(const std::vector<int64_t>& tokens, const GenerationContract& contract) {
  for (int64_t id : tokens) {
    if (id < 0 || id >= contract.vocab_size) {
      throw Error(ErrorCode::kInvalidArgument, "token id " + std::to_string(id) + " is outside the vocabulary [0, " +
                                                   std::to_string(contract.vocab_size) + ")");
    }
  }
}

bool is_eos(const GenerationContract& contract, int64_t token) {
  return std::find(contract.eos_token_ids.begin(), contract.eos_token_ids.end(), token) != contract.eos_token_ids.end();
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
  check_sampling(sampling_);
  state_->random = at::make_generator<at::CPUGeneratorImpl>(sampling_.seed);
}

void Generator::append_tokens(const std::vector<int64_t>& tokens) {
  check_ids(tokens, contract_);
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
  const int64_t chosen = choose_token(state.logits, sampling_, state.random);
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
    if (is_eos(contract_, token)) break;
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

std::vector<std::vector<int64_t>> generate_batch(const Model& model, const std::vector<std::vector<int64_t>>& prompts,
                                                 int64_t max_new_tokens, SamplingOptions sampling) {
  check_sampling(sampling);
  const GenerationContract contract = read_contract(model);
  const auto batch = static_cast<int64_t>(prompts.size());
  std::vector<std::vector<int64_t>> generated(prompts.size());
  if (batch == 0 || max_new_tokens <= 0) return generated;
  size_t longest = 0;
  for (const auto& prompt : prompts) {
    if (prompt.empty()) throw Error(ErrorCode::kInvalidArgument, "generate_batch: every prompt needs a token");
    check_ids(prompt, contract);
    longest = std::max(longest, prompt.size());
  }
  max_new_tokens = std::min<int64_t>(max_new_tokens, contract.context_limit - static_cast<int64_t>(longest));
  if (max_new_tokens <= 0) {
    throw Error(ErrorCode::kInvalidArgument, "a prompt of " + std::to_string(longest) +
                                                 " tokens leaves no room under the model's context limit of " +
                                                 std::to_string(contract.context_limit) + " positions");
  }
  c10::InferenceMode guard;
  // Left-padded to the longest prompt (pad id 0, masked out), as the file's positions expect.
  const auto width = static_cast<int64_t>(longest);
  at::Tensor ids = at::zeros({batch, width}, at::kLong);
  at::Tensor mask = at::zeros({batch, width}, at::kLong);
  for (int64_t row = 0; row < batch; ++row) {
    const auto& prompt = prompts[row];
    const auto offset = width - static_cast<int64_t>(prompt.size());
    ids[row].narrow(0, offset, static_cast<int64_t>(prompt.size())).copy_(at::tensor(prompt, at::kLong));
    mask[row].narrow(0, offset, static_cast<int64_t>(prompt.size())).fill_(1);
  }
  const c10::Device device = model.device();
  std::vector<c10::IValue> prefill_inputs{ids.to(device), mask.to(device)};
  auto out = step_outputs(model.run("prefill", std::move(prefill_inputs)), "prefill");
  at::Generator random = at::make_generator<at::CPUGeneratorImpl>(sampling.seed);
  std::vector<bool> finished(prompts.size(), false);
  for (int64_t step = 0; step < max_new_tokens; ++step) {
    const at::Tensor logits = out[0].to(at::kCPU, at::kFloat);
    std::vector<int64_t> next(prompts.size(), 0);
    bool all_finished = true;
    for (int64_t row = 0; row < batch; ++row) {
      if (finished[row]) continue;  // keeps decoding in the batch (id 0), but nothing is recorded
      next[row] = choose_token(logits[row], sampling, random);
      generated[row].push_back(next[row]);
      finished[row] = is_eos(contract, next[row]);
      all_finished = all_finished && finished[row];
    }
    if (all_finished || step + 1 == max_new_tokens) break;
    mask = at::cat({mask, at::ones({batch, 1}, at::kLong)}, 1);
    const at::Tensor next_ids = at::tensor(at::ArrayRef<int64_t>(next), at::kLong).view({batch, 1}).to(device);
    std::vector<c10::IValue> inputs;
    inputs.reserve(4);
    for (const at::Tensor& input : {next_ids, mask.to(device), out[1], out[2]}) inputs.emplace_back(input);
    out = step_outputs(model.run("decode", std::move(inputs)), "decode");
  }
  return generated;
}

}  // namespace tsrt
