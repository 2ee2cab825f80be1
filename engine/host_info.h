#pragma once
// Facts about the run's surroundings, read in-process: git commits of state files, the lock.

#include <chrono>
#include <expected>
#include <filesystem>
#include <string>

#include "engine/report.h"

namespace reconcile::engine {

/// The git commit of a state file's checkout (via libgit2, no git process), if it is in one.
StateFileInfo state_file_info(const std::string& path);

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

/// The host's name (gethostname).
std::string host_name();
/// Now as ISO 8601 UTC with milliseconds.
std::string now_iso8601();

}  // namespace reconcile::engine
