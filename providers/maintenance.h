#pragma once
// The maintenance routines' providers. Each observes in-process (the journal's files, /tmp's entries and
// /proc/*/fd, homes and their modes, adjtimex, systemd over D-Bus) and runs a tool only to change something
// (journalctl --vacuum-size).

#include <memory>
#include <mutex>

#include "providers/provider.h"
#include "resources/maintenance.h"

namespace reconcile::providers {

class SystemdBus;

/// A D-Bus connection to systemd for one run, shared by the routines that manage units.
struct RoutineBus {
  std::mutex mutex;
  std::unique_ptr<SystemdBus> bus;
  ~RoutineBus();
};

/// Whether the host is a container (systemd's /run/systemd/container, or container= in PID 1's environment).
bool in_container(const Host& host);

/// The clock: the time daemon (added as a package when none is installed), enabled, running, synchronised.
class ClockSyncProvider : public ProviderOf<const resources::ClockSyncResource*, resources::ClockObserved> {
 public:
  std::string_view name() const override { return "timedaemon"; }
  std::string_view kind() const override { return "clock_sync"; }
  std::string unusable_reason(const Host& host) const override;
  std::vector<std::unique_ptr<Resource>> expand(Session& session,
                                                std::span<const resources::ClockSyncResource* const> resources) const override;
  std::vector<Observation> observe(Session& session,
                                   std::span<const resources::ClockSyncResource* const> resources) const override;
  std::vector<ChangeOutcome> apply(Session& session, std::span<const Change> changes) const override;
};

/// fstrim.timer enabled and started, with reconcile's drop-in for another schedule.
class FstrimTimerProvider : public ProviderOf<const resources::FstrimResource*, resources::FstrimObserved> {
 public:
  std::string_view name() const override { return "fstrim.timer"; }
  std::string_view kind() const override { return "fstrim"; }
  std::string unusable_reason(const Host& host) const override;
  std::vector<Observation> observe(Session& session,
                                   std::span<const resources::FstrimResource* const> resources) const override;
  std::vector<ChangeOutcome> apply(Session& session, std::span<const Change> changes) const override;
};

/// Old files of temporary directories, walked and deleted through directory descriptors (no symlink is
/// followed, no mount point crossed); sockets, open files and services' private tmp are kept.
class TmpCleanupProvider : public ProviderOf<const resources::TmpCleanupResource*, resources::TmpCleanupObserved> {
 public:
  std::string_view name() const override { return "tmpwalk"; }
  std::string_view kind() const override { return "tmp_cleanup"; }
  std::vector<Observation> observe(Session& session,
                                   std::span<const resources::TmpCleanupResource* const> resources) const override;
  std::vector<ChangeOutcome> apply(Session& session, std::span<const Change> changes) const override;
};

/// The journal's usage read from its directories; journalctl --vacuum-size only when over the limit.
class JournalProvider : public ProviderOf<const resources::JournalResource*, resources::JournalObserved> {
 public:
  std::string_view name() const override { return "journald"; }
  std::string_view kind() const override { return "journal"; }
  std::vector<Observation> observe(Session& session,
                                   std::span<const resources::JournalResource* const> resources) const override;
  std::vector<ChangeOutcome> apply(Session& session, std::span<const Change> changes) const override;
};

/// Homes owned by their user and 0700, ~/.ssh 0700 and its files 0600; symlinks are never followed.
class HomePermissionsProvider
    : public ProviderOf<const resources::HomePermissionsResource*, resources::HomePermissionsObserved> {
 public:
  std::string_view name() const override { return "homes"; }
  std::string_view kind() const override { return "home_permissions"; }
  std::vector<Observation> observe(Session& session,
                                   std::span<const resources::HomePermissionsResource* const> resources) const override;
  std::vector<ChangeOutcome> apply(Session& session, std::span<const Change> changes) const override;
};

/// One walk of a temporary directory: what is old by `older_than` seconds at `now`, and what is kept.
/// With `remove`, deletes what qualifies and is in `only` (when not null); the walk never follows a symlink
/// and never enters another mount. `open_files` holds "dev:ino" of every file a process holds open.
resources::TmpCleanupObserved walk_tmp(const std::string& host_path, std::int64_t older_than, resources::AgeBy by,
                                       std::int64_t now, const std::vector<std::string>& mount_points,
                                       const std::vector<std::pair<std::uint64_t, std::uint64_t>>& open_files,
                                       bool remove, const std::vector<std::string>* only);

/// "dev:ino" of every file any process holds open, from one scan of /proc/*/fd (sorted).
std::vector<std::pair<std::uint64_t, std::uint64_t>> open_file_ids(const Host& host);

}  // namespace reconcile::providers
