#include "providers/rpm_lock.h"

#include <unistd.h>

#include <charconv>
#include <thread>

#include "providers/fs.h"

namespace reconcile::providers {

namespace {

constexpr int kDnfLocked = 200;   // dnf's exit status when exit_on_lock finds a lock held
constexpr int kZyppLocked = 7;    // ZYPPER_EXIT_ZYPP_LOCKED

std::string trimmed(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ' || text.back() == '\0')) text.pop_back();
  std::size_t start = 0;
  while (start < text.size() && text[start] == ' ') ++start;
  return text.substr(start);
}

}  // namespace

std::string RpmLockHolder::describe() const {
  return lock + " is held by process " + std::to_string(pid) + (command.empty() ? "" : " (" + command + ")");
}

std::vector<std::string> rpm_lock_files(RpmManager manager) {
  if (manager == RpmManager::kZypper) return {"/run/zypp.pid"};
  return {"/var/lib/dnf/rpmdb_lock.pid", "/var/cache/dnf/metadata_lock.pid", "/var/cache/dnf/download_lock.pid"};
}

std::optional<RpmLockHolder> rpm_lock_holder(const Host& host, RpmManager manager, const std::filesystem::path& proc) {
  for (const auto& lock : rpm_lock_files(manager)) {
    auto text = read_file(host.path(lock), 64);
    if (!text) continue;  // no lock file: free
    const std::string content = trimmed(*text);
    long pid = 0;
    const auto [end, ec] = std::from_chars(content.data(), content.data() + content.size(), pid);
    if (ec != std::errc() || end != content.data() + content.size() || pid <= 0 || pid == ::getpid()) continue;
    std::error_code exists_ec;
    if (!std::filesystem::exists(proc / std::to_string(pid), exists_ec)) continue;  // a dead holder: free
    RpmLockHolder holder{lock, pid, ""};
    if (auto comm = read_file(proc / std::to_string(pid) / "comm", 256)) holder.command = trimmed(*comm);
    return holder;
  }
  return std::nullopt;
}

std::optional<RpmLockHolder> wait_for_rpm_lock(const Host& host, RpmManager manager, std::chrono::milliseconds wait) {
  const auto deadline = std::chrono::steady_clock::now() + wait;
  auto step = std::chrono::milliseconds(50);
  for (;;) {
    auto holder = rpm_lock_holder(host, manager);
    if (!holder || std::chrono::steady_clock::now() >= deadline) return holder;
    std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(
        step, deadline - std::chrono::steady_clock::now()));
    step = std::min(step * 2, std::chrono::milliseconds(1000));
  }
}

bool rpm_lock_failure(RpmManager manager, const ExecResult& result) {
  if (!result.spawn_error.empty() || result.timed_out) return false;
  if (manager == RpmManager::kZypper) return result.exit_status == kZyppLocked;
  return result.exit_status == kDnfLocked && (result.out + result.err).find("already locked by") != std::string::npos;
}

std::string rpm_lock_deferred_message(RpmManager manager, const std::optional<RpmLockHolder>& holder,
                                      std::chrono::milliseconds waited, const ExecResult* result) {
  const std::string tool = manager == RpmManager::kDnf ? "dnf" : "zypper";
  std::string message;
  if (holder) {
    message = "the " + tool + " lock " + holder->describe();
  } else {
    message = "another process holds the " + tool + " lock";
    if (result != nullptr) message += " (" + result->tail_line(2) + ")";
  }
  const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(waited).count();
  return message + " (waited " + std::to_string(seconds) + " s)";
}

}  // namespace reconcile::providers
