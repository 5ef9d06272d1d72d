#pragma once
// tsrt's structures as JSON documents: one serialiser per structure, so that
// ./infer --json, the Python bindings (tsrt._C) and a service embedding libtsrt
// all write the same shape. The shapes are those of docs/tsrt.schema.json where
// the structure is part of a model file's contract (TensorSpec, ModelMetadata);
// each function below spells out its document.
//
// Text, not a JSON object type, crosses this header: consumers need no JSON
// library, and the header needs no LibTorch (the structures are only declared).
//
//   std::cout << tsrt::to_json(model.signature("forward"), 2) << "\n";

#include <string>

namespace tsrt {

struct TensorSpec;
struct MethodSignature;
struct ModelMetadata;
struct ModelSummary;
struct VerifyReport;
struct BenchmarkResult;

/// `indent` < 0 writes one line; >= 0 pretty-prints with that many spaces a level.
/// None of these throw but std::bad_alloc; strings that are not UTF-8 (names from
/// a damaged file) are written with U+FFFD in place of the bad bytes.

/// {"name", "dtype" (numpy's name), "shape": [int], "dynamic_dims": [int],
///  "value_range": [low, high] only when set}: an input spec of tsrt.json.
std::string to_json(const TensorSpec& spec, int indent = -1);

/// {"method", "inputs": [{"name", "type", "has_default", "default": str or null,
///  "spec": TensorSpec document or null}], "return_type", "output_names": [str],
///  "text": MethodSignature::to_string()}.
std::string to_json(const MethodSignature& signature, int indent = -1);

/// The tsrt.json document (docs/tsrt.schema.json, format_version 1): the fields
/// ModelMetadata models, plus every other field of ModelMetadata::json kept as read.
std::string to_json(const ModelMetadata& metadata, int indent = -1);

/// {"operators": {op: count} (most used first), "custom_operators", "audit",
///  "device_constants", "parameters": {"count", "bytes"}, "runtime_torch_version",
///  "compiled", "package": {...} (compiled packages only), "code"}.
std::string to_json(const ModelSummary& summary, int indent = -1);

/// {"model", "device", "atol", "rtol", "passed", "checks": [{"pair", "path",
///  "passed", "max_abs", "max_rel", "detail"}]}.
std::string to_json(const VerifyReport& report, int indent = -1);

/// {"model", "method", "device", "format", "optimizations", "intra_op_threads",
///  "openmp_wait", "concurrency", "load_ms", "first_inference_ms", "warmup_iters", "warmup_seconds",
///  "iters", "wall_seconds", "throughput_per_s", "latency_ms": {"min", "mean",
///  "median", "p90", "p95", "p99", "max", "stddev"}, "cv", "unstable",
///  "rss_before_bytes", "peak_rss_bytes", "profile": [{"name", "calls", "self_ms",
///  "total_ms", "self_percent"}]}: times in ms unless the key says seconds.
std::string to_json(const BenchmarkResult& result, int indent = -1);

}  // namespace tsrt
