#include "providers/authorized_keys.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <set>

#include "providers/fs.h"
#include "providers/managed_file.h"
#include "providers/posix_file.h"

namespace reconcile::providers {

namespace {

using resources::AuthorizedKeysSeen;
using resources::SshKey;
using resources::UserResource;

constexpr unsigned kDirMode = 0700;
constexpr unsigned kFileMode = 0600;

template <class F>
void for_each_line(std::string_view text, F&& f) {
  while (!text.empty()) {
    const std::size_t end = text.find('\n');
    f(text.substr(0, end));
    if (end == std::string_view::npos) break;
    text.remove_prefix(end + 1);
  }
}

std::string ssh_dir(const std::string& home) { return (home.ends_with('/') ? home : home + "/") + ".ssh"; }

}  // namespace

std::string ssh_fingerprint(const SshKey& key) {
  const auto bytes = resources::base64_decode(key.blob);
  if (!bytes) return "";
  const std::string hex = sha256_hex(*bytes);
  std::string raw;
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2) raw.push_back(static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  return "SHA256:" + resources::base64_encode(raw, false);
}

AuthorizedKeysSeen observe_authorized_keys(const Host& host, const UserResource& user, const PasswdEntry& entry) {
  AuthorizedKeysSeen seen;
  seen.observed = true;
  for (const auto& key : user.ssh_keys) seen.fingerprints.emplace(key.identity(), ssh_fingerprint(key));
  if (entry.home.empty() || !entry.home.starts_with("/")) {
    seen.problem = "its home '" + entry.home + "' is not an absolute path";
    return seen;
  }
  const std::string dir = ssh_dir(entry.home);
  seen.path = dir + "/authorized_keys";
  struct stat st {};
  if (::stat(host.path(entry.home).c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    seen.problem = "its home " + entry.home + " does not exist";
    return seen;
  }
  if (::lstat(host.path(dir).c_str(), &st) == 0) {
    if (S_ISLNK(st.st_mode)) {
      seen.problem = dir + " is a symbolic link (refused: it could point anywhere)";
      return seen;
    }
    if (!S_ISDIR(st.st_mode)) {
      seen.problem = dir + " is not a directory";
      return seen;
    }
    seen.dir_mode = st.st_mode & 07777;
    seen.dir_owned = st.st_uid == entry.uid && st.st_gid == entry.gid;
  }
  if (::lstat(host.path(seen.path).c_str(), &st) != 0) return seen;
  if (!S_ISREG(st.st_mode)) {
    seen.problem = seen.path + (S_ISLNK(st.st_mode) ? " is a symbolic link (refused: it could point anywhere)"
                                                    : " is not a regular file");
    return seen;
  }
  seen.exists = true;
  seen.file_mode = st.st_mode & 07777;
  seen.file_owned = st.st_uid == entry.uid && st.st_gid == entry.gid;
  auto text = read_file(host.path(seen.path), 4u << 20);
  if (!text) {
    seen.problem = seen.path + ": " + text.error();
    return seen;
  }
  for_each_line(*text, [&](std::string_view line) {
    auto key = resources::parse_ssh_key(line);
    if (!key) {
      ++seen.other_lines;
      return;
    }
    seen.fingerprints.emplace(key->identity(), ssh_fingerprint(*key));
    seen.keys.push_back(std::move(*key));
  });
  return seen;
}

std::string merged_authorized_keys(std::string_view current, const UserResource& user) {
  std::map<std::string, const SshKey*> listed;
  for (const auto& key : user.ssh_keys) listed.emplace(key.identity(), &key);
  std::set<std::string> written;
  std::string out;
  for_each_line(current, [&](std::string_view line) {
    auto key = resources::parse_ssh_key(line);
    if (!key) {
      out.append(line).push_back('\n');
      return;
    }
    const auto found = listed.find(key->identity());
    if (found == listed.end()) {
      if (!user.ssh_keys_exclusive) out.append(line).push_back('\n');
      return;
    }
    if (written.insert(key->identity()).second) out += found->second->line() + '\n';
  });
  for (const auto& key : user.ssh_keys) {
    if (written.insert(key.identity()).second) out += key.line() + '\n';
  }
  return out;
}

std::expected<std::string, std::string> write_authorized_keys(const Host& host, const UserResource& user,
                                                              const PasswdEntry& entry) {
  const AuthorizedKeysSeen seen = observe_authorized_keys(host, user, entry);
  if (!seen.problem.empty()) return std::unexpected(seen.problem);
  const std::string dir = ssh_dir(entry.home);
  const auto real_dir = host.path(dir);
  if (!seen.dir_mode) {
    if (::mkdir(real_dir.c_str(), kDirMode) != 0 && errno != EEXIST) {
      return std::unexpected("cannot create " + dir + ": " + std::strerror(errno));
    }
  }
  // The directory was created or checked by lstat just now: chown and chmod without following a link.
  if (::lchown(real_dir.c_str(), entry.uid, entry.gid) != 0) {
    return std::unexpected("cannot give " + dir + " to " + user.name() + ": " + std::strerror(errno));
  }
  struct stat st {};
  if (::lstat(real_dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) return std::unexpected(dir + " is not a directory");
  if ((st.st_mode & 07777) != kDirMode && ::chmod(real_dir.c_str(), kDirMode) != 0) {
    return std::unexpected("cannot set the mode of " + dir + ": " + std::strerror(errno));
  }
  std::string current;
  if (seen.exists) {
    auto text = read_file(host.path(seen.path), 4u << 20);
    if (!text) return std::unexpected(seen.path + ": " + text.error());
    current = std::move(*text);
  }
  const std::string content = merged_authorized_keys(current, user);
  auto written = write_whole_file(host, seen.path, content, kFileMode, std::make_pair(entry.uid, entry.gid));
  if (!written) return std::unexpected(written.error());
  std::size_t keys = 0;
  for_each_line(content, [&](std::string_view line) { keys += resources::parse_ssh_key(line) ? 1 : 0; });
  return "write " + seen.path + " (" + std::to_string(keys) + (keys == 1 ? " key" : " keys") + ", mode 0600)";
}

bool keys_remain(const Host& host, const std::string& home, const UserResource& user) {
  if (!user.ssh_keys.empty()) return true;
  if (home.empty() || !home.starts_with("/")) return false;
  std::error_code ec;
  const auto second = host.path(ssh_dir(home) + "/authorized_keys2");
  if (std::filesystem::is_regular_file(second, ec) && std::filesystem::file_size(second, ec) > 0 && !ec) return true;
  if (user.ssh_keys_exclusive) return false;
  const auto first = host.path(ssh_dir(home) + "/authorized_keys");
  return std::filesystem::is_regular_file(first, ec) && std::filesystem::file_size(first, ec) > 0 && !ec;
}

}  // namespace reconcile::providers
