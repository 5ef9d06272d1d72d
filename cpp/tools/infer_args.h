#pragma once
// The infer CLI's command line: parsed into InferArgs, nothing decided here.

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace tsrt::cli {

struct InferArgs {
  std::string model_path;
  std::vector<std::string> positional_inputs;                      ///< FILE.npy in argument order
  std::vector<std::pair<std::string, std::string>> named_inputs;   ///< --input NAME=FILE.npy|VALUE
  std::vector<std::string> shape_specs;                            ///< --shape NAME=1x3x224x224:float32
  uint64_t seed = 0;
  uint64_t max_input_bytes = 0;  ///< --max-input-bytes (LoadOptions::max_input_bytes)
  std::string device = "cpu";
  std::string method = "forward";
  std::string save_outputs_dir;
  bool json = false;
  bool info = false;
  bool verify = false;
  bool check_inputs = true;
  std::string allow_ops_file;  ///< --allow-ops FILE
  int show_values = 6;
  bool help = false;

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

  // load-time optimisation switches (tsrt/optimize.h)
  std::string precision = "fp32";
  bool freeze = true;
  bool optimize_for_inference = true;
  bool onednn_fusion = true;
  bool inference_mode = true;
  bool graph_executor_optimize = false;
  int warmup_on_load = 0;
  bool verify_checksums = true;
};

/// Parses argv. Throws tsrt::Error(kInvalidArgument) with a one-line reason.
InferArgs parse_infer_args(int argc, char** argv);

/// The --help text, with examples.
std::string infer_usage();

}  // namespace tsrt::cli
