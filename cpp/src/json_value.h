#pragma once
// The serialisers of tsrt/json.h as nlohmann JSON values, for libtsrt's own
// documents that embed them (the model report). Private: nlohmann stays out of
// the public headers, so consumers of the installed package need no copy of it.

#include <nlohmann/json.hpp>

#include "tsrt/json.h"

namespace tsrt {

/// Keys in the order they are set: documents read in the order a person expects.
using Json = nlohmann::ordered_json;

Json json_value(const TensorSpec& spec);
Json json_value(const MethodSignature& signature);
Json json_value(const ModelMetadata& metadata);
Json json_value(const ModelSummary& summary);
Json json_value(const VerifyReport& report);
Json json_value(const BenchmarkResult& result);

/// `value` as text: one line when indent < 0; invalid UTF-8 replaced, never thrown.
std::string dump_json(const Json& value, int indent);

}  // namespace tsrt
