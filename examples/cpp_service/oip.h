#pragma once
// The Open Inference Protocol (KServe v2) REST messages, with the binary tensor data
// extension: parsing an inference request into tensors and writing the response.
// No HTTP here: bodies in, bodies out, ProtocolError for what the client got wrong.
//
// A request body is a JSON object, optionally followed by raw tensor bytes; the
// Inference-Header-Content-Length header then gives the JSON part's length, and each
// binary input says its byte count in parameters.binary_data_size, in input order.

#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <ATen/core/ivalue.h>
#include <nlohmann/json.hpp>

#include "model_info.h"

namespace tsrt_serve {

/// A request refused before or instead of running the model: the HTTP status and
/// a message for people. Sent as {"error": message}, as the protocol says.
struct ProtocolError : std::runtime_error {
  ProtocolError(int status, const std::string& message) : std::runtime_error(message), status(status) {}
  int status;
};

/// How deep a request's JSON may nest (objects and arrays): a tensor of rank 16 as nested
/// "data" lists inside {"inputs": [{...}]} needs 19, so 32 leaves room. Deeper requests are
/// refused while parsing, before they become a tree that recursive code (dump(), the
/// destructor of older nlohmann versions) would walk: 100,000 nested arrays crashed it.
constexpr int kMaxJsonDepth = 32;

/// `value` as JSON text for a response. Strings from clients may hold invalid UTF-8 (a
/// path's %FF, a header value) or be cut in the middle of a character; dump() throws on
/// those, so they are written as U+FFFD instead.
std::string dump_json(const nlohmann::json& value);

/// `value` as JSON text for an error message, cut to at most `limit` bytes ("..." after).
std::string excerpt(const nlohmann::json& value, size_t limit = 80);

/// `text` cut to at most `limit` bytes ("..." after): client bytes quoted in a message.
std::string excerpt_text(std::string_view text, size_t limit = 80);

/// "FP32" for kFloat, "INT64", "BOOL", ...; throws ProtocolError(500) for a dtype
/// the protocol has no name for.
std::string datatype_name(c10::ScalarType dtype);

struct RequestedOutput {
  std::string name;
  bool binary = false;
};

struct InferRequest {
  std::string id;                               ///< echoed in the response when given
  std::string method = "forward";               ///< parameters.method: tsrt's extension for exported methods
  std::map<std::string, c10::IValue> inputs;    ///< CPU tensors by name
  std::vector<RequestedOutput> outputs;         ///< empty: all outputs
  bool binary_outputs = false;                  ///< parameters.binary_data_output
};

/// Parses an inference request. `header_length` is Inference-Header-Content-Length
/// when the client sent it. Throws ProtocolError(400) naming the input and the
/// problem: not JSON, a missing or mistyped field, an unknown datatype, data that
/// does not fill the shape, binary sizes that disagree with the shape or the body.
InferRequest parse_infer_request(std::string_view body, std::optional<size_t> header_length);

struct EncodedResponse {
  std::string body;
  std::optional<size_t> header_length;  ///< set when binary data follows the JSON
};

/// The response to `request`: its outputs (every leaf of `output`, named by
/// `output_names` as tsrt::flatten_outputs names them, None leaves left out), as
/// JSON data or binary as the request asked. Throws ProtocolError(400) for a
/// requested output the model does not have.
EncodedResponse encode_infer_response(const std::string& model_name, const InferRequest& request,
                                      const c10::IValue& output, const std::vector<std::string>& output_names);

/// GET /v2/models/NAME: name, versions, platform, inputs and outputs.
nlohmann::json model_metadata_json(const ModelInfo& info);

}  // namespace tsrt_serve
