#pragma once
// Services through systemd's D-Bus API (sd-bus): one connection per run, every unit observed in two
// pipelined round trips, unit files changed in one call per action, jobs awaited by their JobRemoved signal.
// Units generated from SysV init scripts are enabled and disabled through systemd-sysv-install, as systemctl does.

#include <chrono>
#include <expected>
#include <memory>
#include <mutex>
#include <string>

#include "providers/provider.h"
#include "resources/service.h"

namespace reconcile::providers {

class SystemdBus;

/// Observes and converges `service:` resources by talking to systemd (PID 1) over D-Bus.
class SystemdProvider : public ProviderOf<const resources::ServiceResource*, resources::ServiceObserved> {
 public:
  /// `bus_address` "" connects like systemctl does (systemd's private socket as root, else the system bus);
  /// a D-Bus address ("unix:path=/proc/PID/root/run/dbus/system_bus_socket") talks to that bus instead.
  explicit SystemdProvider(std::string bus_address = "",
                           std::chrono::seconds job_timeout = std::chrono::seconds(120));
  ~SystemdProvider() override;

  std::string_view name() const override { return "systemd"; }
  std::string_view kind() const override { return "service"; }
  std::string unusable_reason(const Host& host) const override;
  std::vector<Observation> observe(Session& session,
                                   std::span<const resources::ServiceResource* const> resources) const override;
  std::vector<ChangeOutcome> apply(Session& session, std::span<const Change> changes) const override;

  /// The run's connection to systemd, opened on first use and kept while it stays open; one call on it at a time.
  struct Connection {
    std::mutex mutex;
    std::unique_ptr<SystemdBus> bus;
    ~Connection();
  };

 private:
  /// The bus of a locked connection, (re)opened when needed, or why it cannot be.
  std::expected<SystemdBus*, std::string> connect(Session& session, Connection& connection) const;

  std::string bus_address_;
  std::chrono::seconds job_timeout_;
};

}  // namespace reconcile::providers
