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

double parse_seconds(const std::string& flag, const std::string& text) {
  char* end = nullptr;
  const double value = std::strtod(text.c_str(), &end);
  if (text.empty() || *end != '\0' || !(value >= 0)) usage_error(flag + " expects a number of seconds, got '" + text + "'");
  return value;
}

int parse_positive(const std::string& flag, const std::string& text) {
  const uint64_t value = parse_count(flag, text);
  if (value == 0 || value > 4096) usage_error(flag + " expects a number from 1 to 4096, got '" + text + "'");
  return static_cast<int>(value);
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
  --max-input-bytes N        refuse an input (--shape, .npy) larger than N bytes
                             (default: no fixed limit; above free memory is refused)

running:
  --device DEV               cpu (default), cuda or cuda:N
  --method NAME              method to run (default forward)
  --no-check-inputs          skip the dtype/shape checks against the model's metadata
  --allow-ops FILE           refuse the model if it uses an operator not listed in FILE
                             (one a line, or ns::* for a namespace)
  --no-checksums             skip the CRC-32 check of the weights (trusted files only)

optimisation (all on by default; see what was applied with --bench or --info):
  --precision P              fp32 (default), bf16 or fp16: weights and compute in P,
                             inputs and outputs stay float32
  --no-freeze                don't freeze a module that still holds its weights
  --no-optimize              don't run torch::jit::optimize_for_inference
  --no-onednn-fusion         don't fuse convolutions with oneDNN Graph (CPU, float32)
  --no-inference-mode        run without c10::InferenceMode
  --jit-optimize             let LibTorch's profiling executor re-optimise the graph
  --warmup-on-load N         call each method N times at load, at its declared shapes
  --threads N                intra-op threads for the process (default: LibTorch's)

benchmark (--bench):
  --bench                    time the model: load, first call, warm-up, timed run;
                             latency min/mean/median/p90/p95/p99/max, throughput,
                             coefficient of variation, peak memory
  --warmup N                 warm-up calls (default 10)
  --warmup-time S            warm up for at least S seconds
  --iters N                  timed calls (default 100 when no --duration)
  --duration S               time for S seconds (with --iters: whichever ends first)
  --concurrency N            N threads calling the one loaded model
  --profile                  after timing, profile 10 calls: operators by self time
  --profile-top N            rows of the profile (default 15)

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
  infer resnet.pt --bench --duration 10 --concurrency 2 --threads 1 --json
  infer bert.pt --bench --precision bf16 --profile
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
    } else if (arg == "--max-input-bytes") {
      args.max_input_bytes = parse_count(arg, value_of(i, arg));
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
    } else if (arg == "--no-checksums") {
      args.verify_checksums = false;
    } else if (arg == "--bench") {
      args.bench = true;
    } else if (arg == "--warmup") {
      args.warmup_iters = static_cast<int>(parse_count(arg, value_of(i, arg)));
    } else if (arg == "--warmup-time") {
      args.warmup_seconds = parse_seconds(arg, value_of(i, arg));
    } else if (arg == "--iters") {
      args.iters = static_cast<int64_t>(parse_count(arg, value_of(i, arg)));
    } else if (arg == "--duration") {
      args.duration_seconds = parse_seconds(arg, value_of(i, arg));
    } else if (arg == "--concurrency") {
      args.concurrency = parse_positive(arg, value_of(i, arg));
    } else if (arg == "--threads") {
      args.threads = parse_positive(arg, value_of(i, arg));
    } else if (arg == "--profile") {
      args.profile = true;
    } else if (arg == "--profile-top") {
      args.profile_top = parse_positive(arg, value_of(i, arg));
    } else if (arg == "--precision") {
      args.precision = value_of(i, arg);
    } else if (arg == "--no-freeze") {
      args.freeze = false;
    } else if (arg == "--no-optimize") {
      args.optimize_for_inference = false;
    } else if (arg == "--no-onednn-fusion") {
      args.onednn_fusion = false;
    } else if (arg == "--no-inference-mode") {
      args.inference_mode = false;
    } else if (arg == "--jit-optimize") {
      args.graph_executor_optimize = true;
    } else if (arg == "--warmup-on-load") {
      args.warmup_on_load = static_cast<int>(parse_count(arg, value_of(i, arg)));
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
