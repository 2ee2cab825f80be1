#include "providers/systemd_bus.h"

#include <systemd/sd-bus.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <functional>
#include <map>

#include "providers/libsystemd.h"

namespace reconcile::providers {

namespace {

using Clock = std::chrono::steady_clock;

constexpr const char* kDestination = "org.freedesktop.systemd1";
constexpr const char* kManagerPath = "/org/freedesktop/systemd1";
constexpr const char* kManager = "org.freedesktop.systemd1.Manager";
constexpr std::uint64_t kCallTimeoutUsec = 60'000'000;     // one method call
constexpr std::uint64_t kReloadTimeoutUsec = 180'000'000;  // daemon-reload on a loaded machine

std::string bus_error_text(const Libsystemd& sd, int r, const sd_bus_error* error) {
  if (error != nullptr && sd.error_is_set(error) && error->message != nullptr) return error->message;
  return std::strerror(r < 0 ? -r : r);
}

// A method call message with a string array as its first argument.
class StringArray {
 public:
  explicit StringArray(const std::vector<std::string>& items) {
    for (const auto& item : items) pointers_.push_back(const_cast<char*>(item.c_str()));
    pointers_.push_back(nullptr);
  }
  char** get() { return pointers_.data(); }

 private:
  std::vector<char*> pointers_;
};

// Calls a manager method whose first argument is the unit names, `more` appending the rest (when given):
// the reply, which the caller unrefs, or the error's text.
std::expected<sd_bus_message*, std::string> call_with_units(const Libsystemd& sd, sd_bus* bus, const char* method,
                                                            const std::vector<std::string>& units,
                                                            const std::function<int(sd_bus_message*)>& more) {
  sd_bus_message* m = nullptr;
  int r = sd.message_new_method_call(bus, &m, kDestination, kManagerPath, kManager, method);
  StringArray names(units);
  if (r >= 0) r = sd.message_append_strv(m, names.get());
  if (r >= 0 && more) r = more(m);
  sd_bus_error error = SD_BUS_ERROR_NULL;
  sd_bus_message* reply = nullptr;
  if (r >= 0) r = sd.call(bus, m, kCallTimeoutUsec, &error, &reply);
  sd.message_unref(m);
  if (r < 0) {
    std::string text = bus_error_text(sd, r, &error);
    sd.error_free(&error);
    return std::unexpected(text);
  }
  return reply;
}

// One pipelined Properties.Get: which property of which unit, and whether its reply came.
struct PropertyCall {
  const Libsystemd* sd = nullptr;
  UnitProperties* target = nullptr;
  std::string_view name;
  bool done = false;
};

int on_unit_property(sd_bus_message* m, void* userdata, sd_bus_error*) {
  auto* call = static_cast<PropertyCall*>(userdata);
  call->done = true;
  UnitProperties& props = *call->target;
  if (call->sd->message_is_method_error(m, nullptr)) {
    props.error = std::string(call->name) + ": " + bus_error_text(*call->sd, EIO, call->sd->message_get_error(m));
    return 0;
  }
  const char* text = nullptr;
  int r = 0;
  if (call->name == "NeedDaemonReload" || call->name == "CanReload") {
    int value = 0;
    r = call->sd->message_read(m, "v", "b", &value);
    (call->name == "CanReload" ? props.can_reload : props.need_reload) = value != 0;
  } else if (call->name == "LoadError") {
    const char* error_name = nullptr;
    r = call->sd->message_read(m, "v", "(ss)", &error_name, &text);
    if (r >= 0 && text != nullptr) props.load_error = text;
  } else {
    r = call->sd->message_read(m, "v", "s", &text);
    if (r >= 0 && text != nullptr) (call->name == "UnitFileState" ? props.unit_file_state : props.source_path) = text;
  }
  if (r < 0) props.error = "cannot read " + std::string(call->name) + ": " + std::strerror(-r);
  return 0;
}

// JobRemoved(u id, o job, s unit, s result) signals, by job path.
struct RemovedJobs {
  const Libsystemd* sd = nullptr;
  std::map<std::string, std::string> results;
};

int on_job_removed(sd_bus_message* m, void* userdata, sd_bus_error*) {
  auto* removed = static_cast<RemovedJobs*>(userdata);
  std::uint32_t id = 0;
  const char* job = nullptr;
  const char* unit = nullptr;
  const char* result = nullptr;
  if (removed->sd->message_read(m, "uoss", &id, &job, &unit, &result) >= 0) removed->results[job] = result;
  return 0;
}

}  // namespace

std::expected<std::unique_ptr<SystemdBus>, std::string> SystemdBus::open(const std::string& address, const Host& host) {
  return open(address, host, Libsystemd::get());
}

std::expected<std::unique_ptr<SystemdBus>, std::string> SystemdBus::open(const std::string& address, const Host& host,
                                                                        const Libsystemd& sd) {
  // Without libsystemd, systemd cannot be reached: the same answer as when its bus does not answer.
  if (!sd.missing.empty()) return std::unexpected("cannot connect to systemd over D-Bus: " + sd.missing);
  std::unique_ptr<SystemdBus> self(new SystemdBus(sd));
  int r = 0;
  std::error_code ec;
  const auto private_socket = host.path("/run/systemd/private");
  if (address.empty() && host.privileged && std::filesystem::exists(private_socket, ec)) {
    // Like systemctl: talk to PID 1 directly, which works without a bus daemon.
    r = sd.bus_new(&self->bus_);
    if (r >= 0) r = sd.set_address(self->bus_, ("unix:path=" + private_socket.string()).c_str());
    if (r >= 0) r = sd.start(self->bus_);
    if (r >= 0) return self;
    self->bus_ = sd.flush_close_unref(self->bus_);
  }
  if (address.empty()) {
    r = sd.open_system(&self->bus_);
  } else {
    r = sd.bus_new(&self->bus_);
    if (r >= 0) r = sd.set_address(self->bus_, address.c_str());
    if (r >= 0) r = sd.set_bus_client(self->bus_, 1);
    if (r >= 0) r = sd.start(self->bus_);
  }
  if (r < 0) return std::unexpected("cannot connect to systemd over D-Bus: " + std::string(std::strerror(-r)));
  self->bus_client_ = true;
  return self;
}

SystemdBus::~SystemdBus() {
  if (bus_ != nullptr) sd_->flush_close_unref(bus_);
}

bool SystemdBus::is_open() const { return sd_->is_open(bus_) > 0; }

std::expected<int, std::string> SystemdBus::unit_files(const char* method, const std::vector<std::string>& units,
                                                       bool force, bool has_force) {
  const auto called = call_with_units(*sd_, bus_, method, units, [&](sd_bus_message* m) {
    return has_force ? sd_->message_append(m, "bb", 0, force ? 1 : 0) : sd_->message_append(m, "b", 0);
  });
  if (!called) return std::unexpected(called.error());
  sd_bus_message* reply = *called;
  if (std::string_view(method) == "EnableUnitFiles") {
    int carries_install_info = 0;
    sd_->message_read(reply, "b", &carries_install_info);
  }
  int changed = 0;
  if (sd_->message_enter_container(reply, 'a', "(sss)") > 0) {
    const char* type = nullptr;
    const char* path = nullptr;
    const char* source = nullptr;
    while (sd_->message_read(reply, "(sss)", &type, &path, &source) > 0) ++changed;
  }
  sd_->message_unref(reply);
  return changed;
}

std::expected<void, std::string> SystemdBus::reload() {
  sd_bus_error error = SD_BUS_ERROR_NULL;
  sd_bus_message* m = nullptr;
  sd_bus_message* reply = nullptr;
  int r = sd_->message_new_method_call(bus_, &m, kDestination, kManagerPath, kManager, "Reload");
  if (r >= 0) r = sd_->call(bus_, m, kReloadTimeoutUsec, &error, &reply);
  sd_->message_unref(m);
  std::string text = r < 0 ? bus_error_text(*sd_, r, &error) : "";
  sd_->error_free(&error);
  sd_->message_unref(reply);
  if (r < 0) return std::unexpected(text);
  return {};
}

std::expected<std::vector<ListedUnit>, std::string> SystemdBus::list_units(const std::vector<std::string>& units) {
  const auto called = call_with_units(*sd_, bus_, "ListUnitsByNames", units, nullptr);
  if (!called) return std::unexpected(called.error());
  sd_bus_message* reply = *called;
  std::vector<ListedUnit> out;
  int r = sd_->message_enter_container(reply, 'a', "(ssssssouso)");
  while (r >= 0) {
    const char *id, *description, *load, *active, *sub, *following, *path, *job_type, *job_path;
    std::uint32_t job_id = 0;
    r = sd_->message_read(reply, "(ssssssouso)", &id, &description, &load, &active, &sub, &following, &path,
                            &job_id, &job_type, &job_path);
    if (r <= 0) break;
    out.push_back(ListedUnit{id, load, active, path});
  }
  sd_->message_unref(reply);
  if (r < 0) return std::unexpected("cannot read the unit list: " + std::string(std::strerror(-r)));
  return out;
}

std::expected<std::vector<UnitProperties>, std::string> SystemdBus::unit_properties(
    const std::vector<std::string>& paths, const std::vector<bool>& with_load_error) {
  std::vector<UnitProperties> out(paths.size());
  std::vector<PropertyCall> calls;
  calls.reserve(paths.size() * 5);
  std::vector<std::size_t> unit_of;
  for (std::size_t i = 0; i < paths.size(); ++i) {
    for (const std::string_view name : {"UnitFileState", "SourcePath", "NeedDaemonReload", "CanReload", "LoadError"}) {
      if (name == "LoadError" && !with_load_error[i]) continue;
      calls.push_back(PropertyCall{sd_, &out[i], name, false});
      unit_of.push_back(i);
    }
  }
  std::vector<sd_bus_slot*> slots;
  std::string failure;
  for (std::size_t k = 0; k < calls.size() && failure.empty(); ++k) {
    sd_bus_slot* slot = nullptr;
    const int r = sd_->call_method_async(bus_, &slot, kDestination, paths[unit_of[k]].c_str(),
                                           "org.freedesktop.DBus.Properties", "Get", on_unit_property, &calls[k],
                                           "ss", "org.freedesktop.systemd1.Unit",
                                           std::string(calls[k].name).c_str());
    if (r < 0) failure = "cannot ask for unit properties: " + std::string(std::strerror(-r));
    else slots.push_back(slot);
  }
  const auto deadline = Clock::now() + std::chrono::microseconds(kCallTimeoutUsec);
  auto all_done = [&] {
    for (std::size_t k = 0; k < slots.size(); ++k) {
      if (!calls[k].done) return false;
    }
    return true;
  };
  while (failure.empty() && !all_done()) failure = process_until(deadline);
  for (auto* slot : slots) sd_->slot_unref(slot);
  if (!failure.empty()) return std::unexpected(failure);
  return out;
}

std::vector<std::string> SystemdBus::run_jobs(const std::vector<std::pair<std::string, bool>>& jobs,
                                              std::chrono::seconds timeout) {
  std::vector<std::pair<std::string, std::string>> methods;
  for (const auto& [unit, start] : jobs) methods.emplace_back(unit, start ? "StartUnit" : "StopUnit");
  return run_unit_jobs(methods, timeout);
}

std::vector<std::string> SystemdBus::run_unit_jobs(const std::vector<std::pair<std::string, std::string>>& jobs,
                                                   std::chrono::seconds timeout) {
  std::vector<std::string> results(jobs.size());
  RemovedJobs removed{sd_, {}};
  sd_bus_slot* match = nullptr;
  int r = sd_->match_signal(bus_, &match, bus_client_ ? kDestination : nullptr, kManagerPath, kManager,
                              "JobRemoved", on_job_removed, &removed);
  std::string failure;
  if (r < 0) failure = std::strerror(-r);
  if (failure.empty() && !subscribed_) {
    // The bus sends JobRemoved to subscribers only; a connection subscribes once.
    sd_bus_error error = SD_BUS_ERROR_NULL;
    r = sd_->call_method(bus_, kDestination, kManagerPath, kManager, "Subscribe", &error, nullptr, "");
    if (r < 0 && !sd_->error_has_name(&error, "org.freedesktop.systemd1.AlreadySubscribed")) {
      failure = bus_error_text(*sd_, r, &error);
    }
    sd_->error_free(&error);
    subscribed_ = failure.empty();
  }
  if (!failure.empty()) {
    for (auto& result : results) result = "cannot watch jobs: " + failure;
    sd_->slot_unref(match);
    return results;
  }
  std::vector<std::string> job_paths(jobs.size());
  for (std::size_t i = 0; i < jobs.size(); ++i) {
    sd_bus_error error = SD_BUS_ERROR_NULL;
    sd_bus_message* reply = nullptr;
    r = sd_->call_method(bus_, kDestination, kManagerPath, kManager, jobs[i].second.c_str(), &error, &reply, "ss",
                           jobs[i].first.c_str(), "replace");
    const char* path = nullptr;
    if (r >= 0) r = sd_->message_read(reply, "o", &path);
    if (r >= 0) job_paths[i] = path;
    else results[i] = bus_error_text(*sd_, r, &error);
    sd_->error_free(&error);
    sd_->message_unref(reply);
  }
  const auto deadline = Clock::now() + timeout;
  auto waiting = [&] {
    for (std::size_t i = 0; i < jobs.size(); ++i) {
      if (!job_paths[i].empty() && !removed.results.contains(job_paths[i])) return true;
    }
    return false;
  };
  while (failure.empty() && waiting()) failure = process_until(deadline);
  for (std::size_t i = 0; i < jobs.size(); ++i) {
    if (job_paths[i].empty()) continue;
    const auto found = removed.results.find(job_paths[i]);
    results[i] = found != removed.results.end() ? found->second : "timeout (no result after " +
                                                              std::to_string(timeout.count()) + " s: " + failure + ")";
  }
  sd_->slot_unref(match);
  return results;
}

std::string SystemdBus::unit_property(const std::string& unit, const char* property) {
  const std::string path = unit_path(unit);
  if (path.empty()) return "";
  sd_bus_message* reply = nullptr;
  std::string out;
  const char* text = nullptr;
  if (sd_->call_method(bus_, kDestination, path.c_str(), "org.freedesktop.DBus.Properties", "Get", nullptr,
                         &reply, "ss", "org.freedesktop.systemd1.Unit", property) >= 0 &&
      sd_->message_read(reply, "v", "s", &text) >= 0 && text != nullptr) {
    out = text;
  }
  sd_->message_unref(reply);
  return out;
}

std::string SystemdBus::unmet_condition(const std::string& unit) {
  const std::string path = unit_path(unit);
  if (path.empty()) return "";
  sd_bus_message* reply = nullptr;
  std::string out;
  if (sd_->call_method(bus_, kDestination, path.c_str(), "org.freedesktop.DBus.Properties", "Get", nullptr,
                         &reply, "ss", "org.freedesktop.systemd1.Unit", "Conditions") >= 0 &&
      sd_->message_enter_container(reply, 'v', "a(sbbsi)") > 0 &&
      sd_->message_enter_container(reply, 'a', "(sbbsi)") > 0) {
    const char* type = nullptr;
    const char* parameter = nullptr;
    int trigger = 0, negate = 0;
    std::int32_t state = 0;
    while (out.empty() && sd_->message_read(reply, "(sbbsi)", &type, &trigger, &negate, &parameter, &state) > 0) {
      if (state < 0) out = std::string(type) + "=" + (negate ? "!" : "") + parameter;
    }
  }
  sd_->message_unref(reply);
  return out;
}

std::string SystemdBus::service_property(const std::string& unit, const char* property, char type) {
  const std::string path_out = unit_path(unit);
  if (path_out.empty()) return "";
  sd_bus_message* reply = nullptr;
  std::string out;
  if (sd_->call_method(bus_, kDestination, path_out.c_str(), "org.freedesktop.DBus.Properties", "Get", nullptr,
                         &reply, "ss", "org.freedesktop.systemd1.Service", property) >= 0) {
    if (type == 's') {
      const char* text = nullptr;
      if (sd_->message_read(reply, "v", "s", &text) >= 0 && text != nullptr) out = text;
    } else {
      std::int32_t value = 0;
      if (sd_->message_read(reply, "v", "i", &value) >= 0) out = std::to_string(value);
    }
  }
  sd_->message_unref(reply);
  return out;
}

std::string SystemdBus::unit_path(const std::string& unit) {
  sd_bus_message* reply = nullptr;
  const char* path = nullptr;
  std::string out;
  if (sd_->call_method(bus_, kDestination, kManagerPath, kManager, "GetUnit", nullptr, &reply, "s",
                         unit.c_str()) >= 0 &&
      sd_->message_read(reply, "o", &path) >= 0) {
    out = path;
  }
  sd_->message_unref(reply);
  return out;
}

std::string SystemdBus::process_until(Clock::time_point deadline) {
  const int r = sd_->process(bus_, nullptr);
  if (r < 0) return "the connection to systemd broke: " + std::string(std::strerror(-r));
  if (r > 0) return "";
  const auto left = std::chrono::duration_cast<std::chrono::microseconds>(deadline - Clock::now());
  if (left.count() <= 0) return "timed out waiting for systemd";
  const int w = sd_->wait(bus_, static_cast<std::uint64_t>(left.count()));
  if (w < 0) return "the connection to systemd broke: " + std::string(std::strerror(-w));
  return "";
}

}  // namespace reconcile::providers
