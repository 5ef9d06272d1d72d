// A small hand-written flag parser: the C++ argument-parser libraries (CLI11,
// cxxopts) come from apt or a download, and GPU build machines have neither.

#include "infer_args.h"

#include <algorithm>
#include <cstdlib>
#include <functional>
#include <optional>
#include <utility>

#include "tsrt/error.h"
#include "tsrt/model_summary.h"

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

double parse_number(const std::string& flag, const std::string& text) {
  char* end = nullptr;
  const double value = std::strtod(text.c_str(), &end);
  if (text.empty() || *end != '\0' || !(value >= 0)) usage_error(flag + " expects a non-negative number, got '" + text + "'");
  return value;
}

// "1,2,3": the prompt's token ids.
std::vector<int64_t> parse_token_ids(const std::string& flag, const std::string& text) {
  std::vector<int64_t> ids;
  size_t start = 0;
  while (true) {
    const size_t comma = text.find(',', start);
    ids.push_back(static_cast<int64_t>(parse_count(flag, text.substr(start, comma - start))));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return ids;
}

int parse_positive(const std::string& flag, const std::string& text) {
  const uint64_t value = parse_count(flag, text);
  if (value == 0 || value > 4096) usage_error(flag + " expects a number from 1 to 4096, got '" + text + "'");
  return static_cast<int>(value);
}

// One row per field of tsrt::LoadOptions and its OptimizeOptions. The flag is the
// field's name with dashes, as the field is named in C++ and in tsrt.load(); a
// bool field is a switch with --NAME and --no-NAME. The usage text and the parser
// are both made from this table, so an option has one name and one help text.
struct LoadFlag {
  const char* section;  ///< heading of the usage section the flag is listed under
  const char* field;
  const char* metavar;  ///< what the value is; nullptr for a switch
  const char* help;     ///< '\n' continues on the next line of the help column
  bool* (*switch_of)(LoadOptions&);  ///< a switch's field
  void (*set)(LoadOptions&, const std::string& flag, const std::string& value);  ///< a valued field
  std::string (*show)(const LoadOptions&);  ///< a valued field's default for the usage text; nullptr: none
  /// The flag when it is not the field's name with dashes: a list field's flag names one item
  /// and may be repeated (libraries: --load-library PATH, as torch.ops.load_library).
  const char* flag = nullptr;
};

constexpr const char* kLoading = "loading (a switch --NAME is turned off with --no-NAME)";
constexpr const char* kOptimisation = "optimisation (see what was applied with --bench or --info)";

const LoadFlag kLoadFlags[] = {
    {kLoading, "device", "DEV", "cpu, cuda or cuda:N", nullptr,
     [](LoadOptions& o, const std::string&, const std::string& v) { o.device = v; },
     [](const LoadOptions& o) { return o.device; }},
    {kLoading, "check_inputs", nullptr, "check inputs against the file's metadata",
     [](LoadOptions& o) { return &o.check_inputs; }, nullptr, nullptr},
    {kLoading, "allowed_operators", "FILE",
     "refuse the model if it uses an operator not listed in FILE\n(one a line, or ns::* for a namespace)", nullptr,
     [](LoadOptions& o, const std::string&, const std::string& v) { o.allowed_operators = read_operator_list(v); },
     nullptr},
    {kLoading, "libraries", "PATH",
     "load the operator library PATH (.so) before the model;\nrepeatable (torchvision's: tsrt torchvision-ops-library)",
     nullptr, [](LoadOptions& o, const std::string&, const std::string& v) { o.libraries.push_back(v); }, nullptr,
     "--load-library"},
    {kLoading, "verify_checksums", nullptr, "check the CRC-32 of every weight",
     [](LoadOptions& o) { return &o.verify_checksums; }, nullptr, nullptr},
    {kLoading, "max_input_bytes", "N",
     "refuse an input (--shape, .npy) larger than N bytes\n(0: no fixed limit; above free memory is refused)", nullptr,
     [](LoadOptions& o, const std::string& flag, const std::string& v) { o.max_input_bytes = parse_count(flag, v); },
     [](const LoadOptions& o) { return std::to_string(o.max_input_bytes); }},
    {kOptimisation, "precision", "P", "fp32, bf16 or fp16: weights and compute in P,\ninputs and outputs stay float32",
     nullptr, [](LoadOptions& o, const std::string&, const std::string& v) { o.optimize.precision = parse_precision(v); },
     [](const LoadOptions& o) { return to_string(o.optimize.precision); }},
    {kOptimisation, "freeze", nullptr, "freeze a module that still holds its weights",
     [](LoadOptions& o) { return &o.optimize.freeze; }, nullptr, nullptr},
    {kOptimisation, "optimize_for_inference", nullptr, "run torch::jit::optimize_for_inference",
     [](LoadOptions& o) { return &o.optimize.optimize_for_inference; }, nullptr, nullptr},
    {kOptimisation, "onednn_fusion", nullptr, "fuse convolutions in oneDNN Graph (CPU fp32)",
     [](LoadOptions& o) { return &o.optimize.onednn_fusion; }, nullptr, nullptr},
    {kOptimisation, "onednn_fusion_shapes", "N", "input shapes fused at most, for a file with\ndynamic dimensions",
     nullptr,
     [](LoadOptions& o, const std::string& flag, const std::string& v) {
       o.optimize.onednn_fusion_shapes = static_cast<int>(parse_count(flag, v));
     },
     [](const LoadOptions& o) { return std::to_string(o.optimize.onednn_fusion_shapes); }},
    {kOptimisation, "inference_mode", nullptr, "run every call under c10::InferenceMode",
     [](LoadOptions& o) { return &o.optimize.inference_mode; }, nullptr, nullptr},
    {kOptimisation, "graph_executor_optimize", nullptr, "re-optimise in LibTorch's profiling executor",
     [](LoadOptions& o) { return &o.optimize.graph_executor_optimize; }, nullptr, nullptr},
    {kOptimisation, "adaptive_threads", nullptr, "run small calls on one thread where load measured it faster",
     [](LoadOptions& o) { return &o.optimize.adaptive_threads; }, nullptr, nullptr},
    {kOptimisation, "warmup_runs", "N", "call each method N times at load, at its declared shapes", nullptr,
     [](LoadOptions& o, const std::string& flag, const std::string& v) {
       o.optimize.warmup_runs = static_cast<int>(parse_count(flag, v));
     },
     [](const LoadOptions& o) { return std::to_string(o.optimize.warmup_runs); }},
};

std::string flag_name(const LoadFlag& flag) {
  if (flag.flag) return flag.flag;
  std::string name = std::string("--") + flag.field;
  std::replace(name.begin(), name.end(), '_', '-');
  return name;
}

// "  FLAG   help (default)": the help column starts at 29, as in the rest of the
// usage text; a longer flag puts its help on the next line, and the default goes
// on a line of its own when it would pass 80 columns.
std::string usage_row(const std::string& flag, const std::string& help, const std::string& default_text) {
  constexpr size_t kColumn = 29;
  constexpr size_t kWidth = 80;
  const std::string indent(kColumn, ' ');
  std::string row = "  " + flag;
  row += row.size() + 1 <= kColumn ? std::string(kColumn - row.size(), ' ') : "\n" + indent;
  for (char c : help) row += c == '\n' ? "\n" + indent : std::string(1, c);
  const size_t line_length = row.size() - (row.rfind('\n') == std::string::npos ? 0 : row.rfind('\n') + 1);
  if (!default_text.empty()) {
    row += line_length + 1 + default_text.size() <= kWidth ? " " + default_text : "\n" + indent + default_text;
  }
  return row + "\n";
}

std::string load_flags_usage() {
  LoadOptions defaults;  // not const: switch_of hands out a pointer into it
  std::string text;
  const char* section = nullptr;
  for (const LoadFlag& flag : kLoadFlags) {
    if (section != flag.section) {
      section = flag.section;
      text += std::string("\n") + section + ":\n";
    }
    if (flag.switch_of) {
      const bool on = *flag.switch_of(defaults);
      text += usage_row("--[no-]" + flag_name(flag).substr(2), flag.help, on ? "(on)" : "(off)");
    } else {
      text += usage_row(flag_name(flag) + " " + flag.metavar, flag.help,
                        flag.show ? "(default " + flag.show(defaults) + ")" : "");
    }
  }
  return text;
}

// Applies `arg` when it is one of kLoadFlags; false when it is not.
bool parse_load_flag(LoadOptions& options, const std::string& arg, const std::function<std::string()>& value) {
  for (const LoadFlag& flag : kLoadFlags) {
    const std::string name = flag_name(flag);
    if (flag.switch_of && (arg == name || arg == "--no-" + name.substr(2))) {
      *flag.switch_of(options) = arg == name;
      return true;
    }
    if (!flag.switch_of && arg == name) {
      flag.set(options, arg, value());
      return true;
    }
  }
  return false;
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
  --method NAME              method to run (default forward)
  --threads N                intra-op threads for the process (default: LibTorch's)
)" + load_flags_usage() + R"(
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

generation (a causal LM file of tsrt.export_causal_lm; docs/generation.md):
  --generate IDS             prompt token ids, e.g. 1,2,3: prints the new ids, time to
                             first token and decode tokens/s
  --max-new-tokens N         tokens to generate at most (default 32; stops at an eos id)
  --temperature T            0 (default): greedy; else sample, seeded by --seed
  --top-k K                  sample among the K most likely (default 0: all)
  --top-p P                  sample among the most likely whose probability reaches P
                             (default 1: all)

output:
  --save-outputs DIR         write each output as DIR/<path>.npy, plus DIR/outputs.json
  --json                     print a JSON document instead of text
  --show N                   values printed per tensor (default 6)
  --info                     print the model's methods, inputs and metadata, then exit
  --verify                   run the golden inputs recorded at export and compare with
                             the golden outputs: PASS/FAIL per output, exit 1 on FAIL
  -h, --help                 this text
  --version                  print the versions of infer (tsrt) and LibTorch, then exit

environment:
  OMP_WAIT_POLICY, GOMP_SPINCOUNT
                             how LibTorch's OpenMP threads wait; when neither is set,
                             infer runs with GOMP_SPINCOUNT=1000 (its launcher sets
                             it; the binary run directly restarts itself once with it):
                             threads spin ~10 us at a barrier, then sleep, instead of
                             OpenMP's ~3 ms spin, 8-13x slower for 2 threads on a
                             busy machine (docs/speed.md). Set either to keep your own
                             (e.g. OMP_WAIT_POLICY=PASSIVE)

exit status: 0 success, 2 usage or input error, 1 model failure

examples:
  infer resnet.pt
  infer resnet.pt --shape image=8x3x224x224 --device cuda
  infer resnet.pt --verify
  infer resnet.pt --bench --iters=200 --threads=2   (--flag=value works too)
  infer resnet.pt --bench --duration 10 --concurrency 2 --threads 1 --json
  infer bert.pt --bench --precision bf16 --profile
  infer lm.pt --generate 1,2,3 --max-new-tokens 16 --temperature 0.8 --top-k 40
  infer model.pt --input a=a.npy --input b=b.npy --save-outputs out/ --json
)";
}

InferArgs parse_infer_args(int argc, char** argv) {
  InferArgs args;
  // GNU and trtexec style: --flag=value is --flag value. `attached` holds the value after
  // the first '=' until value_of takes it; a switch given one (--json=1) is refused below.
  std::optional<std::string> attached;
  auto value_of = [&](int& i, const std::string& flag) -> std::string {
    if (attached) return *std::exchange(attached, std::nullopt);
    if (i + 1 >= argc) usage_error(flag + " needs a value");
    return argv[++i];
  };
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    attached.reset();
    const size_t equals = arg.find('=');
    if (arg.rfind("--", 0) == 0 && equals != std::string::npos) {
      attached = arg.substr(equals + 1);
      arg.resize(equals);
    }
    if (arg == "-h" || arg == "--help") {
      args.help = true;
    } else if (arg == "--version") {
      args.version = true;
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
    } else if (arg == "--generate") {
      args.generate = true;
      args.prompt = parse_token_ids(arg, value_of(i, arg));
    } else if (arg == "--max-new-tokens") {
      args.max_new_tokens = static_cast<int64_t>(parse_count(arg, value_of(i, arg)));
    } else if (arg == "--temperature") {
      args.temperature = parse_number(arg, value_of(i, arg));
    } else if (arg == "--top-k") {
      args.top_k = static_cast<int64_t>(parse_count(arg, value_of(i, arg)));
    } else if (arg == "--top-p") {
      args.top_p = parse_number(arg, value_of(i, arg));
    } else if (arg == "--profile") {
      args.profile = true;
    } else if (arg == "--profile-top") {
      args.profile_top = parse_positive(arg, value_of(i, arg));
    } else if (parse_load_flag(args.load, arg, [&] { return value_of(i, arg); })) {
      // a field of tsrt::LoadOptions, set by its row of kLoadFlags
    } else if (arg.size() > 1 && arg[0] == '-') {
      usage_error("unknown option '" + arg + "'");
    } else if (args.model_path.empty()) {
      args.model_path = arg;
    } else {
      args.positional_inputs.push_back(arg);
    }
    if (attached) usage_error(arg + " takes no value, got '" + std::string(argv[i]) + "'");
  }
  if (!args.help && !args.version && args.model_path.empty()) usage_error("no model file given");
  return args;
}

}  // namespace tsrt::cli
