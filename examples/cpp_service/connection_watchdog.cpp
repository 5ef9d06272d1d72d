#include "connection_watchdog.h"

#include <sys/ioctl.h>
#include <sys/socket.h>

#include <set>

#include "http_limits.h"

namespace tsrt_serve {

namespace {
constexpr std::chrono::milliseconds kScanInterval(100);  // the deadline holds to within this

bool still_peer(int fd, const std::string& peer) {
  for (const auto& [socket, now] : connection_sockets()) {
    if (socket == fd) return now == peer;
  }
  return false;
}
}  // namespace

ConnectionWatchdog::ConnectionWatchdog(std::chrono::milliseconds deadline)
    : deadline_(deadline), thread_([this] { run(); }) {}

ConnectionWatchdog::~ConnectionWatchdog() {
  stop_ = true;
  thread_.join();
}

void ConnectionWatchdog::request_began(const httplib::Request& req) {
  std::lock_guard<std::mutex> lock(mutex_);
  connections_[peer_of(req)].answering = true;
}

void ConnectionWatchdog::request_answered(const httplib::Request& req) {
  std::lock_guard<std::mutex> lock(mutex_);
  Connection& connection = connections_[peer_of(req)];
  connection.answering = false;
  connection.stalled = {};
}

void ConnectionWatchdog::run() {
  auto last = std::chrono::steady_clock::now();
  while (!stop_) {
    std::this_thread::sleep_for(kScanInterval);
    const auto now = std::chrono::steady_clock::now();
    const auto elapsed = now - last;
    last = now;
    std::set<std::string> open;
    for (const auto& [fd, peer] : connection_sockets()) {
      open.insert(peer);
      int unread = 0;
      if (ioctl(fd, FIONREAD, &unread) != 0) continue;
      std::lock_guard<std::mutex> lock(mutex_);
      Connection& connection = connections_[peer];
      if (connection.answering || unread > 0) continue;
      connection.stalled += elapsed;
      if (connection.stalled >= deadline_) {
        // The descriptor may have closed since the scan and now be another connection's: ask again.
        if (still_peer(fd, peer)) ::shutdown(fd, SHUT_RDWR);  // the worker's read returns; httplib closes the socket
        connections_.erase(peer);
        ++dropped_;
      }
    }
    std::lock_guard<std::mutex> lock(mutex_);
    for (auto it = connections_.begin(); it != connections_.end();) {
      it = open.count(it->first) ? std::next(it) : connections_.erase(it);
    }
  }
}

}  // namespace tsrt_serve
