#pragma once
// The daemon's state from git: a clone kept under the state directory and fast-forwarded each cycle through
// libgit2 (no git process), and the file of this host picked from it.

#include <atomic>
#include <expected>
#include <filesystem>
#include <string>

namespace reconcile::engine {

/// Where a checkout is.
struct GitCheckout {
  std::filesystem::path dir;
  std::string commit;        // 40 hex digits
  std::string previous;      // the commit before this sync ("" after a clone)
  std::string warning;       // history rewritten upstream and followed (follow_rewrites)
};

/// The directory of the clone of `repo`/`branch` under `state_dir` (git/<name>-<hash of URL and branch>).
std::filesystem::path checkout_dir(const std::filesystem::path& state_dir, const std::string& repo,
                                   const std::string& branch);

/// Clones `repo` at `branch` into `dir` (into a temporary directory renamed into place, so a killed clone leaves
/// nothing half-made), or fetches and fast-forwards the checkout to the branch's tip. A fetch that fails leaves
/// the checkout as it was. A tip that is not a descendant of the checkout (history rewritten upstream) is an
/// error naming both commits and the checkout stays, unless `follow_rewrites` (then it moves, with a warning).
/// `stop` set aborts a transfer.
std::expected<GitCheckout, std::string> sync_checkout(const std::string& repo, const std::string& branch,
                                                      const std::filesystem::path& dir,
                                                      const std::atomic<bool>* stop = nullptr,
                                                      bool follow_rewrites = false);

/// The commit a checkout is at, "" when it is none.
std::string checkout_commit(const std::filesystem::path& dir);

/// The state file of `host` in a checkout: hosts/<host>.yaml (or .yml, .json), else common.yaml (or .yml, .json);
/// an error naming what was looked for when there is none.
std::expected<std::filesystem::path, std::string> pick_state_file(const std::filesystem::path& dir,
                                                                  const std::string& host);

}  // namespace reconcile::engine
