// Unit tests of tsrt::Model on zoo exports (argv[1]: the directory the
// export_zoo fixture wrote): loading, signatures, metadata, nested outputs,
// input checks, load failures, concurrent calls on one Model, and the intra-op
// thread count on the threads that call it.

#include <ATen/ATen.h>
#include <dlfcn.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "check.h"
#include "tsrt/benchmark.h"
#include "tsrt/model.h"
#include "tsrt/outputs.h"

namespace fs = std::filesystem;
using tsrt::ErrorCode;

namespace {

std::string dir;
std::string zoo(const std::string& file) { return (fs::path(dir) / file).string(); }

void write_file(const std::string& path, const std::string& contents) {
  std::ofstream out(path, std::ios::binary);
  out << contents;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void test_load_and_signature() {
  const tsrt::Model model = tsrt::Model::load(zoo("mlp.script.pt"));
  TSRT_CHECK(model.format() == "torchscript");
  TSRT_CHECK(model.device().is_cpu());
  TSRT_CHECK(model.has_method("forward"));
  const tsrt::MethodSignature signature = model.signature();
  TSRT_CHECK(signature.inputs.size() == 1);
  TSRT_CHECK(signature.inputs[0].name == "x");
  TSRT_CHECK(signature.inputs[0].type == "Tensor");
  TSRT_CHECK(signature.inputs[0].spec.has_value());
  TSRT_CHECK(signature.inputs[0].spec->shape == std::vector<int64_t>({4, 64}));
  TSRT_CHECK(model.metadata().has_value());
  TSRT_CHECK(model.metadata()->export_mode == "script");
  TSRT_CHECK(model.extra_files().count("tsrt.json") == 1);

  const c10::IValue out = model.forward({at::randn({3, 64})});
  TSRT_CHECK(out.isTensor());
  TSRT_CHECK(out.toTensor().size(0) == 3);
}

void test_extra_method() {
  const tsrt::Model model = tsrt::Model::load(zoo("extra_method.script.pt"));
  TSRT_CHECK(model.has_method("embed"));
  const c10::IValue embedded = model.run("embed", {at::randn({2, 20})});
  TSRT_CHECK(embedded.isTensor());
  TSRT_CHECK_THROWS(model.run("nope", {at::randn({2, 20})}), ErrorCode::kInvalidArgument, "has no method 'nope'");
}

void test_nested_outputs() {
  const tsrt::Model model = tsrt::Model::load(zoo("multi_io.script.pt"));
  std::map<std::string, c10::IValue> named{{"a", at::randn({2, 8})}, {"b", at::randn({2, 8})},
                                          {"index", at::randint(0, 8, {2}, at::kLong)}};
  const c10::IValue out = model.run("forward", named);
  const auto leaves = tsrt::flatten_outputs(out);
  TSRT_CHECK(leaves.size() == 3);
  TSRT_CHECK(leaves[0].path == "output[0]");
  TSRT_CHECK(leaves[1].path.rfind("output[1]['", 0) == 0);
  TSRT_CHECK(tsrt::path_to_filename("output[1]['scores']") == "output_1_scores");

  const tsrt::Model mixed = tsrt::Model::load(zoo("mixed_outputs.script.pt"));
  const auto mixed_leaves = tsrt::flatten_outputs(mixed.forward({at::randn({2, 5})}));
  TSRT_CHECK(mixed_leaves[1].value.isNone());
  TSRT_CHECK(mixed_leaves[2].value.isInt());
  TSRT_CHECK(mixed_leaves[3].value.isDouble());
  TSRT_CHECK(mixed_leaves[4].value.isBool());
}

void test_bad_inputs() {
  const tsrt::Model model = tsrt::Model::load(zoo("mlp.script.pt"));
  TSRT_CHECK_THROWS(model.forward({}), ErrorCode::kInvalidArgument, "takes 1 input, got 0. Missing: x");
  TSRT_CHECK_THROWS(model.forward({at::randn({2, 64}), at::randn({2, 64})}), ErrorCode::kInvalidArgument, "got 2");
  TSRT_CHECK_THROWS(model.forward({at::randn({2, 64}, at::kDouble)}), ErrorCode::kInvalidArgument,
                    "input 'x' expects dtype float32, got float64");
  TSRT_CHECK_THROWS(model.forward({at::randn({64})}), ErrorCode::kInvalidArgument, "expects rank 2");
  TSRT_CHECK_THROWS(model.forward({at::randn({2, 63})}), ErrorCode::kInvalidArgument, "expects size 64 in dimension 1");
  TSRT_CHECK_THROWS(model.forward({c10::IValue(3)}), ErrorCode::kInvalidArgument, "input 'x' expects Tensor, got int 3");
  TSRT_CHECK_THROWS(model.run("forward", std::map<std::string, c10::IValue>{{"y", at::randn({2, 64})}}),
                    ErrorCode::kInvalidArgument, "missing input 'x'");

  // Without the metadata checks, LibTorch's own failure becomes a kRuntime error
  // that names the model, the method and the input shapes.
  tsrt::LoadOptions unchecked;
  unchecked.check_inputs = false;
  const tsrt::Model raw = tsrt::Model::load(zoo("mlp.script.pt"), unchecked);
  TSRT_CHECK_THROWS(raw.forward({at::randn({2, 63})}), ErrorCode::kRuntime, "failed in forward(x: float32[2, 63])");
}

void test_bad_files() {
  TSRT_CHECK_THROWS(tsrt::Model::load(zoo("missing.pt")), ErrorCode::kIO, "does not exist");
  const std::string text = zoo("not_a_model.pt");
  write_file(text, "hello, I am not a model\n");
  TSRT_CHECK_THROWS(tsrt::Model::load(text), ErrorCode::kInvalidModel, "not a model archive");
  const std::string empty = zoo("empty.pt");
  write_file(empty, "");
  TSRT_CHECK_THROWS(tsrt::Model::load(empty), ErrorCode::kInvalidModel, "is empty");
  const std::string whole = read_file(zoo("mlp.script.pt"));
  const std::string truncated = zoo("truncated.pt");
  write_file(truncated, whole.substr(0, whole.size() / 2));
  TSRT_CHECK_THROWS(tsrt::Model::load(truncated), ErrorCode::kInvalidModel, "truncated.pt");
  TSRT_CHECK_THROWS(tsrt::Model::load(zoo("mlp.script.pt"), {"tpu"}), ErrorCode::kInvalidArgument, "unknown device 'tpu'");
}

// 8 threads x 500 calls on mixed shapes through one Model give outputs identical
// to a serial run. gru_seq is scripted with a loop over time: the profiling
// executor specialises per shape, so concurrent calls at different shapes race
// on its plan cache if anything does.
void test_threads(const std::string& file, std::vector<at::Tensor> inputs) {
  const tsrt::Model model = tsrt::Model::load(zoo(file));
  std::vector<at::Tensor> expected;
  for (const at::Tensor& input : inputs) expected.push_back(model.forward({input}).toTupleRef().elements()[0].toTensor());
  std::atomic<int> mismatches{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int call = 0; call < 500; ++call) {
        const size_t which = static_cast<size_t>(t + call) % inputs.size();
        const at::Tensor out = model.forward({inputs[which]}).toTupleRef().elements()[0].toTensor();
        if (!at::equal(out, expected[which])) ++mismatches;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  TSRT_CHECK(mismatches == 0);
}

// set_intra_op_threads reaches every thread that calls run: LibTorch's count is per
// thread for OpenMP (and MKL), and a thread whose Linear calls MKL's sgemm without
// entering at::parallel_for kept OpenMP's default team of every core. Last: it sets
// the count for the whole process.
void test_intra_op_threads_reach_every_caller() {
  using MaxThreads = int (*)();
  const auto omp_max_threads = reinterpret_cast<MaxThreads>(dlsym(RTLD_DEFAULT, "omp_get_max_threads"));
  if (!omp_max_threads) {
    std::cout << "test_intra_op_threads_reach_every_caller: skipped, LibTorch without OpenMP\n";
    return;
  }
  const tsrt::Model model = tsrt::Model::load(zoo("mlp.trace.pt"));
  const int chosen = static_cast<int>(std::thread::hardware_concurrency()) + 1;  // never OpenMP's default
  tsrt::set_intra_op_threads(chosen);
  int seen = 0;
  std::thread([&] {
    model.forward({at::randn({1, 64})});
    seen = omp_max_threads();
  }).join();
  TSRT_CHECK(seen == chosen);
}

}  // namespace

int main(int argc, char** argv) {
  TSRT_CHECK(argc == 2);
  dir = argv[1];
  test_load_and_signature();
  test_extra_method();
  test_nested_outputs();
  test_bad_inputs();
  test_bad_files();
  test_threads("gru_seq.script.pt", {at::randn({1, 3, 12}), at::randn({2, 7, 12}), at::randn({4, 1, 12}),
                                     at::randn({3, 11, 12})});
  test_intra_op_threads_reach_every_caller();
  std::cout << "test_model: all checks passed\n";
  return 0;
}
