#include "providers/systemd.h"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <map>
#include <set>
#include <thread>

#include "providers/fs.h"
#include "providers/systemd_bus.h"
#include "resources/service.h"

namespace reconcile::providers {

using resources::Enablement;
using resources::ServiceObserved;
using resources::ServiceResource;
using resources::UnitActive;
using resources::UnitFile;
using resources::UnitLoad;

namespace {

using Clock = std::chrono::steady_clock;

constexpr std::string_view kSysvInstall = "/lib/systemd/systemd-sysv-install";

double since(Clock::time_point started) { return std::chrono::duration<double>(Clock::now() - started).count(); }

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& item : items) out += (out.empty() ? "" : " ") + item;
  return out;
}

// The init script's name when a unit is generated from /etc/init.d/NAME.
std::string sysv_name(const ServiceObserved& seen) {
  if (seen.sysv_script.empty()) return "";
  return std::filesystem::path(seen.sysv_script).filename().string();
}

// What systemd-sysv-install is-enabled checks: a start link in /etc/rcS.d or /etc/rc5.d.
bool sysv_start_linked(const Host& host, const std::string& name) {
  for (const char* dir : {"/etc/rcS.d", "/etc/rc5.d"}) {
    std::error_code ec;
    for (auto it = std::filesystem::directory_iterator(host.path(dir), ec);
         !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
      const std::string file = it->path().filename().string();
      if (file.size() == name.size() + 3 && file[0] == 'S' && file.compare(3, std::string::npos, name) == 0) {
        return true;
      }
    }
  }
  return false;
}

// A unit file of that name in systemd's unit directories, not masked (what systemctl calls native).
bool native_unit_exists(const Host& host, const std::string& unit) {
  for (const char* dir : {"/etc/systemd/system", "/run/systemd/system", "/lib/systemd/system",
                          "/usr/lib/systemd/system", "/usr/local/lib/systemd/system"}) {
    std::error_code ec;
    const auto path = host.path(std::string(dir) + "/" + unit);
    if (!std::filesystem::exists(std::filesystem::symlink_status(path, ec))) continue;
    const auto target = std::filesystem::read_symlink(path, ec);
    if (!ec && target == "/dev/null") continue;
    return true;
  }
  return false;
}

// Every unit file's name in systemd's unit directories, for "did you mean". Read in-process: asking
// systemd (ListUnitFiles) costs 0.7 s, as it works out the state of every file.
std::vector<std::string> unit_file_names(const Host& host) {
  std::vector<std::string> names;
  for (const char* dir : {"/etc/systemd/system", "/run/systemd/system", "/run/systemd/generator",
                          "/run/systemd/generator.late", "/lib/systemd/system", "/usr/lib/systemd/system",
                          "/usr/local/lib/systemd/system"}) {
    std::error_code ec;
    for (auto it = std::filesystem::directory_iterator(host.path(dir), ec);
         !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
      if (!it->is_directory(ec)) names.push_back(it->path().filename().string());
    }
  }
  return names;
}

}  // namespace


SystemdProvider::SystemdProvider(std::string bus_address, std::chrono::seconds job_timeout)
    : bus_address_(std::move(bus_address)), job_timeout_(job_timeout) {}

SystemdProvider::~SystemdProvider() = default;

std::string SystemdProvider::unusable_reason(const Host& host) const {
  std::error_code ec;
  if (std::filesystem::is_directory(host.path("/run/systemd/system"), ec)) return "";
  std::string init = "unknown";
  if (auto comm = read_file(host.path("/proc/1/comm"), 256)) init = comm->substr(0, comm->find('\n'));
  return "systemd is not running on this host (PID 1 is " + init +
         ", /run/systemd/system is missing), so services cannot be managed here";
}

SystemdBus* SystemdProvider::bus(const Host& host, std::string* error) {
  if (bus_ == nullptr || !bus_->is_open()) bus_ = SystemdBus::open(bus_address_, host, error);
  return bus_.get();
}

std::vector<Observation> SystemdProvider::observe(const Host& host, std::span<const Resource* const> resources) {
  std::lock_guard lock(mutex_);
  std::string error;
  SystemdBus* bus = this->bus(host, &error);
  if (bus == nullptr) {
    std::vector<Observation> out;
    for (std::size_t i = 0; i < resources.size(); ++i) out.push_back(Observation::unknown(error));
    return out;
  }
  return observe_units(host, *bus, resources);
}

std::vector<Observation> SystemdProvider::observe_units(const Host& host, SystemdBus& connection,
                                                        std::span<const Resource* const> resources) {
  SystemdBus* bus = &connection;
  std::string error;
  auto all_unknown = [&](const std::string& reason) {
    std::vector<Observation> out;
    for (std::size_t i = 0; i < resources.size(); ++i) out.push_back(Observation::unknown(reason));
    return out;
  };

  std::vector<std::string> units;
  for (const Resource* resource : resources) units.push_back(dynamic_cast<const ServiceResource&>(*resource).unit());
  auto listed = bus->list_units(units);
  if (!listed) return all_unknown("not observable: systemd: " + listed.error());
  if (listed->size() != units.size()) return all_unknown("not observable: systemd listed fewer units than asked for");
  std::vector<std::string> paths;
  std::vector<bool> with_load_error;
  for (const auto& item : *listed) {
    paths.push_back(item.path);
    const UnitLoad load = resources::parse_unit_load(item.load);
    with_load_error.push_back(load == UnitLoad::kBadSetting || load == UnitLoad::kError);
  }
  std::vector<UnitProperties> properties;
  error = bus->unit_properties(paths, with_load_error, properties);
  if (!error.empty()) return all_unknown("not observable: " + error);

  std::vector<std::string> unit_files;  // asked for once, when a unit is missing
  std::vector<Observation> out;
  for (std::size_t i = 0; i < resources.size(); ++i) {
    const auto& service = dynamic_cast<const ServiceResource&>(*resources[i]);
    const auto& item = (*listed)[i];
    if (!properties[i].error.empty()) {
      out.push_back(Observation::unknown("not observable: " + item.id + ": " + properties[i].error));
      continue;
    }
    auto seen = std::make_unique<ServiceObserved>();
    seen->unit = item.id;
    seen->load = resources::parse_unit_load(item.load);
    seen->active = resources::parse_unit_active(item.active);
    seen->file = resources::parse_unit_file(properties[i].unit_file_state);
    seen->need_reload = properties[i].need_reload;
    if (seen->load == UnitLoad::kBadSetting || seen->load == UnitLoad::kError) {
      seen->load_error = properties[i].load_error;
    }
    if (properties[i].source_path.starts_with("/etc/init.d/")) {
      seen->sysv_script = properties[i].source_path;
      seen->sysv_enabled = sysv_start_linked(host, sysv_name(*seen));
    }
    Observation observation;
    if (seen->load == UnitLoad::kNotFound && seen->file == UnitFile::kNone) {
      if (service.enablement() == Enablement::kEnabled) {
        if (unit_files.empty()) unit_files = unit_file_names(host);
        std::vector<std::string> candidates;
        const std::string suffix = service.unit().substr(service.unit().rfind('.'));
        for (const auto& file : unit_files) {
          if (!file.ends_with(suffix) || file.find("@.") != std::string::npos) continue;
          candidates.push_back(suffix == ".service" ? file.substr(0, file.size() - suffix.size()) : file);
        }
        const std::string hint = resources::did_you_mean(service.name(), candidates);
        observation.blocked_reason = "unit " + item.id + " does not exist" + (hint.empty() ? "" : " (" + hint + ")");
      } else if (service.enablement() == Enablement::kDisabled) {
        observation.note = "unit " + item.id + " does not exist, so nothing can start it";
        if (sysv_start_linked(host, service.unit().substr(0, service.unit().rfind('.')))) {
          observation.note += " (an init script left behind in /etc/init.d is still linked in /etc/rc?.d)";
        }
      }
    } else if (seen->load == UnitLoad::kBadSetting || seen->load == UnitLoad::kError) {
      if (service.running()) {
        observation.blocked_reason = "unit " + item.id + " cannot be loaded: " +
                                     (seen->load_error.empty() ? std::string(to_string(seen->load)) : seen->load_error);
      }
    }
    if (observation.note.empty()) observation.note = resources::fixed_enablement_note(*seen);
    observation.state = std::move(seen);
    out.push_back(std::move(observation));
  }
  return out;
}

namespace {

// What one change needs, worked out from its drift.
struct UnitWork {
  std::string unit;
  std::string sysv;        // init script name, when systemd-sysv-install must follow
  bool sysv_only = false;  // no native unit file: only systemd-sysv-install can enable it
  bool unmask = false, disable = false, enable = false, mask = false;
  int job = 0;             // +1 start, -1 stop
  ChangeOutcome outcome;
};

void add_step(UnitWork& work, const Step& step, const std::string& error) {
  work.outcome.steps.push_back(step);
  if (!error.empty() && work.outcome.result != ChangeOutcome::Result::kFailed) {
    work.outcome.result = ChangeOutcome::Result::kFailed;
    work.outcome.message = error;
  }
}

bool failed(const UnitWork& work) { return work.outcome.result == ChangeOutcome::Result::kFailed; }

}  // namespace

std::vector<ChangeOutcome> SystemdProvider::apply(const Host& host, std::span<const Change> changes) {
  std::lock_guard lock(mutex_);
  std::vector<UnitWork> work(changes.size());
  std::string error;
  SystemdBus* bus = this->bus(host, &error);
  if (bus == nullptr) {
    std::vector<ChangeOutcome> out;
    for (std::size_t i = 0; i < changes.size(); ++i) out.push_back(ChangeOutcome::failed(error));
    return out;
  }

  // Unit files changed on disk (a package upgrade): systemd reads them again first, and the work is
  // worked out from what it says then.
  bool need_reload = false;
  for (const Change& change : changes) {
    need_reload = need_reload || dynamic_cast<const ServiceObserved&>(*change.observed).need_reload;
  }
  std::vector<Observation> fresh;
  std::vector<resources::Drift> fresh_drift(changes.size());
  if (need_reload) {
    const auto started = Clock::now();
    const std::string failure = bus->reload();
    const Step step{"systemd daemon-reload (unit files changed on disk)", since(started), failure.empty() ? 0 : 1,
                    failure};
    for (auto& w : work) add_step(w, step, failure.empty() ? "" : "daemon-reload: " + failure);
    std::vector<const Resource*> batch;
    for (const Change& change : changes) batch.push_back(change.resource);
    if (failure.empty()) fresh = observe_units(host, *bus, batch);
  }

  for (std::size_t i = 0; i < changes.size(); ++i) {
    const auto& service = dynamic_cast<const ServiceResource&>(*changes[i].resource);
    const auto* observed = changes[i].observed;
    const auto* drift = changes[i].drift;
    auto& w = work[i];
    if (i < fresh.size()) {
      const std::string why = fresh[i].state == nullptr ? fresh[i].unknown_reason : fresh[i].blocked_reason;
      if (!why.empty()) {
        add_step(w, Step{"observe " + service.unit() + " again", 0, 1, why}, why);
        continue;
      }
      fresh_drift[i] = service.diff(*fresh[i].state);
      observed = fresh[i].state.get();
      drift = &fresh_drift[i];
    }
    const auto& seen = dynamic_cast<const ServiceObserved&>(*observed);
    w.unit = seen.unit.empty() ? service.unit() : seen.unit;
    bool enablement_drift = false;
    for (const auto& field : *drift) {
      if (field.field == "enablement") enablement_drift = true;
      if (field.field == "active") w.job = service.running() ? 1 : -1;
    }
    if (!enablement_drift) continue;
    const auto now = seen.enablement();
    const bool masked = now == Enablement::kMasked || seen.file == UnitFile::kMaskedRuntime;
    w.unmask = masked && service.enablement() != Enablement::kMasked;
    w.mask = service.enablement() == Enablement::kMasked;
    w.enable = service.enablement() == Enablement::kEnabled;
    w.disable = service.enablement() == Enablement::kDisabled;
    // Like systemctl: an init script of the same name is enabled and disabled along with the unit.
    const std::string base = w.unit.ends_with(".service") ? w.unit.substr(0, w.unit.size() - 8) : "";
    std::error_code ec;
    if (!seen.sysv_script.empty()) {
      w.sysv = sysv_name(seen);
    } else if (!base.empty() && std::filesystem::exists(host.path("/etc/init.d/" + base), ec)) {
      w.sysv = base;
    }
    w.sysv_only = !w.sysv.empty() && !native_unit_exists(host, w.unit);
  }

  auto manager_step = [&](const std::string& what, std::vector<std::size_t> members, auto call) {
    if (members.empty()) return false;
    std::vector<std::string> units;
    for (const std::size_t i : members) units.push_back(work[i].unit);
    const auto started = Clock::now();
    const std::expected<int, std::string> result = call(units);
    Step step{"systemd " + what + " " + join(units), since(started), result ? 0 : 1, result ? "" : result.error()};
    if (result || members.size() == 1) {
      for (const std::size_t i : members) {
        add_step(work[i], step, result ? "" : what + " " + work[i].unit + ": " + result.error());
      }
      return result.has_value();
    }
    // One bad unit fails the whole call: ask again one by one so each failure lands on its unit.
    bool any = false;
    for (const std::size_t i : members) {
      const auto again = Clock::now();
      const auto one = call(std::vector<std::string>{work[i].unit});
      Step single{"systemd " + what + " " + work[i].unit, since(again), one ? 0 : 1, one ? "" : one.error()};
      add_step(work[i], single, one ? "" : what + " " + work[i].unit + ": " + one.error());
      any = any || one.has_value();
    }
    return any;
  };
  auto members_where = [&](auto wanted) {
    std::vector<std::size_t> out;
    for (std::size_t i = 0; i < work.size(); ++i) {
      if (!failed(work[i]) && wanted(work[i])) out.push_back(i);
    }
    return out;
  };
  auto reload_step = [&](const std::string& why, const std::vector<std::size_t>& members) {
    const auto started = Clock::now();
    const std::string failure = bus->reload();
    const Step step{"systemd daemon-reload (" + why + ")", since(started), failure.empty() ? 0 : 1, failure};
    for (const std::size_t i : members) add_step(work[i], step, failure.empty() ? "" : "daemon-reload: " + failure);
  };

  bool files_changed = false;
  files_changed |= manager_step("unmask", members_where([](const UnitWork& w) { return w.unmask; }),
                                [&](const std::vector<std::string>& units) {
                                  return bus->unit_files("UnmaskUnitFiles", units, false, false);
                                });
  files_changed |= manager_step("disable", members_where([](const UnitWork& w) { return w.disable && !w.sysv_only; }),
                                [&](const std::vector<std::string>& units) {
                                  return bus->unit_files("DisableUnitFiles", units, false, false);
                                });
  files_changed |= manager_step("enable", members_where([](const UnitWork& w) { return w.enable && !w.sysv_only; }),
                                [&](const std::vector<std::string>& units) {
                                  return bus->unit_files("EnableUnitFiles", units, false, true);
                                });
  files_changed |= manager_step("mask", members_where([](const UnitWork& w) { return w.mask; }),
                                [&](const std::vector<std::string>& units) {
                                  return bus->unit_files("MaskUnitFiles", units, false, true);
                                });
  // Init scripts: systemd-sysv-install (update-rc.d) knows no batches.
  for (auto& w : work) {
    if (failed(w) || w.sysv.empty() || !(w.enable || w.disable)) continue;
    ExecRequest request;
    request.argv = {std::string(kSysvInstall), w.enable ? "enable" : "disable", "--", w.sysv};
    request.timeout = std::chrono::seconds(60);
    const ExecResult result = host.exec->run(request);
    add_step(w, step_of(request.argv, result),
             result.ok() ? "" : "systemd-sysv-install " + std::string(w.enable ? "enable " : "disable ") + w.sysv +
                                    ": " + result.status_text());
    files_changed = files_changed || result.ok();
  }
  if (files_changed) reload_step("unit files changed", members_where([](const UnitWork& w) {
                                   return w.unmask || w.mask || w.enable || w.disable;
                                 }));

  std::vector<std::size_t> job_members = members_where([](const UnitWork& w) { return w.job != 0; });
  std::vector<std::pair<std::string, bool>> jobs;
  for (const std::size_t i : job_members) jobs.emplace_back(work[i].unit, work[i].job > 0);
  if (!jobs.empty()) {
    const auto started = Clock::now();
    const auto results = bus->run_jobs(jobs, job_timeout_);
    // A simple service counts as started once it is forked: give one that exits at once a moment to show it.
    std::vector<bool> exited(jobs.size(), false);
    std::vector<std::size_t> watch;
    for (std::size_t k = 0; k < jobs.size(); ++k) {
      if (!jobs[k].second || results[k] != "done") continue;
      const std::string type = bus->service_property(jobs[k].first, "Type", 's');
      if (type == "simple" || type == "exec" || type == "idle") watch.push_back(k);
    }
    for (int round = 0; round < 6 && !watch.empty(); ++round) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      for (const std::size_t k : watch) {
        const std::string state = bus->unit_property(jobs[k].first, "ActiveState");
        exited[k] = exited[k] || state == "failed" || state == "inactive";
      }
    }
    const double seconds = since(started);
    for (std::size_t k = 0; k < job_members.size(); ++k) {
      auto& w = work[job_members[k]];
      const std::string verb = jobs[k].second ? "start" : "stop";
      const Step step{"systemd " + verb + " " + w.unit + " → " + results[k], seconds, results[k] == "done" ? 0 : 1,
                      ""};
      if (results[k] == "done" && !exited[k]) {
        const std::string condition = jobs[k].second ? bus->unmet_condition(w.unit) : "";
        add_step(w, step,
                 condition.empty() ? "" : "start of " + w.unit + " was skipped: " + condition + " is not met here");
        continue;
      }
      std::string message = exited[k] ? w.unit + " stopped right after it started"
                                       : verb + " of " + w.unit + " ended with job result '" + results[k] + "'";
      if (results[k] == "dependency") message += " (a unit it requires failed)";
      const std::string result = bus->service_property(w.unit, "Result", 's');
      if (!result.empty() && result != "success") {
        message += "; the service's result is " + result;
        const std::string status = bus->service_property(w.unit, "ExecMainStatus", 'i');
        if (result == "exit-code" && !status.empty()) message += " (exit status " + status + ")";
      }
      ExecRequest journal;
      journal.argv = {"journalctl", "--no-pager", "--quiet", "--lines=10", "--output=short", "--unit=" + w.unit};
      journal.timeout = std::chrono::seconds(10);
      const ExecResult log = host.exec->run(journal);
      Step failed_step = step;
      failed_step.exit_status = 1;
      failed_step.error_tail = log.ok() ? log.out : log.tail();
      std::string& tail = failed_step.error_tail;
      while (!tail.empty() && tail.back() == '\n') tail.pop_back();
      add_step(w, failed_step, message);
    }
  }

  std::vector<ChangeOutcome> out;
  for (auto& w : work) out.push_back(std::move(w.outcome));
  return out;
}

}  // namespace reconcile::providers
