#include "providers/swap_host.h"

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

namespace reconcile::providers {

namespace {

bool is_octal(char c) { return c >= '0' && c <= '7'; }

// "\040" and friends, as the kernel escapes blanks in /proc/swaps.
std::string unescape(std::string_view field) {
  std::string out;
  for (std::size_t i = 0; i < field.size(); ++i) {
    if (field[i] == '\\' && i + 3 < field.size() && is_octal(field[i + 1]) && is_octal(field[i + 2]) &&
        is_octal(field[i + 3])) {
      out += static_cast<char>((field[i + 1] - '0') * 64 + (field[i + 2] - '0') * 8 + (field[i + 3] - '0'));
      i += 3;
      continue;
    }
    out += field[i];
  }
  return out;
}

std::uint64_t number(std::string_view text) {
  std::uint64_t value = 0;
  for (const char c : text) {
    if (c < '0' || c > '9') break;
    value = value * 10 + static_cast<std::uint64_t>(c - '0');
  }
  return value;
}

}  // namespace

std::vector<std::string_view> split_words(std::string_view line) {
  std::vector<std::string_view> out;
  std::size_t at = 0;
  while (true) {
    at = line.find_first_not_of(" \t", at);
    if (at == std::string_view::npos) break;
    const auto end = std::min(line.find_first_of(" \t", at), line.size());
    out.push_back(line.substr(at, end - at));
    at = end;
  }
  return out;
}

std::vector<SwapArea> parse_proc_swaps(std::string_view text) {
  std::vector<SwapArea> out;
  bool header = true;
  while (!text.empty()) {
    const auto nl = std::min(text.find('\n'), text.size());
    const auto line = text.substr(0, nl);
    text.remove_prefix(std::min(nl + 1, text.size()));
    if (header) {
      header = false;
      if (line.starts_with("Filename")) continue;
    }
    const auto fields = split_words(line);
    if (fields.size() < 4) continue;
    out.push_back(SwapArea{unescape(fields[0]), std::string(fields[1]), number(fields[2]), number(fields[3])});
  }
  return out;
}

std::optional<std::uint64_t> meminfo_kib(std::string_view text, std::string_view key) {
  const std::string prefix = std::string(key) + ":";
  while (!text.empty()) {
    const auto nl = std::min(text.find('\n'), text.size());
    const auto line = text.substr(0, nl);
    text.remove_prefix(std::min(nl + 1, text.size()));
    if (!line.starts_with(prefix)) continue;
    const auto fields = split_words(line.substr(prefix.size()));
    if (fields.empty()) return std::nullopt;
    return number(fields[0]);
  }
  return std::nullopt;
}

std::string swap_filesystem_problem(const std::filesystem::path& host_path, bool* can_fallocate) {
  std::filesystem::path at = host_path;
  struct statfs fs {};
  while (::statfs(at.c_str(), &fs) != 0) {
    if (errno != ENOENT || at == at.parent_path()) return "cannot inspect the file system of " + at.string();
    at = at.parent_path();
  }
  if (can_fallocate != nullptr) *can_fallocate = false;
  const auto refuse = [](std::string_view name, std::string_view why) {
    return "the file system there is " + std::string(name) + ", which cannot hold a swap file: " + std::string(why);
  };
  switch (static_cast<unsigned long>(fs.f_type)) {
    case 0xEF53UL:      // ext2/3/4
    case 0x58465342UL:  // xfs
      if (can_fallocate != nullptr) *can_fallocate = true;
      return "";
    case 0x9123683EUL: {  // btrfs: only a file (or a directory it inherits from) marked nocow
      const int fd = ::open(at.c_str(), O_RDONLY | O_CLOEXEC);
      int flags = 0;
      const bool nocow = fd >= 0 && ::ioctl(fd, FS_IOC_GETFLAGS, &flags) == 0 && (flags & FS_NOCOW_FL) != 0;
      if (fd >= 0) ::close(fd);
      if (nocow) return "";
      return refuse("btrfs without nocow", "copy-on-write files cannot be swapped to (chattr +C the directory first)");
    }
    case 0x2FC12FC1UL: return refuse("zfs", "the kernel cannot swap to files on ZFS (use a zvol)");
    case 0x01021994UL: return refuse("tmpfs", "its files live in memory, so swapping to it frees nothing");
    case 0x858458F6UL: return refuse("ramfs", "its files live in memory, so swapping to it frees nothing");
    case 0x794C7630UL: return refuse("overlayfs", "swapon refuses files on it (EINVAL)");
    case 0x6969UL: return refuse("NFS", "swap over the network is not supported");
    case 0xFF534D42UL:
    case 0xFE534D42UL: return refuse("SMB", "swap over the network is not supported");
    case 0x65735546UL: return refuse("FUSE", "the kernel cannot swap to files of a user-space file system");
    case 0x73717368UL: return refuse("squashfs", "it is read-only");
    default: return "";  // other local file systems: written as zeros, and swapon has the last word
  }
}

}  // namespace reconcile::providers
