#include "engine/git_sync.h"

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <memory>

#include "engine/libgit2.h"

namespace reconcile::engine {

namespace {

// libgit2 initialised for one sync and shut down after it (its global state does not outlive the call).
class Git2Session {
 public:
  explicit Git2Session(const Libgit2& git) : git_(git) { git_.init(); }
  ~Git2Session() { git_.shutdown(); }
  Git2Session(const Git2Session&) = delete;
  Git2Session& operator=(const Git2Session&) = delete;

 private:
  const Libgit2& git_;
};

std::string hex(const Libgit2& git, const git_oid& oid) {
  char text[GIT_OID_HEXSZ + 1] = {};
  git.oid_tostr(text, sizeof text, &oid);
  return text;
}

// Aborts a transfer when the run is stopping (libgit2 stops on a negative return).
int transfer_progress(const git_indexer_progress*, void* payload) {
  const auto* stop = static_cast<const std::atomic<bool>*>(payload);
  return stop != nullptr && stop->load() ? -1 : 0;
}

// Moves the checkout (index, work tree, branch and HEAD) to `target`.
std::expected<void, std::string> move_to(const Libgit2& git, git_repository* repo, const std::string& branch,
                                         const git_oid& target) {
  git_object* commit = nullptr;
  if (git.object_lookup(&commit, repo, &target, GIT_OBJECT_COMMIT) != 0) {
    return std::unexpected("cannot read commit " + hex(git, target) + ": " + git.last_error());
  }
  std::unique_ptr<git_object, decltype(git.object_free)> owned(commit, git.object_free);
  git_reference* ref = nullptr;
  const std::string local = "refs/heads/" + branch;
  if (git.reference_create(&ref, repo, local.c_str(), &target, 1, "reconcile: fast-forward") != 0) {
    return std::unexpected("cannot move " + local + ": " + git.last_error());
  }
  git.reference_free(ref);
  if (git.set_head(repo, local.c_str()) != 0) return std::unexpected("cannot set HEAD: " + git.last_error());
  git_checkout_options checkout = GIT_CHECKOUT_OPTIONS_INIT;
  checkout.checkout_strategy = GIT_CHECKOUT_FORCE | GIT_CHECKOUT_REMOVE_UNTRACKED;
  if (git.reset(repo, commit, GIT_RESET_HARD, &checkout) != 0) {
    return std::unexpected("cannot check out " + hex(git, target) + ": " + git.last_error());
  }
  return {};
}

}  // namespace

std::filesystem::path checkout_dir(const std::filesystem::path& state_dir, const std::string& repo,
                                   const std::string& branch) {
  // FNV-1a of URL and branch: a new URL or branch gets a clone of its own.
  std::uint64_t hash = 1469598103934665603ULL;
  for (const char c : repo + '\n' + branch) hash = (hash ^ static_cast<unsigned char>(c)) * 1099511628211ULL;
  std::string name = repo;
  while (!name.empty() && (name.back() == '/')) name.pop_back();
  name = name.substr(name.find_last_of("/:") + 1);
  if (name.ends_with(".git")) name.resize(name.size() - 4);
  std::string safe;
  for (const char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
                    c == '.';
    if (safe.size() < 40) safe += ok ? c : '_';
  }
  if (safe.empty() || safe.front() == '.') safe = "state" + safe;
  char suffix[24];
  std::snprintf(suffix, sizeof suffix, "-%012llx", static_cast<unsigned long long>(hash & 0xffffffffffffULL));
  return state_dir / "git" / (safe + suffix);
}

std::string checkout_commit(const std::filesystem::path& dir) {
  std::error_code ec;
  if (!std::filesystem::exists(dir / ".git", ec)) return "";
  const Libgit2& git = Libgit2::get();
  if (!git.missing.empty()) return "";
  Git2Session session(git);
  git_repository* repo = nullptr;
  if (git.open(&repo, dir.c_str()) != 0) return "";
  git_oid head;
  std::string commit;
  if (git.name_to_id(&head, repo, "HEAD") == 0) commit = hex(git, head);
  git.repository_free(repo);
  return commit;
}

std::expected<GitCheckout, std::string> sync_checkout(const std::string& repo_url, const std::string& branch,
                                                      const std::filesystem::path& dir,
                                                      const std::atomic<bool>* stop, bool follow_rewrites) {
  const Libgit2& git = Libgit2::get();
  if (!git.missing.empty()) return std::unexpected(git.missing);
  Git2Session session(git);
  GitCheckout out;
  out.dir = dir;
  std::error_code ec;
  git_fetch_options fetch = GIT_FETCH_OPTIONS_INIT;
  fetch.callbacks.transfer_progress = transfer_progress;
  fetch.callbacks.payload = const_cast<std::atomic<bool>*>(stop);
  fetch.prune = GIT_FETCH_PRUNE;

  if (!std::filesystem::exists(dir / ".git", ec)) {
    // A clone into a temporary directory beside it, renamed into place when complete.
    std::filesystem::create_directories(dir.parent_path(), ec);
    if (ec) return std::unexpected("cannot create " + dir.parent_path().string() + ": " + ec.message());
    const auto temporary = dir.parent_path() / ("." + dir.filename().string() + ".clone-" + std::to_string(::getpid()));
    std::filesystem::remove_all(temporary, ec);
    // Leftovers of an earlier clone that was killed.
    for (const auto& entry : std::filesystem::directory_iterator(dir.parent_path(), ec)) {
      if (entry.path().filename().string().starts_with("." + dir.filename().string() + ".clone-")) {
        std::filesystem::remove_all(entry.path(), ec);
      }
    }
    std::filesystem::remove_all(dir, ec);  // a directory without .git is not a checkout of ours
    git_clone_options options = GIT_CLONE_OPTIONS_INIT;
    options.fetch_opts = fetch;
    options.checkout_branch = branch.c_str();
    git_repository* repo = nullptr;
    if (git.clone(&repo, repo_url.c_str(), temporary.c_str(), &options) != 0) {
      const std::string why = git.last_error();
      std::filesystem::remove_all(temporary, ec);
      return std::unexpected("cannot clone " + repo_url + " (branch " + branch + "): " + why);
    }
    git_oid head;
    if (git.name_to_id(&head, repo, "HEAD") == 0) out.commit = hex(git, head);
    git.repository_free(repo);
    std::filesystem::rename(temporary, dir, ec);
    if (ec) {
      std::filesystem::remove_all(temporary, ec);
      return std::unexpected("cannot move the clone into " + dir.string() + ": " + ec.message());
    }
    return out;
  }

  git_repository* repo = nullptr;
  if (git.open(&repo, dir.c_str()) != 0) {
    return std::unexpected("cannot open the checkout " + dir.string() + ": " + git.last_error() +
                           " (remove it to clone again)");
  }
  std::unique_ptr<git_repository, decltype(git.repository_free)> owned(repo, git.repository_free);
  git_oid head;
  const bool has_head = git.name_to_id(&head, repo, "HEAD") == 0;
  if (has_head) out.previous = hex(git, head);
  git_remote* remote = nullptr;
  if (git.remote_lookup(&remote, repo, "origin") != 0) {
    return std::unexpected("the checkout " + dir.string() + " has no remote origin: " + git.last_error());
  }
  const int fetched = git.remote_fetch(remote, nullptr, &fetch, "reconcile: fetch");
  git.remote_free(remote);
  if (fetched != 0) return std::unexpected("cannot fetch " + repo_url + ": " + git.last_error());
  git_oid target;
  const std::string tracking = "refs/remotes/origin/" + branch;
  if (git.name_to_id(&target, repo, tracking.c_str()) != 0) {
    return std::unexpected(repo_url + " has no branch " + branch + ": " + git.last_error());
  }
  if (has_head && git.oid_equal(&head, &target) != 0) {
    out.commit = out.previous;
    // Still reset: a checkout edited by hand goes back to the commit.
    if (auto moved = move_to(git, repo, branch, target); !moved) return std::unexpected(moved.error());
    return out;
  }
  if (has_head && git.descendant_of(repo, &target, &head) != 1) {
    const std::string what = "the history of " + branch + " in " + repo_url + " was rewritten: the checkout's " +
                             out.previous + " is not an ancestor of the branch's " + hex(git, target);
    if (!follow_rewrites) {
      // Not a fast-forward: the checkout stays where it was (hand edits undone), the caller keeps that state.
      if (auto kept = move_to(git, repo, branch, head); !kept) return std::unexpected(kept.error());
      return std::unexpected(what + "; refused to move (set daemon.git.allow_rewrite: true to follow it)");
    }
    out.warning = what + "; the checkout follows the new history (daemon.git.allow_rewrite)";
  }
  if (auto moved = move_to(git, repo, branch, target); !moved) return std::unexpected(moved.error());
  out.commit = hex(git, target);
  return out;
}

std::expected<std::filesystem::path, std::string> pick_state_file(const std::filesystem::path& dir,
                                                                  const std::string& host) {
  std::error_code ec;
  const bool host_ok = !host.empty() && host.find('/') == std::string::npos && host != "." && host != ".." &&
                       host.front() != '.';
  std::string looked;
  for (const char* ext : {".yaml", ".yml", ".json"}) {
    if (!host_ok) break;
    const auto path = dir / "hosts" / (host + ext);
    if (std::filesystem::symlink_status(path, ec).type() == std::filesystem::file_type::regular) return path;
  }
  for (const char* ext : {".yaml", ".yml", ".json"}) {
    const auto path = dir / (std::string("common") + ext);
    if (std::filesystem::symlink_status(path, ec).type() == std::filesystem::file_type::regular) return path;
  }
  return std::unexpected("the checkout " + dir.string() + " has neither hosts/" + host +
                         ".yaml (.yml, .json) nor common.yaml (.yml, .json)");
}

}  // namespace reconcile::engine
