#pragma once
// Files, directories and symlinks in-process: one lstat per path, a read only when the sizes already match (or
// to show a diff of what differs), no process. Writes go through the shared-file primitive
// (providers/managed_file.h); a replaced file's previous content is kept in a bounded backup store.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "providers/provider.h"
#include "resources/file.h"

namespace reconcile::providers {

/// Where replaced files are kept: `<dir>/<path with '/' as '%2F'>.<UTC time>`, the newest kBackupsKept per path.
inline constexpr std::string_view kBackupDir = "/var/lib/reconcile/backup";
inline constexpr std::size_t kBackupsKept = 5;

/// Observes and converges `file:` resources with system calls.
class PosixFileProvider : public ProviderOf<const resources::FileResource*, resources::FileObserved> {
 public:
  std::string_view name() const override { return "posix"; }
  std::string_view kind() const override { return "file"; }
  int max_parallel() const override { return 1; }
  std::vector<resources::Error> validate(Session& session,
                                         std::span<const resources::FileResource* const> resources) const override;
  std::vector<Observation> observe(Session& session,
                                   std::span<const resources::FileResource* const> resources) const override;
  std::vector<ChangeOutcome> apply(Session& session, std::span<const Change> changes) const override;
};

/// The SHA-256 of `bytes` in lower-case hex.
std::string sha256_hex(std::string_view bytes);
/// Whether `bytes` read as text (no NUL, valid enough to diff line by line).
bool looks_like_text(std::string_view bytes);
/// The largest file whose text a dry run diffs.
inline constexpr std::size_t kMaxTextDiff = 256u << 10;
/// A unified diff from `before` to `after` ("--- path", "+++ path", hunks with 3 lines of context), or a
/// one-line note when either side is too large to diff.
std::string unified_diff(std::string_view before, std::string_view after, std::string_view path);

}  // namespace reconcile::providers
