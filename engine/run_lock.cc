#include "engine/run_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>

#include "providers/fs.h"

namespace reconcile::engine {

std::expected<RunLock, std::string> RunLock::acquire(const std::filesystem::path& path,
                                                     std::chrono::milliseconds wait) {
  std::error_code ec;
  std::filesystem::create_directories(path.parent_path(), ec);
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return std::unexpected("cannot open the lock " + path.string() + ": " + std::strerror(errno));
  const auto deadline = std::chrono::steady_clock::now() + wait;
  while (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    if (errno != EWOULDBLOCK && errno != EINTR) {
      const std::string error = std::strerror(errno);
      ::close(fd);
      return std::unexpected("cannot lock " + path.string() + ": " + error);
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      std::string holder;
      if (auto text = providers::read_file(path, 256); text && !text->empty()) holder = " (held by pid " + *text + ")";
      ::close(fd);
      return std::unexpected("another reconcile run holds " + path.string() + holder + "; waited " +
                             std::to_string(wait.count() / 1000) + " s. Try again when it has finished.");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  const std::string pid = std::to_string(::getpid());
  if (::ftruncate(fd, 0) == 0) {
    [[maybe_unused]] const auto written = ::pwrite(fd, pid.data(), pid.size(), 0);
  }
  return RunLock(fd);
}

RunLock::~RunLock() {
  if (fd_ >= 0) ::close(fd_);
}

}  // namespace reconcile::engine
