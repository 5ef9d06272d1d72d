#pragma once
// A per-request deadline for reading request headers, which cpp-httplib 0.11.4 lacks: its
// read timeout is per read, so a client sending a header line every few seconds held a
// worker thread (one a connection) forever, and --threads such clients stopped all service.
//
// A thread looks at every connection ten times a second. A connection whose request is not
// all in (headers, and the body where there is one) and which has nothing unread in its
// receive queue is stalled: a worker waits on it for bytes. Stalled time adds up from the
// connection's start, or from its last answer, and a connection stalled for the deadline in
// all is shut down: its worker's read ends and httplib closes it. Connections queued for a
// worker are not stalled (their request waits unread in the kernel), so clients waiting
// their turn behind busy workers are never cut, nor is a request while it is answered; an
// idle keep-alive connection is stalled, and is cut after the deadline, as httplib's
// keep-alive timeout would. A request must therefore arrive within the deadline: a body
// that takes longer to upload needs a larger --read-timeout-s.

#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <string>
#include <thread>

#include <httplib.h>

namespace tsrt_serve {

class ConnectionWatchdog {
 public:
  /// Starts the thread; `deadline` is the stalled time a request may take to arrive.
  explicit ConnectionWatchdog(std::chrono::milliseconds deadline);
  ~ConnectionWatchdog();  ///< stops the thread
  ConnectionWatchdog(const ConnectionWatchdog&) = delete;
  ConnectionWatchdog& operator=(const ConnectionWatchdog&) = delete;

  /// The request is all in (its headers, and its body where it has one): not stalled while it
  /// is answered.
  void request_began(const httplib::Request& req);
  /// Its answer was written (httplib's logger): the next request's time starts at zero.
  void request_answered(const httplib::Request& req);

  /// Connections shut down so far (for the log and tests).
  size_t dropped() const { return dropped_; }

 private:
  struct Connection {
    bool answering = false;
    std::chrono::steady_clock::duration stalled{};
  };
  void run();

  const std::chrono::milliseconds deadline_;
  std::mutex mutex_;
  std::map<std::string, Connection> connections_;  // by peer, as connection_sockets() names them
  std::atomic<bool> stop_{false};
  std::atomic<size_t> dropped_{0};
  std::thread thread_;
};

}  // namespace tsrt_serve
