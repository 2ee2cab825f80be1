#include "providers/fs.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <string>
#include <vector>

namespace reconcile::providers {

namespace {

std::string errno_text(const std::string& what, const std::filesystem::path& path) {
  return what + " " + path.string() + ": " + std::strerror(errno);
}

std::filesystem::path temp_name(const std::filesystem::path& path) {
  return path.parent_path() / ("." + path.filename().string() + ".reconcile-" + std::to_string(::getpid()));
}

// Removes `.<name>.reconcile-<pid>` that a process killed between create and rename left beside `path`
// (its pid is gone), so a SIGKILL at any instant leaves nothing the next write does not clean.
void remove_stale_temps(const std::filesystem::path& path) {
  const std::string prefix = "." + path.filename().string() + ".reconcile-";
  DIR* dir = ::opendir(path.parent_path().empty() ? "." : path.parent_path().c_str());
  if (dir == nullptr) return;
  std::vector<std::string> stale;
  while (const dirent* entry = ::readdir(dir)) {
    const std::string_view name = entry->d_name;
    if (!name.starts_with(prefix)) continue;
    const auto rest = name.substr(prefix.size());
    pid_t pid = 0;
    const auto [end, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), pid);
    if (ec != std::errc() || end != rest.data() + rest.size() || pid <= 0 || pid == ::getpid()) continue;
    if (::kill(pid, 0) != 0 && errno == ESRCH) stale.emplace_back(name);
  }
  ::closedir(dir);
  for (const auto& name : stale) ::unlink((path.parent_path() / name).c_str());
}

std::expected<void, std::string> fsync_directory(const std::filesystem::path& dir) {
  const int fd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return std::unexpected(errno_text("open directory", dir));
  const int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) return std::unexpected(errno_text("fsync", dir));
  return {};
}

}  // namespace

std::expected<void, std::string> write_file_atomic(const std::filesystem::path& path, const std::string& content,
                                                   unsigned mode) {
  remove_stale_temps(path);
  const auto tmp = temp_name(path);
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
  if (fd < 0) return std::unexpected(errno_text("create", tmp));
  std::size_t done = 0;
  while (done < content.size()) {
    const ssize_t n = ::write(fd, content.data() + done, content.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      const auto error = errno_text("write", tmp);
      ::close(fd);
      ::unlink(tmp.c_str());
      return std::unexpected(error);
    }
    done += static_cast<std::size_t>(n);
  }
  if (::fchmod(fd, mode) != 0 || ::fsync(fd) != 0) {
    const auto error = errno_text("fsync", tmp);
    ::close(fd);
    ::unlink(tmp.c_str());
    return std::unexpected(error);
  }
  ::close(fd);
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const auto error = errno_text("rename to", path);
    ::unlink(tmp.c_str());
    return std::unexpected(error);
  }
  return fsync_directory(path.parent_path());
}

std::expected<void, std::string> replace_symlink_atomic(const std::filesystem::path& link, const std::string& target) {
  remove_stale_temps(link);
  const auto tmp = temp_name(link);
  ::unlink(tmp.c_str());
  if (::symlink(target.c_str(), tmp.c_str()) != 0) return std::unexpected(errno_text("symlink", tmp));
  if (::rename(tmp.c_str(), link.c_str()) != 0) {
    const auto error = errno_text("rename to", link);
    ::unlink(tmp.c_str());
    return std::unexpected(error);
  }
  return fsync_directory(link.parent_path());
}

namespace {

// 8 MiB, 64 KiB, 300 bytes.
std::string size_text(std::size_t bytes) {
  if (bytes >= (1u << 20) && bytes % (1u << 20) == 0) return std::to_string(bytes >> 20) + " MiB";
  if (bytes >= 1024 && bytes % 1024 == 0) return std::to_string(bytes >> 10) + " KiB";
  return std::to_string(bytes) + " bytes";
}

}  // namespace

std::expected<std::string, std::string> read_file(const std::filesystem::path& path, std::size_t max_bytes) {
  // Non-blocking, and only a regular file: a FIFO or a device where a host file should be must fail that one
  // resource, never block the run (and the run lock) forever.
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
  if (fd < 0) return std::unexpected(std::string(std::strerror(errno)));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    const std::string what = S_ISFIFO(st.st_mode) ? "a FIFO" : S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode) ? "a device"
                             : S_ISDIR(st.st_mode) ? "a directory" : S_ISSOCK(st.st_mode) ? "a socket" : "not a file";
    ::close(fd);
    return std::unexpected("not a regular file (" + what + ")");
  }
  // Read straight into the string, sized by fstat (the file may still grow or shrink while it is read). A file
  // of /proc says size 0 and must be read in one call: a sysctl file gives nothing to a read past its start.
  std::string out;
  std::size_t have = 0;
  std::size_t room = st.st_size > 0 ? std::min<std::size_t>(static_cast<std::size_t>(st.st_size), max_bytes) + 1
                                    : std::min<std::size_t>(65536, max_bytes + 1);
  while (true) {
    if (room == have) room = std::min(have * 2, max_bytes + 1);
    out.resize_and_overwrite(room, [](char*, std::size_t n) { return n; });
    const ssize_t n = ::read(fd, out.data() + have, room - have);
    if (n < 0) {
      if (errno == EINTR) continue;
      const std::string error = std::strerror(errno);
      ::close(fd);
      return std::unexpected(error);
    }
    if (n == 0) break;
    have += static_cast<std::size_t>(n);
    if (have > max_bytes) {
      ::close(fd);
      return std::unexpected("larger than " + size_text(max_bytes));
    }
  }
  ::close(fd);
  out.resize(have);
  if (out.capacity() > 2 * have + 4096) out.shrink_to_fit();
  return out;
}

}  // namespace reconcile::providers
