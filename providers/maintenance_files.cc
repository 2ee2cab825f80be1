// The journal's usage and the homes' owners and modes, read in-process; homes are changed through file
// descriptors opened without following symlinks.

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <set>

#include "providers/account_db.h"
#include "providers/maintenance.h"

namespace reconcile::providers {

namespace {

using resources::HomeFix;
using resources::HomePermissionsObserved;
using resources::JournalObserved;

constexpr std::string_view kJournalDirs[] = {"/var/log/journal", "/run/log/journal"};

// Adds the journal files under dir (two levels: machine id, then files) to seen.
void add_journal_files(const std::filesystem::path& dir, int depth, JournalObserved& seen) {
  DIR* listing = ::opendir(dir.c_str());
  if (listing == nullptr) return;
  while (const dirent* entry = ::readdir(listing)) {
    const std::string name = entry->d_name;
    if (name == "." || name == "..") continue;
    const auto path = dir / name;
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0) continue;
    if (S_ISDIR(st.st_mode) && depth == 0) {
      add_journal_files(path, depth + 1, seen);
      continue;
    }
    if (!S_ISREG(st.st_mode)) continue;
    const bool journal = name.ends_with(".journal") || name.ends_with(".journal~");
    if (!journal) continue;
    const auto bytes = static_cast<std::int64_t>(st.st_blocks) * 512;
    seen.total_bytes += bytes;
    ++seen.files;
    if (name.find('@') != std::string::npos || name.ends_with('~')) seen.archived_bytes += bytes;
  }
  ::closedir(listing);
}

bool system_home(const std::string& home) {
  if (home == "/root") return false;
  static const std::vector<std::string> kSystem = {"/bin", "/boot", "/dev", "/etc", "/lib", "/lib32", "/lib64",
                                                   "/opt", "/proc", "/run", "/sbin", "/srv", "/sys", "/tmp", "/usr",
                                                   "/var", "/nonexistent", "/root"};
  if (home.empty() || home == "/" || !home.starts_with('/') || home.find("/../") != std::string::npos ||
      home.ends_with("/..")) {
    return true;
  }
  for (const auto& dir : kSystem) {
    if (home == dir || home.starts_with(dir + "/")) return true;
  }
  return false;
}

// One pass over every home: what differs, and with `fix` what it changed (only paths in `only`).
struct HomeScan {
  HomePermissionsObserved seen;
  std::vector<std::string> errors;
  std::vector<std::string> done;
};

void check_fd(int fd, const std::string& path, std::uint32_t uid, std::uint32_t gid, std::uint32_t mode, bool fix,
              const std::set<std::string>* only, HomeScan& scan) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    scan.errors.push_back(path + ": " + std::strerror(errno));
    return;
  }
  if (st.st_uid == uid && st.st_gid == gid && (st.st_mode & 07777) == mode) return;
  HomeFix item{path, uid, gid, mode, st.st_uid, st.st_gid, st.st_mode & 07777};
  if (fix) {
    if (only != nullptr && !only->contains(path)) return;
    if ((st.st_uid != uid || st.st_gid != gid) && ::fchown(fd, uid, gid) != 0) {
      scan.errors.push_back("chown " + path + ": " + std::strerror(errno));
      return;
    }
    if ((st.st_mode & 07777) != mode && ::fchmod(fd, mode) != 0) {
      scan.errors.push_back("chmod " + path + ": " + std::strerror(errno));
      return;
    }
    scan.done.push_back(path + ": " + std::to_string(item.seen_uid) + ":" + std::to_string(item.seen_gid) + " " +
                        resources::mode_text(item.seen_mode) + " → " + std::to_string(uid) + ":" + std::to_string(gid) +
                        " " + resources::mode_text(mode));
  }
  scan.seen.fixes.push_back(item);
}

HomeScan scan_homes(const Host& host, const AccountDb& db, bool fix, const std::set<std::string>* only) {
  HomeScan scan;
  std::map<std::string, std::vector<const PasswdEntry*>> by_home;
  for (const auto& account : db.passwd) {
    const bool ordinary = account.uid >= db.uid_min && account.uid <= db.uid_max && account.uid != 65534;
    if (account.uid != 0 && !ordinary) continue;
    by_home[account.home].push_back(&account);
  }
  for (const auto& [home, accounts] : by_home) {
    if (accounts.size() > 1) {
      std::string names;
      for (const auto* a : accounts) names += (names.empty() ? "" : ", ") + a->name;
      scan.seen.skipped.push_back(home + " is the home of " + names + ": left alone");
      continue;
    }
    const auto& account = *accounts.front();
    if (system_home(home)) {
      if (account.uid != 0) scan.seen.skipped.push_back(account.name + "'s home " + home + " is a system directory: left alone");
      continue;
    }
    const auto path = host.path(home);
    const int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
      if (errno == ELOOP || errno == ENOTDIR) scan.seen.skipped.push_back(home + " is not a directory (a symlink?): not followed");
      else if (errno != ENOENT) scan.errors.push_back(home + ": " + std::strerror(errno));
      continue;
    }
    ++scan.seen.homes;
    check_fd(fd, home, account.uid, account.gid, 0700, fix, only, scan);
    const int ssh = ::openat(fd, ".ssh", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (ssh < 0) {
      if (errno == ELOOP || errno == ENOTDIR) scan.seen.skipped.push_back(home + "/.ssh is not a directory (a symlink?): not followed");
      ::close(fd);
      continue;
    }
    check_fd(ssh, home + "/.ssh", account.uid, account.gid, 0700, fix, only, scan);
    const int listing = ::dup(ssh);
    DIR* dir = listing < 0 ? nullptr : ::fdopendir(listing);
    std::vector<std::string> names;
    while (dir != nullptr) {
      const dirent* entry = ::readdir(dir);
      if (entry == nullptr) break;
      if (entry->d_name[0] == '.' && (entry->d_name[1] == '\0' || std::strcmp(entry->d_name, "..") == 0)) continue;
      names.emplace_back(entry->d_name);
    }
    if (dir != nullptr) ::closedir(dir);
    std::sort(names.begin(), names.end());
    for (const auto& name : names) {
      struct stat st {};
      if (::fstatat(ssh, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode)) continue;
      const int file = ::openat(ssh, name.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
      if (file < 0) continue;
      struct stat again {};
      if (::fstat(file, &again) == 0 && again.st_ino == st.st_ino && S_ISREG(again.st_mode)) {
        check_fd(file, home + "/.ssh/" + name, account.uid, account.gid, 0600, fix, only, scan);
      }
      ::close(file);
    }
    ::close(ssh);
    ::close(fd);
  }
  return scan;
}

}  // namespace

// ---- journal ----

std::vector<Observation> JournalProvider::observe(Session& session,
                                                  std::span<const resources::JournalResource* const> resources) const {
  const Host& host = session.host();
  std::vector<Observation> out;
  for (const auto* journal : resources) {
    auto seen = std::make_unique<JournalObserved>();
    for (const auto dir : kJournalDirs) {
      std::error_code ec;
      if (!std::filesystem::is_directory(host.path(dir), ec)) continue;
      seen->directories.emplace_back(dir);
      add_journal_files(host.path(dir), 0, *seen);
    }
    const std::int64_t limit = journal->max_mb() * 1024 * 1024;
    Observation o = Observation::known(std::move(seen));
    const auto& typed = static_cast<const JournalObserved&>(*o.state);
    const std::string usage = std::to_string(typed.total_bytes / (1024 * 1024)) + " MB";
    if (typed.total_bytes > limit && typed.archived_bytes == 0) {
      o.note = "the journal uses " + usage + ", over the limit, all in active files that journald rotates itself "
               "(SystemMaxUse= in journald.conf caps them)";
    } else {
      o.note = "the journal uses " + usage + " of " + std::to_string(journal->max_mb()) + " MB";
    }
    out.push_back(std::move(o));
  }
  return out;
}

std::vector<ChangeOutcome> JournalProvider::apply(Session& session, std::span<const Change> changes) const {
  const Host& host = session.host();
  std::vector<ChangeOutcome> out;
  for (const auto& change : changes) {
    ExecRequest request;
    request.argv = {"journalctl", "--vacuum-size=" + std::to_string(change.resource->max_mb()) + "M"};
    request.timeout = std::chrono::minutes(5);
    const auto result = host.exec->run(request);
    ChangeOutcome outcome;
    outcome.steps.push_back(step_of(request.argv, result));
    if (!result.ok()) outcome = ChangeOutcome::failed("journalctl " + result.status_text() + ": " + result.tail_line(),
                                                      std::move(outcome.steps));
    out.push_back(std::move(outcome));
  }
  return out;
}

// ---- home_permissions ----

std::vector<Observation> HomePermissionsProvider::observe(
    Session& session, std::span<const resources::HomePermissionsResource* const> resources) const {
  std::vector<Observation> out;
  auto db = read_account_db(session.host());
  for (std::size_t i = 0; i < resources.size(); ++i) {
    if (!db) {
      out.push_back(Observation::unknown("not observable: " + db.error()));
      continue;
    }
    auto scan = scan_homes(session.host(), *db, false, nullptr);
    auto seen = std::make_unique<HomePermissionsObserved>(std::move(scan.seen));
    if (!scan.errors.empty()) {
      out.push_back(Observation::unknown("not observable: " + scan.errors.front()));
      continue;
    }
    std::string note = std::to_string(seen->homes) + " homes";
    for (const auto& skipped : seen->skipped) note += "; " + skipped;
    Observation o = Observation::known(std::move(seen));
    o.note = note;
    out.push_back(std::move(o));
  }
  return out;
}

std::vector<ChangeOutcome> HomePermissionsProvider::apply(Session& session, std::span<const Change> changes) const {
  std::vector<ChangeOutcome> out;
  auto db = read_account_db(session.host());
  for (const auto& change : changes) {
    if (!db) {
      out.push_back(ChangeOutcome::failed(db.error()));
      continue;
    }
    std::set<std::string> only;  // what the plan listed
    for (const auto& fix : change.observed->fixes) only.insert(fix.path);
    const auto started = std::chrono::steady_clock::now();
    auto scan = scan_homes(session.host(), *db, true, &only);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    ChangeOutcome outcome;
    for (const auto& done : scan.done) outcome.steps.push_back(Step{"fchown/fchmod " + done, seconds, 0, ""});
    if (!scan.errors.empty()) outcome = ChangeOutcome::failed(scan.errors.front(), std::move(outcome.steps));
    out.push_back(std::move(outcome));
  }
  return out;
}

}  // namespace reconcile::providers
