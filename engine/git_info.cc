#include "engine/git_info.h"

#include <filesystem>

#include "engine/git_checkout.h"
#include "engine/libgit2.h"

namespace reconcile::engine {

namespace {

// Whether `dir` or a parent holds a .git entry. A few stat calls: libgit2's initialisation loads the
// system's TLS certificates (about 15 ms here), so it is started only for files inside a checkout, and only when
// the quick read of .git (engine/git_checkout.h) could not answer.
bool inside_git_checkout(std::filesystem::path dir) {
  std::error_code ec;
  while (true) {
    if (std::filesystem::exists(dir / ".git", ec)) return true;
    if (!dir.has_parent_path() || dir.parent_path() == dir) return false;
    dir = dir.parent_path();
  }
}

}  // namespace

StateFileInfo state_file_info(const std::string& path) {
  std::error_code ec;
  const auto absolute = std::filesystem::absolute(path, ec);
  if (!ec) {
    if (const auto quick = read_checkout(absolute.parent_path())) {
      StateFileInfo info;
      info.path = path;
      info.git_commit = quick->commit;
      info.git_dirty = quick->dirty;
      return info;
    }
  }
  return state_file_info_libgit2(path);
}

StateFileInfo state_file_info_libgit2(const std::string& path) {
  StateFileInfo info;
  info.path = path;
  std::error_code ec;
  const auto absolute = std::filesystem::absolute(path, ec);
  if (ec || !inside_git_checkout(absolute.parent_path())) return info;
  const Libgit2& git = Libgit2::get();
  if (!git.missing.empty()) {
    info.git_error = git.missing;
    return info;
  }
  git.init();
  git_repository* repo = nullptr;
  if (git.open_ext(&repo, absolute.parent_path().c_str(), 0, nullptr) != 0) {
    git.shutdown();
    return info;  // not in a git checkout after all
  }
  git_oid head;
  if (git.name_to_id(&head, repo, "HEAD") == 0) {
    char hex[GIT_OID_HEXSZ + 1] = {};
    git.oid_tostr(hex, sizeof hex, &head);
    info.git_commit = hex;
    git_status_options options = GIT_STATUS_OPTIONS_INIT;
    options.show = GIT_STATUS_SHOW_INDEX_AND_WORKDIR;
    options.flags = GIT_STATUS_OPT_EXCLUDE_SUBMODULES;
    git_status_list* status = nullptr;
    if (git.status_list_new(&status, repo, &options) == 0) {
      info.git_dirty = git.status_entrycount(status) > 0;
      git.status_list_free(status);
    }
  } else {
    info.git_error = git.last_error("no commit yet");
  }
  git.repository_free(repo);
  git.shutdown();
  return info;
}

}  // namespace reconcile::engine
