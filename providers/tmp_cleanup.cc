// Temporary directories walked through directory descriptors: openat with O_NOFOLLOW, fstatat without
// following, unlinkat relative to the directory, so a symlink swapped in during the walk is never followed.

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <ctime>
#include <set>

#include "providers/fs.h"
#include "providers/maintenance.h"

namespace reconcile::providers {

namespace {

using resources::AgeBy;
using resources::TmpCleanupObserved;
using resources::TmpEntry;

constexpr int kMaxDepth = 128;
// Directories that sessions and X need at the top of /tmp: their contents are cleaned, they stay.
constexpr std::string_view kKeptDirs[] = {".X11-unix", ".ICE-unix", ".XIM-unix", ".font-unix", ".Test-unix",
                                          "lost+found"};

std::int64_t seconds_of(const timespec& t) { return static_cast<std::int64_t>(t.tv_sec); }

std::int64_t file_time(const struct stat& st, AgeBy by) {
  switch (by) {
    case AgeBy::kAtime: return seconds_of(st.st_atim);
    case AgeBy::kMtime: return seconds_of(st.st_mtim);
    case AgeBy::kCtime: return seconds_of(st.st_ctim);
    case AgeBy::kNewest:
      return std::max({seconds_of(st.st_atim), seconds_of(st.st_mtim), seconds_of(st.st_ctim)});
  }
  return seconds_of(st.st_atim);
}

int open_dir_at(int dirfd, const char* name) {
  int fd = ::openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC | O_NOATIME);
  if (fd < 0 && errno == EPERM) fd = ::openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  return fd;
}

class Walk {
 public:
  Walk(std::string root, std::int64_t older_than, AgeBy by, std::int64_t now, const std::vector<std::string>& mounts,
       const std::vector<std::pair<std::uint64_t, std::uint64_t>>& open_files, bool remove,
       const std::vector<std::string>* only)
      : root_(std::move(root)), older_than_(older_than), by_(by), now_(now), mounts_(mounts), open_(open_files),
        remove_(remove) {
    if (only != nullptr) only_ = std::set<std::string>(only->begin(), only->end());
  }

  TmpCleanupObserved run() {
    const int fd = open_dir_at(AT_FDCWD, root_.c_str());
    if (fd < 0) {
      if (errno == ENOENT) seen_.exists = false;
      else seen_.errors.push_back(root_ + ": " + std::strerror(errno));
      return std::move(seen_);
    }
    struct stat st {};
    ::fstat(fd, &st);
    dev_ = st.st_dev;
    walk(fd, "", 0);
    ::close(fd);
    return std::move(seen_);
  }

 private:
  bool old(std::int64_t time) const { return now_ - time > older_than_; }
  bool allowed(const std::string& rel) const { return !only_ || only_->contains(rel); }

  // Walks the directory open at fd (closed by the caller); true when everything in it is (or would be) gone.
  bool walk(int fd, const std::string& prefix, int depth) {
    const int listing = ::dup(fd);
    DIR* dir = listing < 0 ? nullptr : ::fdopendir(listing);
    if (dir == nullptr) {
      if (listing >= 0) ::close(listing);
      seen_.errors.push_back(root_ + "/" + prefix + ": " + std::strerror(errno));
      return false;
    }
    std::vector<std::string> names;
    while (const dirent* entry = ::readdir(dir)) {
      const std::string name = entry->d_name;
      if (name != "." && name != "..") names.push_back(name);
    }
    ::closedir(dir);
    std::sort(names.begin(), names.end());
    bool emptied = true;
    for (const auto& name : names) {
      if (!entry(fd, name, prefix, depth)) emptied = false;
    }
    return emptied;
  }

  // One entry; true when it is (or would be) deleted.
  bool entry(int fd, const std::string& name, const std::string& prefix, int depth) {
    const std::string rel = prefix + name;
    struct stat st {};
    if (::fstatat(fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      if (errno != ENOENT) seen_.errors.push_back(root_ + "/" + rel + ": " + std::strerror(errno));
      return errno == ENOENT;
    }
    if (S_ISDIR(st.st_mode)) return directory(fd, name, rel, st, depth);
    const std::int64_t time = file_time(st, by_);
    if (!old(time)) return false;
    if (S_ISSOCK(st.st_mode)) {
      ++seen_.kept_sockets;
      return false;
    }
    if (!S_ISREG(st.st_mode) && !S_ISLNK(st.st_mode)) {
      ++seen_.kept_other;
      return false;
    }
    if (S_ISREG(st.st_mode) &&
        std::binary_search(open_.begin(), open_.end(), std::pair<std::uint64_t, std::uint64_t>(st.st_dev, st.st_ino))) {
      ++seen_.kept_open;
      return false;
    }
    if (!allowed(rel)) return false;
    if (remove_ && ::unlinkat(fd, name.c_str(), 0) != 0) {
      if (errno == ENOENT) return true;
      seen_.errors.push_back("cannot delete " + root_ + "/" + rel + ": " + std::strerror(errno));
      return false;
    }
    seen_.old.push_back(TmpEntry{rel, S_ISLNK(st.st_mode) ? 'l' : 'f', now_ - time,
                                 static_cast<std::int64_t>(st.st_blocks) * 512});
    return true;
  }

  bool directory(int fd, const std::string& name, const std::string& rel, const struct stat& st, int depth) {
    const std::string full = root_ + "/" + rel;
    if (depth == 0 && name.starts_with("systemd-private-")) {
      ++seen_.kept_private;  // a running service's PrivateTmp: systemd removes it when the service stops
      return false;
    }
    if (st.st_dev != dev_ || std::binary_search(mounts_.begin(), mounts_.end(), full)) {
      ++seen_.kept_mounts;
      return false;
    }
    if (depth >= kMaxDepth) {
      seen_.errors.push_back(full + ": nested deeper than " + std::to_string(kMaxDepth) + " levels, not walked");
      return false;
    }
    if (std::binary_search(open_.begin(), open_.end(), std::pair<std::uint64_t, std::uint64_t>(st.st_dev, st.st_ino))) {
      ++seen_.kept_open;  // some process's working directory
      return false;
    }
    const int child = open_dir_at(fd, name.c_str());
    if (child < 0) {
      if (errno != ENOENT) seen_.errors.push_back(full + ": " + std::strerror(errno));
      return false;
    }
    struct stat again {};
    if (::fstat(child, &again) != 0 || again.st_ino != st.st_ino || again.st_dev != st.st_dev) {
      ::close(child);
      return false;  // replaced while we looked: left for the next run
    }
    const bool emptied = walk(child, rel + "/", depth + 1);
    ::close(child);
    const bool kept_name =
        depth == 0 && std::find(std::begin(kKeptDirs), std::end(kKeptDirs), name) != std::end(kKeptDirs);
    if (!emptied || kept_name || !old(seconds_of(st.st_mtim)) || !allowed(rel + "/")) return false;
    if (remove_ && ::unlinkat(fd, name.c_str(), AT_REMOVEDIR) != 0) {
      if (errno == ENOENT) return true;
      if (errno != ENOTEMPTY && errno != EEXIST) {
        seen_.errors.push_back("cannot delete " + full + ": " + std::strerror(errno));
      }
      return false;
    }
    seen_.old.push_back(TmpEntry{rel, 'd', now_ - seconds_of(st.st_mtim), 0});
    return true;
  }

  std::string root_;
  std::int64_t older_than_;
  AgeBy by_;
  std::int64_t now_;
  const std::vector<std::string>& mounts_;
  const std::vector<std::pair<std::uint64_t, std::uint64_t>>& open_;
  bool remove_;
  std::optional<std::set<std::string>> only_;
  dev_t dev_ = 0;
  TmpCleanupObserved seen_;
};

// Mount points from /proc/self/mountinfo (field 5, octal escapes undone), sorted.
std::vector<std::string> mount_points(const Host& host) {
  std::vector<std::string> out;
  auto text = read_file(host.path("/proc/self/mountinfo"), 16u << 20);
  if (!text) return out;
  std::size_t at = 0;
  while (at < text->size()) {
    const auto end = std::min(text->find('\n', at), text->size());
    const std::string_view line(text->data() + at, end - at);
    at = end + 1;
    std::size_t field = 0, start = 0;
    for (int i = 0; i < 4 && start != std::string_view::npos; ++i) start = line.find(' ', start) + 1;
    if (start == 0) continue;
    field = line.find(' ', start);
    const std::string_view raw = line.substr(start, field == std::string_view::npos ? line.npos : field - start);
    std::string point;
    for (std::size_t i = 0; i < raw.size(); ++i) {
      if (raw[i] == '\\' && i + 3 < raw.size()) {
        point += static_cast<char>((raw[i + 1] - '0') * 64 + (raw[i + 2] - '0') * 8 + (raw[i + 3] - '0'));
        i += 3;
      } else {
        point += raw[i];
      }
    }
    out.push_back(std::move(point));
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

std::vector<std::pair<std::uint64_t, std::uint64_t>> open_file_ids(const Host& host) {
  std::vector<std::pair<std::uint64_t, std::uint64_t>> out;
  const auto proc = host.path("/proc");
  DIR* dir = ::opendir(proc.c_str());
  if (dir == nullptr) return out;
  while (const dirent* entry = ::readdir(dir)) {
    const std::string pid = entry->d_name;
    if (pid.empty() || pid.find_first_not_of("0123456789") != std::string::npos) continue;
    const std::string base = proc.string() + "/" + pid;
    struct stat st {};
    if (::stat((base + "/cwd").c_str(), &st) == 0) out.emplace_back(st.st_dev, st.st_ino);
    DIR* fds = ::opendir((base + "/fd").c_str());
    if (fds == nullptr) continue;
    while (const dirent* fd = ::readdir(fds)) {
      if (fd->d_name[0] == '.') continue;
      if (::stat((base + "/fd/" + fd->d_name).c_str(), &st) == 0) out.emplace_back(st.st_dev, st.st_ino);
    }
    ::closedir(fds);
  }
  ::closedir(dir);
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

TmpCleanupObserved walk_tmp(const std::string& host_path, std::int64_t older_than, AgeBy by, std::int64_t now,
                            const std::vector<std::string>& mounts,
                            const std::vector<std::pair<std::uint64_t, std::uint64_t>>& open_files, bool remove,
                            const std::vector<std::string>* only) {
  return Walk(host_path, older_than, by, now, mounts, open_files, remove, only).run();
}

std::vector<Observation> TmpCleanupProvider::observe(
    Session& session, std::span<const resources::TmpCleanupResource* const> resources) const {
  const Host& host = session.host();
  const auto mounts = mount_points(host);
  const auto open_files = open_file_ids(host);  // once for every directory
  const std::int64_t now = std::time(nullptr);
  std::vector<Observation> out;
  for (const auto* tmp : resources) {
    auto seen = std::make_unique<TmpCleanupObserved>(
        walk_tmp(host.path(tmp->path()).string(), tmp->older_than(), tmp->age_by(), now, mounts, open_files, false,
                 nullptr));
    if (!seen->errors.empty() && seen->old.empty() && seen->errors.front().starts_with(host.path(tmp->path()).string() + ":")) {
      out.push_back(Observation::unknown("not observable: " + seen->errors.front()));
      continue;
    }
    Observation o = Observation::known(std::move(seen));
    const auto& typed = static_cast<const TmpCleanupObserved&>(*o.state);
    if (!typed.exists) o.note = tmp->path() + " does not exist";
    else if (!typed.kept_text().empty()) o.note = typed.kept_text();
    if (!typed.errors.empty()) o.note += (o.note.empty() ? "" : "; ") + typed.errors.front();
    out.push_back(std::move(o));
  }
  return out;
}

std::vector<ChangeOutcome> TmpCleanupProvider::apply(Session& session, std::span<const Change> changes) const {
  const Host& host = session.host();
  const auto mounts = mount_points(host);
  const auto open_files = open_file_ids(host);  // again: a file opened since observing is kept
  const std::int64_t now = std::time(nullptr);
  std::vector<ChangeOutcome> out;
  for (const auto& change : changes) {
    const auto& tmp = *change.resource;
    std::vector<std::string> planned;  // only what the plan listed: a preview is a promise
    for (const auto& entry : change.observed->old) planned.push_back(entry.path + (entry.type == 'd' ? "/" : ""));
    const auto started = std::chrono::steady_clock::now();
    const auto done = walk_tmp(host.path(tmp.path()).string(), tmp.older_than(), tmp.age_by(), now, mounts,
                               open_files, true, &planned);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    std::int64_t bytes = 0;
    for (const auto& entry : done.old) bytes += entry.bytes;
    Step step{"delete " + std::to_string(done.old.size()) + " old entries under " + tmp.path() + " (" +
                  std::to_string(bytes / 1024) + " KiB)",
              seconds, done.errors.empty() ? 0 : 1, ""};
    for (const auto& entry : done.old) step.output += entry.path + (entry.type == 'd' ? "/" : "") + "\n";
    step.output = step.output.size() > 4096 ? step.output.substr(0, 4096) + "…" : step.output;
    ChangeOutcome outcome;
    if (!done.errors.empty()) {
      std::string errors;
      for (std::size_t i = 0; i < done.errors.size() && i < 5; ++i) errors += (i ? "; " : "") + done.errors[i];
      step.error_tail = errors;
      outcome = ChangeOutcome::failed(errors);
    }
    outcome.steps.push_back(std::move(step));
    out.push_back(std::move(outcome));
  }
  return out;
}

}  // namespace reconcile::providers
