#pragma once
// tsrt::Generator: text generation over a causal LM file of tsrt.export_causal_lm.
//
//   tsrt::Model model = tsrt::Model::load("lm.pt");
//   tsrt::Generator generator(model, {.temperature = 0.8, .top_k = 40, .seed = 7});
//   generator.append_tokens({1, 15, 27});
//   std::vector<int64_t> ids = generator.generate(32);   // stops at an eos id
//
// The file's methods prefill and decode take the key/value cache as tensors; a
// Generator holds one sequence's cache, so many Generators share one loaded Model
// (its weights) and may run on different threads. One Generator is not thread-safe.
// docs/generation.md describes the file and the contract it records.

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "tsrt/model.h"

namespace tsrt {

/// How the next token is chosen from the logits. temperature 0 is greedy (argmax,
/// the first of equal maxima, as torch.argmax); otherwise logits / temperature are
/// cut to the top_k largest (0: all) and then to the smallest set whose probability
/// reaches top_p (1: all), and a token is drawn from what is left with a generator
/// seeded by `seed`: the same seed and calls give the same tokens.
struct SamplingOptions {
  double temperature = 0.0;
  int64_t top_k = 0;
  double top_p = 1.0;
  uint64_t seed = 0;
};

/// What a model file records for generation (tsrt.json "generation").
struct GenerationContract {
  int64_t context_limit = 0;           ///< positions: prompt plus generated tokens
  std::vector<int64_t> eos_token_ids;  ///< generate() stops after one of these
  int64_t vocab_size = 0;
};

/// Timings of the last generate() call, in milliseconds.
struct GenerationStats {
  double first_token_ms = 0;  ///< from the call to the first new token (the prefill)
  double decode_ms = 0;       ///< for the tokens after the first
  int64_t new_tokens = 0;
  /// Tokens after the first per second of decode_ms (0 when fewer than 2 tokens).
  double decode_tokens_per_second() const;
};

class Generator {
 public:
  /// Throws Error(kInvalidArgument) when `model` is not a file of export_causal_lm
  /// (no task "causal_lm" in its metadata) or `sampling` is out of range
  /// (temperature < 0, top_k < 0, top_p outside (0, 1]).
  explicit Generator(Model model, SamplingOptions sampling = {});

  const GenerationContract& contract() const { return contract_; }

  /// Adds tokens to the sequence (the prompt, or text the caller inserts); they are
  /// run through the model at the next next_token(). Throws Error(kInvalidArgument)
  /// for an id outside the vocabulary or when the sequence would pass the context limit.
  void append_tokens(const std::vector<int64_t>& tokens);

  /// Runs what was appended (a prefill at first, then decode steps), chooses the next
  /// token, appends it and returns it. Throws Error(kInvalidArgument) with no tokens
  /// yet, or when the sequence is at the context limit.
  int64_t next_token();

  /// Up to `max_new_tokens` next_token() calls, stopping after an eos id (which is
  /// returned) or at the context limit; `on_token` sees each token as it comes.
  /// Returns the new tokens; stats() has their timings.
  std::vector<int64_t> generate(int64_t max_new_tokens, const std::function<void(int64_t)>& on_token = {});

  /// Keeps the first `length` tokens and forgets the rest (their cache too).
  /// Throws Error(kInvalidArgument) when `length` is more than the sequence holds.
  void rewind(size_t length);

  /// Every token of the sequence: appended and generated.
  const std::vector<int64_t>& tokens() const { return tokens_; }
  const GenerationStats& stats() const { return stats_; }

 private:
  struct State;
  Model model_;
  SamplingOptions sampling_;
  GenerationContract contract_;
  std::vector<int64_t> tokens_;
  GenerationStats stats_;
  std::shared_ptr<State> state_;  // the cache and last logits; LibTorch types kept out of this header
};

/// Several prompts generated at once, batched into one prefill and one decode call per
/// step (left-padded to the longest prompt): the new tokens of each, each stopping after
/// an eos id, all at most `max_new_tokens` or what the context limit leaves after the
/// longest prompt. Greedy gives each prompt's tokens alone (within float32 rounding of
/// the batched kernels); sampling draws the rows in order from one generator seeded by
/// `sampling.seed`. Throws Error(kInvalidArgument) for a file that is not a causal LM
/// export, an empty prompt, ids outside the vocabulary, a prompt at the context limit.
std::vector<std::vector<int64_t>> generate_batch(const Model& model, const std::vector<std::vector<int64_t>>& prompts,
                                                 int64_t max_new_tokens, SamplingOptions sampling = {});

}  // namespace tsrt
