// infer: run a model file from the shell. Parses flags, calls libtsrt, prints.

#include <ATen/ATen.h>
#include <torch/csrc/jit/runtime/print_handler.h>

#include <algorithm>
#include <chrono>
#include <iostream>
#include <cstring>
#include <map>

#include "infer_args.h"
#include "infer_print.h"
#include "tsrt/benchmark.h"
#include "tsrt/error.h"
#include "tsrt/generator.h"
#include "tsrt/input_tree.h"
#include "tsrt/json.h"
#include "tsrt/model.h"
#include "tsrt/model_report.h"
#include "tsrt/npy.h"
#include "tsrt/openmp.h"
#include "tsrt/verify.h"
#include "tsrt/version.h"

namespace {

using tsrt::Error;
using tsrt::ErrorCode;
using tsrt::cli::FedInput;

double elapsed_ms(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
}

// JSON for stdout. Strings in it are already escaped (tsrt::escape_bytes); should
// one still hold bytes that are not UTF-8, it is replaced, not an exception.
std::string json_text(const nlohmann::ordered_json& report) {
  return report.dump(2, ' ', false, nlohmann::ordered_json::error_handler_t::replace) + "\n";
}

bool ends_with(const std::string& text, const std::string& suffix) {
  return text.size() >= suffix.size() && text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// A command-line literal for an int, float or bool argument.
c10::IValue parse_literal(const tsrt::ArgumentInfo& argument, const std::string& text) {
  const std::string where = "--input " + argument.name + "=" + text;
  try {
    size_t used = 0;
    if (argument.type == "int") {
      const int64_t value = std::stoll(text, &used);
      if (used == text.size()) return value;
    } else if (argument.type == "float") {
      const double value = std::stod(text, &used);
      if (used == text.size()) return value;
    } else if (argument.type == "bool") {
      if (text == "true" || text == "True" || text == "1") return true;
      if (text == "false" || text == "False" || text == "0") return false;
    } else if (argument.type == "str") {
      return text;
    } else {
      throw Error(ErrorCode::kInvalidArgument,
                  where + ": input '" + argument.name + "' is a " + argument.type + "; give a .npy file");
    }
  } catch (const std::logic_error&) {
  }
  throw Error(ErrorCode::kInvalidArgument, where + ": not a valid " + argument.type);
}

std::string missing_inputs_message(const tsrt::MethodSignature& signature, const std::vector<std::string>& missing) {
  std::string message = signature.method + "() needs inputs that were not given:";
  for (const std::string& name : missing) message += " " + name;
  message += "\nthe model takes:\n";
  for (const auto& argument : signature.inputs) {
    message += "  " + argument.name + ": " + argument.type;
    if (argument.spec) message += " " + argument.spec->to_string();
    if (argument.has_default) message += " = " + argument.default_value;
    message += "\n";
  }
  message += "give them with --input NAME=FILE.npy or --shape NAME=DIMS:DTYPE";
  return message;
}

// Builds the inputs of one call from the flags: positional files, --input,
// --shape, and, for inputs the file's metadata describes, random data.
std::vector<FedInput> gather_inputs(const tsrt::Model& model, const tsrt::cli::InferArgs& args) {
  const tsrt::MethodSignature signature = model.signature(args.method);
  const auto& arguments = signature.inputs;
  if (args.positional_inputs.size() > arguments.size()) {
    throw Error(ErrorCode::kInvalidArgument, signature.method + "() takes " + std::to_string(arguments.size()) +
                                                 " inputs, but " + std::to_string(args.positional_inputs.size()) +
                                                 " input files were given; " + signature.to_string());
  }
  std::map<std::string, FedInput> given;
  for (size_t i = 0; i < args.positional_inputs.size(); ++i) {
    const std::string& file = args.positional_inputs[i];
    given[arguments[i].name] = {arguments[i].name, tsrt::load_npy(file, args.load.max_input_bytes), "file " + file};
  }
  // The index of input `name`, whose value must not be given yet.
  auto find_argument = [&](const std::string& name, const std::string& flag) -> size_t {
    for (size_t i = 0; i < arguments.size(); ++i) {
      if (arguments[i].name == name) {
        if (given.count(name)) throw Error(ErrorCode::kInvalidArgument, "input '" + name + "' is given twice");
        return i;
      }
    }
    throw Error(ErrorCode::kInvalidArgument, flag + ": " + signature.method + "() has no input named '" + name +
                                                 "'; " + signature.to_string());
  };
  // "--input batch.mask=m.npy": a tensor leaf of a structured input, by its path.
  std::map<std::string, std::string> leaf_files;
  for (const auto& [name, value] : args.named_inputs) {
    const size_t dot = name.find('.');
    if (dot != std::string::npos) {
      const std::string root = name.substr(0, dot);
      const bool structured = std::any_of(arguments.begin(), arguments.end(),
                                          [&](const tsrt::ArgumentInfo& a) { return a.name == root && a.tree; });
      if (!structured || !ends_with(value, ".npy")) {
        throw Error(ErrorCode::kInvalidArgument, "--input " + name + "=" + value + ": " +
                                                     (structured ? "give a .npy file for a tensor leaf"
                                                                 : "'" + root + "' is not a structured input of " +
                                                                       signature.to_string()));
      }
      leaf_files[name] = value;
      continue;
    }
    const tsrt::ArgumentInfo& argument = arguments[find_argument(name, "--input " + name + "=" + value)];
    if (ends_with(value, ".npy")) {
      given[name] = {name, tsrt::load_npy(value, args.load.max_input_bytes), "file " + value};
    } else {
      given[name] = {name, parse_literal(argument, value), "value"};
    }
  }
  for (const std::string& text : args.shape_specs) {
    const tsrt::TensorSpec spec = tsrt::parse_tensor_spec(text);
    // Each input's seed is the base seed plus its position: reproducible per input.
    const uint64_t seed = args.seed + find_argument(spec.name, "--shape " + text);
    given[spec.name] = {spec.name, tsrt::random_tensor(spec, seed, args.load.max_input_bytes),
                        "random, seed " + std::to_string(seed)};
  }

  std::vector<FedInput> inputs;
  std::vector<std::string> missing;
  for (size_t i = 0; i < arguments.size(); ++i) {
    const auto& argument = arguments[i];
    auto found = given.find(argument.name);
    if (found != given.end()) {
      inputs.push_back(found->second);
    } else if (argument.tree) {
      // A structured input: its leaves from --input PATH=FILE.npy, or random from the contract.
      uint64_t seed = args.seed + 100 * i;
      std::string source = argument.fixed ? "fixed at export" : "random from metadata, seed " + std::to_string(seed);
      c10::IValue value = tsrt::build_input(*argument.tree, [&](const tsrt::TensorSpec& spec) {
        auto file = leaf_files.find(spec.name);
        if (file == leaf_files.end()) return tsrt::random_tensor(spec, seed++, args.load.max_input_bytes);
        source += ", " + spec.name + " from " + file->second;
        const std::string path = file->second;
        leaf_files.erase(file);
        return tsrt::load_npy(path, args.load.max_input_bytes);
      });
      inputs.push_back({argument.name, std::move(value), source});
    } else if (argument.spec) {
      const uint64_t seed = args.seed + i;
      inputs.push_back({argument.name, tsrt::random_tensor(*argument.spec, seed, args.load.max_input_bytes),
                        "random from metadata, seed " + std::to_string(seed)});
    } else if (argument.has_default) {
      break;  // this and the later arguments take their defaults
    } else {
      missing.push_back(argument.name);
    }
  }
  if (!missing.empty()) throw Error(ErrorCode::kInvalidArgument, missing_inputs_message(signature, missing));
  if (!leaf_files.empty()) {
    std::string leaves;
    for (const auto& argument : arguments) {
      if (!argument.tree) continue;
      for (const tsrt::TensorSpec& leaf : argument.tree->leaves()) leaves += " " + leaf.name;
    }
    throw Error(ErrorCode::kInvalidArgument, "--input " + leaf_files.begin()->first +
                                                 ": no such tensor leaf; the structured inputs' leaves are:" + leaves);
  }
  return inputs;
}

tsrt::LoadOptions load_options(const tsrt::cli::InferArgs& args) {
  tsrt::LoadOptions options = args.load;
  // --info describes the file as written, not the graph tsrt would rewrite it into,
  // and runs none of its code (a package's library is not loaded).
  if (args.info) options.describe_only = true;
  return options;
}

int bench(const tsrt::Model& model, const tsrt::cli::InferArgs& args) {
  std::vector<c10::IValue> values;
  for (const FedInput& input : gather_inputs(model, args)) values.push_back(input.value);
  tsrt::BenchmarkOptions options;
  options.method = args.method;
  options.warmup_iters = args.warmup_iters;
  options.warmup_seconds = args.warmup_seconds;
  options.iters = args.iters;
  options.duration_seconds = args.duration_seconds;
  options.concurrency = args.concurrency;
  options.profile_iters = args.profile ? 10 : 0;
  options.profile_top = args.profile_top;
  const tsrt::BenchmarkResult result = tsrt::benchmark(model, values, options);
  std::cout << (args.json ? tsrt::to_json(result, 2) + "\n" : tsrt::cli::format_bench(result));
  return 0;
}

// --generate: the prompt through tsrt::Generator; the new ids, then the timings.
int generate(const tsrt::Model& model, const tsrt::cli::InferArgs& args) {
  tsrt::Generator generator(model, {.temperature = args.temperature, .top_k = args.top_k, .top_p = args.top_p,
                                    .seed = args.seed});
  generator.append_tokens(args.prompt);
  const std::vector<int64_t> ids = generator.generate(args.max_new_tokens);
  const tsrt::GenerationStats& stats = generator.stats();
  if (args.json) {
    std::cout << json_text({{"prompt", args.prompt}, {"new_tokens", ids},
                            {"first_token_ms", stats.first_token_ms}, {"decode_ms", stats.decode_ms},
                            {"decode_tokens_per_second", stats.decode_tokens_per_second()}});
    return 0;
  }
  std::string line;
  for (int64_t id : ids) line += (line.empty() ? "" : ",") + std::to_string(id);
  std::cout << "new tokens: " << line << "\n"
            << "time to first token: " << stats.first_token_ms << " ms\n"
            << "decode: " << stats.decode_tokens_per_second() << " tokens/s (" << (ids.empty() ? 0 : ids.size() - 1)
            << " tokens in " << stats.decode_ms << " ms)\n";
  return 0;
}

int run(const tsrt::cli::InferArgs& args) {
  tsrt::set_intra_op_threads(args.threads);  // process-wide: before the model exists
  const tsrt::Model model = tsrt::Model::load(args.model_path, load_options(args));
  const double load_ms = model.load_ms();

  if (args.info) {
    std::cout << (args.json ? tsrt::model_report_json(model) + "\n" : tsrt::model_report_text(model));
    return 0;
  }
  if (args.verify) {
    const tsrt::VerifyReport report = tsrt::verify_golden(model);
    std::cout << (args.json ? tsrt::to_json(report, 2) + "\n" : tsrt::cli::format_verify(report));
    return report.passed() ? 0 : 1;
  }
  if (args.bench) return bench(model, args);
  if (args.generate) return generate(model, args);
  const std::vector<FedInput> inputs = gather_inputs(model, args);
  std::vector<c10::IValue> values;
  for (const FedInput& input : inputs) values.push_back(input.value);

  const auto run_start = std::chrono::steady_clock::now();
  const c10::IValue output = model.run(args.method, std::move(values));
  const double run_ms = elapsed_ms(run_start);

  const auto leaves = tsrt::flatten_outputs(output, model.signature(args.method).output_names);
  const auto report = tsrt::cli::run_report(model, args.method, inputs, leaves, load_ms, run_ms, args.show_values);
  if (!args.save_outputs_dir.empty()) tsrt::cli::save_outputs(args.save_outputs_dir, leaves);
  std::cout << (args.json ? json_text(report) : tsrt::cli::format_report(report));
  return 0;
}

// Under --json stdout carries one JSON document, errors included: a script that
// reads it gets {"error": {"code", "message"}} rather than an empty stdout.
bool wants_json(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--json") == 0) return true;
  }
  return false;
}

void report_error(bool as_json, const std::string& code, const std::string& message, const char* prefix) {
  std::cerr << prefix << message << "\n";
  if (as_json) std::cout << json_text({{"error", {{"code", code}, {"message", message}}}});
}

}  // namespace

int main(int argc, char** argv) {
  const bool as_json = wants_json(argc, argv);
  // A model's print() is the model talking, not infer's report: stderr, so that
  // stdout stays the report (and valid JSON under --json).
  torch::jit::setPrintHandler([](const std::string& text) { std::cerr << text << std::flush; });
  try {
    const tsrt::cli::InferArgs args = tsrt::cli::parse_infer_args(argc, argv);
    if (args.help) {
      std::cout << tsrt::cli::infer_usage();
      return 0;
    }
    if (args.version) {
      std::cout << "infer (tsrt) " << tsrt::kVersion << ", built against LibTorch " << tsrt::kTorchVersion << "\n";
      return 0;
    }
    // OpenMP reads how to wait when LibTorch loads: restart once with GOMP_SPINCOUNT=1000 unless
    // the environment chose (tsrt/openmp.h, docs/speed.md).
    tsrt::restart_with_openmp_wait_default(argv);
    return run(args);
  } catch (const Error& e) {
    report_error(as_json, tsrt::error_code_name(e.code()), e.what(), "infer: error: ");
    const bool usage_error = e.code() == ErrorCode::kInvalidArgument || e.code() == ErrorCode::kIO;
    return usage_error ? 2 : 1;
  } catch (const std::exception& e) {
    // libtsrt wraps LibTorch's errors; anything else is a bug, but still not a crash.
    report_error(as_json, "internal", tsrt::escape_bytes(e.what()), "infer: internal error: ");
    return 1;
  }
}
