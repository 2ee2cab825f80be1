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

constexpr std::string_view kBom = "\xEF\xBB\xBF";
constexpr std::string_view kBegin = "# BEGIN reconcile ";
constexpr std::string_view kEnd = "# END reconcile ";
constexpr std::string_view kTempMark = ".reconcile-tmp-";
constexpr std::string_view kPrevious = ".reconcile-previous";
constexpr std::string_view kBlanks = " \t\r\v\f";

std::atomic<std::uint64_t> writes_done{0};

std::string_view trim(std::string_view text) {
  const auto first = text.find_first_not_of(kBlanks);
  if (first == std::string_view::npos) return {};
  return text.substr(first, text.find_last_not_of(kBlanks) - first + 1);
}

bool is_comment_or_blank(std::string_view text) {
  const auto trimmed = trim(text);
  return trimmed.empty() || trimmed.front() == '#' || trimmed.front() == ';';
}

// The key of a `key = value` line ("-key" too: sysctl's "ignore if missing"), or "" when it is none.
std::string_view line_key(std::string_view text) {
  if (is_comment_or_blank(text)) return {};
  const auto eq = text.find('=');
  if (eq == std::string_view::npos) return {};
  auto key = trim(text.substr(0, eq));
  if (key.starts_with('-')) key = trim(key.substr(1));
  return key;
}

// Where a `key = value` line's value starts and ends (its blanks excluded).
std::pair<std::size_t, std::size_t> value_span(std::string_view text) {
  const auto eq = text.find('=');
  auto start = text.find_first_not_of(kBlanks, eq + 1);
  if (start == std::string_view::npos) return {text.size(), text.size()};
  return {start, text.find_last_not_of(kBlanks) + 1};
}

std::vector<std::string_view> fields_of(std::string_view text) {
  std::vector<std::string_view> fields;
  std::size_t at = 0;
  while (true) {
    at = text.find_first_not_of(kBlanks, at);
    if (at == std::string_view::npos) break;
    const auto end = std::min(text.find_first_of(kBlanks, at), text.size());
    fields.push_back(text.substr(at, end - at));
    at = end;
  }
  return fields;
}

std::string joined(const std::vector<std::string_view>& parts, std::string_view separator) {
  std::string out;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    if (i) out += separator;
    out += parts[i];
  }
  return out;
}

// The key of an fstab record line, or "" for comments, blanks and lines of fewer than two fields.
std::string fstab_key(std::string_view text) {
  if (is_comment_or_blank(text)) return "";
  const auto fields = fields_of(text);
  if (fields.size() < 2) return "";
  return resources::fstab_record(fields[0], fields[1]).key;
}

// The id of a block marker line (`# BEGIN reconcile <id>`), or "".
std::string_view marker_id(std::string_view text, std::string_view marker) {
  const auto trimmed = trim(text);
  if (!trimmed.starts_with(marker)) return {};
  return trim(trimmed.substr(marker.size()));
}

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

// --- FileText ------------------------------------------------------------------------------------------

FileText FileText::split(std::string_view bytes, bool exists) {
  FileText text;
  text.exists_ = exists;
  if (bytes.starts_with(kBom)) {
    text.bom_ = kBom;
    bytes.remove_prefix(kBom.size());
  }
  while (!bytes.empty()) {
    const auto nl = bytes.find('\n');
    Line line;
    if (nl == std::string_view::npos) {
      line.text = bytes;
      bytes = {};
    } else {
      const bool crlf = nl > 0 && bytes[nl - 1] == '\r';
      line.text = bytes.substr(0, crlf ? nl - 1 : nl);
      line.eol = crlf ? "\r\n" : "\n";
      bytes.remove_prefix(nl + 1);
    }
    text.lines_.push_back(std::move(line));
  }
  return text;
}

std::expected<FileText, std::string> FileText::parse(std::string_view bytes, bool exists) {
  FileText text = split(bytes, exists);
  for (std::size_t i = 0; i < text.lines_.size(); ++i) {
    const auto id = marker_id(text.lines_[i].text, kBegin);
    if (id.empty()) continue;
    const auto [begin, end] = text.block_at(i);
    if (end == text.lines_.size()) {
      return std::unexpected("line " + std::to_string(i + 1) + ": '" + std::string(kBegin) + std::string(id) +
                             "' has no '" + std::string(kEnd) + std::string(id) + "'");
    }
    i = end;
  }
  return text;
}

std::pair<std::size_t, std::size_t> FileText::block_at(std::size_t begin) const {
  const auto id = marker_id(lines_[begin].text, kBegin);
  for (std::size_t i = begin + 1; i < lines_.size(); ++i) {
    if (marker_id(lines_[i].text, kEnd) == id) return {begin, i};
    if (!marker_id(lines_[i].text, kBegin).empty()) break;  // blocks do not nest
  }
  return {begin, lines_.size()};
}

// The first line of each occurrence of the fragment (for a block: its BEGIN marker).
std::vector<std::size_t> FileText::find(const Fragment& fragment) const {
  std::vector<std::size_t> out;
  for (std::size_t i = 0; i < lines_.size(); ++i) {
    const auto& text = lines_[i].text;
    switch (fragment.kind) {
      case FragmentKind::kWholeFile: return out;
      case FragmentKind::kKeyedLine:
        if (line_key(text) == fragment.key) out.push_back(i);
        break;
      case FragmentKind::kFstabRecord:
        if (fstab_key(text) == fragment.key) out.push_back(i);
        break;
      case FragmentKind::kMarkedBlock:
        if (marker_id(text, kBegin) == fragment.key) {
          out.push_back(i);
          i = block_at(i).second;
        }
        break;
    }
  }
  return out;
}

std::optional<std::string> FileText::get(const Fragment& fragment) const {
  if (fragment.kind == FragmentKind::kWholeFile) {
    if (!exists_) return std::nullopt;
    return bytes();
  }
  const auto found = find(fragment);
  if (found.empty()) return std::nullopt;
  const auto& text = lines_[found.front()].text;
  switch (fragment.kind) {
    case FragmentKind::kKeyedLine: {
      const auto& last = lines_[found.back()].text;  // the one sysctl applies
      const auto [start, end] = value_span(last);
      return last.substr(start, end - start);
    }
    case FragmentKind::kFstabRecord: return joined(fields_of(text), " ");
    case FragmentKind::kMarkedBlock: {
      const auto [begin, end] = block_at(found.front());
      std::string body;
      for (std::size_t i = begin + 1; i < end; ++i) body += (i > begin + 1 ? "\n" : "") + lines_[i].text;
      return body;
    }
    case FragmentKind::kWholeFile: break;
  }
  return std::nullopt;
}

std::size_t FileText::occurrences(const Fragment& fragment) const {
  if (fragment.kind == FragmentKind::kWholeFile) return exists_ ? 1 : 0;
  return find(fragment).size();
}

std::vector<std::pair<std::string, std::string>> FileText::all(FragmentKind kind) const {
  std::vector<std::pair<std::string, std::string>> out;
  std::set<std::string> seen;
  for (std::size_t i = 0; i < lines_.size(); ++i) {
    std::string key;
    if (kind == FragmentKind::kKeyedLine) key = line_key(lines_[i].text);
    if (kind == FragmentKind::kFstabRecord) key = fstab_key(lines_[i].text);
    if (kind == FragmentKind::kMarkedBlock) {
      key = marker_id(lines_[i].text, kBegin);
      if (!key.empty()) i = block_at(i).second;
    }
    if (key.empty() || !seen.insert(key).second) continue;
    out.emplace_back(key, *get(Fragment{kind, key}));
  }
  return out;
}

std::string FileText::newline() const {
  for (const auto& line : lines_) {
    if (!line.eol.empty()) return line.eol;
  }
  return "\n";
}

void FileText::append(std::string text) {
  const auto eol = newline();
  if (!lines_.empty() && lines_.back().eol.empty()) lines_.back().eol = eol;
  lines_.push_back(Line{std::move(text), eol});
}

std::expected<bool, std::string> FileText::set(const Fragment& fragment, std::string_view content) {
  const std::string before = bytes();
  const bool existed = exists_;
  const auto found = find(fragment);
  switch (fragment.kind) {
    case FragmentKind::kWholeFile:
      *this = split(content, true);  // a whole file may hold anything, an unterminated marker too
      break;
    case FragmentKind::kKeyedLine: {
      if (fragment.key.empty() || fragment.key.find_first_of("=\n\r#;") != std::string::npos ||
          trim(fragment.key) != fragment.key) {
        return std::unexpected("not a key of a key = value line: '" + fragment.key + "'");
      }
      if (content.find_first_of("\n\r") != std::string_view::npos || trim(content) != content) {
        return std::unexpected("a value of one line without outer blanks is expected for " + fragment.key);
      }
      if (found.empty()) {
        append(fragment.key + " = " + std::string(content));
        break;
      }
      auto& text = lines_[found.front()].text;
      const auto [start, end] = value_span(text);
      text = text.substr(0, start) + std::string(content) + text.substr(end);
      for (std::size_t copy = found.size(); copy-- > 1;) lines_.erase(lines_.begin() + found[copy]);
      break;
    }
    case FragmentKind::kFstabRecord: {
      if (content.find_first_of("\n\r") != std::string_view::npos) {
        return std::unexpected("an fstab record is one line");
      }
      if (fstab_key(content) != fragment.key) {
        return std::unexpected("the record '" + std::string(content) + "' is not the record of " + fragment.key);
      }
      if (found.empty()) {
        append(std::string(content));
        break;
      }
      if (joined(fields_of(lines_[found.front()].text), " ") != joined(fields_of(content), " ")) {
        lines_[found.front()].text = content;
      }
      for (std::size_t copy = found.size(); copy-- > 1;) lines_.erase(lines_.begin() + found[copy]);
      break;
    }
    case FragmentKind::kMarkedBlock: {
      if (fragment.key.empty() || fragment.key.find_first_of(" \t\n\r") != std::string::npos) {
        return std::unexpected("a block id is one word: '" + fragment.key + "'");
      }
      std::string_view body = content;
      if (body.ends_with('\n')) body.remove_suffix(1);
      std::vector<std::string> wanted;
      for (std::size_t at = 0; !body.empty() && at <= body.size();) {
        const auto nl = std::min(body.find('\n', at), body.size());
        wanted.emplace_back(body.substr(at, nl - at));
        at = nl + 1;
      }
      for (const auto& line : wanted) {
        if (!marker_id(line, kBegin).empty() || !marker_id(line, kEnd).empty()) {
          return std::unexpected("a block's lines hold no block markers");
        }
      }
      // Later copies of the block go; the first is rewritten when its lines differ.
      for (std::size_t copy = found.size(); copy-- > 1;) {
        const auto [begin, end] = block_at(found[copy]);
        lines_.erase(lines_.begin() + begin, lines_.begin() + end + 1);
      }
      const auto eol = newline();
      if (found.empty()) {
        append(std::string(kBegin) + fragment.key);
        for (auto& line : wanted) lines_.push_back(Line{std::move(line), eol});
        lines_.push_back(Line{std::string(kEnd) + fragment.key, eol});
        break;
      }
      const auto [begin, end] = block_at(found.front());
      if (*get(fragment) == std::string(body)) break;
      lines_.erase(lines_.begin() + begin + 1, lines_.begin() + end);
      std::vector<Line> fresh;
      for (auto& line : wanted) fresh.push_back(Line{std::move(line), eol});
      lines_.insert(lines_.begin() + begin + 1, fresh.begin(), fresh.end());
      break;
    }
  }
  exists_ = true;
  return !existed || bytes() != before;
}

bool FileText::remove(const Fragment& fragment) {
  if (fragment.kind == FragmentKind::kWholeFile) {
    const bool was = exists_;
    *this = FileText{};
    return was;
  }
  const auto found = find(fragment);
  for (auto it = found.rbegin(); it != found.rend(); ++it) {
    const auto last = fragment.kind == FragmentKind::kMarkedBlock ? block_at(*it).second : *it;
    lines_.erase(lines_.begin() + *it, lines_.begin() + last + 1);
  }
  return !found.empty();
}

std::string FileText::bytes() const {
  std::string out = bom_;
  for (const auto& line : lines_) out += line.text + line.eol;
  return out;
}

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

}  // namespace reconcile::providers
