#include "infer_print.h"

#include <ATen/ATen.h>

#include <filesystem>
#include <fstream>
#include <iomanip>
#include <set>
#include <functional>
#include <sstream>

#include "tsrt/error.h"
#include "tsrt/npy.h"

namespace tsrt::cli {
namespace {

using json = nlohmann::ordered_json;

json tensor_summary(const at::Tensor& tensor, int show_values) {
  json out;
  out["kind"] = "tensor";
  out["dtype"] = dtype_name(tensor.scalar_type());
  out["shape"] = tensor.sizes().vec();
  out["device"] = tensor.device().str();
  const at::Tensor cpu = tensor.detach().to(at::kCPU);
  if (cpu.numel() > 0) {
    // Complex outputs are summarised by magnitude.
    const at::Tensor values = (cpu.is_complex() ? cpu.abs() : cpu).to(at::kDouble).flatten();
    out["min"] = values.min().item<double>();
    out["max"] = values.max().item<double>();
    out["mean"] = values.mean().item<double>();
    const int64_t count = std::min<int64_t>(show_values, values.numel());
    std::vector<double> first(values.data_ptr<double>(), values.data_ptr<double>() + count);
    out["values"] = first;
  }
  return out;
}

json leaf_summary(const c10::IValue& value, int show_values) {
  if (value.isTensor()) return tensor_summary(value.toTensor(), show_values);
  json out;
  if (value.isNone()) {
    out["kind"] = "none";
    out["value"] = nullptr;
  } else if (value.isBool()) {
    out["kind"] = "bool";
    out["value"] = value.toBool();
  } else if (value.isInt()) {
    out["kind"] = "int";
    out["value"] = value.toInt();
  } else if (value.isDouble()) {
    out["kind"] = "float";
    out["value"] = value.toDouble();
  } else if (value.isString()) {
    out["kind"] = "str";
    out["value"] = value.toStringRef();
  } else {
    out["kind"] = value.tagKind();
  }
  return out;
}

std::string number(double value) {
  std::ostringstream text;
  text << std::setprecision(5) << value;
  return text.str();
}

std::string shape_text(const json& shape) {
  std::string text = "[";
  for (size_t i = 0; i < shape.size(); ++i) text += (i ? ", " : "") + std::to_string(shape[i].get<int64_t>());
  return text + "]";
}

}  // namespace

json run_report(const Model& model, const std::string& method, const std::vector<FedInput>& inputs,
                const std::vector<OutputLeaf>& outputs, double load_ms, double run_ms, int show_values) {
  json report;
  report["model"] = model.path();
  report["format"] = model.format();
  report["device"] = model.device().str();
  report["method"] = method;
  report["load_ms"] = load_ms;
  report["run_ms"] = run_ms;
  report["inputs"] = json::array();
  // A structured input is listed leaf by leaf, by dotted path ("batch.mask", "pair.0").
  std::function<void(const c10::IValue&, const std::string&, const std::string&)> add_input =
      [&](const c10::IValue& value, const std::string& name, const std::string& source) {
        if (value.isGenericDict()) {
          for (const auto& item : value.toGenericDict()) {
            const c10::IValue& key = item.key();
            add_input(item.value(), name + "." + (key.isString() ? key.toStringRef() : std::to_string(key.toInt())), source);
          }
          return;
        }
        if (value.isTuple() || value.isList()) {
          const c10::ArrayRef<c10::IValue> items = value.isTuple() ? value.toTupleRef().elements() : value.toListRef();
          for (size_t i = 0; i < items.size(); ++i) add_input(items[i], name + "." + std::to_string(i), source);
          return;
        }
        json entry = leaf_summary(value, 0);
        entry.erase("values");
        entry["name"] = name;
        entry["source"] = source;
        report["inputs"].push_back(entry);
      };
  for (const FedInput& input : inputs) add_input(input.value, input.name, input.source);
  report["outputs"] = json::array();
  for (const OutputLeaf& leaf : outputs) {
    json entry = leaf_summary(leaf.value, show_values);
    entry["path"] = leaf.path;
    report["outputs"].push_back(entry);
  }
  return report;
}

std::string format_report(const json& report) {
  std::ostringstream text;
  text << "model   " << report["model"].get<std::string>() << " (" << report["format"].get<std::string>() << ", "
       << report["device"].get<std::string>() << ", loaded in " << number(report["load_ms"].get<double>()) << " ms)\n";
  text << "method  " << report["method"].get<std::string>() << " (ran in " << number(report["run_ms"].get<double>())
       << " ms)\n";
  text << "inputs\n";
  for (const json& input : report["inputs"]) {
    text << "  " << input["name"].get<std::string>() << "  ";
    if (input["kind"] == "tensor") {
      text << input["dtype"].get<std::string>() << shape_text(input["shape"]);
    } else {
      text << input["kind"].get<std::string>() << " " << input["value"].dump();
    }
    text << "  (" << input["source"].get<std::string>() << ")\n";
  }
  text << "outputs\n";
  for (const json& output : report["outputs"]) {
    text << "  " << output["path"].get<std::string>() << "  ";
    if (output["kind"] != "tensor") {
      text << output["kind"].get<std::string>() << " " << (output.contains("value") ? output["value"].dump() : "") << "\n";
      continue;
    }
    text << output["dtype"].get<std::string>() << shape_text(output["shape"]);
    if (output.contains("min")) {
      text << "  min " << number(output["min"].get<double>()) << "  max " << number(output["max"].get<double>())
           << "  mean " << number(output["mean"].get<double>()) << "\n      [";
      const json& values = output["values"];
      for (size_t i = 0; i < values.size(); ++i) text << (i ? ", " : "") << number(values[i].get<double>());
      int64_t numel = 1;
      for (const auto& size : output["shape"]) numel *= size.get<int64_t>();
      text << (static_cast<int64_t>(values.size()) < numel ? ", ...]" : "]");
    } else {
      text << "  (empty)";
    }
    text << "\n";
  }
  return text.str();
}

std::string format_verify(const VerifyReport& report) {
  std::ostringstream text;
  text << "verify  " << report.model_path << " on " << report.device << " against its golden outputs (atol "
       << number(report.atol) << ", rtol " << number(report.rtol) << ")\n";
  for (const OutputCheck& check : report.checks) {
    text << "  " << (check.passed ? "PASS" : "FAIL") << "  pair " << check.pair << "  " << check.path << "  max abs "
         << number(check.max_abs) << "  max rel " << number(check.max_rel);
    if (!check.detail.empty()) text << "  (" << check.detail << ")";
    text << "\n";
  }
  text << (report.passed() ? "PASS" : "FAIL") << "\n";
  return text.str();
}

std::vector<std::string> save_outputs(const std::string& dir, const std::vector<OutputLeaf>& outputs) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) throw Error(ErrorCode::kIO, "cannot create output directory '" + dir + "': " + ec.message());
  json manifest = json::object();
  std::vector<std::string> written;
  std::set<std::string> used_names;
  for (const OutputLeaf& leaf : outputs) {
    const at::Tensor tensor = leaf_as_tensor(leaf.value);
    if (!tensor.defined()) {
      manifest[leaf.path] = nullptr;  // None and strings have no .npy form
      continue;
    }
    // Two paths can sanitise to one name ("a[0]" and "a_0"); keep both files.
    std::string file = path_to_filename(leaf.path) + ".npy";
    for (int n = 2; used_names.count(file); ++n) file = path_to_filename(leaf.path) + "_" + std::to_string(n) + ".npy";
    used_names.insert(file);
    const std::string full = (std::filesystem::path(dir) / file).string();
    save_npy(full, tensor);
    manifest[leaf.path] = file;
    written.push_back(full);
  }
  std::ofstream out(std::filesystem::path(dir) / "outputs.json");
  out << manifest.dump(2) << "\n";
  if (!out) throw Error(ErrorCode::kIO, "cannot write " + dir + "/outputs.json");
  return written;
}

std::string format_bench(const BenchmarkResult& r) {
  std::ostringstream out;
  out << std::fixed << std::setprecision(3);
  const LatencyStats& l = r.latency_ms;
  out << "model: " << r.model_path << "  (" << r.format << ", " << r.method << " on " << r.device << ", "
      << r.intra_op_threads << " intra-op threads, concurrency " << r.concurrency << ")\n";
  out << "OpenMP threads wait: " << r.openmp_wait << "\n";
  out << "optimisations:\n";
  for (const std::string& step : r.optimizations) out << "  - " << step << "\n";
  out << "load:            " << r.load_ms << " ms\n";
  out << "first inference: " << r.first_inference_ms << " ms\n";
  out << "warm-up:         " << r.warmup_iters << " calls\n";
  out << "timed:           " << r.iters << " calls in " << r.wall_seconds << " s\n";
  out << "inputs:          " << r.inputs << "\n";
  out << "throughput:      " << std::setprecision(1) << r.throughput << " calls/s";
  if (r.batch_size > 0) out << " = " << r.samples_per_second << " samples/s at batch " << r.batch_size;
  out << "\n" << std::setprecision(3);
  out << "latency (ms):    min " << l.min << "  mean " << l.mean << "  median " << l.median << "  p90 " << l.p90
      << "  p95 " << l.p95 << "  p99 " << l.p99 << "  max " << l.max << "\n";
  out << "variation:       cv " << std::setprecision(1) << 100.0 * l.cv << "%\n";
  if (r.unstable) {
    out << "warning: the latencies vary a lot (cv " << 100.0 * l.cv
        << "%): another process, CPU frequency changes or too few calls; run longer (--duration) on a quiet machine\n";
  }
  out << "peak memory:     " << std::setprecision(1) << static_cast<double>(r.peak_rss_bytes) / (1 << 20)
      << " MiB resident\n";
  if (!r.profile.empty()) {
    out << "operators by self time (per call):\n";
    out << "  " << std::left << std::setw(40) << "operator" << std::right << std::setw(8) << "calls" << std::setw(12)
        << "self ms" << std::setw(12) << "total ms" << std::setw(9) << "self %" << "\n";
    for (const OperatorTime& row : r.profile) {
      out << "  " << std::left << std::setw(40) << row.name << std::right << std::setw(8) << row.calls
          << std::setprecision(3) << std::setw(12) << row.self_ms << std::setw(12) << row.total_ms
          << std::setprecision(1) << std::setw(9) << row.self_percent << "\n";
    }
  }
  return out.str();
}

}  // namespace tsrt::cli
