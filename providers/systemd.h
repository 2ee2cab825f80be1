#pragma once
// Services through systemd's D-Bus API (sd-bus): one connection per run, every unit observed in two
// pipelined round trips, unit files changed in one call per action, jobs awaited by their JobRemoved signal.
// Units generated from SysV init scripts are enabled and disabled through systemd-sysv-install, as systemctl does.

#include <chrono>
#include <memory>
#include <mutex>
#include <string>

#include "providers/provider.h"

namespace reconcile::providers {

class SystemdBus;

/// Observes and converges `service:` resources by talking to systemd (PID 1) over D-Bus.
class SystemdProvider : public Provider {
 public:
  /// `bus_address` "" connects like systemctl does (systemd's private socket as root, else the system bus);
  /// a D-Bus address ("unix:path=/proc/PID/root/run/dbus/system_bus_socket") talks to that bus instead.
  explicit SystemdProvider(std::string bus_address = "",
                           std::chrono::seconds job_timeout = std::chrono::seconds(120));
  ~SystemdProvider() override;

  std::string_view name() const override { return "systemd"; }
  std::string_view kind() const override { return "service"; }
  std::string unusable_reason(const Host& host) const override;
  std::vector<Observation> observe(const Host& host, std::span<const Resource* const> resources) override;
  std::vector<ChangeOutcome> apply(const Host& host, std::span<const Change> changes) override;

 private:
  /// The run's connection, opened on first use and kept while it stays open; nullptr with *error set.
  SystemdBus* bus(const Host& host, std::string* error);
  /// observe() on an open connection.
  std::vector<Observation> observe_units(const Host& host, SystemdBus& bus, std::span<const Resource* const> resources);

  std::string bus_address_;
  std::chrono::seconds job_timeout_;
  std::mutex mutex_;
  std::unique_ptr<SystemdBus> bus_;
};

}  // namespace reconcile::providers
