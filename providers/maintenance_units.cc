// The routines that manage systemd units: the clock's time daemon and fstrim.timer.

#include <sys/timex.h>

#include <algorithm>
#include <thread>

#include "providers/fs.h"
#include "providers/maintenance.h"
#include "providers/managed_file.h"
#include "providers/systemd_bus.h"

namespace reconcile::providers {

namespace {

using resources::ClockField;
using resources::ClockObserved;
using resources::FstrimField;
using resources::FstrimObserved;

constexpr std::string_view kUnitDirs[] = {"/etc/systemd/system", "/usr/lib/systemd/system", "/lib/systemd/system"};

// A unit as the routines need it.
struct UnitView {
  bool exists = false;
  bool enabled = false;
  bool active = false;
  std::string error;
};

bool unit_file_installed(const Host& host, std::string_view unit) {
  std::error_code ec;
  for (const auto dir : kUnitDirs) {
    if (std::filesystem::exists(host.path(std::string(dir) + "/" + std::string(unit)), ec)) return true;
  }
  return false;
}

std::expected<SystemdBus*, std::string> connect(Session& session, RoutineBus& holder) {
  if (holder.bus == nullptr || !holder.bus->is_open()) {
    auto opened = SystemdBus::open("", session.host());
    if (!opened) return std::unexpected(opened.error());
    holder.bus = std::move(*opened);
  }
  return holder.bus.get();
}

UnitView read_unit(SystemdBus& bus, const std::string& unit) {
  UnitView view;
  auto listed = bus.list_units({unit});
  if (!listed || listed->empty()) {
    view.error = listed ? "systemd said nothing of " + unit : listed.error();
    return view;
  }
  const auto& u = listed->front();
  view.exists = u.load == "loaded";
  view.active = u.active == "active" || u.active == "reloading";
  if (!view.exists) return view;
  auto props = bus.unit_properties({u.path}, {false});
  if (!props || props->empty()) {
    view.error = props ? "no properties of " + unit : props.error();
    return view;
  }
  const std::string& state = props->front().unit_file_state;
  view.enabled = state == "enabled" || state == "enabled-runtime" || state == "static" || state == "alias" ||
                 state == "indirect" || state == "generated";
  return view;
}

// Enables and/or starts (or restarts) a unit; the steps, or the error.
std::expected<std::vector<Step>, std::string> converge_unit(SystemdBus& bus, const std::string& unit, bool enable,
                                                            bool start, bool restart) {
  std::vector<Step> steps;
  const auto started = std::chrono::steady_clock::now();
  auto since = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count(); };
  if (enable) {
    auto enabled = bus.unit_files("EnableUnitFiles", {unit}, false, true);
    if (!enabled) return std::unexpected("enable " + unit + ": " + enabled.error());
    auto reloaded = bus.reload();
    if (!reloaded) return std::unexpected("daemon-reload: " + reloaded.error());
    steps.push_back(Step{"systemd enable " + unit, since(), 0, ""});
  }
  std::vector<std::pair<std::string, bool>> jobs;
  if (restart) jobs.emplace_back(unit, false);
  if (start || restart) jobs.emplace_back(unit, true);
  for (const auto& job : jobs) {
    const auto results = bus.run_jobs({job}, std::chrono::seconds(90));
    const std::string verb = job.second ? "start" : "stop";
    const std::string result = results.empty() ? "no result" : results.front();
    steps.push_back(Step{"systemd " + verb + " " + unit + " → " + result, since(), result == "done" ? 0 : 1, ""});
    if (result != "done") return std::unexpected(verb + " of " + unit + " ended with job result '" + result + "'");
    if (job.second) {
      const std::string condition = bus.unmet_condition(unit);
      if (!condition.empty()) return std::unexpected("start of " + unit + " was skipped: " + condition + " is not met here");
    }
  }
  return steps;
}

// The kernel's clock discipline, read-only (adjtimex with no modes).
void read_clock(ClockObserved& seen) {
  timex tx{};
  tx.modes = 0;
  const int state = ::adjtimex(&tx);
  seen.synchronised = state >= 0 && state != TIME_ERROR && (tx.status & STA_UNSYNC) == 0;
  const double scale = (tx.status & STA_NANO) != 0 ? 1e-6 : 1e-3;
  seen.offset_ms = static_cast<double>(tx.offset) * scale;
  seen.max_error_ms = static_cast<double>(tx.maxerror) / 1000.0;
}

// The time daemon of this host: the first installed of resources::time_daemons(), else "".
std::string installed_daemon(const Host& host) {
  for (const auto& daemon : resources::time_daemons()) {
    if (unit_file_installed(host, daemon.unit)) return std::string(daemon.unit);
  }
  return "";
}

// The package that brings a time daemon to a host without one: chrony on the RPM families, else timesyncd.
std::string default_daemon_package(const Host& host) {
  const auto id = host.os_release.find("ID");
  const auto like = host.os_release.find("ID_LIKE");
  const std::string words = (id != host.os_release.end() ? id->second : "") + " " +
                            (like != host.os_release.end() ? like->second : "");
  for (const char* rpm : {"rhel", "fedora", "centos", "suse", "amzn"}) {
    if (words.find(rpm) != std::string::npos) return "chrony";
  }
  return "systemd-timesyncd";
}

std::string systemd_unusable(const Host& host) {
  std::error_code ec;
  if (std::filesystem::is_directory(host.path("/run/systemd/system"), ec)) return "";
  return "systemd is not running on this host, so its units cannot be managed here";
}

}  // namespace

RoutineBus::~RoutineBus() = default;

bool in_container(const Host& host) {
  std::error_code ec;
  if (std::filesystem::exists(host.path("/run/systemd/container"), ec)) return true;
  if (auto environ = read_file(host.path("/proc/1/environ"), 1 << 16)) {
    return environ->find(std::string("container=\0", 11)) == 0 ||
           environ->find(std::string("\0container=", 11)) != std::string::npos;
  }
  return false;
}

// ---- clock_sync ----

std::string ClockSyncProvider::unusable_reason(const Host& host) const { return systemd_unusable(host); }

std::vector<std::unique_ptr<Resource>> ClockSyncProvider::expand(
    Session& session, std::span<const resources::ClockSyncResource* const> resources) const {
  std::vector<std::unique_ptr<Resource>> out;
  if (resources.empty() || !installed_daemon(session.host()).empty()) return out;
  const auto* clock = resources.front();
  out.push_back(std::make_unique<resources::ClockDaemonPackage>(default_daemon_package(session.host()),
                                                                resources::PackageState::kPresent, clock->location(),
                                                                clock->key_path()));
  return out;
}

std::vector<Observation> ClockSyncProvider::observe(Session& session,
                                                    std::span<const resources::ClockSyncResource* const> resources) const {
  const Host& host = session.host();
  std::vector<Observation> out;
  auto& holder = session.state<RoutineBus>(nullptr);
  const std::lock_guard lock(holder.mutex);
  for (std::size_t i = 0; i < resources.size(); ++i) {
    auto seen = std::make_unique<ClockObserved>();
    seen->container = in_container(host);
    read_clock(*seen);
    seen->unit = installed_daemon(host);
    if (seen->unit.empty()) {
      Observation o = Observation::known(std::move(seen));
      o.blocked_reason = "no time daemon is installed (" + default_daemon_package(host) + " would be)";
      out.push_back(std::move(o));
      continue;
    }
    auto bus = connect(session, holder);
    if (!bus) {
      out.push_back(Observation::unknown(bus.error()));
      continue;
    }
    const auto unit = read_unit(**bus, seen->unit);
    if (!unit.error.empty()) {
      out.push_back(Observation::unknown("not observable: " + unit.error));
      continue;
    }
    seen->enabled = unit.enabled;
    seen->running = unit.active;
    const bool container = seen->container;
    const std::string text = seen->unit + " " + (unit.active ? "running" : "not running") + "; " + seen->clock_text();
    Observation o = Observation::known(std::move(seen));
    o.note = container ? "in a container the clock is the host's and " + text.substr(0, text.find(' ')) +
                             " does not run (ConditionVirtualization=!container); " + text.substr(text.find("; ") + 2)
                       : text;
    out.push_back(std::move(o));
  }
  return out;
}

std::vector<ChangeOutcome> ClockSyncProvider::apply(Session& session, std::span<const Change> changes) const {
  std::vector<ChangeOutcome> out;
  auto& holder = session.state<RoutineBus>(nullptr);
  const std::lock_guard lock(holder.mutex);
  for (const auto& change : changes) {
    auto bus = connect(session, holder);
    if (!bus) {
      out.push_back(ChangeOutcome::failed(bus.error()));
      continue;
    }
    const std::string& unit = change.observed->unit;
    const bool container = change.observed->container;
    auto steps = converge_unit(**bus, unit, change.drifted(ClockField::kEnabled),
                               !container && change.drifted(ClockField::kRunning),
                               !container && change.drifted(ClockField::kSynchronised));
    if (!steps) {
      out.push_back(ChangeOutcome::failed(steps.error()));
      continue;
    }
    ChangeOutcome outcome;
    outcome.steps = std::move(*steps);
    if (!container) {
      // A daemon just started takes a few polls to discipline the clock: wait up to 30 s for it.
      const auto started = std::chrono::steady_clock::now();
      ClockObserved clock;
      for (int i = 0; i < 60; ++i) {
        read_clock(clock);
        if (clock.synchronised) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(500));
      }
      const double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
      outcome.steps.push_back(Step{"wait for synchronisation: " + clock.clock_text(), waited,
                                   clock.synchronised ? 0 : 1, ""});
      if (!clock.synchronised) {
        outcome = ChangeOutcome::failed(unit + " runs but the clock was not synchronised within 30 s: " +
                                            clock.clock_text() + " (can it reach its time servers?)",
                                        std::move(outcome.steps));
      }
    }
    out.push_back(std::move(outcome));
  }
  return out;
}

// ---- fstrim ----

std::string FstrimTimerProvider::unusable_reason(const Host& host) const { return systemd_unusable(host); }

std::vector<Observation> FstrimTimerProvider::observe(Session& session,
                                                      std::span<const resources::FstrimResource* const> resources) const {
  const Host& host = session.host();
  std::vector<Observation> out;
  auto& holder = session.state<RoutineBus>(nullptr);
  const std::lock_guard lock(holder.mutex);
  for (std::size_t i = 0; i < resources.size(); ++i) {
    auto seen = std::make_unique<FstrimObserved>();
    seen->container = in_container(host);
    std::error_code ec;
    auto drop_in = std::filesystem::is_directory(host.path("/etc/systemd/system/fstrim.timer.d"), ec)
                       ? observe_file(host, resources::kFstrimDropIn)
                       : FileText::parse("", false);  // no drop-in directory: no drop-in
    if (!drop_in) {
      out.push_back(Observation::unknown("not observable: " + std::string(resources::kFstrimDropIn) + ": " +
                                         drop_in.error()));
      continue;
    }
    if (auto text = drop_in->get(resources::whole_file())) {
      // Ours: "[Timer]\nOnCalendar=\nOnCalendar=daily\n"; the last OnCalendar= with a value is the schedule.
      std::size_t at = 0;
      while ((at = text->find("OnCalendar=", at)) != std::string::npos) {
        at += 11;
        const auto end = text->find('\n', at);
        const std::string value = text->substr(at, end == std::string::npos ? std::string::npos : end - at);
        if (!value.empty()) seen->schedule = value;
      }
      if (seen->schedule.empty()) seen->schedule = "(drop-in without OnCalendar)";
    }
    auto bus = connect(session, holder);
    if (!bus) {
      out.push_back(Observation::unknown(bus.error()));
      continue;
    }
    const auto unit = read_unit(**bus, "fstrim.timer");
    if (!unit.error.empty()) {
      out.push_back(Observation::unknown("not observable: " + unit.error));
      continue;
    }
    seen->exists = unit.exists;
    seen->enabled = unit.enabled;
    seen->active = unit.active;
    const bool container = seen->container;
    Observation o = Observation::known(std::move(seen));
    if (!unit.exists) o.blocked_reason = "this host has no fstrim.timer (util-linux ships it)";
    else if (container) o.note = "in a container fstrim.timer is enabled but does not run (ConditionVirtualization=!container): trimming is the host's";
    out.push_back(std::move(o));
  }
  return out;
}

std::vector<ChangeOutcome> FstrimTimerProvider::apply(Session& session, std::span<const Change> changes) const {
  const Host& host = session.host();
  std::vector<ChangeOutcome> out;
  auto& holder = session.state<RoutineBus>(nullptr);
  const std::lock_guard lock(holder.mutex);
  for (const auto& change : changes) {
    ChangeOutcome outcome;
    const auto& fstrim = *change.resource;
    bool reload = false;
    if (change.drifted(FstrimField::kSchedule)) {
      std::error_code ec;
      std::filesystem::create_directories(host.path("/etc/systemd/system/fstrim.timer.d"), ec);
      auto edit = FileEdit::open(host, resources::kFstrimDropIn);
      if (!edit) {
        out.push_back(ChangeOutcome::failed(std::string(resources::kFstrimDropIn) + ": " + edit.error()));
        continue;
      }
      const std::string schedule = fstrim.drop_in_schedule();
      if (schedule.empty()) {
        edit->remove(resources::whole_file());
      } else {
        auto set = edit->set(resources::whole_file(),
                             "# Written by reconcile (maintenance.fstrim: " + schedule + ").\n[Timer]\nOnCalendar=\n"
                             "OnCalendar=" + schedule + "\n");
        if (!set) {
          out.push_back(ChangeOutcome::failed(set.error()));
          continue;
        }
      }
      const std::string what = edit->what();
      auto committed = edit->commit();
      if (!committed) {
        out.push_back(ChangeOutcome::failed(std::string(resources::kFstrimDropIn) + ": " + committed.error()));
        continue;
      }
      outcome.steps.push_back(Step{what, 0, 0, ""});
      reload = true;
    }
    auto bus = connect(session, holder);
    if (!bus) {
      out.push_back(ChangeOutcome::failed(bus.error(), std::move(outcome.steps)));
      continue;
    }
    if (reload && !change.drifted(FstrimField::kEnabled)) {
      auto reloaded = (*bus)->reload();
      if (!reloaded) {
        out.push_back(ChangeOutcome::failed("daemon-reload: " + reloaded.error(), std::move(outcome.steps)));
        continue;
      }
      outcome.steps.push_back(Step{"systemd daemon-reload", 0, 0, ""});
    }
    const bool restart = reload && change.observed->active && !change.observed->container;
    auto steps = converge_unit(**bus, "fstrim.timer", change.drifted(FstrimField::kEnabled),
                               change.drifted(FstrimField::kActive), restart);
    if (!steps) {
      out.push_back(ChangeOutcome::failed(steps.error(), std::move(outcome.steps)));
      continue;
    }
    for (auto& step : *steps) outcome.steps.push_back(std::move(step));
    out.push_back(std::move(outcome));
  }
  return out;
}

}  // namespace reconcile::providers
