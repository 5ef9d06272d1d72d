// A small hand-written flag parser: the C++ argument-parser libraries (CLI11,
// cxxopts) come from apt or a download, and GPU build machines have neither.

#include "infer_args.h"

#include <cstdlib>

#include "tsrt/error.h"

namespace tsrt::cli {
namespace {

[[noreturn]] void usage_error(const std::string& message) {
  throw Error(ErrorCode::kInvalidArgument, message + " (see infer --help)");
}

uint64_t parse_count(const std::string& flag, const std::string& text) {
  char* end = nullptr;
  const unsigned long long value = std::strtoull(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0' || text[0] == '-') usage_error(flag + " expects a non-negative integer, got '" + text + "'");
  return value;
}

}  // namespace

std::string infer_usage() {
  return R"(usage: infer MODEL [INPUT.npy ...] [options]

Runs a TorchScript model file and prints its outputs. Files exported by tsrt
carry their input specs, so no input flags are needed for them.

inputs (by position, or by name; missing ones are listed with their types):
  INPUT.npy                  the next input of the method, from a .npy file
  --input NAME=FILE.npy      input NAME from a .npy file
  --input NAME=VALUE         an int, float or bool argument (e.g. k=3, flag=true)
  --shape NAME=DIMS[:DTYPE]  random input NAME, e.g. x=1x3x224x224:float32
  --seed N                   seed for random inputs (default 0)

running:
  --device DEV               cpu (default), cuda or cuda:N
  --method NAME              method to run (default forward)
  --no-check-inputs          skip the dtype/shape checks against the model's metadata
  --allow-ops FILE           refuse the model if it uses an operator not listed in FILE
                             (one a line, or ns::* for a namespace)

output:
  --save-outputs DIR         write each output as DIR/<path>.npy, plus DIR/outputs.json
  --json                     print a JSON document instead of text
  --show N                   values printed per tensor (default 6)
  --info                     print the model's methods, inputs and metadata, then exit
  --verify                   run the golden inputs recorded at export and compare with
                             the golden outputs: PASS/FAIL per output, exit 1 on FAIL
  -h, --help                 this text

exit status: 0 success, 2 usage or input error, 1 model failure

examples:
  infer resnet.pt
  infer resnet.pt --shape image=8x3x224x224 --device cuda
  infer resnet.pt --verify
  infer model.pt --input a=a.npy --input b=b.npy --save-outputs out/ --json
)";
}

InferArgs parse_infer_args(int argc, char** argv) {
  InferArgs args;
  auto value_of = [&](int& i, const std::string& flag) -> std::string {
    if (i + 1 >= argc) usage_error(flag + " needs a value");
    return argv[++i];
  };
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "-h" || arg == "--help") {
      args.help = true;
    } else if (arg == "--input") {
      const std::string value = value_of(i, arg);
      const size_t equals = value.find('=');
      if (equals == std::string::npos) {
        args.positional_inputs.push_back(value);
      } else {
        if (equals == 0) usage_error("--input expects NAME=FILE.npy, got '" + value + "'");
        args.named_inputs.emplace_back(value.substr(0, equals), value.substr(equals + 1));
      }
    } else if (arg == "--shape") {
      args.shape_specs.push_back(value_of(i, arg));
    } else if (arg == "--seed") {
      args.seed = parse_count(arg, value_of(i, arg));
    } else if (arg == "--device") {
      args.device = value_of(i, arg);
    } else if (arg == "--method") {
      args.method = value_of(i, arg);
    } else if (arg == "--save-outputs") {
      args.save_outputs_dir = value_of(i, arg);
    } else if (arg == "--show") {
      args.show_values = static_cast<int>(parse_count(arg, value_of(i, arg)));
    } else if (arg == "--json") {
      args.json = true;
    } else if (arg == "--verify") {
      args.verify = true;
    } else if (arg == "--info") {
      args.info = true;
    } else if (arg == "--allow-ops") {
      args.allow_ops_file = value_of(i, arg);
    } else if (arg == "--no-check-inputs") {
      args.check_inputs = false;
    } else if (arg.size() > 1 && arg[0] == '-') {
      usage_error("unknown option '" + arg + "'");
    } else if (args.model_path.empty()) {
      args.model_path = arg;
    } else {
      args.positional_inputs.push_back(arg);
    }
  }
  if (!args.help && args.model_path.empty()) usage_error("no model file given");
  return args;
}

}  // namespace tsrt::cli
