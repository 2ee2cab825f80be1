#pragma once
// libsystemd, loaded on first use (dlopen): linked, it pulls in libgcrypt, liblz4, libzstd, liblzma, libcap and
// libgpg-error, which every run would pay for at start-up even when the state has no services and no daemon runs.

#include <systemd/sd-bus.h>
#include <systemd/sd-daemon.h>

#include <string>

namespace reconcile::providers {

/// The libsystemd calls reconcile makes (sd-bus for systemd, sd_notify for the daemon); `missing` says why the
/// library cannot be used, if it cannot, and then no pointer may be called.
struct Libsystemd {
  // Errors.
  decltype(&::sd_bus_error_is_set) error_is_set = nullptr;
  decltype(&::sd_bus_error_has_name) error_has_name = nullptr;
  decltype(&::sd_bus_error_free) error_free = nullptr;
  // Connections.
  decltype(&::sd_bus_new) bus_new = nullptr;
  decltype(&::sd_bus_set_address) set_address = nullptr;
  decltype(&::sd_bus_set_bus_client) set_bus_client = nullptr;
  decltype(&::sd_bus_start) start = nullptr;
  decltype(&::sd_bus_open_system) open_system = nullptr;
  decltype(&::sd_bus_is_open) is_open = nullptr;
  decltype(&::sd_bus_flush_close_unref) flush_close_unref = nullptr;
  decltype(&::sd_bus_process) process = nullptr;
  decltype(&::sd_bus_wait) wait = nullptr;
  // Calls and signals.
  decltype(&::sd_bus_call) call = nullptr;
  decltype(&::sd_bus_call_method) call_method = nullptr;
  decltype(&::sd_bus_call_method_async) call_method_async = nullptr;
  decltype(&::sd_bus_match_signal) match_signal = nullptr;
  decltype(&::sd_bus_slot_unref) slot_unref = nullptr;
  // Messages.
  decltype(&::sd_bus_message_new_method_call) message_new_method_call = nullptr;
  decltype(&::sd_bus_message_append) message_append = nullptr;
  decltype(&::sd_bus_message_append_strv) message_append_strv = nullptr;
  decltype(&::sd_bus_message_read) message_read = nullptr;
  decltype(&::sd_bus_message_enter_container) message_enter_container = nullptr;
  decltype(&::sd_bus_message_is_method_error) message_is_method_error = nullptr;
  decltype(&::sd_bus_message_get_error) message_get_error = nullptr;
  decltype(&::sd_bus_message_unref) message_unref = nullptr;
  // The service manager's notification socket.
  decltype(&::sd_notify) notify = nullptr;
  decltype(&::sd_watchdog_enabled) watchdog_enabled = nullptr;
  std::string missing;

  /// The library the headers came from, loaded once (thread-safe) on the first call.
  static const Libsystemd& get();
};

/// Loads the library of that soname (get() passes libsystemd's); `missing` is set when it or a symbol is absent.
Libsystemd load_libsystemd(const char* soname);

}  // namespace reconcile::providers
