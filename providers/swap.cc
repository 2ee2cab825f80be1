#include "providers/swap.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <system_error>

#include "providers/fs.h"
#include "providers/managed_file.h"
#include "providers/swap_host.h"

namespace reconcile::providers {

namespace {

using resources::SwapFileField;
using resources::SwapFileObserved;
using resources::SwapFileResource;
using resources::SwapOffField;
using resources::SwapOffObserved;
using resources::SwapOffResource;

constexpr std::string_view kProcSwaps = "/proc/swaps";
constexpr std::string_view kMeminfo = "/proc/meminfo";
constexpr std::string_view kFstab = "/etc/fstab";

double since(std::chrono::steady_clock::time_point started) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
}

std::string errno_text(std::string_view what, const std::string& path) {
  return std::string(what) + " " + path + ": " + std::strerror(errno);
}

std::expected<std::vector<SwapArea>, std::string> read_swaps(const Host& host) {
  auto text = read_file(host.path(kProcSwaps), 1 << 20);
  if (!text) return std::unexpected(std::string(kProcSwaps) + ": " + text.error());
  return parse_proc_swaps(*text);
}

// Whether the first page ends in a swap signature (what mkswap writes).
bool has_signature(const std::filesystem::path& file) {
  const long page = ::sysconf(_SC_PAGESIZE);
  const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  char magic[10] = {};
  const ssize_t n = ::pread(fd, magic, sizeof magic, page - 10);
  ::close(fd);
  return n == 10 && (std::string_view(magic, 10) == "SWAPSPACE2" || std::string_view(magic, 10) == "SWAP-SPACE");
}

void observe_file_state(const std::filesystem::path& file, SwapFileObserved& seen) {
  struct stat st {};
  if (::lstat(file.c_str(), &st) != 0) {
    seen.type = errno == ENOENT ? SwapFileObserved::Type::kMissing : SwapFileObserved::Type::kOther;
    if (seen.type == SwapFileObserved::Type::kOther) seen.other = std::string("unreadable: ") + std::strerror(errno);
    return;
  }
  if (!S_ISREG(st.st_mode)) {
    seen.type = SwapFileObserved::Type::kOther;
    seen.other = S_ISDIR(st.st_mode) ? "a directory" : S_ISLNK(st.st_mode) ? "a symbolic link" : "not a regular file";
    return;
  }
  seen.type = SwapFileObserved::Type::kRegular;
  seen.size_bytes = static_cast<std::uint64_t>(st.st_size);
  seen.holes = static_cast<std::uint64_t>(st.st_blocks) * 512 < seen.size_bytes;
  seen.mode = st.st_mode & 07777;
  seen.uid = st.st_uid;
  seen.gid = st.st_gid;
  seen.signature = has_signature(file);
}

// The file's bytes: allocated by fallocate where the file system takes swap on it, else written as zeros.
std::expected<std::string, std::string> create_file(const std::filesystem::path& file, const std::string& shown,
                                                    std::uint64_t size, bool can_fallocate) {
  std::error_code ec;
  std::filesystem::create_directories(file.parent_path(), ec);
  const int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return std::unexpected(errno_text("create", shown));
  std::string how = "written";
  const auto fail = [&](std::string_view what) {
    std::string error = errno_text(what, shown);
    ::close(fd);
    ::unlink(file.c_str());
    return std::unexpected(std::move(error));
  };
  if (::fchown(fd, 0, 0) != 0 || ::fchmod(fd, 0600) != 0) return fail("chown");
  if (can_fallocate && ::fallocate(fd, 0, 0, static_cast<off_t>(size)) == 0) {
    how = "allocated";
  } else {
    static const std::string zeros(1 << 20, '\0');
    for (std::uint64_t done = 0; done < size;) {
      const std::size_t chunk = static_cast<std::size_t>(std::min<std::uint64_t>(zeros.size(), size - done));
      const ssize_t n = ::write(fd, zeros.data(), chunk);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return fail("write");
      done += static_cast<std::uint64_t>(n);
    }
  }
  if (::fsync(fd) != 0) return fail("fsync");
  if (::close(fd) != 0) return std::unexpected(errno_text("close", shown));
  return how;
}

// Runs a tool; its step goes to `outcome`; false when it failed (outcome failed with `why`).
bool run_tool(const Host& host, std::vector<std::string> argv, ChangeOutcome& outcome) {
  const auto result = host.exec->run(ExecRequest{argv, {}, "", std::chrono::minutes(10)});
  outcome.steps.push_back(step_of(argv, result));
  if (result.ok()) return true;
  outcome.result = ChangeOutcome::Result::kFailed;
  const std::string tail = result.tail();
  outcome.message = argv[0] + " failed: " + (tail.empty() ? result.status_text() : tail);
  return false;
}

void in_process_step(ChangeOutcome& outcome, std::string what, std::chrono::steady_clock::time_point started,
                     const std::string& error) {
  outcome.steps.push_back(Step{std::move(what), since(started), error.empty() ? 0 : 1, error});
  if (error.empty()) return;
  outcome.result = ChangeOutcome::Result::kFailed;
  outcome.message = error;
}

std::string mib(std::uint64_t kib) { return std::to_string((kib + 1023) / 1024) + " MiB"; }

ChangeOutcome apply_swapfile(const Host& host, const SwapfileProvider::Change& change) {
  const SwapFileResource& swap = *change.resource;
  const SwapFileObserved& seen = *change.observed;
  ChangeOutcome outcome;
  const auto file = host.path(swap.path());
  const std::string& shown = swap.path();
  if (seen.type == SwapFileObserved::Type::kOther) {
    return ChangeOutcome::failed(shown + " is " + seen.other + "; reconcile replaces only a regular file");
  }
  bool can_fallocate = false;
  const std::string problem = swap_filesystem_problem(file, &can_fallocate);
  if (!problem.empty()) return ChangeOutcome::failed(problem);
  const bool rebuild = change.drifted(SwapFileField::kFile) || change.drifted(SwapFileField::kSize) ||
                       change.drifted(SwapFileField::kHoles);
  if (rebuild && seen.active) {
    // Resize: what is swapped out to the file now must fit in memory, else nothing is touched.
    auto meminfo = read_file(host.path(kMeminfo), 1 << 20);
    const auto available = meminfo ? meminfo_kib(*meminfo, "MemAvailable") : std::nullopt;
    if (!available) return ChangeOutcome::failed("cannot resize " + shown + ": " + std::string(kMeminfo) + " unreadable");
    if (seen.used_kib >= *available) {
      return ChangeOutcome::failed("cannot resize " + shown + " now: " + mib(seen.used_kib) +
                                   " are swapped out to it and only " + mib(*available) +
                                   " of memory are available; the swap file was left as it is");
    }
    if (!run_tool(host, {"swapoff", "--", file.string()}, outcome)) return outcome;
  }
  if (rebuild) {
    auto started = std::chrono::steady_clock::now();
    if (seen.type == SwapFileObserved::Type::kRegular && ::unlink(file.c_str()) != 0) {
      in_process_step(outcome, "remove " + shown, started, errno_text("remove", shown));
      return outcome;
    }
    auto created = create_file(file, shown, swap.size_bytes(), can_fallocate);
    in_process_step(outcome, "create " + shown + " (" + std::to_string(swap.size_mb()) + " MiB, " +
                                 (created ? *created : std::string("failed")) + ", 0600 root)",
                    started, created ? "" : created.error());
    if (!created) return outcome;
  } else if (change.drifted(SwapFileField::kMode)) {
    auto started = std::chrono::steady_clock::now();
    std::string error;
    if (::chmod(file.c_str(), 0600) != 0) error = errno_text("chmod", shown);
    if (error.empty() && (seen.uid != 0 || seen.gid != 0) && ::lchown(file.c_str(), 0, 0) != 0) {
      error = errno_text("chown", shown);
    }
    in_process_step(outcome, "chmod 0600 and chown root " + shown, started, error);
    if (!error.empty()) return outcome;
  }
  if (rebuild || (!seen.active && !seen.signature)) {
    if (!run_tool(host, {"mkswap", "--", file.string()}, outcome)) return outcome;
  }
  if (rebuild || !seen.active) {
    if (!run_tool(host, {"swapon", "--", file.string()}, outcome)) return outcome;
  }
  if (change.drifted(SwapFileField::kFstab)) {
    auto started = std::chrono::steady_clock::now();
    std::string error;
    std::string what = "write /etc/fstab";
    auto edit = FileEdit::open(host, kFstab, EditOptions{0644, true, {}});
    if (!edit) {
      error = edit.error();
    } else {
      auto staged = edit->set(resources::fstab_record(swap.path(), "none"), swap.fstab_line());
      if (!staged) error = staged.error();
      if (error.empty()) {
        what = edit->what();
        auto committed = edit->commit();
        if (!committed) error = committed.error();
      }
    }
    in_process_step(outcome, what + ": " + swap.fstab_line(), started, error.empty() ? "" : "/etc/fstab: " + error);
  }
  return outcome;
}

}  // namespace

std::vector<resources::Error> SwapfileProvider::validate(Session& session,
                                                         std::span<const SwapFileResource* const> resources) const {
  std::vector<resources::Error> errors;
  for (const auto* swap : resources) {
    const std::string problem = swap_filesystem_problem(session.host().path(swap->path()));
    if (problem.empty()) continue;
    errors.push_back(resources::Error{resources::ErrorCode::kInvalidValue,
                                      "cannot put a swap file at " + swap->path() + ": " + problem,
                                      swap->location(), swap->key_path(), "choose a path on ext4 or xfs"});
  }
  return errors;
}

std::vector<Observation> SwapfileProvider::observe(Session& session,
                                                  std::span<const SwapFileResource* const> resources) const {
  const Host& host = session.host();
  std::vector<Observation> out;
  auto areas = read_swaps(host);
  auto fstab = observe_file(host, kFstab);
  for (const auto* swap : resources) {
    if (!areas) {
      out.push_back(Observation::unknown("not observable: " + areas.error()));
      continue;
    }
    if (!fstab) {
      out.push_back(Observation::unknown("not observable: /etc/fstab: " + fstab.error()));
      continue;
    }
    auto seen = std::make_unique<SwapFileObserved>();
    observe_file_state(host.path(swap->path()), *seen);
    for (const auto& area : *areas) {
      if (area.path != swap->path()) continue;
      seen->active = true;
      seen->used_kib = area.used_kib;
    }
    seen->fstab = fstab->get(resources::fstab_record(swap->path(), "none"));
    out.push_back(Observation::known(std::move(seen)));
  }
  return out;
}

std::vector<ChangeOutcome> SwapfileProvider::apply(Session& session, std::span<const Change> changes) const {
  std::vector<ChangeOutcome> outcomes;
  for (const Change& change : changes) outcomes.push_back(apply_swapfile(session.host(), change));
  return outcomes;
}

std::vector<Observation> SwapoffProvider::observe(Session& session,
                                                 std::span<const SwapOffResource* const> resources) const {
  const Host& host = session.host();
  std::vector<Observation> out;
  auto areas = read_swaps(host);
  auto fstab = observe_file(host, kFstab);
  for (std::size_t i = 0; i < resources.size(); ++i) {
    if (!areas) {
      out.push_back(Observation::unknown("not observable: " + areas.error()));
      continue;
    }
    if (!fstab) {
      out.push_back(Observation::unknown("not observable: /etc/fstab: " + fstab.error()));
      continue;
    }
    auto seen = std::make_unique<SwapOffObserved>();
    for (const auto& area : *areas) {
      seen->active.push_back(area.path);
      seen->used_kib += area.used_kib;
    }
    for (const auto& [key, record] : fstab->all(resources::FragmentKind::kFstabRecord)) {
      const auto fields = split_words(record);
      if (fields.size() >= 3 && fields[2] == "swap") seen->fstab.push_back(key);
    }
    out.push_back(Observation::known(std::move(seen)));
  }
  return out;
}

std::vector<ChangeOutcome> SwapoffProvider::apply(Session& session, std::span<const Change> changes) const {
  const Host& host = session.host();
  std::vector<ChangeOutcome> outcomes;
  for (const Change& change : changes) {
    ChangeOutcome outcome;
    if (change.drifted(SwapOffField::kActive)) {
      // What is swapped out must fit in memory, else swapoff would fight the OOM killer.
      auto meminfo = read_file(host.path(kMeminfo), 1 << 20);
      const auto available = meminfo ? meminfo_kib(*meminfo, "MemAvailable") : std::nullopt;
      if (available && change.observed->used_kib >= *available) {
        outcomes.push_back(ChangeOutcome::failed("cannot turn swap off now: " + mib(change.observed->used_kib) +
                                                 " are swapped out and only " + mib(*available) +
                                                 " of memory are available; swap was left on"));
        continue;
      }
      std::string failed;
      for (const auto& path : change.observed->active) {
        ChangeOutcome one;
        if (!run_tool(host, {"swapoff", "--", host.path(path).string()}, one)) failed += (failed.empty() ? "" : "; ") + one.message;
        for (auto& step : one.steps) outcome.steps.push_back(std::move(step));
      }
      if (!failed.empty()) {
        outcome.result = ChangeOutcome::Result::kFailed;
        outcome.message = failed;
      }
    }
    if (change.drifted(SwapOffField::kFstab)) {
      // Commented out, never deleted: turning swap back on is removing one '#'.
      auto started = std::chrono::steady_clock::now();
      std::string error;
      std::string what = "write /etc/fstab";
      auto edit = FileEdit::open(host, kFstab, EditOptions{0644, true, {}});
      if (!edit) {
        error = edit.error();
      } else {
        for (const auto& source : change.observed->fstab) {
          edit->comment_out(resources::Fragment{resources::FragmentKind::kFstabRecord, source});
        }
        what = edit->what();
        auto committed = edit->commit();
        if (!committed) error = committed.error();
      }
      std::string shown = what + ": comment out";
      for (const auto& source : change.observed->fstab) shown += " " + source;
      outcome.steps.push_back(Step{shown, since(started), error.empty() ? 0 : 1, error});
      if (!error.empty()) {
        outcome.result = ChangeOutcome::Result::kFailed;
        outcome.message += (outcome.message.empty() ? "" : "; ") + std::string("/etc/fstab: ") + error;
      }
    }
    outcomes.push_back(std::move(outcome));
  }
  return outcomes;
}

}  // namespace reconcile::providers
