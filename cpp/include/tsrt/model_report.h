#pragma once
// A description of a model file for people and machines: what `./infer --info`
// and `tsrt inspect` print. Methods and signatures, the tsrt metadata, operators
// with counts, weights, the forward code, and warnings about what will break at
// deployment (custom operators, baked-in devices, a torch version skew).

#include <string>

#include "tsrt/model.h"

namespace tsrt {

/// The report as a JSON document: model, format, methods (one to_json(MethodSignature)
/// document each), metadata (to_json(ModelMetadata) with golden as a count, or null),
/// the to_json(ModelSummary) fields (operators, custom_operators, audit,
/// device_constants, parameters, runtime_torch_version, compiled, package), then
/// warnings and code. See tsrt/json.h for each part's shape.
std::string model_report_json(const Model& model);

/// The same report as text. `with_code` appends the forward code.
std::string model_report_text(const Model& model, bool with_code = true);

}  // namespace tsrt
