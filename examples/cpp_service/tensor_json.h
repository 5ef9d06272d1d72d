#pragma once
// JSON <-> tensors for the HTTP API of tsrt_serve.
//
// A tensor travels as {"shape": [2, 3], "dtype": "float32", "data": [... 6 values, row-major]}.

#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tsrt/model.h"

namespace tsrt_serve {

/// A request the server refuses before the model sees it: HTTP status, a stable
/// error code ("invalid_json", "not_found", ...) and a message for people.
struct RequestError : std::runtime_error {
  RequestError(int status, std::string code, const std::string& message)
      : std::runtime_error(message), status(status), code(std::move(code)) {}
  int status;
  std::string code;
};

/// Builds a CPU tensor from {"shape", "dtype", "data"}; `what` names it in errors
/// ("input 'x'"). Throws RequestError(400) for a missing field, an unknown dtype,
/// a value count that does not match the shape, or a value of the wrong kind.
at::Tensor tensor_from_json(const nlohmann::json& value, const std::string& what);

/// The outputs as [{"name", "shape", "dtype", "data"}], one per leaf of the output
/// structure (named by `names`, see tsrt::flatten_outputs); None leaves have
/// "data": null and no shape, strings a "data" string.
nlohmann::json outputs_to_json(const c10::IValue& output, const std::vector<std::string>& names);

/// What GET /v1/models/NAME answers: the file, format, methods, and forward's
/// inputs (name, type, dtype, shape, dynamic_dims) and outputs.
nlohmann::json model_to_json(const std::string& name, const tsrt::Model& model);

}  // namespace tsrt_serve
