#include "providers/managed_file.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <map>

namespace reconcile::providers {

using resources::Fragment;
using resources::FragmentKind;

namespace {

constexpr std::string_view kTempMark = ".reconcile-tmp-";
constexpr std::string_view kPrevious = ".reconcile-previous";
constexpr std::size_t kMaxBytes = 64u << 20;  // a configuration file, not a data file

std::atomic<std::uint64_t> writes_done{0};

std::string errno_text(const std::string& what, const std::string& path) {
  return what + " " + path + ": " + std::strerror(errno);
}

std::expected<void, std::string> fsync_directory(const std::filesystem::path& dir, const std::string& shown) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return std::unexpected(errno_text("open the directory of", shown));
  const int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) return std::unexpected(errno_text("fsync the directory of", shown));
  return {};
}

std::filesystem::path temp_path(const std::filesystem::path& path) {
  static std::atomic<std::uint64_t> counter{0};
  return path.parent_path() / ("." + path.filename().string() + std::string(kTempMark) +
                               std::to_string(::getpid()) + "-" + std::to_string(++counter));
}

// Removes `.<name>.reconcile-tmp-<pid>-<n>` left by a process that is gone (or by this one: the caller
// holds the path's lock, so no edit of ours is under way).
void remove_stale_temps(const std::filesystem::path& path) {
  const std::string prefix = "." + path.filename().string() + std::string(kTempMark);
  DIR* dir = ::opendir(path.parent_path().c_str());
  if (dir == nullptr) return;
  std::vector<std::string> stale;
  while (const dirent* entry = ::readdir(dir)) {
    const std::string_view name = entry->d_name;
    if (!name.starts_with(prefix)) continue;
    const auto rest = name.substr(prefix.size());
    pid_t pid = 0;
    const auto [end, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), pid);
    if (ec != std::errc() || end == rest.data() || *end != '-') continue;
    if (pid == ::getpid() || (::kill(pid, 0) != 0 && errno == ESRCH)) stale.emplace_back(name);
  }
  ::closedir(dir);
  for (const auto& name : stale) ::unlink((path.parent_path() / name).c_str());
}

// The file at `absolute` under the root, its directory resolved and checked to be inside the root.
std::expected<std::filesystem::path, std::string> resolve(const Host& host, std::string_view absolute) {
  const std::filesystem::path wanted(absolute);
  if (!wanted.is_absolute() || wanted.filename().empty()) {
    return std::unexpected("not an absolute file path: " + std::string(absolute));
  }
  for (const auto& part : wanted) {
    if (part == "..") return std::unexpected("a managed path has no '..': " + std::string(absolute));
  }
  std::error_code ec;
  const auto root = std::filesystem::canonical(host.root.empty() ? "/" : host.root, ec);
  if (ec) return std::unexpected("the root " + host.root.string() + ": " + ec.message());
  const auto dir = std::filesystem::canonical(host.path(absolute).parent_path(), ec);
  if (ec) return std::unexpected("the directory of " + std::string(absolute) + ": " + ec.message());
  const auto inside = dir.lexically_relative(root);
  if (inside.empty() || *inside.begin() == "..") {
    return std::unexpected("the directory of " + std::string(absolute) + " resolves to " + dir.string() +
                           ", outside the root " + root.string());
  }
  return dir / wanted.filename();
}

struct Found {
  bool exists = false;
  struct stat st {};
  std::string bytes;
};

// Reads a regular file without following a symlink at it; absent is empty.
std::expected<Found, std::string> read_regular(const std::filesystem::path& real, const std::string& shown) {
  Found found;
  if (::lstat(real.c_str(), &found.st) != 0) {
    if (errno == ENOENT) return found;
    return std::unexpected(errno_text("stat", shown));
  }
  if (S_ISLNK(found.st.st_mode)) {
    return std::unexpected(shown + " is a symbolic link; reconcile edits regular files only, never through a link");
  }
  if (!S_ISREG(found.st.st_mode)) return std::unexpected(shown + " is not a regular file");
  const int fd = ::open(real.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return std::unexpected(errno_text("open", shown));
  char buffer[65536];
  while (true) {
    const ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const auto error = errno_text("read", shown);
      ::close(fd);
      return std::unexpected(error);
    }
    if (n == 0) break;
    found.bytes.append(buffer, static_cast<std::size_t>(n));
    if (found.bytes.size() > kMaxBytes) {
      ::close(fd);
      return std::unexpected(shown + " is larger than " + std::to_string(kMaxBytes >> 20) + " MiB");
    }
  }
  ::fstat(fd, &found.st);
  ::close(fd);
  found.exists = true;
  return found;
}

// Writes `bytes` to a temporary file beside `path` with the mode and owner given, fsyncs it, renames it
// over `path` and fsyncs the directory.
std::expected<void, std::string> replace_file(const std::filesystem::path& path, const std::string& shown,
                                              std::string_view bytes, unsigned mode,
                                              const std::optional<std::pair<uid_t, gid_t>>& owner,
                                              const EditOptions& options) {
  const auto tmp = temp_path(path);
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) return std::unexpected(errno_text("create a temporary file for", shown));
  auto fail = [&](const std::string& what) -> std::expected<void, std::string> {
    const auto error = errno_text(what, shown);
    ::close(fd);
    ::unlink(tmp.c_str());
    return std::unexpected(error);
  };
  std::size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fail("write");
    done += static_cast<std::size_t>(n);
  }
  if (owner) {
    struct stat st {};
    if (::fstat(fd, &st) != 0) return fail("stat the temporary file of");
    if ((st.st_uid != owner->first || st.st_gid != owner->second) && ::fchown(fd, owner->first, owner->second) != 0) {
      return fail("keep the owner of");
    }
  }
  if (::fchmod(fd, mode) != 0) return fail("keep the mode of");
  if (::fsync(fd) != 0) return fail("fsync");
  ::close(fd);
  if (options.before_rename) options.before_rename(tmp);
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const auto error = errno_text("rename over", shown);
    ::unlink(tmp.c_str());
    return std::unexpected(error);
  }
  return fsync_directory(path.parent_path(), shown);
}

std::shared_ptr<std::mutex> path_mutex(const std::string& path) {
  static std::mutex registry_mutex;
  static std::map<std::string, std::shared_ptr<std::mutex>> registry;
  std::lock_guard lock(registry_mutex);
  auto& slot = registry[path];
  if (!slot) slot = std::make_shared<std::mutex>();
  return slot;
}

}  // namespace

// --- FileEdit ------------------------------------------------------------------------------------------

std::expected<FileEdit, std::string> FileEdit::open(const Host& host, std::string_view absolute,
                                                    EditOptions options) {
  auto real = resolve(host, absolute);
  if (!real) return std::unexpected(real.error());
  FileEdit edit;
  edit.absolute_ = absolute;
  edit.real_ = *real;
  edit.options_ = std::move(options);
  edit.mutex_ = path_mutex(edit.real_.string());
  edit.lock_ = std::unique_lock(*edit.mutex_);
  remove_stale_temps(edit.real_);
  if (edit.options_.keep_previous) {
    std::filesystem::path previous = edit.real_;
    remove_stale_temps(previous += kPrevious);
  }
  auto found = read_regular(edit.real_, edit.absolute_);
  if (!found) return std::unexpected(found.error());
  auto text = FileText::parse(found->bytes, found->exists);
  if (!text) return std::unexpected(edit.absolute_ + ": " + text.error());
  edit.text_ = std::move(*text);
  edit.original_ = std::move(found->bytes);
  edit.existed_ = found->exists;
  edit.mode_ = found->exists ? (found->st.st_mode & 07777) : edit.options_.mode;
  if (found->exists) edit.owner_ = std::make_pair(found->st.st_uid, found->st.st_gid);
  return edit;
}

std::expected<bool, std::string> FileEdit::set(const Fragment& fragment, std::string_view content) {
  auto changed = text_.set(fragment, content);
  if (changed && *changed) touched_.insert(fragment);
  return changed;
}

bool FileEdit::remove(const Fragment& fragment) {
  const bool removed = text_.remove(fragment);
  if (removed) touched_.insert(fragment);
  return removed;
}

bool FileEdit::comment_out(const Fragment& fragment) {
  const bool done = text_.comment_out(fragment);
  if (done) touched_.insert(fragment);
  return done;
}

bool FileEdit::changed() const {
  if (text_.exists() != existed_) return true;
  return existed_ && text_.bytes() != original_;
}

std::string FileEdit::what() const {
  if (!text_.exists()) return "remove " + absolute_;
  const std::string verb = existed_ ? "write " : "create ";
  const bool whole = touched_.size() == 1 && touched_.begin()->kind == FragmentKind::kWholeFile;
  if (whole || touched_.empty()) return verb + absolute_;
  return verb + absolute_ + " (" + std::to_string(touched_.size()) +
         (touched_.size() == 1 ? " fragment)" : " fragments)");
}

std::expected<CommitResult, std::string> FileEdit::commit() {
  if (!changed()) {
    touched_.clear();
    return CommitResult{};
  }
  CommitResult result{true, touched_.size(), what()};
  if (options_.keep_previous && existed_) {
    std::filesystem::path previous = real_;
    previous += kPrevious;
    auto kept = replace_file(previous, absolute_ + std::string(kPrevious), original_, mode_, owner_, EditOptions{});
    if (!kept) return std::unexpected(kept.error());
  }
  if (!text_.exists()) {
    if (::unlink(real_.c_str()) != 0 && errno != ENOENT) return std::unexpected(errno_text("remove", absolute_));
    auto synced = fsync_directory(real_.parent_path(), absolute_);
    if (!synced) return std::unexpected(synced.error());
  } else {
    auto written = replace_file(real_, absolute_, text_.bytes(), mode_, owner_, options_);
    if (!written) return std::unexpected(written.error());
  }
  ++writes_done;
  original_ = text_.bytes();
  existed_ = text_.exists();
  touched_.clear();
  return result;
}

std::uint64_t FileEdit::writes() { return writes_done.load(); }

// --- observe and links ---------------------------------------------------------------------------------

std::expected<FileText, std::string> observe_file(const Host& host, std::string_view absolute) {
  auto real = resolve(host, absolute);
  if (!real) return std::unexpected(real.error());
  auto found = read_regular(*real, std::string(absolute));
  if (!found) return std::unexpected(found.error());
  auto text = FileText::parse(found->bytes, found->exists);
  if (!text) return std::unexpected(std::string(absolute) + ": " + text.error());
  return text;
}

std::expected<bool, std::string> replace_symlink(const Host& host, std::string_view absolute,
                                                 std::string_view target) {
  auto real = resolve(host, absolute);
  if (!real) return std::unexpected(real.error());
  const std::string shown(absolute);
  const auto mutex = path_mutex(real->string());
  std::lock_guard lock(*mutex);
  remove_stale_temps(*real);
  struct stat st {};
  if (::lstat(real->c_str(), &st) == 0) {
    if (S_ISDIR(st.st_mode)) return std::unexpected(shown + " is a directory");
    if (S_ISLNK(st.st_mode)) {
      std::error_code ec;
      if (std::filesystem::read_symlink(*real, ec).string() == target && !ec) return false;
    }
  }
  const auto tmp = temp_path(*real);
  if (::symlink(std::string(target).c_str(), tmp.c_str()) != 0) return std::unexpected(errno_text("link", shown));
  if (::rename(tmp.c_str(), real->c_str()) != 0) {
    const auto error = errno_text("rename over", shown);
    ::unlink(tmp.c_str());
    return std::unexpected(error);
  }
  auto synced = fsync_directory(real->parent_path(), shown);
  if (!synced) return std::unexpected(synced.error());
  ++writes_done;
  return true;
}

std::expected<void, std::string> write_whole_file(const Host& host, std::string_view absolute, std::string_view bytes,
                                                  unsigned mode, std::optional<std::pair<uid_t, gid_t>> owner) {
  auto real = resolve(host, absolute);
  if (!real) return std::unexpected(real.error());
  const std::string shown(absolute);
  const auto mutex = path_mutex(real->string());
  std::lock_guard lock(*mutex);
  remove_stale_temps(*real);
  struct stat st {};
  if (::lstat(real->c_str(), &st) == 0 && S_ISDIR(st.st_mode)) return std::unexpected(shown + " is a directory");
  if (!owner) owner = std::make_pair(::geteuid(), ::getegid());
  auto written = replace_file(*real, shown, bytes, mode, owner, EditOptions{});
  if (!written) return written;
  ++writes_done;
  return {};
}

}  // namespace reconcile::providers
