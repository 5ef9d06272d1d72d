// tsrt::Generator against Hugging Face: argv[1] is the directory that
// scripts/export_generation_fixture.py wrote (<arch>.pt, and <arch>.txt with the prompt
// and HF generate's greedy ids). Greedy must equal HF token for token; seeded sampling
// must repeat itself; rewind must give the same tokens again; two prompts batched must
// each give what they give alone; refusals name the cause.

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "check.h"
#include "tsrt/generator.h"
#include "tsrt/model.h"

namespace {

std::vector<int64_t> read_ids(std::istream& in) {
  std::string line;
  std::getline(in, line);
  std::istringstream words(line);
  std::vector<int64_t> ids;
  for (int64_t id; words >> id;) ids.push_back(id);
  return ids;
}

std::vector<int64_t> run(const tsrt::Model& model, const std::vector<int64_t>& prompt, tsrt::SamplingOptions sampling,
                         int64_t new_tokens) {
  tsrt::Generator generator(model, sampling);
  generator.append_tokens(prompt);
  return generator.generate(new_tokens);
}

void check_architecture(const std::string& directory, const std::string& name) {
  std::ifstream expected_file(directory + "/" + name + ".txt");
  TSRT_CHECK(expected_file.good());
  const std::vector<int64_t> prompt = read_ids(expected_file);
  const std::vector<int64_t> hugging_face = read_ids(expected_file);
  const tsrt::Model model = tsrt::Model::load(directory + "/" + name + ".pt");
  const auto length = static_cast<int64_t>(hugging_face.size());

  // Greedy: HF's tokens, one at a time through the callback too.
  tsrt::Generator generator(model);
  generator.append_tokens(prompt);
  std::vector<int64_t> seen;
  const std::vector<int64_t> greedy = generator.generate(length, [&](int64_t id) { seen.push_back(id); });
  TSRT_CHECK(greedy == hugging_face);
  TSRT_CHECK(seen == greedy);
  TSRT_CHECK(generator.stats().new_tokens == length && generator.stats().first_token_ms > 0);

  // Rewind to the prompt plus 3 tokens: the rest comes again.
  generator.rewind(prompt.size() + 3);
  TSRT_CHECK(generator.generate(length - 3) == std::vector<int64_t>(hugging_face.begin() + 3, hugging_face.end()));

  // Seeded sampling repeats itself, and a top-1 cut is greedy.
  const tsrt::SamplingOptions sampling{.temperature = 1.5, .top_k = 50, .top_p = 0.95, .seed = 11};
  TSRT_CHECK(run(model, prompt, sampling, length) == run(model, prompt, sampling, length));
  TSRT_CHECK(run(model, prompt, {.temperature = 1.0, .top_k = 1, .seed = 3}, length) == hugging_face);

  // Two prompts batched into one decode call per step: each as alone.
  const std::vector<int64_t> short_prompt{prompt[0]};
  const auto both = tsrt::generate_batch(model, {prompt, short_prompt}, length);
  TSRT_CHECK(both.size() == 2 && both[0] == hugging_face);
  TSRT_CHECK(both[1] == run(model, short_prompt, {}, length));

  // Refusals.
  tsrt::Generator empty(model);
  TSRT_CHECK_THROWS(empty.next_token(), tsrt::ErrorCode::kInvalidArgument, "append a prompt first");
  TSRT_CHECK_THROWS(empty.append_tokens({empty.contract().vocab_size}), tsrt::ErrorCode::kInvalidArgument,
                    "outside the vocabulary");
  TSRT_CHECK_THROWS(empty.append_tokens(std::vector<int64_t>(empty.contract().context_limit + 1, 1)),
                    tsrt::ErrorCode::kInvalidArgument, "context limit");
  TSRT_CHECK_THROWS(tsrt::Generator(model, {.top_p = 0}), tsrt::ErrorCode::kInvalidArgument, "top_p");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: test_generator DIR (written by scripts/export_generation_fixture.py)\n";
    return 2;
  }
  for (const char* name : {"gpt2", "llama"}) check_architecture(argv[1], name);
  std::cout << "test_generator: ok\n";
  return 0;
}
