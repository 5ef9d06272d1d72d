// The tsrt.json contract in C++ (argv[1]: the source tree): parse_metadata on the
// checked-in fixture (tests/fixtures/tsrt.json), every field; the fixture and the
// serialisers of tsrt/json.h against the schema (docs/tsrt.schema.json); and the
// documents of the other serialisers, key by key. The Python reader is tested
// against the same two files, so the readers and writers cannot drift apart.

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include "check.h"
#include "tsrt/benchmark.h"
#include "tsrt/input_tree.h"
#include "tsrt/json.h"
#include "tsrt/metadata.h"
#include "tsrt/signature.h"
#include "tsrt/verify.h"

namespace fs = std::filesystem;
using tsrt::ErrorCode;
using Json = nlohmann::json;

namespace {

std::string source_dir;

std::string read_file(const std::string& relative) {
  const fs::path path = fs::path(source_dir) / relative;
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::cerr << "cannot read " << path << "\n";
    std::exit(1);
  }
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// A check of `value` against the parts of JSON Schema that docs/tsrt.schema.json
// uses (type, required, properties, additionalProperties, items, $ref, enum,
// const, minimum, minItems, maxItems, allOf of if/then): no validator library is needed for them.
// Returns the first violation as "where: what", or "" when `value` conforms.
std::string violation(const Json& value, const Json& schema, const Json& root, const std::string& where) {
  if (schema.contains("$ref")) {
    const std::string ref = schema["$ref"].get<std::string>();  // "#/$defs/NAME"
    return violation(value, root.at(Json::json_pointer(ref.substr(1))), root, where);
  }
  // allOf of {"if": ..., "then": ...}: an input node's kind decides what else it needs.
  for (const Json& part : schema.value("allOf", Json::array())) {
    if (part.contains("if") && !violation(value, part["if"], root, where).empty()) continue;
    const std::string found = violation(value, part.contains("then") ? part["then"] : part, root, where);
    if (!found.empty()) return found;
  }
  if (schema.contains("type")) {
    const Json types = schema["type"].is_array() ? schema["type"] : Json::array({schema["type"]});
    bool matches = false;
    for (const Json& type : types) {
      const std::string t = type.get<std::string>();
      matches |= (t == "object" && value.is_object()) || (t == "array" && value.is_array()) ||
                 (t == "string" && value.is_string()) || (t == "boolean" && value.is_boolean()) ||
                 (t == "null" && value.is_null()) || (t == "number" && value.is_number()) ||
                 (t == "integer" && value.is_number_integer());
    }
    if (!matches) return where + ": expected " + types.dump() + ", got " + value.dump();
  }
  if (schema.contains("const") && value != schema["const"]) return where + ": expected " + schema["const"].dump();
  if (schema.contains("enum") && std::find(schema["enum"].begin(), schema["enum"].end(), value) == schema["enum"].end()) {
    return where + ": " + value.dump() + " is not one of " + schema["enum"].dump();
  }
  if (schema.contains("minimum") && value.is_number() && value.get<double>() < schema["minimum"].get<double>()) {
    return where + ": below the minimum";
  }
  if (value.is_array()) {
    if (schema.contains("minItems") && value.size() < schema["minItems"].get<size_t>()) return where + ": too few items";
    if (schema.contains("maxItems") && value.size() > schema["maxItems"].get<size_t>()) return where + ": too many items";
    if (schema.contains("items")) {
      for (size_t i = 0; i < value.size(); ++i) {
        const std::string found = violation(value[i], schema["items"], root, where + "[" + std::to_string(i) + "]");
        if (!found.empty()) return found;
      }
    }
  }
  if (value.is_object()) {
    for (const Json& key : schema.value("required", Json::array())) {
      if (!value.contains(key.get<std::string>())) return where + ": missing required key " + key.dump();
    }
    const Json properties = schema.value("properties", Json::object());
    for (const auto& [key, item] : value.items()) {
      std::string found;
      if (properties.contains(key)) {
        found = violation(item, properties[key], root, where + "." + key);
      } else if (schema.contains("additionalProperties") && schema["additionalProperties"].is_object()) {
        found = violation(item, schema["additionalProperties"], root, where + "." + key);
      } else if (schema.contains("additionalProperties") && !schema["additionalProperties"].get<bool>()) {
        found = where + ": unexpected key " + key;
      }
      if (!found.empty()) return found;
    }
  }
  return "";
}

#define TSRT_CHECK_CONFORMS(value, schema_part)                                                        \
  do {                                                                                                 \
    const std::string found_ = violation((value), (schema_part), schema(), "$");                      \
    if (!found_.empty()) {                                                                             \
      std::cerr << __FILE__ << ":" << __LINE__ << ": " #value " does not conform: " << found_ << "\n"; \
      std::exit(1);                                                                                    \
    }                                                                                                  \
  } while (0)

const Json& schema() {
  static const Json parsed = Json::parse(read_file("docs/tsrt.schema.json"));
  return parsed;
}

const Json& schema_def(const std::string& name) { return schema().at("$defs").at(name); }

std::vector<std::string> keys_of(const Json& object) {
  std::vector<std::string> keys;
  for (const auto& [key, value] : object.items()) keys.push_back(key);
  std::sort(keys.begin(), keys.end());
  return keys;
}

std::vector<std::string> sorted(std::vector<std::string> keys) {
  std::sort(keys.begin(), keys.end());
  return keys;
}

void test_fixture_parses_field_by_field() {
  const std::string text = read_file("tests/fixtures/tsrt.json");
  const tsrt::ModelMetadata metadata = tsrt::parse_metadata(text, "fixture");
  TSRT_CHECK(metadata.format_version == 2);
  TSRT_CHECK(metadata.producer == "tsrt 0.1.0");
  TSRT_CHECK(metadata.torch_version == "2.13.0+cpu");
  TSRT_CHECK(metadata.created == "2026-12-01T08:20:00+00:00");
  TSRT_CHECK(metadata.export_mode == "script");
  TSRT_CHECK(metadata.export_reason == "outputs are not all tensors; the scripted module matches eager");
  TSRT_CHECK(metadata.source == "models.contract_fixture.ContractFixture");
  TSRT_CHECK(metadata.findings.size() == 1 && metadata.findings[0].rfind("[script] forward returns None", 0) == 0);
  TSRT_CHECK(Json::parse(metadata.json).at("frozen") == true);  // TorchScript-only, not modelled
  TSRT_CHECK(metadata.json == text);  // fields C++ does not model stay reachable

  TSRT_CHECK(metadata.methods.size() == 3);
  const tsrt::MethodMetadata* forward = metadata.method("forward");
  TSRT_CHECK(forward != nullptr);
  TSRT_CHECK(forward->inputs.size() == 3);
  const tsrt::TensorSpec& x = forward->inputs[0];
  TSRT_CHECK(x.name == "x");
  TSRT_CHECK(x.dtype == c10::ScalarType::Float);
  TSRT_CHECK((x.shape == std::vector<int64_t>{2, 16}));
  TSRT_CHECK((x.dynamic_dims == std::vector<int64_t>{0}));
  TSRT_CHECK(!x.has_value_range);
  const tsrt::TensorSpec& ids = forward->inputs[1];
  TSRT_CHECK(ids.name == "ids");
  TSRT_CHECK(ids.dtype == c10::ScalarType::Long);
  TSRT_CHECK((ids.shape == std::vector<int64_t>{2, 8}));
  TSRT_CHECK((ids.dynamic_dims == std::vector<int64_t>{0, 1}));
  TSRT_CHECK(ids.has_value_range && ids.low == 0 && ids.high == 1000);
  const tsrt::TensorSpec& mask = forward->inputs[2];
  TSRT_CHECK(mask.name == "mask");
  TSRT_CHECK(mask.dtype == c10::ScalarType::Bool);
  TSRT_CHECK(mask.shape.empty() && mask.dynamic_dims.empty());
  TSRT_CHECK((forward->output_names == std::vector<std::string>{"logits", "aux", "count"}));
  TSRT_CHECK(forward->output_structure == "Tuple[Tensor, None, int]");

  const tsrt::MethodMetadata* encode = metadata.method("encode");
  TSRT_CHECK(encode != nullptr);
  TSRT_CHECK(encode->inputs.size() == 2);
  TSRT_CHECK(encode->inputs[0].name == "tokens");
  TSRT_CHECK(encode->inputs[0].dtype == c10::ScalarType::UInt16);
  TSRT_CHECK((encode->inputs[0].shape == std::vector<int64_t>{1, 4}));
  TSRT_CHECK((encode->inputs[0].dynamic_dims == std::vector<int64_t>{1}));
  TSRT_CHECK(encode->inputs[0].has_value_range && encode->inputs[0].low == 0 && encode->inputs[0].high == 30000);
  TSRT_CHECK(encode->inputs[1].dtype == c10::ScalarType::Double);
  TSRT_CHECK(encode->inputs[1].has_value_range && encode->inputs[1].low == -0.5 && encode->inputs[1].high == 0.5);
  TSRT_CHECK(encode->output_names.empty());
  TSRT_CHECK(encode->output_structure.empty());
  TSRT_CHECK(metadata.method("missing") == nullptr);

  TSRT_CHECK(metadata.atol == 2e-5);
  TSRT_CHECK(metadata.rtol == 1e-3);

  TSRT_CHECK(metadata.golden.size() == 2);
  for (size_t index = 0; index < metadata.golden.size(); ++index) {
    const tsrt::GoldenPair& pair = metadata.golden[index];
    const std::string prefix = "golden/" + std::to_string(index) + "/";
    TSRT_CHECK(pair.method == "forward");
    TSRT_CHECK((pair.input_files ==
                std::vector<std::string>{prefix + "input_0.npy", prefix + "input_1.npy", prefix + "input_2.npy"}));
    TSRT_CHECK(pair.output_files.size() == 3);
    TSRT_CHECK(pair.output_files[0] == std::make_pair(std::string("logits"), prefix + "output_0.npy"));
    // A None output is recorded with file null, read as an empty name.
    TSRT_CHECK(pair.output_files[1] == std::make_pair(std::string("aux"), std::string()));
    TSRT_CHECK(pair.output_files[2] == std::make_pair(std::string("count"), prefix + "output_2.npy"));
  }
}

// Every dtype name of the C++ table round-trips through a tsrt.json document.
void test_every_dtype_reads() {
  const std::vector<std::string> names = {"bool",    "uint8",    "int8",    "int16",   "int32",
                                          "int64",   "uint16",   "uint32",  "uint64",  "float16",
                                          "bfloat16", "float32", "float64", "complex64", "complex128"};
  for (const std::string& name : names) {
    const std::string text = R"({"format_version": 1, "methods": {"forward": {"inputs": [{"name": "x", "dtype": ")" +
                             name + R"(", "shape": [1], "dynamic_dims": []}], "outputs": []}}})";
    const tsrt::ModelMetadata metadata = tsrt::parse_metadata(text, "dtype " + name);
    TSRT_CHECK(tsrt::dtype_name(metadata.method("forward")->inputs[0].dtype) == name);
  }
}

void test_bad_documents_name_the_file() {
  TSRT_CHECK_THROWS(tsrt::parse_metadata("{", "bad.pt"), ErrorCode::kInvalidModel, "bad.pt");
  TSRT_CHECK_THROWS(tsrt::parse_metadata("{}", "noversion.pt"), ErrorCode::kInvalidModel, "format_version");
  TSRT_CHECK_THROWS(tsrt::parse_metadata(
                        R"({"format_version": 1, "methods": {"forward": {"inputs": [{"name": "x", "dtype": "float8", "shape": [1]}]}}})",
                        "dtype.pt"),
                    ErrorCode::kInvalidModel, "unknown dtype 'float8'");
  TSRT_CHECK_THROWS(tsrt::parse_metadata(
                        R"({"format_version": 1, "methods": {"forward": {"inputs": [{"name": "x", "dtype": "float32", "shape": [-1]}]}}})",
                        "negative.pt"),
                    ErrorCode::kInvalidModel, "negative dimension in input 'x'");
}

void test_fixture_conforms_to_schema() {
  TSRT_CHECK(schema().at("x-tsrt-format-version") == tsrt::kMetadataFormatVersion);
  TSRT_CHECK(schema().at("additionalProperties") == true);  // later fields must not break old readers
  TSRT_CHECK_CONFORMS(Json::parse(read_file("tests/fixtures/tsrt.json")), schema());
  // The validator above does catch what it checks.
  Json broken = Json::parse(read_file("tests/fixtures/tsrt.json"));
  broken["methods"]["forward"]["inputs"][0].erase("dtype");
  TSRT_CHECK(!violation(broken, schema(), schema(), "$").empty());
  broken = Json::parse(read_file("tests/fixtures/tsrt.json"));
  broken["golden"][0]["outputs"][1]["file"] = 3;
  TSRT_CHECK(!violation(broken, schema(), schema(), "$").empty());
}

// The schema's dtype list is the C++ table: every name round-trips, no other name parses.
void test_schema_dtypes_are_the_cpp_table() {
  for (const Json& name : schema_def("dtype").at("enum")) {
    TSRT_CHECK(tsrt::dtype_name(tsrt::dtype_from_name(name.get<std::string>())) == name.get<std::string>());
  }
  TSRT_CHECK(schema_def("dtype").at("enum").size() == 15);
}

// tsrt.json read and written back by C++ is the same document: every field,
// the ones ModelMetadata models and the ones it keeps as read.
void test_metadata_round_trip() {
  const std::string text = read_file("tests/fixtures/tsrt.json");
  const Json written = Json::parse(tsrt::to_json(tsrt::parse_metadata(text, "fixture")));
  TSRT_CHECK_CONFORMS(written, schema());
  TSRT_CHECK(written == Json::parse(text));
  // Fields a newer writer adds inside modelled objects survive too.
  Json newer = Json::parse(text);
  newer["tolerance"]["source"] = "measured";
  newer["methods"]["forward"]["inputs"][0]["layout"] = "NCHW";
  newer["golden"][1]["seed"] = 7;
  newer["golden"][1]["outputs"][0]["dtype"] = "float32";
  TSRT_CHECK(Json::parse(tsrt::to_json(tsrt::parse_metadata(newer.dump(), "newer"))) == newer);
  // Built in C++ from nothing: still a complete document.
  tsrt::ModelMetadata made;
  made.format_version = 1;
  made.methods["forward"].inputs.push_back(tsrt::parse_tensor_spec("x=2x3:int32"));
  made.golden.push_back({"forward", {"golden/0/input_0.npy"}, {{"output", ""}}});
  const Json document = Json::parse(tsrt::to_json(made, 2));
  TSRT_CHECK_CONFORMS(document, schema());
  TSRT_CHECK(document["golden"][0]["outputs"][0]["file"].is_null());
}

void test_tensor_spec_document() {
  tsrt::TensorSpec spec = tsrt::parse_tensor_spec("ids=4x7:uint32");
  spec.dynamic_dims = {0, 1};
  Json document = Json::parse(tsrt::to_json(spec));
  TSRT_CHECK_CONFORMS(document, schema_def("tensor_spec"));
  TSRT_CHECK(document == Json::parse(R"({"name": "ids", "dtype": "uint32", "shape": [4, 7], "dynamic_dims": [0, 1]})"));
  spec.has_value_range = true;
  spec.low = 0;
  spec.high = 30000;
  document = Json::parse(tsrt::to_json(spec));
  TSRT_CHECK_CONFORMS(document, schema_def("tensor_spec"));
  TSRT_CHECK(document["value_range"] == Json::parse("[0, 30000]"));
  TSRT_CHECK(tsrt::to_json(spec).find('\n') == std::string::npos);  // indent < 0: one line
  TSRT_CHECK(tsrt::to_json(spec, 2).find("\n  \"name\"") != std::string::npos);
}

void test_signature_document() {
  tsrt::MethodSignature signature;
  signature.method = "forward";
  signature.return_type = "Tuple[Tensor, int]";
  signature.output_names = {"y", "count"};
  tsrt::ArgumentInfo x;
  x.name = "x";
  x.type = "Tensor";
  x.spec = tsrt::parse_tensor_spec("x=2x16");
  tsrt::ArgumentInfo k;
  k.name = "k";
  k.type = "int";
  k.has_default = true;
  k.default_value = "3";
  signature.inputs = {x, k};
  const Json document = Json::parse(tsrt::to_json(signature));
  TSRT_CHECK((keys_of(document) == sorted({"method", "inputs", "return_type", "output_names", "text"})));
  TSRT_CHECK(document["text"] == signature.to_string());
  TSRT_CHECK((document["output_names"] == Json{"y", "count"}));
  for (const Json& input : document["inputs"]) {
    TSRT_CHECK((keys_of(input) == sorted({"name", "type", "has_default", "default", "spec"})));
  }
  // An input's spec has the shape of a tsrt.json input: one shape for one structure.
  TSRT_CHECK_CONFORMS(document["inputs"][0]["spec"], schema_def("tensor_spec"));
  TSRT_CHECK(document["inputs"][0]["default"].is_null());
  TSRT_CHECK(document["inputs"][1]["spec"].is_null());
  TSRT_CHECK(document["inputs"][1]["default"] == "3");
}

void test_verify_document() {
  tsrt::VerifyReport report;
  report.model_path = "m.pt";
  report.device = "cpu";
  report.atol = 1e-5;
  report.rtol = 1e-4;
  report.checks.push_back({0, "logits", true, 1e-7, 1e-6, ""});
  report.checks.push_back({0, "aux", false, 0, 0, "expected None"});
  const Json document = Json::parse(tsrt::to_json(report));
  TSRT_CHECK((keys_of(document) == sorted({"model", "device", "atol", "rtol", "passed", "checks"})));
  TSRT_CHECK(document["passed"] == false);
  TSRT_CHECK(document["checks"].size() == 2);
  TSRT_CHECK((keys_of(document["checks"][0]) == sorted({"pair", "path", "passed", "max_abs", "max_rel", "detail"})));
  TSRT_CHECK(document["checks"][1]["detail"] == "expected None");
}

void test_benchmark_document() {
  tsrt::BenchmarkResult result;
  result.model_path = "m.pt";
  result.latency_ms.median = 1.5;
  result.throughput = 640;
  result.profile.push_back({"aten::linear", 20, 0.5, 0.7, 71.4});
  const Json document = Json::parse(tsrt::to_json(result));
  TSRT_CHECK((keys_of(document) ==
              sorted({"model", "method", "device", "format", "optimizations", "intra_op_threads", "openmp_wait", "concurrency",
                      "load_ms", "first_inference_ms", "warmup_iters", "warmup_seconds", "iters", "wall_seconds",
                      "throughput_per_s", "inputs", "batch_size", "samples_per_s", "latency_ms", "cv", "unstable",
                      "rss_before_bytes", "peak_rss_bytes", "profile"})));
  TSRT_CHECK((keys_of(document["latency_ms"]) == sorted({"min", "mean", "median", "p90", "p95", "p99", "max", "stddev"})));
  TSRT_CHECK(document["latency_ms"]["median"] == 1.5 && document["throughput_per_s"] == 640);
  TSRT_CHECK((keys_of(document["profile"][0]) == sorted({"name", "calls", "self_ms", "total_ms", "self_percent"})));
}

void test_summary_document() {
  tsrt::ModelSummary summary;
  summary.operators = {{"aten::linear", 3}, {"aten::relu", 5}};
  summary.parameter_count = 10;
  const Json document = Json::parse(tsrt::to_json(summary));
  TSRT_CHECK((keys_of(document) == sorted({"operators", "custom_operators", "audit", "device_constants", "parameters",
                                           "runtime_torch_version", "compiled", "code"})));
  TSRT_CHECK(document["parameters"]["count"] == 10);
  // Most used first (an ordered document, compared as text).
  const std::string text = tsrt::to_json(summary);
  TSRT_CHECK(text.find("aten::relu") < text.find("aten::linear"));
  summary.compiled = true;
  summary.package_metadata = {{"AOTI_DEVICE_KEY", "cpu"}};
  TSRT_CHECK(Json::parse(tsrt::to_json(summary))["package"]["AOTI_DEVICE_KEY"] == "cpu");
}

// Names from a damaged file may be any bytes: the serialisers replace, not throw.
void test_invalid_utf8_is_replaced() {
  tsrt::TensorSpec spec;
  spec.name = std::string("x\xff", 2);
  const Json document = Json::parse(tsrt::to_json(spec));
  TSRT_CHECK(document["name"] == "x\xEF\xBF\xBD");
}

// format_version 2's input trees: every kind of node, as the fixture's "score" has them.
void test_fixture_input_trees() {
  using Kind = tsrt::InputNode::Kind;
  const tsrt::ModelMetadata metadata = tsrt::parse_metadata(read_file("tests/fixtures/tsrt.json"), "fixture");
  const tsrt::MethodMetadata* score = metadata.method("score");
  TSRT_CHECK(score != nullptr);
  TSRT_CHECK(score->input_nodes.size() == 7);
  TSRT_CHECK(score->inputs.empty());  // no argument is a plain tensor
  const tsrt::InputNode& batch = score->input_nodes[0];
  TSRT_CHECK(batch.kind == Kind::kDict && batch.name == "batch");
  TSRT_CHECK((batch.keys == std::vector<std::string>{"input_ids", "mask"}));
  TSRT_CHECK(batch.items[1].spec.name == "batch.mask" && batch.items[1].spec.dtype == c10::ScalarType::Bool);
  TSRT_CHECK(batch.type_string() == "Dict[str, Tensor]");
  const tsrt::InputNode& pair = score->input_nodes[1];
  TSRT_CHECK(pair.kind == Kind::kTuple && pair.items.size() == 2 && pair.type_string() == "Tuple[Tensor, Tensor]");
  const tsrt::InputNode& feats = score->input_nodes[2];
  TSRT_CHECK(feats.kind == Kind::kList && feats.variable_length && feats.length == 2);
  TSRT_CHECK(feats.type_string() == "List[Tensor]");
  const std::vector<tsrt::TensorSpec> leaves = feats.leaves();
  TSRT_CHECK(leaves.size() == 2 && leaves[0].name == "feats.0" && leaves[1].name == "feats.1");
  TSRT_CHECK(score->input_nodes[3].kind == Kind::kList && !score->input_nodes[3].variable_length);
  const tsrt::InputNode& temperature = score->input_nodes[4];
  TSRT_CHECK(temperature.kind == Kind::kScalar && temperature.is_fixed() && temperature.value.toDouble() == 0.5);
  TSRT_CHECK(temperature.type_string() == "float" && temperature.value_string() == "0.5");
  const tsrt::InputNode& use_cache = score->input_nodes[5];
  TSRT_CHECK(use_cache.scalar_type == tsrt::InputNode::ScalarType::kBool && !use_cache.is_fixed());
  TSRT_CHECK(score->input_nodes[6].kind == Kind::kNone && score->input_nodes[6].is_fixed());

  // Random arguments from the tree pass its own check; wrong ones are named by path.
  const std::string prefix = "m.pt, score(): ";
  for (const tsrt::InputNode& node : score->input_nodes) tsrt::check_input_tree(node, tsrt::random_input(node, 0), prefix);
  c10::IValue good = tsrt::random_input(batch, 0);
  c10::impl::GenericDict wrong_dtype = good.toGenericDict().copy();
  wrong_dtype.insert_or_assign(std::string("mask"), at::zeros({2, 8}));
  TSRT_CHECK_THROWS(tsrt::check_input_tree(batch, wrong_dtype, prefix), ErrorCode::kInvalidArgument,
                    "input 'batch.mask' expects dtype bool, got float32");
  c10::impl::GenericDict missing = good.toGenericDict().copy();
  (void)missing.erase(std::string("mask"));
  TSRT_CHECK_THROWS(tsrt::check_input_tree(batch, missing, prefix), ErrorCode::kInvalidArgument,
                    "input 'batch' lacks key 'mask'");
  c10::impl::GenericDict extra = good.toGenericDict().copy();
  extra.insert(std::string("masks"), at::zeros({2, 8}).to(at::kBool));
  TSRT_CHECK_THROWS(tsrt::check_input_tree(batch, extra, prefix), ErrorCode::kInvalidArgument, "has key 'masks'");
  TSRT_CHECK_THROWS(tsrt::check_input_tree(pair, at::zeros({2, 4}), prefix), ErrorCode::kInvalidArgument,
                    "input 'pair' expects a Tuple[Tensor, Tensor]");
  TSRT_CHECK_THROWS(tsrt::check_input_tree(temperature, 0.7, prefix), ErrorCode::kInvalidArgument,
                    "input 'temperature' was fixed to 0.5 at export");
  TSRT_CHECK_THROWS(tsrt::check_input_tree(temperature, int64_t{1}, prefix), ErrorCode::kInvalidArgument,
                    "input 'temperature' expects float, got int 1");
  TSRT_CHECK_THROWS(tsrt::check_input_tree(score->input_nodes[6], at::zeros({1}), prefix),
                    ErrorCode::kInvalidArgument, "input 'extra' was None at export");
  // A variable-length list takes another length, each item checked as feats.<i>.
  c10::impl::GenericList three(c10::TensorType::get());
  for (int i = 0; i < 3; ++i) three.push_back(at::zeros({4, 5}));
  tsrt::check_input_tree(feats, three, prefix);
  three.set(2, at::zeros({4, 6}));
  TSRT_CHECK_THROWS(tsrt::check_input_tree(feats, three, prefix), ErrorCode::kInvalidArgument,
                    "input 'feats.2' expects size 5 in dimension 1");
  // A fixed-length list (a trace) refuses another length.
  c10::impl::GenericList one(c10::TensorType::get());
  one.push_back(at::zeros({1, 3}));
  TSRT_CHECK_THROWS(tsrt::check_input_tree(score->input_nodes[3], one, prefix), ErrorCode::kInvalidArgument,
                    "expects a list of 2 items");
  // Leaves in order rebuild the argument; too few is a model error.
  std::vector<at::Tensor> two = {at::ones({2, 4}), at::zeros({2, 4})};
  size_t next = 0;
  const c10::IValue rebuilt = tsrt::input_from_leaves(pair, two, next);
  TSRT_CHECK(next == 2 && rebuilt.toTupleRef().elements()[0].toTensor().sum().item<double>() == 8);
  next = 1;
  TSRT_CHECK_THROWS(tsrt::input_from_leaves(pair, two, next), ErrorCode::kInvalidModel, "too few");
}

// A format_version 1 file (flat tensor specs) still reads: each spec is a tensor node.
void test_version_1_fixture_reads() {
  const tsrt::ModelMetadata metadata = tsrt::parse_metadata(read_file("tests/fixtures/tsrt_v1.json"), "v1");
  TSRT_CHECK(metadata.format_version == 1);
  const tsrt::MethodMetadata* forward = metadata.method("forward");
  TSRT_CHECK(forward->inputs.size() == 3 && forward->input_nodes.size() == 3);
  TSRT_CHECK(forward->input_nodes[1].kind == tsrt::InputNode::Kind::kTensor);
  TSRT_CHECK(forward->input_nodes[1].spec.name == "ids" && forward->input_nodes[1].spec.high == 1000);
  TSRT_CHECK_CONFORMS(Json::parse(read_file("tests/fixtures/tsrt_v1.json")), schema());
  TSRT_CHECK_THROWS(tsrt::parse_metadata(R"({"format_version": 3, "methods": {}})", "v3.pt"),
                    ErrorCode::kInvalidModel, "newer than this tsrt reads");
  TSRT_CHECK_THROWS(tsrt::parse_metadata(R"({"format_version": 2, "methods": {"forward": {"inputs": )"
                                         R"([{"name": "x", "kind": "set"}]}}})", "kind.pt"),
                    ErrorCode::kInvalidModel, "unknown kind 'set'");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: test_contract SOURCE_DIR\n";
    return 2;
  }
  source_dir = argv[1];
  test_fixture_parses_field_by_field();
  test_every_dtype_reads();
  test_bad_documents_name_the_file();
  test_fixture_input_trees();
  test_version_1_fixture_reads();
  test_fixture_conforms_to_schema();
  test_schema_dtypes_are_the_cpp_table();
  test_metadata_round_trip();
  test_tensor_spec_document();
  test_signature_document();
  test_verify_document();
  test_benchmark_document();
  test_summary_document();
  test_invalid_utf8_is_replaced();
  std::cout << "test_contract: ok\n";
  return 0;
}
