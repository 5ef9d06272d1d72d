#pragma once
// What tsrt_serve refuses at the HTTP level, before a request's body is read, and how it
// closes a connection whose unread bytes must not be taken for a next request.
//
// cpp-httplib 0.11.4 (Debian's) reads all of a request's headers before any hook runs, limits
// only Content-Length bodies, and reads a chunked or compressed body whole; its
// pre-routing hook sees the headers before the body. These checks run there.

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <httplib.h>

namespace tsrt_serve {

constexpr size_t kMaxHeaders = 100;           ///< tritonclient sends 6; browsers and proxies stay under 30
constexpr size_t kMaxHeaderBytes = 64 << 10;  ///< names and values together

struct Refusal {
  int status;           ///< 400, 411, 431 or 501
  std::string message;  ///< for {"error": ...}
};

/// Every connected socket of this process with its peer, "ADDRESS:PORT" as httplib writes
/// a request's remote_addr and remote_port: the accepted connections (tsrt_serve makes none).
std::vector<std::pair<int, std::string>> connection_sockets();

/// The request's peer in connection_sockets()'s form.
std::string peer_of(const httplib::Request& req);

/// POST /v2/models/.../infer: the one route that takes a body (and reads it with a limit).
bool is_infer_route(const httplib::Request& req);

/// The refusal for a request this server must not read on, or nullopt: more than
/// kMaxHeaders header fields or kMaxHeaderBytes of them (431); Content-Length twice, or
/// with Transfer-Encoding (400: two framings a proxy and this server could read
/// differently); a Transfer-Encoding other than chunked (501); a POST with neither
/// framing (411: httplib would read it until the client closes); a chunked or compressed
/// body on any route but infer (400: httplib would read it whole, unlimited).
std::optional<Refusal> refuse_before_reading(const httplib::Request& req);

/// Writes `status` with the JSON `body` to the request's connection, then shuts the
/// connection down, so that httplib's own write of the response fails and it closes the
/// socket instead of reading the bytes that follow as a new request. Returns false when
/// the connection's socket was not found (the caller's response is then sent as usual).
bool answer_and_close(const httplib::Request& req, int status, const std::string& body);

}  // namespace tsrt_serve
