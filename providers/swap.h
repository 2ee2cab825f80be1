#pragma once
// Swap files and swap off, observed in-process (/proc/swaps, the file's stat, /etc/fstab) and changed with
// mkswap, swapon and swapoff; /etc/fstab goes through FileEdit with a copy of the previous version.

#include <cstdint>
#include <string>
#include <vector>

#include "providers/provider.h"
#include "resources/swap.h"

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

/// A swap file: created without holes, 0600 root, mkswap, swapon, its fstab record; resized when memory allows.
class SwapfileProvider : public ProviderOf<const resources::SwapFileResource*, resources::SwapFileObserved> {
 public:
  std::string_view name() const override { return "swapfile"; }
  std::string_view kind() const override { return "swapfile"; }
  std::vector<resources::Error> validate(Session& session,
                                         std::span<const resources::SwapFileResource* const> resources) const override;
  std::vector<Observation> observe(Session& session,
                                   std::span<const resources::SwapFileResource* const> resources) const override;
  std::vector<ChangeOutcome> apply(Session& session, std::span<const Change> changes) const override;
};

/// Every swap off, and its fstab records commented out.
class SwapoffProvider : public ProviderOf<const resources::SwapOffResource*, resources::SwapOffObserved> {
 public:
  std::string_view name() const override { return "swapoff"; }
  std::string_view kind() const override { return "swap"; }
  std::vector<Observation> observe(Session& session,
                                   std::span<const resources::SwapOffResource* const> resources) const override;
  std::vector<ChangeOutcome> apply(Session& session, std::span<const Change> changes) const override;
};

}  // namespace reconcile::providers
