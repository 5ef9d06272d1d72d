#pragma once
// A description of a model file for people and machines: what `./infer --info`
// and `tsrt inspect` print. Methods and signatures, the tsrt metadata, operators
// with counts, weights, the forward code, and warnings about what will break at
// deployment (custom operators, baked-in devices, a torch version skew).

#include <string>

#include "tsrt/model.h"

namespace tsrt {

/// The report as a JSON document (keys: model, format, methods, metadata,
/// operators, custom_operators, device_constants, parameters, warnings, code).
std::string model_report_json(const Model& model);

/// The same report as text. `with_code` appends the forward code.
std::string model_report_text(const Model& model, bool with_code = true);

}  // namespace tsrt
