#include "engine/host_info.h"

#include <fcntl.h>
#include <git2.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <thread>

#include "providers/fs.h"

namespace reconcile::engine {

StateFileInfo state_file_info(const std::string& path) {
  StateFileInfo info;
  info.path = path;
  git_libgit2_init();
  std::error_code ec;
  const auto absolute = std::filesystem::absolute(path, ec);
  git_repository* repo = nullptr;
  if (ec || git_repository_open_ext(&repo, absolute.parent_path().c_str(), 0, nullptr) != 0) {
    git_libgit2_shutdown();
    return info;  // not in a git checkout
  }
  git_oid head;
  if (git_reference_name_to_id(&head, repo, "HEAD") == 0) {
    char hex[GIT_OID_HEXSZ + 1] = {};
    git_oid_tostr(hex, sizeof hex, &head);
    info.git_commit = hex;
    git_status_options options = GIT_STATUS_OPTIONS_INIT;
    options.show = GIT_STATUS_SHOW_INDEX_AND_WORKDIR;
    options.flags = GIT_STATUS_OPT_EXCLUDE_SUBMODULES;
    git_status_list* status = nullptr;
    if (git_status_list_new(&status, repo, &options) == 0) {
      info.git_dirty = git_status_list_entrycount(status) > 0;
      git_status_list_free(status);
    }
  } else {
    const git_error* error = git_error_last();
    info.git_error = error != nullptr ? error->message : "no commit yet";
  }
  git_repository_free(repo);
  git_libgit2_shutdown();
  return info;
}

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

std::string host_name() {
  char name[256] = {};
  if (::gethostname(name, sizeof name - 1) != 0) return "unknown";
  return name;
}

std::string now_iso8601() {
  const auto now = std::chrono::system_clock::now();
  const std::time_t seconds = std::chrono::system_clock::to_time_t(now);
  const auto millis = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char buffer[40];
  std::strftime(buffer, sizeof buffer, "%Y-%m-%dT%H:%M:%S", &utc);
  char out[48];
  std::snprintf(out, sizeof out, "%s.%03lldZ", buffer, static_cast<long long>(millis));
  return out;
}

}  // namespace reconcile::engine
