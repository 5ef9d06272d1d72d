#pragma once
// The infer CLI's command line: parsed into InferArgs, nothing decided here.

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "tsrt/load_options.h"

namespace tsrt::cli {

struct InferArgs {
  std::string model_path;
  std::vector<std::string> positional_inputs;                      ///< FILE.npy in argument order
  std::vector<std::pair<std::string, std::string>> named_inputs;   ///< --input NAME=FILE.npy|VALUE
  std::vector<std::string> shape_specs;                            ///< --shape NAME=1x3x224x224:float32
  uint64_t seed = 0;
  std::string method = "forward";
  std::string save_outputs_dir;
  bool json = false;
  bool info = false;
  bool verify = false;
  int show_values = 6;
  bool help = false;
  bool version = false;  ///< --version: print versions and exit

  // --bench and what it measures
  bool bench = false;
  int warmup_iters = 10;
  double warmup_seconds = 0;
  int64_t iters = 0;
  double duration_seconds = 0;
  int concurrency = 1;
  int threads = 0;       ///< --threads: intra-op threads for the process (0: LibTorch's choice)
  bool profile = false;
  int profile_top = 15;

  // --generate: text generation over a causal LM file (tsrt::Generator)
  bool generate = false;
  std::vector<int64_t> prompt;  ///< --generate 1,2,3: the prompt's token ids
  int64_t max_new_tokens = 32;
  double temperature = 0;       ///< 0: greedy; sampling is seeded by --seed
  int64_t top_k = 0;
  double top_p = 1.0;

  /// Model::load's options, one flag per field (kLoadFlags in infer_args.cpp).
  LoadOptions load;
};

/// Parses argv. Throws tsrt::Error(kInvalidArgument) with a one-line reason, and
/// Error(kIO) when the file of --allowed-operators cannot be read.
InferArgs parse_infer_args(int argc, char** argv);

/// The --help text, with examples.
std::string infer_usage();

}  // namespace tsrt::cli
