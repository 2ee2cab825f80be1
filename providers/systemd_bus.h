#pragma once
// One connection to systemd (PID 1) over D-Bus with sd-bus (libsystemd, loaded on first use), and the manager
// calls the systemd provider makes: pipelined property reads, unit-file changes in one call, and jobs awaited by
// their JobRemoved signal.

#include <chrono>
#include <expected>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "providers/host.h"

struct sd_bus;

namespace reconcile::providers {

struct Libsystemd;

/// What ListUnitsByNames says of one unit.
struct ListedUnit {
  std::string id;      // the unit's real name ("ssh.service" when asked for sshd.service)
  std::string load;    // LoadState
  std::string active;  // ActiveState
  std::string path;    // object path
};

/// The unit properties observe needs beyond ListUnitsByNames.
struct UnitProperties {
  std::string error;  // why they could not be read
  std::string unit_file_state;
  std::string source_path;
  std::string load_error;
  bool need_reload = false;
  bool can_reload = false;  // CanReload: the unit has a reload action
};

/// A connection to systemd; not thread-safe (the provider serialises its use).
class SystemdBus {
 public:
  /// `address` "" connects like systemctl (systemd's private socket as root, else the system bus).
  /// Without libsystemd (loaded on first use), the error says why it cannot be loaded.
  static std::expected<std::unique_ptr<SystemdBus>, std::string> open(const std::string& address, const Host& host);
  /// The same through `sd`, which must outlive the connection.
  static std::expected<std::unique_ptr<SystemdBus>, std::string> open(const std::string& address, const Host& host,
                                                                      const Libsystemd& sd);
  ~SystemdBus();
  SystemdBus(const SystemdBus&) = delete;
  SystemdBus& operator=(const SystemdBus&) = delete;

  bool is_open() const;
  /// A manager method taking a list of unit names, then `runtime` (and `force` when has_force): Enable-,
  /// Disable-, Mask- or UnmaskUnitFiles. The number of files changed, or the error.
  std::expected<int, std::string> unit_files(const char* method, const std::vector<std::string>& units, bool force,
                                             bool has_force);
  /// Manager.Reload (daemon-reload), or the error.
  std::expected<void, std::string> reload();
  /// ListUnitsByNames: loads every unit and says what it is, in order.
  std::expected<std::vector<ListedUnit>, std::string> list_units(const std::vector<std::string>& units);
  /// The properties of every unit path, asked all at once (one Get each: a GetAll costs PID 1 some 4 ms per unit)
  /// and answered in one wait; LoadError only where `with_load_error`. One per path, or why they could not be asked.
  std::expected<std::vector<UnitProperties>, std::string> unit_properties(const std::vector<std::string>& paths,
                                                                          const std::vector<bool>& with_load_error);
  /// Starts (true) or stops (false) each unit and waits for every job's JobRemoved; the job result per unit
  /// ("done", "failed", "dependency", "timeout", …) or the error of the call.
  std::vector<std::string> run_jobs(const std::vector<std::pair<std::string, bool>>& jobs,
                                    std::chrono::seconds timeout);
  /// The same with the manager's job method per unit: StartUnit, StopUnit, RestartUnit, ReloadUnit,
  /// TryRestartUnit.
  std::vector<std::string> run_unit_jobs(const std::vector<std::pair<std::string, std::string>>& jobs,
                                         std::chrono::seconds timeout);
  /// A string property of a loaded unit ("ActiveState"), or "".
  std::string unit_property(const std::string& unit, const char* property);
  /// The first condition that kept a started unit from running ("ConditionPathExists=/dev/tty2"), or "".
  std::string unmet_condition(const std::string& unit);
  /// A string ('s') or integer ('i') property of a unit's service interface, for failure messages; "" when unknown.
  std::string service_property(const std::string& unit, const char* property, char type);

 private:
  explicit SystemdBus(const Libsystemd& sd) : sd_(&sd) {}
  // The object path of a loaded unit, or "".
  std::string unit_path(const std::string& unit);
  // Dispatches what arrived, waiting up to the deadline; "" or why waiting stopped.
  std::string process_until(std::chrono::steady_clock::time_point deadline);

  const Libsystemd* sd_;
  sd_bus* bus_ = nullptr;
  bool bus_client_ = false;
  bool subscribed_ = false;
};

}  // namespace reconcile::providers
