#include "engine/git_checkout.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string_view>
#include <vector>

namespace reconcile::engine {

namespace {

namespace fs = std::filesystem;

constexpr std::size_t kOidSize = 20;  // SHA-1; a SHA-256 repository is left to libgit2

// A whole (small) file, or nullopt.
std::optional<std::string> slurp(const fs::path& path, std::size_t limit = 1u << 20) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if (fd < 0) return std::nullopt;
  std::string text;
  char buffer[8192];
  while (true) {
    const ssize_t got = ::read(fd, buffer, sizeof buffer);
    if (got < 0) {
      ::close(fd);
      return std::nullopt;
    }
    if (got == 0) break;
    text.append(buffer, static_cast<std::size_t>(got));
    if (text.size() > limit) {
      ::close(fd);
      return std::nullopt;
    }
  }
  ::close(fd);
  return text;
}

// A file mapped read-only for as long as it lives.
class Mapped {
 public:
  explicit Mapped(const fs::path& path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) return;
    struct stat st {};
    if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0) {
      void* at = ::mmap(nullptr, static_cast<std::size_t>(st.st_size), PROT_READ, MAP_PRIVATE, fd, 0);
      if (at != MAP_FAILED) {
        data_ = static_cast<const unsigned char*>(at);
        size_ = static_cast<std::size_t>(st.st_size);
        stat_ = st;
      }
    }
    ::close(fd);
  }
  Mapped(const Mapped&) = delete;
  Mapped& operator=(const Mapped&) = delete;
  ~Mapped() {
    if (data_ != nullptr) ::munmap(const_cast<unsigned char*>(data_), size_);
  }
  const unsigned char* data() const { return data_; }
  std::size_t size() const { return size_; }
  const struct stat& st() const { return stat_; }

 private:
  const unsigned char* data_ = nullptr;
  std::size_t size_ = 0;
  struct stat stat_ {};
};

std::uint32_t be32(const unsigned char* p) {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) | p[3];
}
std::uint16_t be16(const unsigned char* p) { return static_cast<std::uint16_t>((p[0] << 8) | p[1]); }

bool is_hex_oid(std::string_view text) {
  return text.size() == 2 * kOidSize &&
         std::all_of(text.begin(), text.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

std::string hex_of(const unsigned char* oid) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out(2 * kOidSize, '0');
  for (std::size_t i = 0; i < kOidSize; ++i) {
    out[2 * i] = kDigits[oid[i] >> 4];
    out[2 * i + 1] = kDigits[oid[i] & 15];
  }
  return out;
}

std::optional<std::array<unsigned char, kOidSize>> oid_of(std::string_view hex) {
  if (!is_hex_oid(hex)) return std::nullopt;
  std::array<unsigned char, kOidSize> out{};
  const auto nibble = [](char c) { return c <= '9' ? c - '0' : c - 'a' + 10; };
  for (std::size_t i = 0; i < kOidSize; ++i) out[i] = static_cast<unsigned char>(nibble(hex[2 * i]) << 4 | nibble(hex[2 * i + 1]));
  return out;
}

std::string_view trim_line(std::string_view text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' ')) text.remove_suffix(1);
  return text;
}

std::string lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// Where a checkout's pieces are.
struct Layout {
  fs::path workdir, gitdir, commondir;
};

// The .git above `start` on its file system, as libgit2 finds it without GIT_REPOSITORY_OPEN_CROSS_FS.
// nullopt: undecided; a Layout with an empty gitdir: no checkout.
std::optional<Layout> find_layout(const fs::path& start) {
  struct stat first {};
  if (::stat(start.c_str(), &first) != 0) return std::nullopt;
  for (fs::path dir = start;; dir = dir.parent_path()) {
    struct stat st {};
    if (::stat(dir.c_str(), &st) != 0) return std::nullopt;
    if (st.st_dev != first.st_dev) return Layout{};
    const fs::path dot_git = dir / ".git";
    struct stat git {};
    if (::stat(dot_git.c_str(), &git) == 0) {
      Layout layout{dir, dot_git, dot_git};
      if (S_ISREG(git.st_mode)) {  // "gitdir: PATH" (a linked worktree, a submodule, --separate-git-dir)
        const auto text = slurp(dot_git, 4096);
        if (!text || !text->starts_with("gitdir: ")) return std::nullopt;
        const fs::path target(std::string(trim_line(std::string_view(*text).substr(8))));
        layout.gitdir = target.is_absolute() ? target : dir / target;
      } else if (!S_ISDIR(git.st_mode)) {
        return std::nullopt;
      }
      layout.commondir = layout.gitdir;
      if (const auto common = slurp(layout.gitdir / "commondir", 4096)) {
        const fs::path target(std::string(trim_line(*common)));
        layout.commondir = target.is_absolute() ? target : layout.gitdir / target;
      }
      return layout;
    }
    if (!dir.has_parent_path() || dir.parent_path() == dir) return Layout{};
  }
}

// Whether libgit2 would open the checkout as an ordinary one and read it the way this file does: owned by this
// user (libgit2 checks ownership), no settings that move or reshape it.
bool plain_checkout(const Layout& layout) {
  const uid_t me = ::geteuid();
  for (const fs::path& path : {layout.workdir, layout.gitdir}) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0 || st.st_uid != me) return false;
  }
  const auto config = slurp(layout.commondir / "config");
  if (!config) return false;
  const std::string text = lower(*config);
  for (const char* word : {"worktree", "[extensions", "[include", "bare = true", "bare=true", "objectformat",
                           "sparsecheckout", "splitindex", "fsmonitor"}) {
    if (text.find(word) != std::string::npos) return false;
  }
  return true;
}

// The commit HEAD names: a detached id, or a branch read from its loose file or packed-refs.
std::optional<std::string> head_commit(const Layout& layout) {
  auto head = slurp(layout.gitdir / "HEAD", 4096);
  if (!head) return std::nullopt;
  std::string_view value = trim_line(*head);
  for (int depth = 0; depth < 5; ++depth) {
    if (is_hex_oid(value)) return std::string(value);
    if (!value.starts_with("ref: refs/heads/")) return std::nullopt;
    const std::string name(value.substr(5));
    if (name.find("..") != std::string::npos) return std::nullopt;
    if (auto loose = slurp(layout.commondir / name, 4096)) {
      *head = std::move(*loose);
      value = trim_line(*head);
      continue;
    }
    const auto packed = slurp(layout.commondir / "packed-refs", 64u << 20);
    if (!packed) return std::nullopt;
    std::string_view rest = *packed;
    while (!rest.empty()) {
      const auto end = rest.find('\n');
      const std::string_view line = trim_line(rest.substr(0, end));
      rest.remove_prefix(end == std::string_view::npos ? rest.size() : end + 1);
      if (line.size() == 2 * kOidSize + 1 + name.size() && line.substr(2 * kOidSize + 1) == name &&
          line[2 * kOidSize] == ' ' && is_hex_oid(line.substr(0, 2 * kOidSize))) {
        return std::string(line.substr(0, 2 * kOidSize));
      }
    }
    return std::nullopt;
  }
  return std::nullopt;
}

// An object's content: `size` bytes inflated from a zlib stream (all of it when `size` is nullopt, up to
// `limit`). nullopt if the stream is damaged or longer than the limit.
std::optional<std::string> inflate_all(const unsigned char* data, std::size_t length, std::size_t limit) {
  z_stream stream{};
  if (inflateInit(&stream) != Z_OK) return std::nullopt;
  std::string out;
  stream.next_in = const_cast<unsigned char*>(data);
  stream.avail_in = static_cast<uInt>(std::min<std::size_t>(length, 1u << 30));
  int rc = Z_OK;
  while (rc == Z_OK) {
    if (out.size() >= limit) break;
    const std::size_t had = out.size();
    out.resize(std::min(limit, had + 16384));
    stream.next_out = reinterpret_cast<unsigned char*>(out.data() + had);
    stream.avail_out = static_cast<uInt>(out.size() - had);
    rc = inflate(&stream, Z_NO_FLUSH);
    out.resize(out.size() - stream.avail_out);
    if (rc == Z_BUF_ERROR && stream.avail_in == 0) break;
  }
  inflateEnd(&stream);
  if (rc != Z_STREAM_END) return std::nullopt;
  return out;
}

constexpr std::size_t kObjectLimit = 16u << 20;  // a bigger file is compared by libgit2

// An object stored loose, or whole (not as a delta) in one of the packs, found through the pack's index
// (version 2): its content if its type is `type`. nullopt when it is not found that way.
std::optional<std::string> loose_object(const Layout& layout, const std::string& hex, std::string_view type) {
  const Mapped file(layout.commondir / "objects" / hex.substr(0, 2) / hex.substr(2));
  if (file.data() == nullptr) return std::nullopt;
  auto text = inflate_all(file.data(), file.size(), kObjectLimit + 64);
  if (!text) return std::nullopt;
  const auto nul = text->find('\0');
  if (nul == std::string::npos || text->compare(0, type.size() + 1, std::string(type) + " ") != 0) {
    return std::nullopt;
  }
  if (text->substr(type.size() + 1, nul - type.size() - 1) != std::to_string(text->size() - nul - 1)) {
    return std::nullopt;
  }
  return text->substr(nul + 1);
}

std::optional<std::string> packed_object(const Layout& layout, const std::string& hex, int type) {
  const auto oid = oid_of(hex);
  if (!oid) return std::nullopt;
  const fs::path pack_dir = layout.commondir / "objects" / "pack";
  DIR* dir = ::opendir(pack_dir.c_str());
  if (dir == nullptr) return std::nullopt;
  std::vector<std::string> indexes;
  while (const dirent* entry = ::readdir(dir)) {
    const std::string_view name = entry->d_name;
    if (name.starts_with("pack-") && name.ends_with(".idx")) indexes.emplace_back(name);
  }
  ::closedir(dir);
  for (const auto& name : indexes) {
    const Mapped idx(pack_dir / name);
    const unsigned char* p = idx.data();
    if (p == nullptr || idx.size() < 8 + 1024 + 2 * kOidSize || std::memcmp(p, "\377tOc", 4) != 0 || be32(p + 4) != 2) {
      continue;
    }
    const unsigned char* fanout = p + 8;
    const std::uint32_t count = be32(fanout + 255 * 4);
    const std::size_t oids_at = 8 + 1024, crc_at = oids_at + std::size_t{count} * kOidSize;
    const std::size_t offsets_at = crc_at + std::size_t{count} * 4, large_at = offsets_at + std::size_t{count} * 4;
    if (large_at + 2 * kOidSize > idx.size()) continue;
    std::uint32_t lo = (*oid)[0] == 0 ? 0 : be32(fanout + ((*oid)[0] - 1) * 4);
    std::uint32_t hi = be32(fanout + (*oid)[0] * 4);
    if (lo > hi || hi > count) continue;
    std::optional<std::uint32_t> found;
    while (lo < hi) {
      const std::uint32_t mid = lo + (hi - lo) / 2;
      const int cmp = std::memcmp(p + oids_at + std::size_t{mid} * kOidSize, oid->data(), kOidSize);
      if (cmp == 0) {
        found = mid;
        break;
      }
      if (cmp < 0) lo = mid + 1;
      else hi = mid;
    }
    if (!found) continue;
    std::uint64_t offset = be32(p + offsets_at + std::size_t{*found} * 4);
    if ((offset & 0x80000000u) != 0) {
      const std::size_t at = large_at + (offset & 0x7fffffffu) * 8;
      if (at + 8 > idx.size()) return std::nullopt;
      offset = (std::uint64_t{be32(p + at)} << 32) | be32(p + at + 4);
    }
    const Mapped pack(pack_dir / (name.substr(0, name.size() - 4) + ".pack"));
    if (pack.data() == nullptr || offset >= pack.size()) return std::nullopt;
    // The object's header: the type in bits 4-6 of the first byte, the size in 7-bit groups from bit 0.
    const unsigned char* at = pack.data() + offset;
    const unsigned char* const stop = pack.data() + pack.size();
    if (((at[0] >> 4) & 7) != type) return std::nullopt;  // a delta (or another type): libgit2 resolves it
    std::uint64_t size = at[0] & 15;
    int shift = 4;
    while ((*at & 0x80) != 0) {
      if (++at >= stop || shift > 56) return std::nullopt;
      size |= std::uint64_t{*at & 0x7fu} << shift;
      shift += 7;
    }
    ++at;
    if (size > kObjectLimit || at >= stop) return std::nullopt;
    auto content = inflate_all(at, static_cast<std::size_t>(stop - at), static_cast<std::size_t>(size) + 1);
    if (!content || content->size() != size) return std::nullopt;
    return content;
  }
  return std::nullopt;
}

std::optional<std::string> object(const Layout& layout, const std::string& hex, std::string_view type) {
  if (auto loose = loose_object(layout, hex, type)) return loose;
  return packed_object(layout, hex, type == "commit" ? 1 : type == "blob" ? 3 : -1);
}

// The tree a commit records ("tree <hex>\n..." at its start).
std::optional<std::string> commit_tree(const Layout& layout, const std::string& commit) {
  const auto text = object(layout, commit, "commit");
  if (!text || !text->starts_with("tree ") || text->size() < 5 + 2 * kOidSize + 1 || (*text)[5 + 2 * kOidSize] != '\n') {
    return std::nullopt;
  }
  std::string hex = text->substr(5, 2 * kOidSize);
  if (!is_hex_oid(hex)) return std::nullopt;
  return hex;
}

// One entry of the index, as far as the comparison needs it.
struct IndexEntry {
  std::uint32_t ctime_s, ctime_ns, mtime_s, mtime_ns, ino, mode, uid, gid, size;
  std::uint16_t flags;
  std::string_view path;
  const unsigned char* oid;
};

// Whether the file is, by its stat data, exactly what the index recorded and the record is not racy (then libgit2
// takes it as unmodified without reading it); gone; a regular file of the recorded type and mode whose stat data
// proves nothing (changed, as after a touch or a copy; smudged to size 0 by git when racy; or equal but written no
// earlier than the index): its content decides; or anything else.
enum class Match { kSame, kGone, kByContent, kUnsure };

Match compare(const fs::path& workdir, const IndexEntry& entry, const struct stat& index_stat) {
  struct stat st {};
  const fs::path path = workdir / std::string(entry.path);
  if (::lstat(path.c_str(), &st) != 0) return errno == ENOENT || errno == ENOTDIR ? Match::kGone : Match::kUnsure;
  const std::uint32_t type = entry.mode & 0170000;
  const bool same_type = (type == 0100000 && S_ISREG(st.st_mode)) || (type == 0120000 && S_ISLNK(st.st_mode));
  if (!same_type) return Match::kUnsure;
  if (type == 0100000 && ((entry.mode & 0111) != 0) != ((st.st_mode & S_IXUSR) != 0)) return Match::kUnsure;
  if (entry.mtime_s != static_cast<std::uint32_t>(st.st_mtim.tv_sec) ||
      entry.mtime_ns != static_cast<std::uint32_t>(st.st_mtim.tv_nsec) ||
      entry.ctime_s != static_cast<std::uint32_t>(st.st_ctim.tv_sec) ||
      entry.ctime_ns != static_cast<std::uint32_t>(st.st_ctim.tv_nsec) ||
      entry.ino != static_cast<std::uint32_t>(st.st_ino) || entry.uid != st.st_uid || entry.gid != st.st_gid ||
      entry.size != static_cast<std::uint32_t>(st.st_size)) {
    return type == 0100000 ? Match::kByContent : Match::kUnsure;
  }
  // Racily clean: written in the same instant as the index or after it, so a change may hide behind equal stats.
  const auto index_s = static_cast<std::uint32_t>(index_stat.st_mtim.tv_sec);
  const auto index_ns = static_cast<std::uint32_t>(index_stat.st_mtim.tv_nsec);
  if (entry.mtime_s > index_s || (entry.mtime_s == index_s && entry.mtime_ns >= index_ns)) {
    return type == 0100000 ? Match::kByContent : Match::kUnsure;
  }
  return Match::kSame;
}

// Such a file is unmodified when its bytes are the blob the index names (git and libgit2 compare the same way,
// through the clean filter, which leaves content that is already clean as it is); when they differ, a filter
// (line endings, say) may still make them equal, so libgit2 decides.
bool same_as_blob(const Layout& layout, const IndexEntry& entry) {
  const auto blob = object(layout, hex_of(entry.oid), "blob");
  if (!blob) return false;
  const auto file = slurp(layout.workdir / std::string(entry.path), kObjectLimit);
  return file && *file == *blob;
}

// The index (version 2 or 3): whether a tracked file differs from it (the work tree) and whether it differs from
// `tree` (HEAD's tree), through the cached tree of the index's root. nullopt when that cannot be told for certain.
std::optional<bool> index_dirty(const Layout& layout, const std::string& tree) {
  const Mapped index(layout.gitdir / "index");
  const unsigned char* p = index.data();
  const std::size_t size = index.size();
  if (p == nullptr || size < 12 + kOidSize || std::memcmp(p, "DIRC", 4) != 0) return std::nullopt;
  const std::uint32_t version = be32(p + 4);
  if (version != 2 && version != 3) return std::nullopt;
  const std::uint32_t count = be32(p + 8);
  const std::size_t end = size - kOidSize;  // the trailing checksum
  std::size_t at = 12;
  bool dirty = false;
  bool unsure = false;
  for (std::uint32_t i = 0; i < count; ++i) {
    if (at + 62 > end) return std::nullopt;
    const unsigned char* e = p + at;
    IndexEntry entry{be32(e), be32(e + 4), be32(e + 8), be32(e + 12), be32(e + 20), be32(e + 24),
                     be32(e + 28), be32(e + 32), be32(e + 36), be16(e + 60), {}, e + 40};
    const std::size_t name_at = at + 62;
    if ((entry.flags & 0x4000) != 0) return std::nullopt;  // skip-worktree or intent-to-add: left to libgit2
    const std::size_t length = entry.flags & 0x0fff;
    const void* nul = std::memchr(p + name_at, 0, end - name_at);
    if (nul == nullptr) return std::nullopt;
    const std::size_t name_length = static_cast<std::size_t>(static_cast<const unsigned char*>(nul) - (p + name_at));
    if (length != 0x0fff && length != name_length) return std::nullopt;
    entry.path = std::string_view(reinterpret_cast<const char*>(p + name_at), name_length);
    at = at + ((62 + name_length + 8) & ~std::size_t{7});
    if (at > end) return std::nullopt;
    if ((entry.flags & 0x8000) != 0) return std::nullopt;  // assume-unchanged
    if ((entry.flags & 0x3000) != 0) return true;           // a conflict: status lists it
    if (entry.path.empty() || entry.path.front() == '/' || entry.path.find("..") != std::string_view::npos) {
      return std::nullopt;
    }
    const std::uint32_t type = entry.mode & 0170000;
    if (type == 0160000) continue;                            // a submodule: status leaves them out here
    if (type != 0100000 && type != 0120000) return std::nullopt;
    if (dirty) continue;                                      // one change is enough; the rest must still parse
    switch (compare(layout.workdir, entry, index.st())) {
      case Match::kSame: break;
      case Match::kGone: dirty = true; break;
      case Match::kByContent: if (!same_as_blob(layout, entry)) unsure = true; break;
      case Match::kUnsure: unsure = true; break;
    }
  }
  // The extensions: the cached tree ("TREE") says which tree the index is; a split index ("link") or sparse
  // directories ("sdir") are read by libgit2.
  std::optional<std::string> index_tree;
  while (at + 8 <= end) {
    const unsigned char* sig = p + at;
    const std::size_t length = be32(p + at + 4);
    if (length > end - at - 8) return std::nullopt;
    const std::string_view data(reinterpret_cast<const char*>(p + at + 8), length);
    if (std::memcmp(sig, "link", 4) == 0 || std::memcmp(sig, "sdir", 4) == 0) return std::nullopt;
    if (std::memcmp(sig, "TREE", 4) == 0) {
      // The root: "" NUL, "<entries> <subtrees>\n", then its id when <entries> is not -1 (invalidated).
      if (data.empty() || data.front() != '\0') return std::nullopt;
      const auto newline = data.find('\n');
      if (newline == std::string_view::npos) return std::nullopt;
      const std::string_view counts = data.substr(1, newline - 1);
      const auto space = counts.find(' ');
      if (space == std::string_view::npos || counts.starts_with("-")) return std::nullopt;
      if (counts.substr(0, space) != std::to_string(count)) return std::nullopt;
      if (newline + 1 + kOidSize > data.size()) return std::nullopt;
      index_tree = hex_of(reinterpret_cast<const unsigned char*>(data.data() + newline + 1));
    }
    at += 8 + length;
  }
  if (at != end) return std::nullopt;
  if (dirty) return true;
  if (unsure || !index_tree || *index_tree != tree) return std::nullopt;
  return false;
}

}  // namespace

std::optional<CheckoutState> read_checkout(const fs::path& dir) {
  const auto layout = find_layout(dir);
  if (!layout) return std::nullopt;
  if (layout->gitdir.empty()) return CheckoutState{};
  if (!plain_checkout(*layout)) return std::nullopt;
  auto commit = head_commit(*layout);
  if (!commit) return std::nullopt;
  const auto tree = commit_tree(*layout, *commit);
  if (!tree) return std::nullopt;
  const auto dirty = index_dirty(*layout, *tree);
  if (!dirty) return std::nullopt;
  return CheckoutState{true, std::move(*commit), *dirty};
}

}  // namespace reconcile::engine
