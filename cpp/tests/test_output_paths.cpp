// The one output-path rule in C++ (tsrt::flatten_outputs), checked against the
// fixture the Python rule (tsrt.contract.flatten_outputs) is checked against:
// tests/fixtures/output_paths.json (argv[1]: the source tree). Golden outputs
// recorded in Python are matched by these paths with what libtsrt returns.

#include <ATen/ATen.h>
#include <ATen/core/Dict.h>
#include <ATen/core/ivalue.h>

#include <filesystem>
#include <fstream>
#include <iterator>

#include <nlohmann/json.hpp>

#include "check.h"
#include "tsrt/outputs.h"

namespace {

using Json = nlohmann::ordered_json;

// A fixture output as an IValue: "T" a tensor, arrays tuples (names map onto the
// elements of a returned tuple), objects dicts with str keys, null None.
c10::IValue build(const Json& value) {
  if (value.is_string()) return at::zeros({1});
  if (value.is_null()) return c10::IValue();
  if (value.is_array()) {
    std::vector<c10::IValue> elements;
    for (const Json& element : value) elements.push_back(build(element));
    return c10::ivalue::Tuple::create(std::move(elements));
  }
  c10::impl::GenericDict dict(c10::StringType::get(), c10::AnyType::get());
  for (const auto& [key, element] : value.items()) dict.insert(key, build(element));
  return dict;
}

}  // namespace

int main(int argc, char** argv) {
  TSRT_CHECK(argc == 2);
  std::ifstream in(std::filesystem::path(argv[1]) / "tests" / "fixtures" / "output_paths.json");
  TSRT_CHECK(static_cast<bool>(in));
  const Json fixture = Json::parse(std::string(std::istreambuf_iterator<char>(in), {}));
  int cases = 0;
  for (const Json& item : fixture.at("cases")) {
    std::vector<std::string> paths;
    for (const tsrt::OutputLeaf& leaf :
         tsrt::flatten_outputs(build(item.at("output")), item.at("names").get<std::vector<std::string>>())) {
      paths.push_back(leaf.path);
    }
    if (paths != item.at("paths").get<std::vector<std::string>>()) {
      std::cerr << "case " << cases << ": got " << Json(paths).dump() << ", expected " << item.at("paths").dump()
                << "\n";
      return 1;
    }
    ++cases;
  }
  TSRT_CHECK(cases >= 8);
  std::cout << "test_output_paths: " << cases << " cases match\n";
  return 0;
}
