#pragma once
// libgit2, loaded on first use (dlopen): it pulls in a TLS library and a dozen more, which every run would
// otherwise pay for at startup even when no state file is in a checkout and no state comes from git.

#include <git2.h>

#include <string>

namespace reconcile::engine {

/// The libgit2 calls reconcile makes; `missing` says why the library cannot be used, if it cannot.
struct Libgit2 {
  decltype(&git_libgit2_init) init = nullptr;
  decltype(&git_libgit2_shutdown) shutdown = nullptr;
  decltype(&git_repository_open_ext) open_ext = nullptr;
  decltype(&git_repository_free) repository_free = nullptr;
  decltype(&git_reference_name_to_id) name_to_id = nullptr;
  decltype(&git_oid_tostr) oid_tostr = nullptr;
  decltype(&git_oid_equal) oid_equal = nullptr;
  decltype(&git_status_list_new) status_list_new = nullptr;
  decltype(&git_status_list_entrycount) status_entrycount = nullptr;
  decltype(&git_status_list_free) status_list_free = nullptr;
  decltype(&git_error_last) error_last = nullptr;
  // Keeping a clone (engine/git_sync.cc).
  decltype(&git_clone) clone = nullptr;
  decltype(&git_repository_open) open = nullptr;
  decltype(&git_remote_lookup) remote_lookup = nullptr;
  decltype(&git_remote_fetch) remote_fetch = nullptr;
  decltype(&git_remote_free) remote_free = nullptr;
  decltype(&git_object_lookup) object_lookup = nullptr;
  decltype(&git_object_free) object_free = nullptr;
  decltype(&git_reference_create) reference_create = nullptr;
  decltype(&git_reference_free) reference_free = nullptr;
  decltype(&git_repository_set_head) set_head = nullptr;
  decltype(&git_reset) reset = nullptr;
  decltype(&git_graph_descendant_of) descendant_of = nullptr;
  std::string missing;

  static const Libgit2& get();
  /// The last libgit2 error's message, or `fallback`.
  std::string last_error(const std::string& fallback = "unknown libgit2 error") const;
};

}  // namespace reconcile::engine
