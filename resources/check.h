#pragma once
// Checks: what must answer on the network, probed, never changed.
//
//   checks:
//     tcp: ["localhost:25", "db.internal:5432", {address: "[::1]:22", timeout: 2s, requires: [service:ssh]}]
//     timeout: 5s

#include <expected>
#include <string>
#include <string_view>
#include <vector>

#include "resources/kind.h"
#include "resources/resource.h"

namespace reconcile::resources {

/// The fields of a check that can drift (only "not probed yet", while its requirements converge).
enum class CheckField { kProbe };
/// "probe".
std::string_view field_name(CheckField field);

/// What probing one TCP address found.
class TcpCheckObserved : public Observed {
 public:
  bool probed = false;     // false: waits for its requirements to converge
  bool answered = false;   // a connection was established
  double seconds = 0;      // how long the connect took (or until it failed)
  std::string address;     // the address that answered, or the last one tried ("127.0.0.1:25")
  std::string error;       // why not: "connection refused", "timed out after 5 s", "unknown host"

  std::vector<Field> fields() const override;
  /// "answered in 0.3 ms (127.0.0.1:25)" or "connection refused (127.0.0.1:25, 0.2 ms)".
  std::string summary() const;
};

/// One TCP check: `check:tcp:localhost:25`.
class TcpCheckResource : public ResourceOf<TcpCheckObserved> {
 public:
  TcpCheckResource(std::string host, int port, int timeout_ms, Location location, std::string key_path);

  const std::string& host() const { return host_; }
  int port() const { return port_; }
  int timeout_ms() const { return timeout_ms_; }

  std::vector<Field> desired_fields() const override;
  Drift diff_of(const TcpCheckObserved& seen) const override;
  bool labels_drift() const override { return false; }

 private:
  std::string host_;
  int port_;
  int timeout_ms_;
};

/// A "host:port" (or "[v6]:port") split into host and port, or what is wrong with it.
std::expected<std::pair<std::string, int>, std::string> parse_host_port(std::string_view text);

/// "7d", "10m", "30s", "2h", "1w", or a number of seconds: the seconds, or what is wrong with it.
std::expected<std::int64_t, std::string> parse_routine_duration(std::string_view text);

/// Reads a duration node (a string such as "10m", or a number of seconds) within [min, max] seconds.
std::optional<std::int64_t> read_duration(NodeReader& reader, const Node& node, std::int64_t min, std::int64_t max);

/// The `checks` key.
KindSpec checks_kind();

}  // namespace reconcile::resources
