#pragma once
// The commit and dirty flag of a checkout, read straight from .git (HEAD, refs, the index and one commit object)
// without libgit2: starting libgit2 costs more than a whole converged run (its TLS set-up parses the CA bundle).
// It answers only where the files leave no doubt; anything unusual (a racy or changed stat, a split or v4 index,
// a delta-compressed commit, SHA-256 objects, core.worktree, ...) is left to libgit2, which gives the same answer.

#include <filesystem>
#include <optional>
#include <string>

namespace reconcile::engine {

/// What the quick read of a checkout found.
struct CheckoutState {
  bool in_checkout = false;  // false: no .git above the directory (on its file system)
  std::string commit;        // 40 hex digits
  bool dirty = false;        // a tracked file differs from the index, or the index from HEAD's tree
};

/// The checkout that holds `dir` (or a parent of it, on the same file system) as the files under .git say,
/// or nullopt when they cannot say it for certain (then ask libgit2).
std::optional<CheckoutState> read_checkout(const std::filesystem::path& dir);

}  // namespace reconcile::engine
