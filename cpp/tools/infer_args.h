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
};

/// Parses argv. Throws tsrt::Error(kInvalidArgument) with a one-line reason.
InferArgs parse_infer_args(int argc, char** argv);

/// The --help text, with examples.
std::string infer_usage();

}  // namespace tsrt::cli
