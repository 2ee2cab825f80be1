#include "engine/libgit2.h"

#include <dlfcn.h>

#include <type_traits>

namespace reconcile::engine {

namespace {

Libgit2 load() {
  Libgit2 g;
  // The soname of the libgit2 the headers came from (CMakeLists.txt reads it off the build's library).
  void* handle = ::dlopen(RECONCILE_LIBGIT2_SONAME, RTLD_NOW | RTLD_LOCAL);
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
  bind(g.oid_equal, "git_oid_equal");
  bind(g.status_list_new, "git_status_list_new");
  bind(g.status_entrycount, "git_status_list_entrycount");
  bind(g.status_list_free, "git_status_list_free");
  bind(g.error_last, "git_error_last");
  bind(g.clone, "git_clone");
  bind(g.open, "git_repository_open");
  bind(g.remote_lookup, "git_remote_lookup");
  bind(g.remote_fetch, "git_remote_fetch");
  bind(g.remote_free, "git_remote_free");
  bind(g.object_lookup, "git_object_lookup");
  bind(g.object_free, "git_object_free");
  bind(g.reference_create, "git_reference_create");
  bind(g.reference_free, "git_reference_free");
  bind(g.set_head, "git_repository_set_head");
  bind(g.reset, "git_reset");
  bind(g.descendant_of, "git_graph_descendant_of");
  return g;
}

}  // namespace

const Libgit2& Libgit2::get() {
  static const Libgit2 library = load();
  return library;
}

std::string Libgit2::last_error(const std::string& fallback) const {
  const git_error* error = error_last != nullptr ? error_last() : nullptr;
  return error != nullptr && error->message != nullptr ? error->message : fallback;
}

}  // namespace reconcile::engine
