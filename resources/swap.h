#pragma once
// Swap: a swap file of a size, active and in /etc/fstab (`swapfile:/swapfile`), or every swap turned off and
// kept off (`swap:off`).

#include <cstdint>
#include <optional>
#include <expected>
#include <string>
#include <vector>

#include "resources/kind.h"
#include "resources/resource.h"

namespace reconcile::resources {

/// The fields of a swap file that can drift.
enum class SwapFileField { kFile, kSize, kHoles, kMode, kActive, kFstab };
/// "file", "size", "holes", "mode", "active", "/etc/fstab".
std::string_view field_name(SwapFileField field);

/// What the host has at a swap file's path.
class SwapFileObserved : public Observed {
 public:
  enum class Type { kMissing, kRegular, kOther };
  Type type = Type::kMissing;
  std::string other;             // what is there instead of a regular file ("a directory", "a symbolic link")
  std::uint64_t size_bytes = 0;
  bool holes = false;            // fewer blocks allocated than its size needs
  unsigned mode = 0;
  unsigned uid = 0;
  unsigned gid = 0;
  bool signature = false;        // carries a swap signature (mkswap ran)
  bool active = false;           // listed in /proc/swaps
  std::uint64_t used_kib = 0;    // swapped out to it now
  std::optional<std::string> fstab;  // its /etc/fstab record, fields joined by spaces

  std::vector<Field> fields() const override;
};

/// `swap: {file: /swapfile, size_mb: 2048}`
class SwapFileResource : public ResourceOf<SwapFileObserved> {
 public:
  SwapFileResource(std::string path, std::uint64_t size_mb, Location location, std::string key_path);

  const std::string& path() const { return name(); }
  std::uint64_t size_mb() const { return size_mb_; }
  std::uint64_t size_bytes() const { return size_mb_ << 20; }
  /// The /etc/fstab line it keeps: "/swapfile none swap sw 0 0".
  std::string fstab_line() const;

  std::vector<Field> desired_fields() const override;
  Drift diff_of(const SwapFileObserved& seen) const override;
  /// Its /etc/fstab record.
  std::vector<FileClaim> claims() const override;

 private:
  std::uint64_t size_mb_;
};

/// The fields of `swap: {off: true}` that can drift.
enum class SwapOffField { kActive, kFstab };
/// "active", "/etc/fstab".
std::string_view field_name(SwapOffField field);

/// Every swap area that is on now or would be at boot.
class SwapOffObserved : public Observed {
 public:
  std::vector<std::string> active;  // paths in /proc/swaps
  std::uint64_t used_kib = 0;       // swapped out to them now, in all
  std::vector<std::string> fstab;   // sources of /etc/fstab swap records that are not comments

  std::vector<Field> fields() const override;
};

/// `swap: {off: true}`
class SwapOffResource : public ResourceOf<SwapOffObserved> {
 public:
  SwapOffResource(Location location, std::string key_path);
  std::vector<Field> desired_fields() const override;
  Drift diff_of(const SwapOffObserved& seen) const override;
};

/// Nothing when `path` is an absolute, normal path a swap file may have, else what is wrong.
std::expected<void, std::string> check_swap_path(std::string_view path);

/// The `swap` key.
KindSpec swap_kind();

}  // namespace reconcile::resources
