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

namespace {

// Every unit observed on an open connection, in two pipelined round trips.
std::vector<Observation> observe_units(const Host& host, SystemdBus& connection,
                                       std::span<const ServiceResource* const> resources) {
  SystemdBus* bus = &connection;
  auto all_unknown = [&](const std::string& reason) {
    std::vector<Observation> out;
    for (std::size_t i = 0; i < resources.size(); ++i) out.push_back(Observation::unknown(reason));
    return out;
  };

  std::vector<std::string> units;
  for (const ServiceResource* resource : resources) units.push_back(resource->unit());
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
  const auto asked = bus->unit_properties(paths, with_load_error);
  if (!asked) return all_unknown("not observable: " + asked.error());
  const std::vector<UnitProperties>& properties = *asked;

  std::vector<std::string> unit_files;  // asked for once, when a unit is missing
  std::vector<Observation> out;
  for (std::size_t i = 0; i < resources.size(); ++i) {
    const auto& service = *resources[i];
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
    seen->can_reload = properties[i].can_reload;
    if (seen->load == UnitLoad::kBadSetting || seen->load == UnitLoad::kError) {
      seen->load_error = properties[i].load_error;
    }
    if (properties[i].source_path.starts_with("/etc/init.d/")) {
      seen->sysv_script = properties[i].source_path;
      seen->sysv_enabled = sysv_start_linked(host, sysv_name(*seen));
    }
    // " (did you mean 'chrony'?)" from the unit files of the same suffix, or "".
    auto nearest = [&] {
      if (unit_files.empty()) unit_files = unit_file_names(host);
      std::vector<std::string> candidates;
      const std::string suffix = service.unit().substr(service.unit().rfind('.'));
      for (const auto& file : unit_files) {
        if (!file.ends_with(suffix) || file.find("@.") != std::string::npos) continue;
        candidates.push_back(suffix == ".service" ? file.substr(0, file.size() - suffix.size()) : file);
      }
      const std::string hint = resources::did_you_mean(service.name(), candidates);
      return hint.empty() ? hint : " (" + hint + ")";
    };
    const std::string base = service.unit().substr(0, service.unit().rfind('.'));
    std::error_code ec;
    Observation observation;
    if (seen->load == UnitLoad::kNotFound && seen->file == UnitFile::kNone) {
      if (service.enablement() == Enablement::kEnabled) {
        observation.blocked_reason = "unit " + item.id + " does not exist" + nearest();
      } else if (service.enablement() == Enablement::kDisabled) {
        observation.note = "unit " + item.id + " does not exist, so nothing can start it";
        if (sysv_start_linked(host, service.unit().substr(0, service.unit().rfind('.')))) {
          observation.note += " (an init script left behind in /etc/init.d is still linked in /etc/rc?.d)";
        }
      }
    } else if (service.enablement() == Enablement::kEnabled && seen->load == UnitLoad::kMasked &&
               seen->sysv_script.empty() && !native_unit_exists(host, service.unit()) &&
               !std::filesystem::exists(host.path("/etc/init.d/" + base), ec)) {
      // Masked but with no unit file behind the mask: unmasking leaves nothing to enable.
      observation.blocked_reason = "unit " + item.id + " is masked and does not exist, so unmasking leaves nothing to "
                                   "enable" + nearest();
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

}  // namespace

SystemdProvider::Connection::~Connection() = default;

std::expected<SystemdBus*, std::string> SystemdProvider::connect(Session& session, Connection& connection) const {
  if (connection.bus == nullptr || !connection.bus->is_open()) {
    auto opened = SystemdBus::open(bus_address_, session.host());
    if (!opened) return std::unexpected(opened.error());
    connection.bus = std::move(*opened);
  }
  return connection.bus.get();
}

std::vector<Observation> SystemdProvider::observe(Session& session,
                                                  std::span<const ServiceResource* const> resources) const {
  auto& connection = session.state<Connection>(this);
  const std::lock_guard lock(connection.mutex);
  const auto bus = connect(session, connection);
  if (!bus) {
    std::vector<Observation> out;
    for (std::size_t i = 0; i < resources.size(); ++i) out.push_back(Observation::unknown(bus.error()));
    return out;
  }
  return observe_units(session.host(), **bus, resources);
}

namespace {

constexpr int kRestartJob = 2;  // a notification: restart (or reload) a running unit after what notified it changed
constexpr int kReloadJob = 3;

const char* job_method(int job) {
  switch (job) {
    case 1: return "StartUnit";
    case kRestartJob: return "RestartUnit";
    case kReloadJob: return "ReloadUnit";
    default: return "StopUnit";
  }
}

const char* job_verb(int job) {
  switch (job) {
    case 1: return "start";
    case kRestartJob: return "restart";
    case kReloadJob: return "reload";
    default: return "stop";
  }
}

// What one change needs, worked out from its drift.
struct UnitWork {
  std::string unit;
  std::string sysv;        // init script name, when systemd-sysv-install must follow
  bool sysv_only = false;  // no native unit file: only systemd-sysv-install can enable it
  bool unmask = false, disable = false, enable = false, mask = false;
  int job = 0;             // +1 start, -1 stop, kRestartJob, kReloadJob
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

// One apply batch, phase by phase: reload changed unit files, work out each unit's actions, change unit files
// (one call per action), follow init scripts, reload, then start and stop jobs awaited together.
class ApplyBatch {
 public:
  ApplyBatch(const Host& host, SystemdBus& bus, std::span<const SystemdProvider::Change> changes,
             std::chrono::seconds job_timeout)
      : host_(host), bus_(bus), changes_(changes), job_timeout_(job_timeout), work_(changes.size()) {}

  std::vector<ChangeOutcome> run() {
    reload_changed_unit_files();
    for (std::size_t i = 0; i < changes_.size(); ++i) work_out(i);
    bool files_changed = change_unit_files();
    files_changed = follow_init_scripts() || files_changed;
    if (files_changed) {
      reload("unit files changed", members_where([](const UnitWork& w) { return w.unmask || w.mask || w.enable || w.disable; }));
    }
    run_jobs();
    std::vector<ChangeOutcome> out;
    for (auto& w : work_) out.push_back(std::move(w.outcome));
    return out;
  }

 private:
  // Unit files changed on disk (a package upgrade): systemd reads them again first, and the work is worked out
  // from what it says then.
  void reload_changed_unit_files() {
    bool need_reload = false;
    for (const auto& change : changes_) need_reload = need_reload || change.observed->need_reload;
    if (!need_reload) return;
    std::vector<std::size_t> all(changes_.size());
    for (std::size_t i = 0; i < all.size(); ++i) all[i] = i;
    if (!reload("unit files changed on disk", all)) return;
    std::vector<const ServiceResource*> batch;
    for (const auto& change : changes_) batch.push_back(change.resource);
    fresh_ = observe_units(host_, bus_, batch);
    fresh_drift_.resize(changes_.size());
  }

  // The actions of change i, from its drift (or the drift observed again after a reload).
  void work_out(std::size_t i) {
    const ServiceResource& service = *changes_[i].resource;
    const ServiceObserved* seen = changes_[i].observed;
    const resources::Drift* drift = changes_[i].drift;
    auto& w = work_[i];
    if (i < fresh_.size()) {
      const std::string why = fresh_[i].state == nullptr ? fresh_[i].unknown_reason : fresh_[i].blocked_reason;
      if (!why.empty()) {
        add_step(w, Step{"observe " + service.unit() + " again", 0, 1, why}, why);
        return;
      }
      fresh_drift_[i] = service.diff(*fresh_[i].state);
      seen = dynamic_cast<const ServiceObserved*>(fresh_[i].state.get());
      drift = &fresh_drift_[i];
      if (seen == nullptr) return;
    }
    w.unit = seen->unit.empty() ? service.unit() : seen->unit;
    if (resources::drifted(*drift, resources::ServiceField::kActive)) w.job = service.running() ? 1 : -1;
    // A notification asks for a restart or reload only; a start of the unit in this run already covers it.
    if (w.job == 0 && resources::drifted(*changes_[i].drift, resources::ServiceField::kRestart)) w.job = kRestartJob;
    if (w.job == 0 && resources::drifted(*changes_[i].drift, resources::ServiceField::kReload)) w.job = kReloadJob;
    if (!resources::drifted(*drift, resources::ServiceField::kEnablement)) return;
    const auto now = seen->enablement();
    const bool masked = now == Enablement::kMasked || seen->file == UnitFile::kMaskedRuntime;
    w.unmask = masked && service.enablement() != Enablement::kMasked;
    w.mask = service.enablement() == Enablement::kMasked;
    w.enable = service.enablement() == Enablement::kEnabled;
    w.disable = service.enablement() == Enablement::kDisabled;
    // Like systemctl: an init script of the same name is enabled and disabled along with the unit.
    const std::string base = w.unit.ends_with(".service") ? w.unit.substr(0, w.unit.size() - 8) : "";
    std::error_code ec;
    if (!seen->sysv_script.empty()) {
      w.sysv = sysv_name(*seen);
    } else if (!base.empty() && std::filesystem::exists(host_.path("/etc/init.d/" + base), ec)) {
      w.sysv = base;
    }
    w.sysv_only = !w.sysv.empty() && !native_unit_exists(host_, w.unit);
  }

  template <class Wanted>
  std::vector<std::size_t> members_where(Wanted wanted) const {
    std::vector<std::size_t> out;
    for (std::size_t i = 0; i < work_.size(); ++i) {
      if (!failed(work_[i]) && wanted(work_[i])) out.push_back(i);
    }
    return out;
  }

  bool reload(const std::string& why, const std::vector<std::size_t>& members) {
    const auto started = Clock::now();
    const auto reloaded = bus_.reload();
    const std::string failure = reloaded ? "" : reloaded.error();
    const Step step{"systemd daemon-reload (" + why + ")", since(started), reloaded ? 0 : 1, failure};
    for (const std::size_t i : members) add_step(work_[i], step, reloaded ? "" : "daemon-reload: " + failure);
    return reloaded.has_value();
  }

  // One manager call for the members' units; when it fails, one call per unit so each failure lands on its unit.
  template <class Call>
  bool manager_step(const std::string& what, const std::vector<std::size_t>& members, Call call) {
    if (members.empty()) return false;
    std::vector<std::string> units;
    for (const std::size_t i : members) units.push_back(work_[i].unit);
    const auto started = Clock::now();
    const std::expected<int, std::string> result = call(units);
    Step step{"systemd " + what + " " + join(units), since(started), result ? 0 : 1, result ? "" : result.error()};
    if (result || members.size() == 1) {
      for (const std::size_t i : members) {
        add_step(work_[i], step, result ? "" : what + " " + work_[i].unit + ": " + result.error());
      }
      return result.has_value();
    }
    bool any = false;
    for (const std::size_t i : members) {
      const auto again = Clock::now();
      const auto one = call(std::vector<std::string>{work_[i].unit});
      Step single{"systemd " + what + " " + work_[i].unit, since(again), one ? 0 : 1, one ? "" : one.error()};
      add_step(work_[i], single, one ? "" : what + " " + work_[i].unit + ": " + one.error());
      any = any || one.has_value();
    }
    return any;
  }

  bool change_unit_files() {
    auto files = [&](const char* method, bool force) {
      return [this, method, force](const std::vector<std::string>& units) {
        return bus_.unit_files(method, units, false, force);
      };
    };
    bool changed = false;
    changed |= manager_step("unmask", members_where([](const UnitWork& w) { return w.unmask; }),
                            files("UnmaskUnitFiles", false));
    changed |= manager_step("disable", members_where([](const UnitWork& w) { return w.disable && !w.sysv_only; }),
                            files("DisableUnitFiles", false));
    changed |= manager_step("enable", members_where([](const UnitWork& w) { return w.enable && !w.sysv_only; }),
                            files("EnableUnitFiles", true));
    changed |= manager_step("mask", members_where([](const UnitWork& w) { return w.mask; }),
                            files("MaskUnitFiles", true));
    return changed;
  }

  // Init scripts: systemd-sysv-install (update-rc.d) knows no batches.
  bool follow_init_scripts() {
    bool changed = false;
    for (auto& w : work_) {
      if (failed(w) || w.sysv.empty() || !(w.enable || w.disable)) continue;
      ExecRequest request;
      request.argv = {std::string(kSysvInstall), w.enable ? "enable" : "disable", "--", w.sysv};
      request.timeout = std::chrono::seconds(60);
      const ExecResult result = host_.exec->run(request);
      add_step(w, step_of(request.argv, result),
               result.ok() ? "" : "systemd-sysv-install " + std::string(w.enable ? "enable " : "disable ") + w.sysv +
                                      ": " + result.status_text());
      changed = changed || result.ok();
    }
    return changed;
  }

  // Start, stop, restart and reload jobs, awaited together; a simple service that exits at once counts as failed.
  void run_jobs() {
    const std::vector<std::size_t> members = members_where([](const UnitWork& w) { return w.job != 0; });
    std::vector<std::pair<std::string, std::string>> jobs;
    for (const std::size_t i : members) jobs.emplace_back(work_[i].unit, job_method(work_[i].job));
    if (jobs.empty()) return;
    const auto started = Clock::now();
    const auto results = bus_.run_unit_jobs(jobs, job_timeout_);
    // A simple service counts as started once it is forked: give one that exits at once a moment to show it.
    std::vector<bool> exited(jobs.size(), false);
    std::vector<std::size_t> watch;
    for (std::size_t k = 0; k < jobs.size(); ++k) {
      if (work_[members[k]].job < 0 || results[k] != "done") continue;
      const std::string type = bus_.service_property(jobs[k].first, "Type", 's');
      if (type == "simple" || type == "exec" || type == "idle") watch.push_back(k);
    }
    for (int round = 0; round < 6 && !watch.empty(); ++round) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      for (const std::size_t k : watch) {
        const std::string state = bus_.unit_property(jobs[k].first, "ActiveState");
        exited[k] = exited[k] || state == "failed" || state == "inactive";
      }
    }
    const double seconds = since(started);
    for (std::size_t k = 0; k < members.size(); ++k) {
      auto& w = work_[members[k]];
      const std::string verb = job_verb(w.job);
      const Step step{"systemd " + verb + " " + w.unit + " → " + results[k], seconds, results[k] == "done" ? 0 : 1,
                      ""};
      if (results[k] == "done" && !exited[k]) {
        const std::string condition = w.job == 1 ? bus_.unmet_condition(w.unit) : "";
        add_step(w, step,
                 condition.empty() ? "" : "start of " + w.unit + " was skipped: " + condition + " is not met here");
        continue;
      }
      job_failed(w, step, verb, results[k], exited[k]);
    }
  }

  // Why a job failed, with the service's result and the last lines of its journal.
  void job_failed(UnitWork& w, const Step& step, const std::string& verb, const std::string& result,
                  bool exited) {
    std::string message = exited ? w.unit + " stopped right after it started"
                                 : verb + " of " + w.unit + " ended with job result '" + result + "'";
    if (result == "dependency") message += " (a unit it requires failed)";
    const std::string service_result = bus_.service_property(w.unit, "Result", 's');
    if (!service_result.empty() && service_result != "success") {
      message += "; the service's result is " + service_result;
      const std::string status = bus_.service_property(w.unit, "ExecMainStatus", 'i');
      if (service_result == "exit-code" && !status.empty()) message += " (exit status " + status + ")";
    }
    ExecRequest journal;
    journal.argv = {"journalctl", "--no-pager", "--quiet", "--lines=10", "--output=short", "--unit=" + w.unit};
    journal.timeout = std::chrono::seconds(10);
    const ExecResult log = host_.exec->run(journal);
    Step failed_step = step;
    failed_step.exit_status = 1;
    failed_step.error_tail = log.ok() ? log.out : log.tail();
    std::string& tail = failed_step.error_tail;
    while (!tail.empty() && tail.back() == '\n') tail.pop_back();
    add_step(w, failed_step, message);
  }

  const Host& host_;
  SystemdBus& bus_;
  std::span<const SystemdProvider::Change> changes_;
  std::chrono::seconds job_timeout_;
  std::vector<UnitWork> work_;
  std::vector<Observation> fresh_;
  std::vector<resources::Drift> fresh_drift_;
};

}  // namespace

std::vector<ChangeOutcome> SystemdProvider::apply(Session& session, std::span<const Change> changes) const {
  auto& connection = session.state<Connection>(this);
  const std::lock_guard lock(connection.mutex);
  const auto bus = connect(session, connection);
  if (!bus) {
    std::vector<ChangeOutcome> out;
    for (std::size_t i = 0; i < changes.size(); ++i) out.push_back(ChangeOutcome::failed(bus.error()));
    return out;
  }
  return ApplyBatch(session.host(), **bus, changes, job_timeout_).run();
}

}  // namespace reconcile::providers
