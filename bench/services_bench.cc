// Observing 50 services: the systemd provider over D-Bus (one connection, two pipelined round trips) against
// 50 `systemctl show` processes, side by side on the same live systemd.
//
// It needs systemd as PID 1. On a machine booted with systemd it uses that one. Elsewhere (such as the project's
// build machine) it boots a throwaway test host with tests/host/testhost.sh (root needed, about 2 s plus the image
// build the first time) and talks to that host's systemd through its system bus socket (/proc/PID/root/run/dbus/
// system_bus_socket: systemd's private socket refuses peers from outside its PID namespace); the systemctl
// side runs inside the host through one nsenter (BM_NsenterBaseline is that entry cost alone). Set
// RECONCILE_BENCH_HOST_PID=PID to use an already running test host's PID 1 instead. With none of these the
// benchmarks are skipped with the reason.
//
//   sudo build/services_bench
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "providers/exec.h"
#include "providers/systemd.h"
#include "resources/service.h"

namespace {

using namespace reconcile;

constexpr std::size_t kUnits = 50;

// The systemd the benchmarks talk to, found or booted once.
class LiveSystemd {
 public:
  static LiveSystemd& get() {
    static LiveSystemd live;
    return live;
  }
  ~LiveSystemd() {
    if (booted_.empty()) return;
    providers::Exec().run(providers::ExecRequest{{script_, "down", booted_}, {}, "", std::chrono::seconds(60)});
  }

  const std::string& why_not() const { return why_not_; }
  const providers::Host& host() const { return host_; }
  const std::vector<std::unique_ptr<resources::ServiceResource>>& services() const { return services_; }
  /// The D-Bus address to use: "" for the provider's own choice on this machine.
  const std::string& bus_address() const { return bus_address_; }
  /// argv prefix that runs a command on that systemd's host ({} here, nsenter into a test host).
  const std::vector<std::string>& enter() const { return enter_; }

 private:
  LiveSystemd() {
    host_.exec = &exec_;
    host_.privileged = ::geteuid() == 0;
    std::string pid;
    if (const char* env = std::getenv("RECONCILE_BENCH_HOST_PID")) pid = env;
    if (pid.empty() && std::filesystem::is_directory("/run/systemd/system")) {
      host_.root = "/";
    } else {
      if (pid.empty()) pid = boot();
      if (pid.empty()) return;
      host_.root = "/proc/" + pid + "/root";
      bus_address_ = "unix:path=/proc/" + pid + "/root/run/dbus/system_bus_socket";
      enter_ = {"nsenter", "-t", pid, "-a"};
    }
    if (!host_.privileged) {
      why_not_ = "run it as root, as reconcile applies run";
      return;
    }
    // The first kUnits service unit files of that host, as `services.enabled` would name them.
    std::vector<std::string> names;
    std::error_code ec;
    for (const char* dir : {"/lib/systemd/system", "/usr/lib/systemd/system", "/etc/systemd/system"}) {
      for (const auto& entry : std::filesystem::directory_iterator(host_.path(dir), ec)) {
        const std::string file = entry.path().filename().string();
        if (file.ends_with(".service") && file.find('@') == std::string::npos) names.push_back(file);
      }
    }
    std::sort(names.begin(), names.end());
    names.erase(std::unique(names.begin(), names.end()), names.end());
    for (std::size_t i = names.size(); i < kUnits; ++i) names.push_back("rc-bench-missing-" + std::to_string(i));
    names.resize(kUnits);
    for (const auto& name : names) {
      services_.push_back(std::make_unique<resources::ServiceResource>(
          name.substr(0, name.size() - 8), name, resources::Enablement::kDisabled, false, "", resources::Location{},
          "services.disabled"));
    }
  }

  // Boots a test host; its PID 1, or "" with why_not_ set.
  std::string boot() {
    if (::geteuid() != 0) {
      why_not_ = "no systemd here: run as root to boot a test host, or set RECONCILE_BENCH_HOST_PID";
      return "";
    }
    script_ = (std::filesystem::path(__FILE__).parent_path().parent_path() / "tests/host/testhost.sh").string();
    if (!std::filesystem::exists(script_)) {
      why_not_ = "no systemd here and no " + script_ + " to boot a test host";
      return "";
    }
    const std::string name = "svc-bench-" + std::to_string(::getpid());
    auto up = exec_.run(providers::ExecRequest{{script_, "up", name}, {}, "", std::chrono::minutes(10)});
    if (!up.ok()) {
      why_not_ = "cannot boot a test host: " + up.tail(3);
      return "";
    }
    booted_ = name;
    auto leader = exec_.run(providers::ExecRequest{{script_, "leader", name}, {}, "", std::chrono::seconds(30)});
    std::string pid = leader.out.substr(0, leader.out.find('\n'));
    if (!leader.ok() || pid.empty()) why_not_ = "cannot find the test host's PID 1";
    return pid;
  }

  providers::Exec exec_;
  providers::Host host_;
  std::string why_not_;
  std::string script_;
  std::string booted_;
  std::string bus_address_;
  std::vector<std::string> enter_;
  std::vector<std::unique_ptr<resources::ServiceResource>> services_;
};

std::vector<const resources::Resource*> batch() {
  std::vector<const resources::Resource*> out;
  for (const auto& service : LiveSystemd::get().services()) out.push_back(service.get());
  return out;
}

// One run's observation: connect, then every unit in one batch.
void BM_ObserveOverDbus(benchmark::State& state) {
  auto& live = LiveSystemd::get();
  if (!live.why_not().empty()) {
    state.SkipWithError(live.why_not().c_str());
    return;
  }
  const auto resources = batch();
  for (auto _ : state) {
    providers::SystemdProvider provider(live.bus_address());
    providers::Session session(live.host());
    auto seen = provider.observe_resources(session, resources);
    if (seen.size() != kUnits || seen[0].state == nullptr) state.SkipWithError(seen[0].unknown_reason.c_str());
    benchmark::DoNotOptimize(seen);
  }
  state.counters["units"] = kUnits;
}
BENCHMARK(BM_ObserveOverDbus)->Unit(benchmark::kMillisecond)->UseRealTime();

// Observing again on the run's open connection (the engine's verify phase).
void BM_ObserveOverDbusConnected(benchmark::State& state) {
  auto& live = LiveSystemd::get();
  if (!live.why_not().empty()) {
    state.SkipWithError(live.why_not().c_str());
    return;
  }
  const auto resources = batch();
  providers::SystemdProvider provider(live.bus_address());
  providers::Session session(live.host());
  for (auto _ : state) {
    auto seen = provider.observe_resources(session, resources);
    if (seen.size() != kUnits || seen[0].state == nullptr) state.SkipWithError(seen[0].unknown_reason.c_str());
    benchmark::DoNotOptimize(seen);
  }
  state.counters["units"] = kUnits;
}
BENCHMARK(BM_ObserveOverDbusConnected)->Unit(benchmark::kMillisecond)->UseRealTime();

// What a per-service provider does: one `systemctl show` per unit, for the same three states.
void BM_Systemctl50Processes(benchmark::State& state) {
  auto& live = LiveSystemd::get();
  if (!live.why_not().empty()) {
    state.SkipWithError(live.why_not().c_str());
    return;
  }
  std::string script = "for u in";
  for (const auto& service : live.services()) script += " " + service->unit();
  script += "; do systemctl show -p LoadState,ActiveState,UnitFileState -- \"$u\" >/dev/null || exit 1; done";
  std::vector<std::string> argv = live.enter();
  argv.insert(argv.end(), {"sh", "-c", script});
  providers::Exec exec;
  for (auto _ : state) {
    auto result = exec.run(providers::ExecRequest{argv, {}, "", std::chrono::minutes(2)});
    if (!result.ok()) state.SkipWithError(result.tail(2).c_str());
  }
  state.counters["units"] = kUnits;
}
BENCHMARK(BM_Systemctl50Processes)->Unit(benchmark::kMillisecond)->UseRealTime();

// The cost of entering the test host once, included in BM_Systemctl50Processes there.
void BM_NsenterBaseline(benchmark::State& state) {
  auto& live = LiveSystemd::get();
  if (!live.why_not().empty() || live.enter().empty()) {
    state.SkipWithError(live.why_not().empty() ? "not in a test host" : live.why_not().c_str());
    return;
  }
  std::vector<std::string> argv = live.enter();
  argv.push_back("true");
  providers::Exec exec;
  for (auto _ : state) {
    benchmark::DoNotOptimize(exec.run(providers::ExecRequest{argv, {}, "", std::chrono::seconds(30)}));
  }
}
BENCHMARK(BM_NsenterBaseline)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
