#include "providers/libsystemd.h"

#include <dlfcn.h>

#include <type_traits>

namespace reconcile::providers {

Libsystemd load_libsystemd(const char* soname) {
  Libsystemd sd;
  void* handle = ::dlopen(soname, RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) {
    const char* why = ::dlerror();
    sd.missing = std::string("cannot load ") + soname + (why != nullptr ? std::string(": ") + why : "");
    return sd;
  }
  auto bind = [&](auto& fn, const char* symbol) {
    fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(::dlsym(handle, symbol));
    if (fn == nullptr && sd.missing.empty()) sd.missing = std::string(soname) + " lacks " + symbol;
  };
  bind(sd.error_is_set, "sd_bus_error_is_set");
  bind(sd.error_has_name, "sd_bus_error_has_name");
  bind(sd.error_free, "sd_bus_error_free");
  bind(sd.bus_new, "sd_bus_new");
  bind(sd.set_address, "sd_bus_set_address");
  bind(sd.set_bus_client, "sd_bus_set_bus_client");
  bind(sd.start, "sd_bus_start");
  bind(sd.open_system, "sd_bus_open_system");
  bind(sd.is_open, "sd_bus_is_open");
  bind(sd.flush_close_unref, "sd_bus_flush_close_unref");
  bind(sd.process, "sd_bus_process");
  bind(sd.wait, "sd_bus_wait");
  bind(sd.call, "sd_bus_call");
  bind(sd.call_method, "sd_bus_call_method");
  bind(sd.call_method_async, "sd_bus_call_method_async");
  bind(sd.match_signal, "sd_bus_match_signal");
  bind(sd.slot_unref, "sd_bus_slot_unref");
  bind(sd.message_new_method_call, "sd_bus_message_new_method_call");
  bind(sd.message_append, "sd_bus_message_append");
  bind(sd.message_append_strv, "sd_bus_message_append_strv");
  bind(sd.message_read, "sd_bus_message_read");
  bind(sd.message_enter_container, "sd_bus_message_enter_container");
  bind(sd.message_is_method_error, "sd_bus_message_is_method_error");
  bind(sd.message_get_error, "sd_bus_message_get_error");
  bind(sd.message_unref, "sd_bus_message_unref");
  bind(sd.notify, "sd_notify");
  bind(sd.watchdog_enabled, "sd_watchdog_enabled");
  return sd;
}

const Libsystemd& Libsystemd::get() {
  // The soname of the libsystemd the headers came from (CMakeLists.txt reads it off the build's library).
  static const Libsystemd library = load_libsystemd(RECONCILE_LIBSYSTEMD_SONAME);
  return library;
}

}  // namespace reconcile::providers
