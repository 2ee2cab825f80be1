// The daemon's cycle in one long-lived process: converged applies (engine::converge with the daemon's options:
// an apply, not a dry run, with the ledger, the run lock and the report's delivery) over a stand-in host tree, one
// after the other, as `reconcile daemon` runs them. Prints the time of a cycle (median and slowest over each
// window), the processes spawned and the resident memory after 10, 100 and 1,000 cycles, for N = 200 and 1,000
// resources-ish: N/2 of 1,000 installed packages, N/2 of 1,000 accounts locked, and the time zone.
// A small program rather than a Google Benchmark: the figure is how a cycle and memory move over cycles.
//
//   build/cycle_bench [CYCLES] >/dev/null   (default 1000; the figures go to stderr, each cycle's delivered text
//                                           report to stdout, as the daemon's go to its journal)
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "builtin/builtin.h"
#include "engine/registry.h"
#include "engine/run.h"
#include "providers/exec.h"

namespace {

using namespace reconcile;

// As converge_bench's tree: 1,000 installed packages and 1,000 accounts, `n / 2` of each managed.
class StandInTree {
 public:
  explicit StandInTree(int n) {
    std::string pattern = (std::filesystem::temp_directory_path() / "reconcile-cycle-XXXXXX").string();
    root_ = ::mkdtemp(pattern.data());
    namespace fs = std::filesystem;
    for (const char* dir : {"etc", "var/lib/dpkg/info", "var/lib/dpkg/updates", "usr/share/zoneinfo/Europe",
                            "usr/sbin", "home", "run", "var/lib/reconcile"}) {
      fs::create_directories(root_ / dir);
    }
    fs::copy_file("/usr/share/zoneinfo/Europe/Helsinki", root_ / "usr/share/zoneinfo/Europe/Helsinki");
    fs::create_symlink("/usr/share/zoneinfo/Europe/Helsinki", root_ / "etc/localtime");
    std::ofstream(root_ / "etc/timezone") << "Europe/Helsinki\n";
    std::ofstream(root_ / "etc/os-release") << "ID=debian\nVERSION_ID=\"12\"\n";
    std::ofstream(root_ / "etc/shells") << "/bin/sh\n/bin/bash\n";
    for (const char* tool : {"usr/sbin/nologin", "usr/sbin/useradd", "usr/sbin/usermod", "usr/sbin/userdel"}) {
      std::ofstream(root_ / tool) << "";
      fs::permissions(root_ / tool, fs::perms::owner_all);
    }
    std::ofstream status(root_ / "var/lib/dpkg/status");
    for (int i = 0; i < 1000; ++i) {
      status << "Package: pkg" << i << "\nStatus: install ok installed\nPriority: optional\nSection: libs\n"
             << "Installed-Size: 100\nMaintainer: Debian <d@example.org>\nArchitecture: amd64\nVersion: 1." << i
             << "-1\nDepends: libc6 (>= 2.34)\nDescription: synthetic package " << i
             << "\n A description line.\n\n";
    }
    std::ofstream passwd(root_ / "etc/passwd"), shadow(root_ / "etc/shadow"), group(root_ / "etc/group");
    passwd << "root:x:0:0:root:/root:/bin/bash\n";
    shadow << "root:$6$salt$hash:19000:0:99999:7:::\n";
    group << "root:x:0:\n";
    for (int i = 0; i < 1000; ++i) {
      const bool locked = i < n / 2;
      passwd << "user" << i << ":x:" << 2000 + i << ":" << 2000 + i << "::/home/user" << i << ":"
             << (locked ? "/usr/sbin/nologin" : "/bin/bash") << "\n";
      shadow << "user" << i << ":" << (locked ? "!$6$salt$hash" : "$6$salt$hash") << ":19000:0:99999:7::"
             << (locked ? "1" : "") << ":\n";
      group << "user" << i << ":x:" << 2000 + i << ":\n";
    }
    std::string text = "timezone: Europe/Helsinki\npackages:\n  present:\n";
    for (int i = 0; i < n / 2; ++i) text += "    - pkg" + std::to_string(i) + "\n";
    text += "users:\n  locked:\n";
    for (int i = 0; i < n / 2; ++i) text += "    - user" + std::to_string(i) + "\n";
    state_ = (root_ / "state.yaml").string();
    std::ofstream(state_) << text;
  }
  ~StandInTree() {
    std::error_code ec;
    std::filesystem::remove_all(root_, ec);
  }
  const std::filesystem::path& root() const { return root_; }
  const std::string& state() const { return state_; }

 private:
  std::filesystem::path root_;
  std::string state_;
};

// VmRSS and VmHWM of this process, in MB.
std::pair<double, double> rss_mb() {
  std::ifstream status("/proc/self/status");
  std::string line;
  double rss = 0, hwm = 0;
  while (std::getline(status, line)) {
    if (line.starts_with("VmRSS:")) rss = std::atof(line.c_str() + 6) / 1024.0;
    if (line.starts_with("VmHWM:")) hwm = std::atof(line.c_str() + 6) / 1024.0;
  }
  return {rss, hwm};
}

void run(int n, int cycles) {
  StandInTree tree(n);
  const engine::Registry registry = builtin::registry();
  engine::RunOptions options;  // as engine/daemon.cc's cycle() fills them
  options.files = {tree.state()};
  options.root = tree.root();
  options.ledger_path = "/var/lib/reconcile/ledger.json";
  options.lock_path = "/run/reconcile.lock";
  options.trigger = "schedule";
  options.delivery.always = true;
  const std::size_t spawned_before = providers::Exec::spawned();
  std::vector<double> window, phases;
  int resources = 0, not_in_sync = 0, next_mark = 10, window_start = 1;
  for (int cycle = 1; cycle <= cycles; ++cycle) {
    const auto started = std::chrono::steady_clock::now();
    engine::Report report = engine::converge(options, registry);
    window.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count());
    double in_phases = 0;
    for (const auto& phase : report.phases) in_phases += phase.seconds * 1000;
    phases.push_back(in_phases);
    resources = report.counts.total;
    not_in_sync += report.counts.drifted + report.counts.changed + report.counts.failed + report.counts.unknown +
                   static_cast<int>(report.errors.size());
    if (cycle == next_mark || cycle == cycles) {
      std::sort(window.begin(), window.end());
      std::sort(phases.begin(), phases.end());
      const auto [rss, hwm] = rss_mb();
      std::fprintf(stderr, "N=%-5d resources=%-4d cycles %4d-%-4d  per cycle: median %6.2f ms (phases %5.2f ms, "
                   "the rest: lock, ledger, delivery), max %6.2f ms  processes=%zu not_in_sync=%d  "
                   "RSS %.1f MB (peak %.1f MB)\n",
                  n, resources, window_start, cycle, window[window.size() / 2], phases[phases.size() / 2], window.back(),
                  providers::Exec::spawned() - spawned_before, not_in_sync, rss, hwm);
      window.clear();
      phases.clear();
      window_start = cycle + 1;
      next_mark *= 10;
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  const int cycles = argc > 1 ? std::max(1, std::atoi(argv[1])) : 1000;
  double load[3] = {0, 0, 0};
  if (::getloadavg(load, 3) > 0) std::fprintf(stderr, "load average %.1f %.1f %.1f\n", load[0], load[1], load[2]);
  for (const int n : {200, 1000}) run(n, cycles);
  return 0;
}
