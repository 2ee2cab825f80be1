#include "engine/git_info.h"

#include <dlfcn.h>
#include <git2.h>

#include <filesystem>
#include <type_traits>

namespace reconcile::engine {

namespace {

// Whether `dir` or a parent holds a .git entry. A few stat calls: libgit2's initialisation loads the
// system's TLS certificates (about 15 ms here), so it is started only for files inside a checkout.
bool inside_git_checkout(std::filesystem::path dir) {
  std::error_code ec;
  while (true) {
    if (std::filesystem::exists(dir / ".git", ec)) return true;
    if (!dir.has_parent_path() || dir.parent_path() == dir) return false;
    dir = dir.parent_path();
  }
}

// libgit2, loaded on first use: it pulls in a TLS library and a dozen more, which every run would
// otherwise pay for at startup even when no state file is in a checkout.
struct Libgit2 {
  decltype(&git_libgit2_init) init = nullptr;
  decltype(&git_libgit2_shutdown) shutdown = nullptr;
  decltype(&git_repository_open_ext) open_ext = nullptr;
  decltype(&git_repository_free) repository_free = nullptr;
  decltype(&git_reference_name_to_id) name_to_id = nullptr;
  decltype(&git_oid_tostr) oid_tostr = nullptr;
  decltype(&git_status_list_new) status_list_new = nullptr;
  decltype(&git_status_list_entrycount) status_entrycount = nullptr;
  decltype(&git_status_list_free) status_list_free = nullptr;
  decltype(&git_error_last) error_last = nullptr;
  std::string missing;

  static const Libgit2& get() {
    static const Libgit2 library = load();
    return library;
  }

 private:
  static Libgit2 load() {
    Libgit2 g;
    void* handle = nullptr;
    // The soname of the libgit2 the headers came from (CMakeLists.txt reads it off the build's library).
    handle = ::dlopen(RECONCILE_LIBGIT2_SONAME, RTLD_NOW | RTLD_LOCAL);
    if (handle == nullptr) {
      const char* why = ::dlerror();
      g.missing = std::string("cannot load " RECONCILE_LIBGIT2_SONAME) + (why != nullptr ? std::string(": ") + why : "");
      return g;
    }
    auto bind = [&](auto& fn, const char* symbol) {
      fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(::dlsym(handle, symbol));
      if (fn == nullptr) g.missing = std::string("libgit2 lacks ") + symbol;
    };
    bind(g.init, "git_libgit2_init");
    bind(g.shutdown, "git_libgit2_shutdown");
    bind(g.open_ext, "git_repository_open_ext");
    bind(g.repository_free, "git_repository_free");
    bind(g.name_to_id, "git_reference_name_to_id");
    bind(g.oid_tostr, "git_oid_tostr");
    bind(g.status_list_new, "git_status_list_new");
    bind(g.status_entrycount, "git_status_list_entrycount");
    bind(g.status_list_free, "git_status_list_free");
    bind(g.error_last, "git_error_last");
    return g;
  }
};

}  // namespace

StateFileInfo state_file_info(const std::string& path) {
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
    const git_error* error = git.error_last();
    info.git_error = error != nullptr ? error->message : "no commit yet";
  }
  git.repository_free(repo);
  git.shutdown();
  return info;
}

}  // namespace reconcile::engine
