#pragma once
// The run lock: one reconcile run at a time on a host, through flock on a file that names its holder's pid.

#include <chrono>
#include <expected>
#include <filesystem>
#include <string>

namespace reconcile::engine {

/// An exclusive lock on a file (flock), held until destroyed.
class RunLock {
 public:
  /// Waits up to `wait` for the lock; an error naming the holder when it stays taken.
  static std::expected<RunLock, std::string> acquire(const std::filesystem::path& path, std::chrono::milliseconds wait);
  RunLock(RunLock&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
  RunLock& operator=(RunLock&&) = delete;
  ~RunLock();

 private:
  explicit RunLock(int fd) : fd_(fd) {}
  int fd_ = -1;
};

}  // namespace reconcile::engine
