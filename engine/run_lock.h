#pragma once
// The run lock: one reconcile run at a time on a host, through flock on a file that names its holder's pid.

#include <atomic>
#include <chrono>
#include <expected>
#include <filesystem>
#include <string>

namespace reconcile::engine {

/// An exclusive lock on a file (flock), held until destroyed.
class RunLock {
 public:
  /// Waits up to `wait` for the lock (or until `stop` is set); an error naming the holder when it stays taken.
  static std::expected<RunLock, std::string> acquire(const std::filesystem::path& path, std::chrono::milliseconds wait,
                                                     const std::atomic<bool>* stop = nullptr);
  /// Who holds the lock at `path` now: "pid 123 (reconcile daemon /etc/reconcile/state.yaml)", or "" when free.
  static std::string holder(const std::filesystem::path& path);
  RunLock(RunLock&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
  RunLock& operator=(RunLock&&) = delete;
  ~RunLock();

 private:
  explicit RunLock(int fd) : fd_(fd) {}
  int fd_ = -1;
};

}  // namespace reconcile::engine
