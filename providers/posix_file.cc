#include "providers/posix_file.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <map>
#include <mutex>
#include <sstream>

#include "providers/account_db.h"
#include "providers/fs.h"
#include "providers/host_facts.h"
#include "providers/managed_file.h"
#include "providers/template.h"

namespace reconcile::providers {

using resources::ContentFrom;
using resources::FileEnsure;
using resources::FileField;
using resources::FileObserved;
using resources::FileResource;
using resources::FileType;

namespace {

constexpr std::size_t kMaxContent = 64u << 20;  // a managed file is configuration, not data

// --- SHA-256 (FIPS 180-4) ---------------------------------------------------------------------------------

constexpr std::array<std::uint32_t, 64> kRound = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5, 0xd807aa98,
    0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786,
    0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8,
    0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
    0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819,
    0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a,
    0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
    0xc67178f2};

std::uint32_t rotr(std::uint32_t x, int n) { return (x >> n) | (x << (32 - n)); }

void sha256_block(std::array<std::uint32_t, 8>& h, const unsigned char* p) {
  std::uint32_t w[64];
  for (int i = 0; i < 16; ++i) {
    w[i] = (std::uint32_t(p[4 * i]) << 24) | (std::uint32_t(p[4 * i + 1]) << 16) | (std::uint32_t(p[4 * i + 2]) << 8) |
           std::uint32_t(p[4 * i + 3]);
  }
  for (int i = 16; i < 64; ++i) {
    const std::uint32_t s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >> 3);
    const std::uint32_t s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >> 10);
    w[i] = w[i - 16] + s0 + w[i - 7] + s1;
  }
  std::uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], k = h[7];
  for (int i = 0; i < 64; ++i) {
    const std::uint32_t t1 = k + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) + kRound[i] + w[i];
    const std::uint32_t t2 = (rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
    k = g; g = f; f = e; e = d + t1; d = c; c = b; b = a; a = t1 + t2;
  }
  h[0] += a; h[1] += b; h[2] += c; h[3] += d; h[4] += e; h[5] += f; h[6] += g; h[7] += k;
}

// --- the host ----------------------------------------------------------------------------------------------

std::string errno_text(const std::string& what, std::string_view path) {
  return what + " " + std::string(path) + ": " + std::strerror(errno);
}

// The source and template files of the run, read once in host validation, and each template rendered once.
struct Sources {
  std::mutex mutex;
  std::map<std::string, std::expected<std::string, std::string>> bytes;  // by resolved path
  std::map<std::string, std::expected<std::string, TemplateError>> rendered;  // by the managed file's path
  std::optional<HostFacts> facts;  // gathered on the first template
  bool facts_with_fqdn = false;
};

const std::expected<std::string, std::string>& read_once(Sources& sources, const std::string& path) {
  auto found = sources.bytes.find(path);
  if (found == sources.bytes.end()) found = sources.bytes.emplace(path, read_file(path, kMaxContent)).first;
  return found->second;
}

std::expected<std::string, std::string> source_bytes(Session& session, const FileResource& file) {
  auto& sources = session.state<Sources>();
  std::lock_guard lock(sources.mutex);
  return read_once(sources, file.source_resolved);
}

// A template file's text filled in from the host's facts and the state's vars, rendered once per run; a template
// that cannot be read is an error without a line.
std::expected<std::string, TemplateError> rendered_bytes(Session& session, const FileResource& file) {
  auto& sources = session.state<Sources>();
  std::lock_guard lock(sources.mutex);
  if (const auto found = sources.rendered.find(file.path()); found != sources.rendered.end()) return found->second;
  const auto& text = read_once(sources, file.source_resolved);
  if (!text) return std::unexpected(TemplateError{0, 0, "cannot read template " + file.source_resolved + ": " + text.error(), ""});
  const bool with_fqdn = names_fqdn(*text);
  if (!sources.facts || (with_fqdn && !sources.facts_with_fqdn)) {
    sources.facts = gather_facts(session.host(), with_fqdn);
    sources.facts_with_fqdn = with_fqdn;
  }
  auto rendered = render_template(*text, *sources.facts, file.vars.get());
  if (rendered && rendered->size() > kMaxContent) {
    rendered = std::unexpected(TemplateError{0, 0, "the rendered text is larger than 64 MiB", ""});
  }
  return sources.rendered.emplace(file.path(), std::move(rendered)).first->second;
}

// The bytes the resource wants, or why they cannot be had; nothing when it manages no content.
std::optional<std::expected<std::string, std::string>> wanted_bytes(Session& session, const FileResource& file) {
  switch (file.content_from) {
    case ContentFrom::kNone: return std::nullopt;
    case ContentFrom::kInline: return std::expected<std::string, std::string>(file.content);
    case ContentFrom::kSource: return source_bytes(session, file);
    case ContentFrom::kTemplate: {
      auto rendered = rendered_bytes(session, file);
      if (!rendered) return std::expected<std::string, std::string>(std::unexpect, rendered.error().message);
      return std::expected<std::string, std::string>(std::move(*rendered));
    }
  }
  return std::nullopt;
}

std::string name_of_uid(const AccountDb& db, std::uint32_t uid) {
  for (const auto& entry : db.passwd) {
    if (entry.uid == uid) return entry.name;
  }
  return "#" + std::to_string(uid);
}

std::string name_of_gid(const AccountDb& db, std::uint32_t gid) {
  for (const auto& entry : db.groups) {
    if (entry.gid == gid) return entry.name;
  }
  return "#" + std::to_string(gid);
}

bool directory_empty(const std::filesystem::path& path) {
  DIR* dir = ::opendir(path.c_str());
  if (dir == nullptr) return false;
  bool empty = true;
  while (const dirent* entry = ::readdir(dir)) {
    const std::string_view name = entry->d_name;
    if (name != "." && name != "..") {
      empty = false;
      break;
    }
  }
  ::closedir(dir);
  return empty;
}

std::expected<void, std::string> fsync_parent(const std::filesystem::path& path, std::string_view shown) {
  const int fd = ::open(path.parent_path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return std::unexpected(errno_text("open the directory of", shown));
  const int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) return std::unexpected(errno_text("fsync the directory of", shown));
  return {};
}

// The desired owner and group as ids, each unset when the resource leaves it alone.
struct Ids {
  std::optional<uid_t> uid;
  std::optional<gid_t> gid;
};

std::expected<Ids, std::string> resolve_ids(const Host& host, const FileResource& file) {
  Ids ids;
  if (!file.owner && !file.group) return ids;
  auto db = read_account_db(host);
  if (!db) return std::unexpected("cannot read the account databases: " + db.error());
  if (file.owner) {
    const auto* entry = db->find(*file.owner);
    if (entry == nullptr) return std::unexpected("owner '" + *file.owner + "' is not an account on this host");
    ids.uid = entry->uid;
  }
  if (file.group) {
    const auto* entry = db->find_group(*file.group);
    if (entry == nullptr) return std::unexpected("group '" + *file.group + "' is not a group on this host");
    ids.gid = entry->gid;
  }
  return ids;
}

// Sets mode, owner and group on what is at `real` (a file or directory, never through a link).
std::expected<void, std::string> set_attributes(const std::filesystem::path& real, std::string_view shown,
                                                std::optional<unsigned> mode, const Ids& ids) {
  const int fd = ::open(real.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
  if (fd < 0) return std::unexpected(errno_text("open", shown));
  struct stat st {};
  ::fstat(fd, &st);
  std::string error;
  if ((ids.uid || ids.gid) &&
      ::fchown(fd, ids.uid.value_or(static_cast<uid_t>(-1)), ids.gid.value_or(static_cast<gid_t>(-1))) != 0) {
    error = errno_text("change the owner of", shown);
  }
  // chown clears set-id bits: the mode is set after it, the wanted one or the one it had.
  const unsigned wanted = mode.value_or(st.st_mode & 07777);
  if (error.empty() && ::fchmod(fd, wanted) != 0) error = errno_text("change the mode of", shown);
  if (error.empty() && ::fsync(fd) != 0) error = errno_text("fsync", shown);
  ::close(fd);
  if (!error.empty()) return std::unexpected(error);
  return {};
}

std::string backup_name(std::string_view path) {
  std::string out;
  for (const char c : path.substr(1)) {
    if (c == '%') out += "%25";
    else if (c == '/') out += "%2F";
    else out += c;
  }
  return out;
}

// Keeps `bytes` (the content about to be replaced) as the newest backup of `path`; drops the oldest past the
// bound. Backups are 0600 in a 0700 directory: a replaced file may have held secrets.
std::expected<std::string, std::string> keep_backup(const Host& host, std::string_view path, const std::string& bytes) {
  const auto dir = host.path(kBackupDir);
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return std::unexpected("create " + std::string(kBackupDir) + ": " + ec.message());
  ::chmod(dir.c_str(), 0700);
  const auto now = std::chrono::system_clock::now();
  const auto micros = std::chrono::duration_cast<std::chrono::microseconds>(now.time_since_epoch()).count();
  const std::time_t seconds = static_cast<std::time_t>(micros / 1000000);
  std::tm utc {};
  ::gmtime_r(&seconds, &utc);
  char stamp[64];
  std::snprintf(stamp, sizeof stamp, "%04d%02d%02dT%02d%02d%02d.%06lldZ", utc.tm_year + 1900, utc.tm_mon + 1,
                utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec, static_cast<long long>(micros % 1000000));
  const std::string prefix = backup_name(path) + ".";
  const auto target = dir / (prefix + stamp);
  auto written = write_file_atomic(target, bytes, 0600);
  if (!written) return std::unexpected("keep a backup of " + std::string(path) + ": " + written.error());
  std::vector<std::string> kept;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.starts_with(prefix) && name.size() == prefix.size() + std::strlen(stamp)) kept.push_back(name);
  }
  std::sort(kept.begin(), kept.end());
  for (std::size_t i = 0; i + kBackupsKept < kept.size(); ++i) std::filesystem::remove(dir / kept[i], ec);
  return std::string(kBackupDir) + "/" + prefix + stamp;
}

// Reads the regular file at `real`, never following a link, at most kMaxContent bytes.
std::expected<std::string, std::string> read_regular(const std::filesystem::path& real) {
  const int fd = ::open(real.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
  if (fd < 0) return std::unexpected(std::string(std::strerror(errno)));
  ::close(fd);
  return read_file(real, kMaxContent);
}

Observation observe_one(Session& session, const AccountDb* db, const FileResource& file) {
  const Host& host = session.host();
  const auto real = host.path(file.path());
  auto seen = std::make_unique<FileObserved>();
  struct stat st {};
  if (::lstat(real.c_str(), &st) != 0) {
    if (errno != ENOENT && errno != ENOTDIR) return Observation::unknown(errno_text("not observable: stat", file.path()));
    seen->type = FileType::kAbsent;
  } else if (S_ISREG(st.st_mode)) {
    seen->type = FileType::kFile;
  } else if (S_ISDIR(st.st_mode)) {
    seen->type = FileType::kDirectory;
  } else if (S_ISLNK(st.st_mode)) {
    seen->type = FileType::kSymlink;
  } else {
    seen->type = FileType::kOther;
    seen->other = S_ISFIFO(st.st_mode) ? "a FIFO" : S_ISSOCK(st.st_mode) ? "a socket" : "a device";
  }
  if (seen->type != FileType::kAbsent) {
    seen->mode = st.st_mode & 07777;
    seen->owner = db != nullptr ? name_of_uid(*db, st.st_uid) : "#" + std::to_string(st.st_uid);
    seen->group = db != nullptr ? name_of_gid(*db, st.st_gid) : "#" + std::to_string(st.st_gid);
    seen->size = static_cast<std::uint64_t>(st.st_size);
  }
  if (seen->type == FileType::kSymlink) {
    std::error_code ec;
    seen->target = std::filesystem::read_symlink(real, ec).string();
    if (ec) return Observation::unknown("not observable: read the link " + file.path() + ": " + ec.message());
  }
  if (seen->type == FileType::kDirectory && file.ensure() == FileEnsure::kAbsent) seen->directory_empty = directory_empty(real);

  // A kind of file the state does not want replaced is refused before anything is planned on it.
  std::string blocked;
  const std::string what = seen->type == FileType::kOther ? seen->other : std::string(to_string(seen->type));
  switch (file.ensure()) {
    case FileEnsure::kFile:
      if (seen->type == FileType::kDirectory || seen->type == FileType::kOther) {
        blocked = file.path() + " is " + what + "; reconcile does not replace it by a file (remove it by hand)";
      }
      break;
    case FileEnsure::kDirectory:
      if (seen->type != FileType::kAbsent && seen->type != FileType::kDirectory) {
        blocked = file.path() + " is " + what + ", not a directory; reconcile does not replace it (remove it by hand)";
      }
      break;
    case FileEnsure::kSymlink:
      if (seen->type == FileType::kDirectory || seen->type == FileType::kOther) {
        blocked = file.path() + " is " + what + "; reconcile replaces only files and links by a link";
      }
      break;
    case FileEnsure::kAbsent:
      if (seen->type == FileType::kDirectory && !seen->directory_empty) {
        blocked = file.path() + " is a directory that is not empty; reconcile removes files, links and empty "
                  "directories only (empty it first, or remove it by hand)";
      }
      break;
  }

  if (file.ensure() == FileEnsure::kFile && blocked.empty()) {
    if (auto wanted = wanted_bytes(session, file)) {
      if (!*wanted) {
        const char* what = file.content_from == ContentFrom::kTemplate ? "template " : "source ";
        return Observation::unknown(what + file.source_resolved + ": " + wanted->error());
      }
      const std::string& want = **wanted;
      seen->content_known = true;
      seen->wanted_size = want.size();
      std::string have;
      if (seen->type == FileType::kFile) {
        // Equal sizes need a read to compare; different sizes differ, and are read only for the diff.
        if (seen->size == want.size() || (!file.sensitive && seen->size <= kMaxTextDiff)) {
          auto read = read_regular(real);
          if (!read) return Observation::unknown("not observable: read " + file.path() + ": " + read.error());
          have = std::move(*read);
          seen->content_same = have == want;
        } else {
          seen->content_same = false;
        }
      } else {
        seen->content_same = false;
      }
      if (!seen->content_same) {
        seen->binary = !looks_like_text(want) || !looks_like_text(have) || seen->size > kMaxTextDiff;
        if (!file.sensitive) {
          seen->wanted_sha256 = sha256_hex(want);
          if (seen->type == FileType::kFile && seen->size <= kMaxTextDiff) seen->sha256 = sha256_hex(have);
          if (!seen->binary) seen->content_diff = unified_diff(have, want, file.path());
        }
      }
    }
  }
  Observation out = Observation::known(std::move(seen));
  out.blocked_reason = blocked;
  return out;
}

std::expected<std::string, std::string> apply_one(Session& session, const PosixFileProvider::Change& change) {
  const Host& host = session.host();
  const FileResource& file = *change.resource;
  const FileObserved& seen = *change.observed;
  const auto real = host.path(file.path());
  const std::string& shown = file.path();
  switch (file.ensure()) {
    case FileEnsure::kAbsent: {
      std::string done = "remove " + shown;
      if (seen.type == FileType::kFile) {
        auto old = read_regular(real);
        if (old) {
          auto kept = keep_backup(host, shown, *old);
          if (!kept) return std::unexpected(kept.error());
          done += " (previous content kept as " + *kept + ")";
        }
      }
      const int rc = seen.type == FileType::kDirectory ? ::rmdir(real.c_str()) : ::unlink(real.c_str());
      if (rc != 0 && errno != ENOENT) return std::unexpected(errno_text("remove", shown));
      auto synced = fsync_parent(real, shown);
      if (!synced) return std::unexpected(synced.error());
      return done;
    }
    case FileEnsure::kSymlink: {
      auto linked = replace_symlink(host, shown, file.target);
      if (!linked) return std::unexpected(linked.error());
      return "link " + shown + " → " + file.target;
    }
    case FileEnsure::kDirectory: {
      auto ids = resolve_ids(host, file);
      if (!ids) return std::unexpected(ids.error());
      std::string done;
      if (seen.type != FileType::kDirectory) {
        // Created private, then given its owner and mode: never briefly open to others.
        if (::mkdir(real.c_str(), 0700) != 0 && errno != EEXIST) return std::unexpected(errno_text("create", shown));
        auto set = set_attributes(real, shown, file.mode.value_or(0755), *ids);
        if (!set) return std::unexpected(set.error());
        auto synced = fsync_parent(real, shown);
        if (!synced) return std::unexpected(synced.error());
        return "create directory " + shown + " (mode " + resources::file_mode_text(file.mode.value_or(0755)) + ")";
      }
      auto set = set_attributes(real, shown, file.mode, *ids);
      if (!set) return std::unexpected(set.error());
      return "set mode, owner and group of " + shown;
    }
    case FileEnsure::kFile:
      break;
  }
  auto ids = resolve_ids(host, file);
  if (!ids) return std::unexpected(ids.error());
  const bool write = seen.type != FileType::kFile || resources::drifted(*change.drift, FileField::kContent);
  if (!write) {
    auto set = set_attributes(real, shown, file.mode, *ids);
    if (!set) return std::unexpected(set.error());
    return "set mode, owner and group of " + shown;
  }
  std::string bytes;
  if (auto wanted = wanted_bytes(session, file)) {
    if (!*wanted) {
      const char* what = file.content_from == ContentFrom::kTemplate ? "template " : "source ";
      return std::unexpected(what + file.source_resolved + ": " + wanted->error());
    }
    bytes = std::move(**wanted);
  } else if (seen.type == FileType::kFile) {
    return std::unexpected(shown + " has no content to write");
  }
  // What the file keeps unless the state says otherwise: its mode and owner (a link or nothing: root, 0644).
  struct stat st {};
  const bool existing = seen.type == FileType::kFile && ::lstat(real.c_str(), &st) == 0 && S_ISREG(st.st_mode);
  const unsigned mode = file.mode.value_or(existing ? (st.st_mode & 07777) : 0644);
  const uid_t uid = ids->uid.value_or(existing ? st.st_uid : ::geteuid());
  const gid_t gid = ids->gid.value_or(existing ? st.st_gid : ::getegid());
  std::string done = (existing ? "write " : "create ") + shown + " (" + std::to_string(bytes.size()) + " bytes, mode " +
                     resources::file_mode_text(mode) + ")";
  if (existing) {
    auto old = read_regular(real);
    if (!old) return std::unexpected("read " + shown + " to keep a backup: " + old.error());
    auto kept = keep_backup(host, shown, *old);
    if (!kept) return std::unexpected(kept.error());
    done += "; previous content kept as " + *kept;
  }
  auto written = write_whole_file(host, shown, bytes, mode, std::make_pair(uid, gid));
  if (!written) return std::unexpected(written.error());
  return done;
}

}  // namespace

std::string sha256_hex(std::string_view bytes) {
  std::array<std::uint32_t, 8> h = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                    0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
  const auto* data = reinterpret_cast<const unsigned char*>(bytes.data());
  std::size_t full = bytes.size() / 64;
  for (std::size_t i = 0; i < full; ++i) sha256_block(h, data + 64 * i);
  unsigned char tail[128] = {};
  const std::size_t rest = bytes.size() % 64;
  std::memcpy(tail, data + 64 * full, rest);
  tail[rest] = 0x80;
  const std::size_t blocks = rest + 9 > 64 ? 2 : 1;
  const std::uint64_t bits = static_cast<std::uint64_t>(bytes.size()) * 8;
  for (int i = 0; i < 8; ++i) tail[blocks * 64 - 1 - i] = static_cast<unsigned char>(bits >> (8 * i));
  for (std::size_t i = 0; i < blocks; ++i) sha256_block(h, tail + 64 * i);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (const std::uint32_t word : h) {
    for (int shift = 28; shift >= 0; shift -= 4) out += kHex[(word >> shift) & 0xf];
  }
  return out;
}

bool looks_like_text(std::string_view bytes) { return bytes.find('\0') == std::string_view::npos; }

std::vector<resources::Error> PosixFileProvider::validate(Session& session,
                                                          std::span<const FileResource* const> resources) const {
  std::vector<resources::Error> errors;
  std::optional<std::expected<AccountDb, std::string>> db;
  const auto& managed = session.state<ManagedIds>();
  for (const FileResource* file : resources) {
    if (file->content_from == ContentFrom::kSource) {
      auto bytes = source_bytes(session, *file);
      if (!bytes) {
        errors.push_back(resources::Error{resources::ErrorCode::kIo,
                                          "cannot read source " + file->source_resolved + ": " + bytes.error(),
                                          file->location(), file->key_path() + ".source",
                                          "source is relative to the state file that names it"});
      }
    }
    if (file->content_from == ContentFrom::kTemplate) {
      auto rendered = rendered_bytes(session, *file);
      if (!rendered) {
        const TemplateError& error = rendered.error();
        const bool unread = error.line == 0 && error.message.starts_with("cannot read template");
        resources::Location where = file->location();
        if (error.line > 0) where = resources::Location{file->source_resolved, error.line, error.column};
        std::string message = unread ? error.message : "template " + file->source_resolved + ": " + error.message;
        if (error.line > 0) message += " (named at " + file->location().str() + ")";
        errors.push_back(resources::Error{unread ? resources::ErrorCode::kIo : resources::ErrorCode::kInvalidValue,
                                          std::move(message), where, file->key_path() + ".template",
                                          unread ? "template is relative to the state file that names it"
                                                 : error.hint});
      }
    }
    for (const bool is_owner : {true, false}) {
      const auto& name = is_owner ? file->owner : file->group;
      if (!name) continue;
      // An account or group the state itself creates is there by the time the file converges (an edge orders it).
      if (managed.ids.contains(resources::make_id(is_owner ? "user" : "group", *name))) continue;
      if (!is_owner && managed.ids.contains(resources::make_id("user", *name))) continue;  // a private group
      if (!db) db = read_account_db(session.host());
      if (!*db) break;
      const bool known = is_owner ? (*db)->find(*name) != nullptr : (*db)->find_group(*name) != nullptr;
      if (known) continue;
      errors.push_back(resources::Error{
          resources::ErrorCode::kInvalidValue,
          std::string(is_owner ? "owner '" : "group '") + *name + "' is not " + (is_owner ? "an account" : "a group") +
              " on this host",
          file->location(), file->key_path() + (is_owner ? ".owner" : ".group"),
          is_owner ? "create it under users.present, or name an existing account" : "name an existing group"});
    }
  }
  return errors;
}

std::vector<Observation> PosixFileProvider::observe(Session& session,
                                                    std::span<const FileResource* const> resources) const {
  auto db = read_account_db(session.host());
  const AccountDb* accounts = db ? &*db : nullptr;
  std::vector<Observation> out;
  out.reserve(resources.size());
  for (const FileResource* file : resources) out.push_back(observe_one(session, accounts, *file));
  return out;
}

std::vector<ChangeOutcome> PosixFileProvider::apply(Session& session, std::span<const Change> changes) const {
  std::vector<ChangeOutcome> outcomes;
  for (const auto& change : changes) {
    const auto started = std::chrono::steady_clock::now();
    auto done = apply_one(session, change);
    Step step;
    step.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    ChangeOutcome outcome;
    if (done) {
      step.what = *done;
    } else {
      step.what = "converge " + change.resource->path();
      step.exit_status = 1;
      step.error_tail = done.error();
      outcome.result = ChangeOutcome::Result::kFailed;
      outcome.message = done.error();
    }
    outcome.steps.push_back(std::move(step));
    outcomes.push_back(std::move(outcome));
  }
  return outcomes;
}

}  // namespace reconcile::providers
