#pragma once
// What the kernel says about swap, read in-process: /proc/swaps, /proc/meminfo, and which file systems can
// hold a swap file. Parsers are pure; swap_filesystem_problem() asks statfs(2).

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace reconcile::providers {

/// One line of /proc/swaps.
struct SwapArea {
  std::string path;  // unescaped ("\040" is a space)
  std::string type;  // "file", "partition"
  std::uint64_t size_kib = 0;
  std::uint64_t used_kib = 0;
};

/// The areas listed in a /proc/swaps text.
std::vector<SwapArea> parse_proc_swaps(std::string_view text);
/// A value of a /proc/meminfo text in KiB ("MemAvailable"), or nullopt.
std::optional<std::uint64_t> meminfo_kib(std::string_view text, std::string_view key);
/// Why the file system holding `host_path` (or its nearest existing directory) cannot hold a swap file, or "".
std::string swap_filesystem_problem(const std::filesystem::path& host_path, bool* can_fallocate = nullptr);

/// The blank-separated words of a line.
std::vector<std::string_view> split_words(std::string_view line);

}  // namespace reconcile::providers
