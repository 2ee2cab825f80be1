#include "engine/run_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>

#include "providers/fs.h"

namespace reconcile::engine {

namespace {

// "pid 123 (reconcile daemon s.yaml)": the pid a lock file names and its command line, when it still runs.
std::string describe_pid(const std::string& text) {
  std::string pid;
  for (const char c : text) {
    if (c < '0' || c > '9') break;
    pid += c;
  }
  if (pid.empty() || pid.size() > 10) return "";
  std::string out = "pid " + pid;
  if (auto cmdline = providers::read_file("/proc/" + pid + "/cmdline", 512); cmdline && !cmdline->empty()) {
    std::string shown;
    for (const char c : *cmdline) {
      if (c == '\0') shown += ' ';
      else if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) shown += '?';
      else shown += c;
    }
    while (!shown.empty() && shown.back() == ' ') shown.pop_back();
    if (shown.size() > 200) shown = shown.substr(0, 200) + "…";
    out += " (" + shown + ")";
  }
  return out;
}

}  // namespace

std::string RunLock::holder(const std::filesystem::path& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
  if (fd < 0) return "";
  std::string who;
  if (::flock(fd, LOCK_SH | LOCK_NB) != 0) {
    auto text = providers::read_file(path, 256);
    who = text ? describe_pid(*text) : "";
    if (who.empty()) who = "another process";
  }
  ::close(fd);
  return who;
}

std::expected<RunLock, std::string> RunLock::acquire(const std::filesystem::path& path,
                                                     std::chrono::milliseconds wait, const std::atomic<bool>* stop) {
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
    if (stop != nullptr && stop->load()) {
      ::close(fd);
      return std::unexpected("interrupted while waiting for the lock " + path.string() + "; nothing was changed");
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      std::string holder;
      if (auto text = providers::read_file(path, 256); text && !text->empty()) {
        const std::string who = describe_pid(*text);
        holder = " (held by " + (who.empty() ? "pid " + *text : who) + ")";
      }
      ::close(fd);
      return std::unexpected("another reconcile run holds " + path.string() + holder +
                             (wait.count() == 0 ? "" : "; waited " + std::to_string(wait.count() / 1000) + " s") +
                             ". Try again when it has finished.");
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
