#include "providers/tcp_check.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <condition_variable>
#include <cstring>
#include <mutex>
#include <thread>

namespace reconcile::providers {

namespace {

using Clock = std::chrono::steady_clock;
using resources::TcpCheckObserved;
using resources::TcpCheckResource;

std::string address_text(const sockaddr* address) {
  char host[INET6_ADDRSTRLEN] = "";
  int port = 0;
  if (address->sa_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(address);
    ::inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
    port = ntohs(in->sin_port);
    return std::string(host) + ":" + std::to_string(port);
  }
  const auto* in6 = reinterpret_cast<const sockaddr_in6*>(address);
  ::inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
  port = ntohs(in6->sin6_port);
  return "[" + std::string(host) + "]:" + std::to_string(port);
}

// Connects to one address before the deadline; "" when it answered, else why not.
std::string connect_before(const addrinfo& ai, Clock::time_point deadline) {
  const int fd = ::socket(ai.ai_family, ai.ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai.ai_protocol);
  if (fd < 0) return std::strerror(errno);
  std::string error;
  if (::connect(fd, ai.ai_addr, ai.ai_addrlen) != 0) {
    if (errno != EINPROGRESS) {
      error = std::strerror(errno);
    } else {
      while (true) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
        if (left <= 0) {
          error = "timed out";
          break;
        }
        pollfd p{fd, POLLOUT, 0};
        const int ready = ::poll(&p, 1, static_cast<int>(left));
        if (ready < 0 && errno == EINTR) continue;
        if (ready < 0) {
          error = std::strerror(errno);
          break;
        }
        if (ready == 0) continue;
        int so_error = 0;
        socklen_t length = sizeof so_error;
        ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &so_error, &length);
        if (so_error != 0) error = std::strerror(so_error);
        break;
      }
    }
  }
  ::close(fd);
  for (char& c : error) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return error;
}

}  // namespace

TcpCheckObserved probe_tcp(const std::string& host, int port, std::chrono::milliseconds timeout) {
  TcpCheckObserved seen;
  seen.probed = true;
  const auto started = Clock::now();
  const auto deadline = started + timeout;
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_ADDRCONFIG;
  addrinfo* found = nullptr;
  const std::string service = std::to_string(port);
  int rc = ::getaddrinfo(host.c_str(), service.c_str(), &hints, &found);
  if (rc == EAI_NONAME || rc == EAI_ADDRFAMILY || rc == EAI_NODATA) {
    hints.ai_flags = 0;  // AI_ADDRCONFIG hides ::1 and 127.0.0.1 on a host whose only interface is lo
    rc = ::getaddrinfo(host.c_str(), service.c_str(), &hints, &found);
  }
  if (rc != 0) {
    seen.error = std::string("cannot resolve ") + host + ": " + ::gai_strerror(rc);
    seen.seconds = std::chrono::duration<double>(Clock::now() - started).count();
    return seen;
  }
  for (const addrinfo* ai = found; ai != nullptr; ai = ai->ai_next) {
    const auto tried = Clock::now();
    seen.address = address_text(ai->ai_addr);
    const std::string error = connect_before(*ai, deadline);
    seen.seconds = std::chrono::duration<double>(Clock::now() - tried).count();
    if (error.empty()) {
      seen.answered = true;
      seen.error.clear();
      break;
    }
    seen.error = error == "timed out" ? "no answer within " + std::to_string(timeout.count()) + " ms" : error;
    if (Clock::now() >= deadline) break;
  }
  ::freeaddrinfo(found);
  return seen;
}

std::vector<Observation> TcpCheckProvider::observe(Session& session,
                                                   std::span<const TcpCheckResource* const> resources) const {
  // Every probe at once, each in a thread of its own that owns its result (a resolver that hangs past the
  // deadline is left behind, never waited for).
  struct Shared {
    std::mutex mutex;
    std::condition_variable done;
    std::vector<std::optional<TcpCheckObserved>> results;
    std::size_t finished = 0;
  };
  auto shared = std::make_shared<Shared>();
  shared->results.resize(resources.size());
  int longest = 0;
  for (std::size_t i = 0; i < resources.size(); ++i) {
    const auto* check = resources[i];
    longest = std::max(longest, check->timeout_ms());
    std::thread([shared, i, host = check->host(), port = check->port(), timeout = check->timeout_ms()] {
      TcpCheckObserved seen;
      try {
        seen = probe_tcp(host, port, std::chrono::milliseconds(timeout));
      } catch (const std::exception& e) {
        seen.probed = true;
        seen.error = std::string("probe failed: ") + e.what();
      }
      const std::lock_guard lock(shared->mutex);
      shared->results[i] = std::move(seen);
      ++shared->finished;
      shared->done.notify_all();
    }).detach();
  }
  {
    std::unique_lock lock(shared->mutex);
    shared->done.wait_for(lock, std::chrono::milliseconds(longest + 1000),
                          [&] { return shared->finished == resources.size(); });
  }
  const bool dry_run = session.host().dry_run;
  std::vector<Observation> out;
  const std::lock_guard lock(shared->mutex);
  for (std::size_t i = 0; i < resources.size(); ++i) {
    auto seen = std::make_unique<TcpCheckObserved>();
    if (shared->results[i]) {
      *seen = *shared->results[i];
    } else {
      seen->probed = true;
      seen->error = "no answer from the resolver within " + std::to_string(resources[i]->timeout_ms()) + " ms";
    }
    const bool answered = seen->answered;
    const std::string summary = seen->summary();
    Observation o = Observation::known(std::move(seen));
    if (answered) o.note = summary;
    else o.blocked_reason = resources[i]->host() + ":" + std::to_string(resources[i]->port()) + " does not answer: " +
                            summary;
    // A port that a service of this run opens answers only once that service converged.
    if (!resources[i]->requirements().empty()) {
      o.holds_unless_requirements_change = "probed now: " + summary;
      if (!dry_run) o.after_requirements = std::make_unique<TcpCheckObserved>();
    }
    out.push_back(std::move(o));
  }
  return out;
}

std::vector<ChangeOutcome> TcpCheckProvider::apply(Session&, std::span<const Change> changes) const {
  // Reached only for a check planned to be probed after its requirements, and observed again before this:
  // a check changes nothing.
  std::vector<ChangeOutcome> out;
  for (std::size_t i = 0; i < changes.size(); ++i) out.push_back(ChangeOutcome::failed("a check changes nothing"));
  return out;
}

}  // namespace reconcile::providers
