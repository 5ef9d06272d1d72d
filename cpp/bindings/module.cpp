// tsrt._C: a thin pybind11 adapter over libtsrt. It converts values and errors
// and releases the GIL while C++ runs; every decision lives in libtsrt.
//
// Structures (signatures, metadata, verify reports, benchmark results) cross as
// the JSON text of libtsrt's serialisers (tsrt/json.h), which python/tsrt/model.py
// parses: one shape per structure, the same ./infer --json prints. Options cross
// as classes with the C++ field names (LoadOptions, OptimizeOptions, BenchmarkOptions).

#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "convert.h"
#include "tsrt/benchmark.h"
#include "tsrt/error.h"
#include "tsrt/generator.h"
#include "tsrt/json.h"
#include "tsrt/libraries.h"
#include "tsrt/model.h"
#include "tsrt/model_report.h"
#include "tsrt/model_summary.h"
#include "tsrt/npy.h"
#include "tsrt/verify.h"

namespace py = pybind11;

namespace tsrt::bindings {
namespace {

// Python positional arguments as IValues, each named by position in errors.
std::vector<c10::IValue> positional_inputs(const py::tuple& args) {
  std::vector<c10::IValue> inputs;
  inputs.reserve(args.size());
  for (size_t i = 0; i < args.size(); ++i) inputs.push_back(to_ivalue(args[i], "input " + std::to_string(i)));
  return inputs;
}

// Runs `method` with positional `args` and keyword `kwargs` (matched to the
// method's argument names).
py::object run(const Model& model, const std::string& method, const py::tuple& args, const py::dict& kwargs) {
  c10::IValue output;
  if (kwargs.empty()) {
    std::vector<c10::IValue> inputs = positional_inputs(args);
    py::gil_scoped_release no_gil;
    output = model.run(method, std::move(inputs));
  } else {
    const MethodSignature signature = model.signature(method);
    if (args.size() > signature.inputs.size()) {
      throw Error(ErrorCode::kInvalidArgument, method + "() takes at most " + std::to_string(signature.inputs.size()) +
                                                   " inputs, got " + std::to_string(args.size() + kwargs.size()));
    }
    std::map<std::string, c10::IValue> named;
    for (size_t i = 0; i < args.size(); ++i) {
      named[signature.inputs[i].name] = to_ivalue(args[i], "input '" + signature.inputs[i].name + "'");
    }
    for (auto item : kwargs) {
      const std::string name = item.first.cast<std::string>();
      if (named.count(name)) throw Error(ErrorCode::kInvalidArgument, "input '" + name + "' given twice");
      named[name] = to_ivalue(item.second, "input '" + name + "'");
    }
    py::gil_scoped_release no_gil;
    output = model.run(method, named);
  }
  return to_python(output);
}

}  // namespace

PYBIND11_MODULE(_C, m) {
  m.doc() = "tsrt's C++ runtime (libtsrt), bound for Python. Use the tsrt package, not this module.";

  // tsrt.Error carries the C++ ErrorCode's name as `.code`.
  static py::handle error_type = py::exception<Error>(m, "Error", PyExc_RuntimeError).release();
  py::register_exception_translator([](std::exception_ptr pointer) {
    try {
      if (pointer) std::rethrow_exception(pointer);
    } catch (const Error& e) {
      // Messages can quote damaged bytes (an entry name, a line of code): never let
      // decoding them to str raise instead of the error itself.
      const std::string message = e.what();
      py::object text = py::reinterpret_steal<py::object>(
          PyUnicode_DecodeUTF8(message.data(), static_cast<Py_ssize_t>(message.size()), "backslashreplace"));
      py::object instance = py::reinterpret_borrow<py::object>(error_type)(text);
      instance.attr("code") = error_code_name(e.code());
      PyErr_SetObject(error_type.ptr(), instance.ptr());
    }
  });

  // The option structs field for field, with C++'s defaults: tsrt.load() and
  // Model.benchmark() take these names as keywords.
  py::class_<OptimizeOptions>(m, "OptimizeOptions")
      .def(py::init<>())
      .def_readwrite("inference_mode", &OptimizeOptions::inference_mode)
      .def_readwrite("freeze", &OptimizeOptions::freeze)
      .def_readwrite("optimize_for_inference", &OptimizeOptions::optimize_for_inference)
      .def_readwrite("onednn_fusion", &OptimizeOptions::onednn_fusion)
      .def_readwrite("onednn_fusion_shapes", &OptimizeOptions::onednn_fusion_shapes)
      .def_readwrite("graph_executor_optimize", &OptimizeOptions::graph_executor_optimize)
      .def_readwrite("adaptive_threads", &OptimizeOptions::adaptive_threads)
      // As text ("fp32", "bf16", "fp16", or their long names): what users type.
      .def_property(
          "precision", [](const OptimizeOptions& options) { return to_string(options.precision); },
          [](OptimizeOptions& options, const std::string& text) { options.precision = parse_precision(text); })
      .def_readwrite("warmup_runs", &OptimizeOptions::warmup_runs);

  py::class_<LoadOptions>(m, "LoadOptions")
      .def(py::init<>())
      .def_readwrite("device", &LoadOptions::device)
      .def_readwrite("check_inputs", &LoadOptions::check_inputs)
      .def_readwrite("allowed_operators", &LoadOptions::allowed_operators)
      .def_readwrite("verify_checksums", &LoadOptions::verify_checksums)
      .def_readwrite("describe_only", &LoadOptions::describe_only)
      .def_readwrite("optimize", &LoadOptions::optimize)
      .def_readwrite("max_input_bytes", &LoadOptions::max_input_bytes)
      .def_readwrite("libraries", &LoadOptions::libraries);

  py::class_<BenchmarkOptions>(m, "BenchmarkOptions")
      .def(py::init<>())
      .def_readwrite("method", &BenchmarkOptions::method)
      .def_readwrite("warmup_iters", &BenchmarkOptions::warmup_iters)
      .def_readwrite("warmup_seconds", &BenchmarkOptions::warmup_seconds)
      .def_readwrite("iters", &BenchmarkOptions::iters)
      .def_readwrite("duration_seconds", &BenchmarkOptions::duration_seconds)
      .def_readwrite("concurrency", &BenchmarkOptions::concurrency)
      .def_readwrite("profile_iters", &BenchmarkOptions::profile_iters)
      .def_readwrite("profile_top", &BenchmarkOptions::profile_top)
      .def_readwrite("unstable_cv", &BenchmarkOptions::unstable_cv);

  py::class_<Model>(m, "Model")
      .def_property_readonly("path", &Model::path)
      .def_property_readonly("device", [](const Model& model) { return model.device().str(); })
      .def_property_readonly("format", &Model::format)
      .def_property_readonly("methods", &Model::method_names)
      .def("signature", [](const Model& model, const std::string& method) { return to_json(model.signature(method)); })
      .def_property_readonly("extra_files", [](const Model& model) {
        py::dict files;
        for (const auto& [name, contents] : model.extra_files()) files[py::str(name)] = py::bytes(contents);
        return files;
      })
      .def_property_readonly("metadata_json", [](const Model& model) -> py::object {
        if (!model.metadata()) return py::none();
        return py::str(to_json(*model.metadata()));
      })
      .def("report", [](const Model& model, bool as_json, bool with_code) {
        py::gil_scoped_release no_gil;
        return as_json ? model_report_json(model) : model_report_text(model, with_code);
      }, py::arg("json") = false, py::arg("with_code") = true)
      .def("verify", [](const Model& model) {
        py::gil_scoped_release no_gil;
        return to_json(verify_golden(model));
      })
      .def("run", &run, py::arg("method"), py::arg("args"), py::arg("kwargs"))
      .def_property_readonly("optimizations", &Model::optimizations)
      .def_property_readonly("runtime_report", &Model::runtime_report)
      .def_property_readonly("load_ms", &Model::load_ms)
      .def("benchmark", [](const Model& model, const py::tuple& args, const BenchmarkOptions& options) {
        const std::vector<c10::IValue> inputs = positional_inputs(args);
        py::gil_scoped_release no_gil;
        return to_json(benchmark(model, inputs, options));
      }, py::arg("args"), py::arg("options"));

  py::class_<SamplingOptions>(m, "SamplingOptions")
      .def(py::init<>())
      .def_readwrite("temperature", &SamplingOptions::temperature)
      .def_readwrite("top_k", &SamplingOptions::top_k)
      .def_readwrite("top_p", &SamplingOptions::top_p)
      .def_readwrite("seed", &SamplingOptions::seed);

  // One sequence over a shared Model (tsrt/generator.h); python/tsrt/generation/generator.py wraps it.
  py::class_<Generator>(m, "Generator")
      .def(py::init<Model, SamplingOptions>(), py::arg("model"), py::arg("sampling") = SamplingOptions())
      .def("append_tokens", &Generator::append_tokens, py::arg("tokens"))
      .def("next_token", [](Generator& generator) {
        py::gil_scoped_release no_gil;
        return generator.next_token();
      })
      .def("generate", [](Generator& generator, int64_t max_new_tokens, py::object on_token) {
        if (on_token.is_none()) {
          py::gil_scoped_release no_gil;
          return generator.generate(max_new_tokens);
        }
        py::gil_scoped_release no_gil;
        return generator.generate(max_new_tokens, [&](int64_t token) {
          py::gil_scoped_acquire gil;
          on_token(token);
        });
      }, py::arg("max_new_tokens"), py::arg("on_token") = py::none())
      .def("rewind", &Generator::rewind, py::arg("length"))
      .def_property_readonly("tokens", &Generator::tokens)
      .def_property_readonly("context_limit", [](const Generator& g) { return g.contract().context_limit; })
      .def_property_readonly("eos_token_ids", [](const Generator& g) { return g.contract().eos_token_ids; })
      .def_property_readonly("stats", [](const Generator& g) {
        py::dict stats;
        stats["first_token_ms"] = g.stats().first_token_ms;
        stats["decode_ms"] = g.stats().decode_ms;
        stats["new_tokens"] = g.stats().new_tokens;
        stats["decode_tokens_per_second"] = g.stats().decode_tokens_per_second();
        return stats;
      });

  m.def(
      "generate_batch",
      [](const Model& model, const std::vector<std::vector<int64_t>>& prompts, int64_t max_new_tokens,
         const SamplingOptions& sampling) {
        py::gil_scoped_release no_gil;
        return generate_batch(model, prompts, max_new_tokens, sampling);
      },
      py::arg("model"), py::arg("prompts"), py::arg("max_new_tokens"), py::arg("sampling") = SamplingOptions());
  m.def(
      "load",
      [](const std::string& path, const LoadOptions& options) {
        py::gil_scoped_release no_gil;
        return Model::load(path, options);
      },
      py::arg("path"), py::arg("options") = LoadOptions());
  m.def(
      "audit_code",
      [](const std::string& path) {
        const CodeAudit audit = audit_code(path);
        py::dict result;
        result["operators"] = audit.operators;
        result["audit"] = audit.audit_operators;
        result["runs_at_load"] = audit.runs_at_load;
        return result;
      },
      py::arg("path"), "What a TorchScript file's code calls, read from its archive without loading it.");
  m.def("outside_reaching_operators", &outside_reaching_operators,
        "Every aten:: and prim:: operator of the registry that reaches outside tensors (tsrt inspect --audit).");
  m.def("load_library", &load_library, py::arg("path"),
        "dlopen an operator library (RTLD_GLOBAL) so that models calling its operators load.");
  m.def("torchvision_ops_library", &torchvision_ops_library,
        "The path of libtsrt_torchvision_ops.so beside libtsrt, or '' when it is not installed.");
  m.def("set_num_threads", &set_intra_op_threads, py::arg("threads"),
        "LibTorch's intra-op threads for the whole process (at::set_num_threads).");

  m.def("load_npy", [](const std::string& path) { return to_python(load_npy(path)); }, py::arg("path"));
  m.def(
      "save_npy",
      [](const std::string& path, py::handle tensor) {
        const c10::IValue value = to_ivalue(tensor, "save_npy");
        if (!value.isTensor()) {
          throw Error(ErrorCode::kInvalidArgument, "save_npy: expected a tensor or numpy array, got " +
                                                       py::str(py::type::of(tensor).attr("__name__")).cast<std::string>());
        }
        save_npy(path, value.toTensor());
      },
      py::arg("path"), py::arg("tensor"));
}

}  // namespace tsrt::bindings
