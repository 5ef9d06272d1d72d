#include "http_limits.h"

#include <dirent.h>
#include <netdb.h>
#include <sys/socket.h>

#include <cstdlib>
#include <utility>
#include <vector>

#include "oip.h"

namespace tsrt_serve {
namespace {

const char* reason(int status) {
  switch (status) {
    case 400: return "Bad Request";
    case 411: return "Length Required";
    case 413: return "Payload Too Large";
    case 431: return "Request Header Fields Too Large";
    case 501: return "Not Implemented";
    default: return "Error";
  }
}

}  // namespace

std::vector<std::pair<int, std::string>> connection_sockets() {
  std::vector<std::pair<int, std::string>> sockets;
  DIR* fds = opendir("/proc/self/fd");
  if (!fds) return sockets;
  while (const dirent* entry = readdir(fds)) {
    if (entry->d_name[0] < '0' || entry->d_name[0] > '9') continue;
    const int fd = std::atoi(entry->d_name);
    if (fd == dirfd(fds)) continue;
    sockaddr_storage peer{};
    socklen_t length = sizeof peer;
    if (getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &length) != 0) continue;  // not a connected socket
    char host[NI_MAXHOST];
    char port[NI_MAXSERV];
    if (getnameinfo(reinterpret_cast<sockaddr*>(&peer), length, host, sizeof host, port, sizeof port,
                    NI_NUMERICHOST | NI_NUMERICSERV) == 0) {
      sockets.emplace_back(fd, std::string(host) + ":" + port);
    }
  }
  closedir(fds);
  return sockets;
}

std::string peer_of(const httplib::Request& req) { return req.remote_addr + ":" + std::to_string(req.remote_port); }

bool is_infer_route(const httplib::Request& req) {
  const std::string& path = req.path;
  const std::string prefix = "/v2/models/";
  const std::string suffix = "/infer";
  return req.method == "POST" && path.size() > prefix.size() + suffix.size() && path.compare(0, prefix.size(), prefix) == 0 &&
         path.compare(path.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::optional<Refusal> refuse_before_reading(const httplib::Request& req) {
  if (req.headers.size() > kMaxHeaders) {
    return Refusal{431, std::to_string(req.headers.size()) + " header fields; at most " + std::to_string(kMaxHeaders)};
  }
  size_t header_bytes = 0;
  for (const auto& [name, value] : req.headers) header_bytes += name.size() + value.size() + 4;  // ": ", CRLF
  if (header_bytes > kMaxHeaderBytes) {
    return Refusal{431, "the header fields take " + std::to_string(header_bytes) + " bytes; at most " +
                            std::to_string(kMaxHeaderBytes)};
  }
  const size_t lengths = req.get_header_value_count("Content-Length");
  const bool chunked = req.has_header("Transfer-Encoding");
  if (lengths > 1) return Refusal{400, "Content-Length is given " + std::to_string(lengths) + " times"};
  if (lengths == 1 && chunked) return Refusal{400, "Content-Length and Transfer-Encoding may not come together"};
  if (chunked && req.get_header_value("Transfer-Encoding") != "chunked") {
    return Refusal{501, "Transfer-Encoding '" + excerpt_text(req.get_header_value("Transfer-Encoding")) + "' is not chunked"};
  }
  if (req.method == "POST" && lengths == 0 && !chunked) return Refusal{411, "a POST needs Content-Length or chunked"};
  if (!is_infer_route(req) && (chunked || req.has_header("Content-Encoding"))) {
    return Refusal{400, "only POST /v2/models/NAME/infer takes a chunked or compressed body"};
  }
  return std::nullopt;
}

bool answer_and_close(const httplib::Request& req, int status, const std::string& body) {
  // httplib 0.11.4 gives a hook the request but not its socket: it is found by its peer
  // address, unique among the sockets this server accepted (it makes no connections of its
  // own). The current thread holds that connection, so its descriptor can't close meanwhile.
  int fd = -1;
  for (const auto& [socket, peer] : connection_sockets()) {
    if (peer == peer_of(req)) fd = socket;
  }
  if (fd < 0) return false;
  const std::string answer = "HTTP/1.1 " + std::to_string(status) + " " + reason(status) +
                             "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
                             "\r\nConnection: close\r\n\r\n" + body;
  size_t sent = 0;
  while (sent < answer.size()) {
    const ssize_t n = ::send(fd, answer.data() + sent, answer.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) break;
    sent += static_cast<size_t>(n);
  }
  // Both directions: httplib's write of its own copy fails, and it closes the socket.
  ::shutdown(fd, SHUT_RDWR);
  return true;
}

}  // namespace tsrt_serve
