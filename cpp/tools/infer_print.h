#pragma once
// Printing and saving what infer ran: text for people, JSON for machines.

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tsrt/benchmark.h"
#include "tsrt/model.h"
#include "tsrt/outputs.h"
#include "tsrt/verify.h"

namespace tsrt::cli {

/// One input as it was fed to the model, and where it came from.
struct FedInput {
  std::string name;
  c10::IValue value;
  std::string source;  ///< "file a.npy", "random (seed 0)", "value"
};

/// The JSON summary of a run: model, inputs, outputs with stats and first values, timings.
nlohmann::ordered_json run_report(const Model& model, const std::string& method, const std::vector<FedInput>& inputs,
                          const std::vector<OutputLeaf>& outputs, double load_ms, double run_ms, int show_values);

/// The same report as text.
std::string format_report(const nlohmann::ordered_json& report);

/// The text form of --verify: one PASS/FAIL line per output, then the verdict.
/// (--json prints tsrt::to_json(report).)
std::string format_verify(const VerifyReport& report);

/// The text form of a --bench result, trtexec-style. (--json prints tsrt::to_json(result).)
std::string format_bench(const BenchmarkResult& result);

/// Writes each leaf to `dir`/<path>.npy (scalars as 0-d arrays, None skipped) and
/// an outputs.json manifest. Returns the files written.
std::vector<std::string> save_outputs(const std::string& dir, const std::vector<OutputLeaf>& outputs);

}  // namespace tsrt::cli
