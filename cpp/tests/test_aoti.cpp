// Unit tests of tsrt::Model on an AOTInductor package (argv[1]: the directory the
// export_zoo fixture wrote, with mlp.aoti.pt2): the C++ API a service embeds, with
// no Python in the process: format, signature from the metadata, golden pairs,
// input checks, and concurrent calls on one Model.

#include <ATen/ATen.h>

#include <atomic>
#include <filesystem>
#include <thread>

#include "check.h"
#include "tsrt/model.h"
#include "tsrt/verify.h"

namespace fs = std::filesystem;
using tsrt::ErrorCode;

namespace {

std::string package;

void test_load_and_verify() {
  const tsrt::Model model = tsrt::Model::load(package);
  TSRT_CHECK(model.format() == "aoti");
  TSRT_CHECK(model.method_names() == std::vector<std::string>{"forward"});
  const tsrt::MethodSignature signature = model.signature();
  TSRT_CHECK(signature.inputs.size() == 1 && signature.inputs[0].name == "x" && signature.inputs[0].spec);
  TSRT_CHECK(model.metadata() && model.metadata()->export_mode == "torch.export");
  TSRT_CHECK(model.summary().compiled && model.summary().parameter_count > 0);
  const tsrt::VerifyReport report = tsrt::verify_golden(model);
  TSRT_CHECK(report.passed() && report.checks.size() == 2);
  const at::Tensor out = model.forward({at::randn({1, 64})}).toTensor();
  TSRT_CHECK(out.sizes() == at::IntArrayRef({1, 10}));
}

void test_bad_inputs() {
  const tsrt::Model model = tsrt::Model::load(package);
  TSRT_CHECK_THROWS(model.forward({at::randn({2, 64}, at::kDouble)}), ErrorCode::kInvalidArgument, "expects dtype float32");
  TSRT_CHECK_THROWS(model.forward({at::randn({2, 32})}), ErrorCode::kInvalidArgument, "expects size 64 in dimension 1");
  TSRT_CHECK_THROWS(tsrt::Model::load(package, {.device = "cpu", .check_inputs = true,
                                                .allowed_operators = std::vector<std::string>{"aten::*"}}),
                    ErrorCode::kUnsupported, "compiled AOTInductor package");
}

// 8 threads x 300 calls at four batch sizes through one Model equal a serial run:
// more threads than the container has model instances on this machine, so calls
// also wait for one another.
void test_threads() {
  const tsrt::Model model = tsrt::Model::load(package);
  std::vector<at::Tensor> inputs = {at::randn({1, 64}), at::randn({2, 64}), at::randn({7, 64}), at::randn({33, 64})};
  std::vector<at::Tensor> expected;
  for (const at::Tensor& input : inputs) expected.push_back(model.forward({input}).toTensor());
  std::atomic<int> mismatches{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int call = 0; call < 300; ++call) {
        const size_t which = static_cast<size_t>(t + call) % inputs.size();
        if (!at::equal(model.forward({inputs[which]}).toTensor(), expected[which])) ++mismatches;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  TSRT_CHECK(mismatches == 0);
}

}  // namespace

int main(int argc, char** argv) {
  TSRT_CHECK(argc == 2);
  package = (fs::path(argv[1]) / "mlp.aoti.pt2").string();
  test_load_and_verify();
  test_bad_inputs();
  test_threads();
  std::cout << "test_aoti: all checks passed\n";
  return 0;
}
