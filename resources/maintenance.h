#pragma once
// The maintenance routines, each its own resource that observes first and reports drift:
//
//   maintenance:
//     clock_sync: true              # a time daemon installed, enabled and synchronised
//     tmp_cleanup: {paths: [/tmp, /var/tmp], older_than: 7d}
//     journal_max_mb: 1000
//     fstrim: weekly                # the distribution's fstrim.timer, not a trim every run
//     home_permissions: true        # homes owned by their user, 0700; ~/.ssh 0700, its files 0600

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "resources/kind.h"
#include "resources/package.h"
#include "resources/resource.h"

namespace reconcile::resources {

// ---- clock_sync ----

/// The fields of the clock routine that can drift.
enum class ClockField { kEnabled, kRunning, kSynchronised };
std::string_view field_name(ClockField field);

/// The time daemon and the kernel's clock discipline as seen now.
class ClockObserved : public Observed {
 public:
  std::string unit;            // the time daemon's unit ("systemd-timesyncd.service"), "" when none is installed
  bool enabled = false;
  bool running = false;
  bool container = false;      // a container shares the host's clock: no time daemon runs here
  bool synchronised = false;   // the kernel's clock is disciplined (adjtimex: no STA_UNSYNC)
  double offset_ms = 0;        // the kernel's estimate of the offset
  double max_error_ms = 0;     // the kernel's maximum error
  bool predicted = false;      // not seen: what installing the daemon's package leaves

  std::vector<Field> fields() const override;
  /// "synchronised, offset +0.12 ms (max error 12 ms)".
  std::string clock_text() const;
};

/// `clock_sync: true`: resource `clock_sync`.
class ClockSyncResource : public ResourceOf<ClockObserved> {
 public:
  ClockSyncResource(Location location, std::string key_path);
  std::vector<Field> desired_fields() const override;
  Drift diff_of(const ClockObserved& seen) const override;
  /// After the time daemons' packages and services, when the state manages them.
  std::vector<std::string> auto_requires() const override;
  std::unique_ptr<Observed> predicted() const override;
  bool provided_by(const Resource& requirement) const override { return requirement.kind() == "package"; }
  std::string host_expansion() const override {
    return "the package of the host's default time daemon, when no time daemon is installed";
  }
};

/// The time daemon's package added once the host is seen (none installed): converges before `clock_sync`.
class ClockDaemonPackage : public PackageResource {
 public:
  using PackageResource::PackageResource;
  std::vector<std::string> auto_before() const override { return {"clock_sync"}; }
};

/// Time daemons by preference: a full NTP daemon already installed wins over the default one.
struct TimeDaemon {
  std::string_view unit;
  std::string_view package;
};
std::vector<TimeDaemon> time_daemons();

// ---- tmp_cleanup ----

/// The fields of a temporary directory that can drift.
enum class TmpField { kOldFiles };
std::string_view field_name(TmpField field);

/// Which time of a file counts (as tmpreaper: atime by default; `newest`: every one of the three is old).
/// Directories go by mtime, which a walk does not change.
enum class AgeBy { kAtime, kMtime, kCtime, kNewest };
std::string_view to_string(AgeBy by);

/// One entry that would be deleted.
struct TmpEntry {
  std::string path;       // relative to the cleaned directory
  char type = 'f';        // f file, l symlink, d directory (deleted when it ends up empty)
  std::int64_t age = 0;   // seconds
  std::int64_t bytes = 0;
};

/// What a temporary directory holds that is old, and what was kept and why.
class TmpCleanupObserved : public Observed {
 public:
  bool exists = true;
  std::vector<TmpEntry> old;                 // what would be deleted, in walk order (directories after contents)
  std::int64_t kept_sockets = 0, kept_open = 0, kept_private = 0, kept_mounts = 0, kept_other = 0;
  std::vector<std::string> errors;           // entries that could not be read

  std::vector<Field> fields() const override;
  /// "kept: 1 socket, 1 open file, 2 below mount points".
  std::string kept_text() const;
};

/// `tmp_cleanup: {paths: [...], older_than: 7d}`: resource `tmp_cleanup:/tmp` per path.
class TmpCleanupResource : public ResourceOf<TmpCleanupObserved> {
 public:
  TmpCleanupResource(std::string path, std::int64_t older_than, AgeBy by, Location location, std::string key_path);
  const std::string& path() const { return name(); }
  std::int64_t older_than() const { return older_than_; }
  AgeBy age_by() const { return by_; }
  std::vector<Field> desired_fields() const override;
  Drift diff_of(const TmpCleanupObserved& seen) const override;

 private:
  std::int64_t older_than_;
  AgeBy by_;
};

// ---- journal ----

enum class JournalField { kUsage };
std::string_view field_name(JournalField field);

/// The systemd journal's files on disk.
class JournalObserved : public Observed {
 public:
  std::int64_t total_bytes = 0;     // allocated, as journalctl --disk-usage counts
  std::int64_t archived_bytes = 0;  // rotated files (NAME@…journal, NAME.journal~): what a vacuum can delete
  int files = 0;
  std::vector<std::string> directories;  // the journal directories found

  std::vector<Field> fields() const override;
};

/// `journal_max_mb: 1000`: resource `journal`.
class JournalResource : public ResourceOf<JournalObserved> {
 public:
  JournalResource(std::int64_t max_mb, Location location, std::string key_path);
  std::int64_t max_mb() const { return max_mb_; }
  std::vector<Field> desired_fields() const override;
  /// Over the limit with archived files to delete; active files alone over it are journald's to rotate.
  Drift diff_of(const JournalObserved& seen) const override;

 private:
  std::int64_t max_mb_;
};

// ---- fstrim ----

enum class FstrimField { kEnabled, kActive, kSchedule };
std::string_view field_name(FstrimField field);

/// The distribution's fstrim.timer.
class FstrimObserved : public Observed {
 public:
  bool exists = false;       // the unit file is installed (util-linux)
  bool enabled = false;
  bool active = false;
  bool container = false;    // the timer does not run in a container (ConditionVirtualization=!container)
  std::string schedule;      // OnCalendar of reconcile's drop-in, "" when it has none (the unit's own: weekly)

  std::vector<Field> fields() const override;
};

/// The drop-in that sets a schedule other than the unit's weekly.
inline constexpr std::string_view kFstrimDropIn = "/etc/systemd/system/fstrim.timer.d/reconcile.conf";

/// `fstrim: weekly` (daily, weekly or monthly): resource `fstrim`.
class FstrimResource : public ResourceOf<FstrimObserved> {
 public:
  FstrimResource(std::string schedule, Location location, std::string key_path);
  const std::string& schedule() const { return schedule_; }
  /// What the drop-in holds: "" for weekly (the unit's own schedule: no drop-in).
  std::string drop_in_schedule() const { return schedule_ == "weekly" ? "" : schedule_; }
  std::vector<Field> desired_fields() const override;
  Drift diff_of(const FstrimObserved& seen) const override;
  std::vector<FileClaim> claims() const override;

 private:
  std::string schedule_;
};

// ---- home_permissions ----

enum class HomeField { kOwner, kMode };
std::string_view field_name(HomeField field);

/// One path of a home whose owner or mode differs.
struct HomeFix {
  std::string path;
  std::uint32_t uid = 0, gid = 0;            // wanted owner
  std::uint32_t mode = 0;                    // wanted permission bits
  std::uint32_t seen_uid = 0, seen_gid = 0, seen_mode = 0;
};

/// Every home's owner and modes that differ, and homes left alone with why.
class HomePermissionsObserved : public Observed {
 public:
  std::vector<HomeFix> fixes;
  std::vector<std::string> skipped;          // "/home/bob is a symlink: not followed"
  int homes = 0;

  std::vector<Field> fields() const override;
};

/// `home_permissions: true`: resource `home_permissions`.
class HomePermissionsResource : public ResourceOf<HomePermissionsObserved> {
 public:
  HomePermissionsResource(Location location, std::string key_path);
  std::vector<Field> desired_fields() const override;
  Drift diff_of(const HomePermissionsObserved& seen) const override;
  /// After the accounts the state manages.
  std::vector<std::string> auto_requires() const override { return {"user:*"}; }
};

/// "0700".
std::string mode_text(std::uint32_t mode);

/// The `maintenance` key.
KindSpec maintenance_kind();

}  // namespace reconcile::resources
