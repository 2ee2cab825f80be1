#include "resources/maintenance.h"

#include <algorithm>
#include <cstdio>

#include "resources/check.h"

namespace reconcile::resources {

namespace {

std::string mb_text(std::int64_t bytes) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.1f MB", static_cast<double>(bytes) / (1024.0 * 1024.0));
  return buffer;
}

std::string age_text(std::int64_t seconds) {
  if (seconds >= 86400) return std::to_string(seconds / 86400) + "d";
  if (seconds >= 3600) return std::to_string(seconds / 3600) + "h";
  if (seconds >= 60) return std::to_string(seconds / 60) + "m";
  return std::to_string(seconds) + "s";
}

std::string plural(std::int64_t n, std::string_view one, std::string_view many) {
  return std::to_string(n) + " " + std::string(n == 1 ? one : many);
}

}  // namespace

// ---- clock_sync ----

std::string_view field_name(ClockField field) {
  switch (field) {
    case ClockField::kEnabled: return "enabled";
    case ClockField::kRunning: return "running";
    case ClockField::kSynchronised: return "synchronised";
  }
  return "enabled";
}

std::vector<TimeDaemon> time_daemons() {
  return {{"chrony.service", "chrony"},       {"chronyd.service", "chrony"}, {"ntpsec.service", "ntpsec"},
          {"ntp.service", "ntp"},             {"ntpd.service", "ntp"},       {"openntpd.service", "openntpd"},
          {"systemd-timesyncd.service", "systemd-timesyncd"}};
}

std::string ClockObserved::clock_text() const {
  char buffer[96];
  std::snprintf(buffer, sizeof buffer, "%s, offset %+.3f ms (max error %.0f ms)",
                synchronised ? "synchronised" : "not synchronised", offset_ms, max_error_ms);
  return buffer;
}

std::vector<Field> ClockObserved::fields() const {
  return {{"daemon", unit.empty() ? "none" : unit},
          {"enabled", enabled ? "yes" : "no"},
          {"running", running ? "yes" : "no"},
          {"clock", clock_text()}};
}

ClockSyncResource::ClockSyncResource(Location location, std::string key_path)
    : ResourceOf("clock_sync", "", std::move(location), std::move(key_path)) {}

std::vector<Field> ClockSyncResource::desired_fields() const { return {{"clock_sync", "true"}}; }

Drift ClockSyncResource::diff_of(const ClockObserved& seen) const {
  Drift drift;
  const std::string unit = seen.unit.empty() ? "the time daemon" : seen.unit;
  if (!seen.enabled) drift.push_back(drift_of(ClockField::kEnabled, "no", "yes", unit + " does not start at boot"));
  if (seen.container) return drift;  // the host's clock: no time daemon runs in a container
  if (!seen.running) {
    drift.push_back(drift_of(ClockField::kRunning, "no", "yes", unit + " is not running"));
  } else if (!seen.synchronised) {
    drift.push_back(drift_of(ClockField::kSynchronised, seen.clock_text(), "synchronised",
                             unit + " runs but the clock is not synchronised: restarted, then waited for"));
  }
  return drift;
}

std::vector<std::string> ClockSyncResource::auto_requires() const {
  std::vector<std::string> out;
  for (const auto& daemon : time_daemons()) {
    out.push_back(make_id("package", daemon.package));
    std::string_view unit = daemon.unit;
    unit.remove_suffix(std::string_view(".service").size());
    out.push_back(make_id("service", unit));
  }
  return out;
}

std::unique_ptr<Observed> ClockSyncResource::predicted() const {
  auto seen = std::make_unique<ClockObserved>();
  seen->unit = "the time daemon";
  seen->predicted = true;
  return seen;
}

// ---- tmp_cleanup ----

std::string_view field_name(TmpField) { return "old files"; }

std::string_view to_string(AgeBy by) {
  switch (by) {
    case AgeBy::kNewest: return "newest";
    case AgeBy::kAtime: return "atime";
    case AgeBy::kMtime: return "mtime";
    case AgeBy::kCtime: return "ctime";
  }
  return "newest";
}

std::string TmpCleanupObserved::kept_text() const {
  std::vector<std::string> parts;
  if (kept_sockets) parts.push_back(plural(kept_sockets, "socket", "sockets"));
  if (kept_open) parts.push_back(plural(kept_open, "open file", "open files"));
  if (kept_private) parts.push_back(plural(kept_private, "service's private tmp", "services' private tmps"));
  if (kept_mounts) parts.push_back(plural(kept_mounts, "mount point", "mount points"));
  if (kept_other) parts.push_back(plural(kept_other, "device or FIFO", "devices or FIFOs"));
  std::string out;
  for (const auto& part : parts) out += (out.empty() ? "" : ", ") + part;
  return out.empty() ? "" : "old but kept: " + out;
}

std::vector<Field> TmpCleanupObserved::fields() const {
  std::int64_t bytes = 0;
  for (const auto& entry : old) bytes += entry.bytes;
  std::vector<Field> out{{"old", plural(static_cast<std::int64_t>(old.size()), "entry", "entries") + ", " +
                                     mb_text(bytes)}};
  if (const auto kept = kept_text(); !kept.empty()) out.push_back({"kept", kept});
  return out;
}

TmpCleanupResource::TmpCleanupResource(std::string path, std::int64_t older_than, AgeBy by, Location location,
                                       std::string key_path)
    : ResourceOf("tmp_cleanup", std::move(path), std::move(location), std::move(key_path)),
      older_than_(older_than),
      by_(by) {}

std::vector<Field> TmpCleanupResource::desired_fields() const {
  return {{"older_than", std::to_string(older_than_) + " s"}, {"age_by", std::string(to_string(by_))}};
}

Drift TmpCleanupResource::diff_of(const TmpCleanupObserved& seen) const {
  if (seen.old.empty()) return {};
  std::string listed;
  std::size_t shown = 0;
  for (const auto& entry : seen.old) {
    if (++shown > 20) {
      listed += ", … " + std::to_string(seen.old.size() - 20) + " more";
      break;
    }
    listed += (listed.empty() ? "" : ", ") + entry.path + (entry.type == 'd' ? "/" : "") + " (" + age_text(entry.age) +
              ")";
  }
  std::string reason = "would delete: " + listed;
  if (const auto kept = seen.kept_text(); !kept.empty()) reason += "; " + kept;
  return {drift_of(TmpField::kOldFiles, plural(static_cast<std::int64_t>(seen.old.size()), "entry", "entries") +
                                            " older than " + age_text(older_than_),
                   "none", std::move(reason))};
}

// ---- journal ----

std::string_view field_name(JournalField) { return "journal usage"; }

std::vector<Field> JournalObserved::fields() const {
  return {{"usage", mb_text(total_bytes)}, {"archived", mb_text(archived_bytes)}, {"files", std::to_string(files)}};
}

JournalResource::JournalResource(std::int64_t max_mb, Location location, std::string key_path)
    : ResourceOf("journal", "", std::move(location), std::move(key_path)), max_mb_(max_mb) {}

std::vector<Field> JournalResource::desired_fields() const { return {{"max_mb", std::to_string(max_mb_)}}; }

Drift JournalResource::diff_of(const JournalObserved& seen) const {
  const std::int64_t limit = max_mb_ * 1024 * 1024;
  if (seen.total_bytes <= limit || seen.archived_bytes == 0) return {};
  return {drift_of(JournalField::kUsage, mb_text(seen.total_bytes), "at most " + std::to_string(max_mb_) + " MB",
                   "over the limit, " + mb_text(seen.archived_bytes) + " of it in archived files: journalctl "
                   "--vacuum-size=" + std::to_string(max_mb_) + "M")};
}

// ---- fstrim ----

std::string_view field_name(FstrimField field) {
  switch (field) {
    case FstrimField::kEnabled: return "enabled";
    case FstrimField::kActive: return "active";
    case FstrimField::kSchedule: return "schedule";
  }
  return "enabled";
}

std::vector<Field> FstrimObserved::fields() const {
  return {{"enabled", enabled ? "yes" : "no"},
          {"active", active ? "yes" : "no"},
          {"schedule", schedule.empty() ? "weekly" : schedule}};
}

FstrimResource::FstrimResource(std::string schedule, Location location, std::string key_path)
    : ResourceOf("fstrim", "", std::move(location), std::move(key_path)), schedule_(std::move(schedule)) {}

std::vector<Field> FstrimResource::desired_fields() const { return {{"schedule", schedule_}}; }

Drift FstrimResource::diff_of(const FstrimObserved& seen) const {
  Drift drift;
  if (!seen.exists) return drift;  // the provider fails it: no timer to enable
  if (seen.schedule != drop_in_schedule()) {
    drift.push_back(drift_of(FstrimField::kSchedule, seen.schedule.empty() ? "weekly" : seen.schedule, schedule_,
                             drop_in_schedule().empty() ? "remove " + std::string(kFstrimDropIn)
                                                        : "OnCalendar in " + std::string(kFstrimDropIn)));
  }
  if (!seen.enabled) drift.push_back(drift_of(FstrimField::kEnabled, "no", "yes", "fstrim.timer is not enabled"));
  if (!seen.container && !seen.active) {
    drift.push_back(drift_of(FstrimField::kActive, "no", "yes", "fstrim.timer is not started"));
  }
  return drift;
}

std::vector<FileClaim> FstrimResource::claims() const { return {{std::string(kFstrimDropIn), whole_file()}}; }

// ---- home_permissions ----

std::string_view field_name(HomeField field) { return field == HomeField::kOwner ? "owner" : "mode"; }

std::string mode_text(std::uint32_t mode) {
  char buffer[8];
  std::snprintf(buffer, sizeof buffer, "%04o", mode & 07777);
  return buffer;
}

std::vector<Field> HomePermissionsObserved::fields() const {
  return {{"homes", std::to_string(homes)}, {"to fix", std::to_string(fixes.size())}};
}

HomePermissionsResource::HomePermissionsResource(Location location, std::string key_path)
    : ResourceOf("home_permissions", "", std::move(location), std::move(key_path)) {}

std::vector<Field> HomePermissionsResource::desired_fields() const { return {{"home_permissions", "true"}}; }

Drift HomePermissionsResource::diff_of(const HomePermissionsObserved& seen) const {
  Drift drift;
  for (const auto& fix : seen.fixes) {
    if (fix.uid != fix.seen_uid || fix.gid != fix.seen_gid) {
      drift.push_back(drift_of(HomeField::kOwner, fix.path + " owner",
                               std::to_string(fix.seen_uid) + ":" + std::to_string(fix.seen_gid),
                               std::to_string(fix.uid) + ":" + std::to_string(fix.gid), "owned by its user"));
    }
    if ((fix.seen_mode & 07777) != fix.mode) {
      drift.push_back(drift_of(HomeField::kMode, fix.path + " mode", mode_text(fix.seen_mode), mode_text(fix.mode),
                               "readable by its user alone"));
    }
  }
  return drift;
}

// ---- the key ----

KindSpec maintenance_kind() {
  KindSpec spec;
  spec.key = "maintenance";
  spec.compile = [](const Node& value, CompileContext& context) {
    NodeReader& reader = context.reader();
    if (!value.is_map()) {
      reader.fail(value, ErrorCode::kType, "expected a mapping of routines, got " + value.describe(),
                  "write maintenance: {clock_sync: true, journal_max_mb: 1000}");
      return;
    }
    if (!reader.check_keys(value, {"clock_sync", "tmp_cleanup", "journal_max_mb", "fstrim", "home_permissions"},
                           "the maintenance mapping")) {
      return;
    }
    for (const char* key : {"clock_sync", "home_permissions"}) {
      const Node* node = value.find(key);
      if (node == nullptr) continue;
      auto on = reader.boolean(*node);
      if (!on || !*on) continue;
      if (std::string_view(key) == "clock_sync") context.add(std::make_unique<ClockSyncResource>(node->location, node->path));
      else context.add(std::make_unique<HomePermissionsResource>(node->location, node->path));
    }
    if (const Node* node = value.find("journal_max_mb")) {
      if (auto mb = reader.integer(*node, 1, 1 << 24)) {
        context.add(std::make_unique<JournalResource>(*mb, node->location, node->path));
      }
    }
    if (const Node* node = value.find("fstrim")) {
      if (node->is_scalar() && (node->scalar == "false" || node->scalar == "true") && node->tag != Node::Tag::kString) {
        auto on = reader.boolean(*node);
        if (on && *on) context.add(std::make_unique<FstrimResource>("weekly", node->location, node->path));
      } else if (auto schedule = reader.string(*node, "daily, weekly or monthly")) {
        if (*schedule != "daily" && *schedule != "weekly" && *schedule != "monthly") {
          std::string hint = did_you_mean(*schedule, {"daily", "weekly", "monthly"});
          reader.fail(*node, ErrorCode::kInvalidValue, "unknown fstrim schedule '" + *schedule + "'",
                      hint.empty() ? "write daily, weekly or monthly (or false)" : hint);
        } else {
          context.add(std::make_unique<FstrimResource>(*schedule, node->location, node->path));
        }
      }
    }
    if (const Node* node = value.find("tmp_cleanup")) {
      if (node->is_scalar() && node->tag != Node::Tag::kString && (node->scalar == "false" || node->scalar == "true")) {
        auto on = reader.boolean(*node);
        if (on && *on) {
          for (const char* path : {"/tmp", "/var/tmp"}) {
            context.add(std::make_unique<TmpCleanupResource>(path, 7 * 86400, AgeBy::kAtime, node->location,
                                                             node->path));
          }
        }
        return;
      }
      if (!node->is_map()) {
        reader.fail(*node, ErrorCode::kType, "expected a mapping with paths and older_than, got " + node->describe(),
                    "write tmp_cleanup: {paths: [/tmp, /var/tmp], older_than: 7d}");
        return;
      }
      if (!reader.check_keys(*node, {"paths", "older_than", "age_by"}, "tmp_cleanup")) return;
      std::int64_t older_than = 7 * 86400;
      if (const Node* age = node->find("older_than")) {
        auto seconds = read_duration(reader, *age, 60, std::int64_t{1} << 35);
        if (!seconds) return;
        older_than = *seconds;
      }
      AgeBy by = AgeBy::kAtime;
      if (const Node* age_by = node->find("age_by")) {
        auto text = reader.string(*age_by, "atime, mtime, ctime or newest");
        if (!text) return;
        if (*text == "newest") by = AgeBy::kNewest;
        else if (*text == "mtime") by = AgeBy::kMtime;
        else if (*text == "ctime") by = AgeBy::kCtime;
        else if (*text != "atime") {
          reader.fail(*age_by, ErrorCode::kInvalidValue, "unknown age_by '" + *text + "'",
                      "atime (the default, as tmpreaper), mtime, ctime, or newest (all three old)");
          return;
        }
      }
      std::vector<const Node*> paths;
      if (const Node* list = node->find("paths")) {
        if (list->is_null()) {
          reader.fail(*list, ErrorCode::kType, "expected a list of directories, got null",
                      "write paths: [/tmp, /var/tmp], or leave paths out for those two");
          return;
        }
        paths = reader.list(*list, "an absolute directory", true);
      }
      if (node->find("paths") == nullptr) {
        for (const char* path : {"/tmp", "/var/tmp"}) {
          context.add(std::make_unique<TmpCleanupResource>(path, older_than, by, node->location, node->path));
        }
      }
      static const std::vector<std::string> kRefused = {"/", "/bin", "/boot", "/dev", "/etc", "/home", "/lib",
                                                        "/lib64", "/opt", "/proc", "/root", "/run", "/sbin",
                                                        "/srv", "/sys", "/usr", "/var"};
      for (const Node* item : paths) {
        auto path = reader.string(*item, "an absolute directory");
        if (!path) continue;
        std::string clean = *path;
        while (clean.size() > 1 && clean.ends_with('/')) clean.pop_back();
        const bool dotted = clean.find("/./") != std::string::npos || clean.find("/../") != std::string::npos ||
                            clean.ends_with("/..") || clean.ends_with("/.") || clean.find("//") != std::string::npos;
        if (!clean.starts_with('/') || dotted || clean.find('\0') != std::string::npos || clean.size() > 1024) {
          reader.fail(*item, ErrorCode::kInvalidValue, "'" + *path + "' is not a clean absolute path",
                      "write /tmp or /var/tmp");
          continue;
        }
        if (std::find(kRefused.begin(), kRefused.end(), clean) != kRefused.end() || clean.starts_with("/usr/") ||
            clean.starts_with("/etc/") || clean.starts_with("/proc/") || clean.starts_with("/sys/") ||
            clean.starts_with("/boot/") || clean.starts_with("/dev/")) {
          reader.fail(*item, ErrorCode::kInvalidValue, "refusing to clean " + clean + ": it is not a temporary directory",
                      "name directories of temporary files, such as /tmp or /var/tmp");
          continue;
        }
        context.add(std::make_unique<TmpCleanupResource>(clean, older_than, by, item->location, item->path));
      }
    }
  };
  return spec;
}

}  // namespace reconcile::resources
