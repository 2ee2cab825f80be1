#pragma once
// Which part of a host file a resource owns: the whole file, a keyed line, an fstab record or a marked
// block. Two resources never own one fragment; the compiler checks (engine/claims.h). Platform-free.

#include <compare>
#include <string>
#include <string_view>

namespace reconcile::resources {

/// How a fragment is found in its file. One file has one format: every claim on a path is of one kind.
enum class FragmentKind {
  kWholeFile,    // every byte of the file (/etc/timezone); excludes every other claim on the path
  kKeyedLine,    // the `key = value` line of a key (sysctl.d: "vm.swappiness"); '#' and ';' start comments
  kFstabRecord,  // the fstab line of a mount point, or of a source when the mount point is none/swap
  kMarkedBlock,  // the lines between `# BEGIN reconcile <id>` and `# END reconcile <id>`
};

/// A fragment within one file: its kind and key ("" for the whole file).
struct Fragment {
  FragmentKind kind = FragmentKind::kWholeFile;
  std::string key;

  auto operator<=>(const Fragment&) const = default;
  /// "keyed line 'vm.swappiness'", "the whole file", as shown in errors and reports.
  std::string str() const;
};

/// A fragment of the file at an absolute host path, owned by one resource.
struct FileClaim {
  std::string path;  // "/etc/fstab"
  Fragment fragment;

  auto operator<=>(const FileClaim&) const = default;
  /// "/etc/fstab: fstab record '/swapfile'".
  std::string str() const;
};

/// The fragment keys, spelled once.
Fragment whole_file();
Fragment keyed_line(std::string key);
/// The record of `mount_point`, or of `source` when the mount point is "none" or "swap" (swap areas).
Fragment fstab_record(std::string_view source, std::string_view mount_point);
Fragment marked_block(std::string id);

/// Name of a fragment kind ("whole file", "keyed line", "fstab record", "marked block").
std::string_view to_string(FragmentKind kind);

/// Why two claims cannot both hold (same fragment, the whole file against a part, two formats of one
/// file), or "" when they can. Claims on different paths never collide.
std::string collision(const FileClaim& a, const FileClaim& b);

}  // namespace reconcile::resources
