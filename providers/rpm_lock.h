#pragma once
// The locks dnf and zypper take, read the way the tools themselves read them, so a run can wait for another
// package manager like apt does (DPkg::Lock::Timeout) and, when it does not let go, defer to the next run naming
// the holder instead of failing. Both keep a pid file under the root they work on:
//   dnf:    var/lib/dnf/rpmdb_lock.pid, var/cache/dnf/metadata_lock.pid, var/cache/dnf/download_lock.pid
//   zypper: run/zypp.pid (libzypp puts it under --root too)
// A lock is held when its file names a live process other than this one (an empty file, or a dead pid, is
// free: the tools take such a lock over themselves).

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>

#include "providers/provider.h"
#include "providers/rpm.h"

namespace reconcile::providers {

struct RpmLockHolder {
  std::string lock;     // the lock file, as the host sees it ("/var/lib/dnf/rpmdb_lock.pid")
  long pid = 0;
  std::string command;  // the holder's comm, when readable

  /// "/run/zypp.pid is held by process 4242 (zypper)".
  std::string describe() const;
};

/// The lock files of a manager, as the host sees them (to be placed under Host::root).
std::vector<std::string> rpm_lock_files(RpmManager manager);

/// The first lock of the manager that a live process holds, or nothing. In-process: reads the pid files and
/// /proc (`proc` for tests).
std::optional<RpmLockHolder> rpm_lock_holder(const Host& host, RpmManager manager,
                                             const std::filesystem::path& proc = "/proc");

/// Polls until the manager's locks are free or `wait` has passed; the holder that is still there, if any.
std::optional<RpmLockHolder> wait_for_rpm_lock(const Host& host, RpmManager manager, std::chrono::milliseconds wait);

/// Whether a tool's failure was another process holding its lock (dnf with exit_on_lock: exit 200 and
/// "already locked by"; zypper: exit 7).
bool rpm_lock_failure(RpmManager manager, const ExecResult& result);

/// The message of a change deferred on the lock.
std::string rpm_lock_deferred_message(RpmManager manager, const std::optional<RpmLockHolder>& holder,
                                      std::chrono::milliseconds waited, const ExecResult* result);

}  // namespace reconcile::providers
