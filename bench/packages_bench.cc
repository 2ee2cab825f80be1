// Observing 1,000 installed packages: the dpkg database parsed in-process against `dpkg-query -W`, and a whole
// converged apt observation (which spawns no process). Run: build/packages_bench
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "providers/apt.h"
#include "providers/dpkg_status.h"
#include "providers/fs.h"
#include "resources/package.h"

namespace {

using namespace reconcile;

constexpr int kPackages = 1000;

std::string package_name(int i) { return "pkg" + std::to_string(i) + "-bench"; }

// A host tree whose dpkg database holds kPackages installed packages, stanzas shaped like Debian's (~900 bytes).
class SyntheticHost {
 public:
  SyntheticHost() {
    std::string pattern = (std::filesystem::temp_directory_path() / "reconcile-bench-XXXXXX").string();
    root_ = ::mkdtemp(pattern.data());
    std::filesystem::create_directories(root_ / "var/lib/dpkg/updates");
    std::filesystem::create_directories(root_ / "var/lib/dpkg/info");
    std::ofstream out(root_ / "var/lib/dpkg/status");
    for (int i = 0; i < kPackages; ++i) {
      out << "Package: " << package_name(i) << "\nStatus: install ok installed\nPriority: optional\n"
          << "Section: libs\nInstalled-Size: " << 100 + i << "\nMaintainer: Debian Maintainers <d@example.org>\n"
          << "Architecture: amd64\nMulti-Arch: same\nSource: src" << i << "\nVersion: 1." << i << "-" << i % 7
          << "+deb12u1\nDepends: libc6 (>= 2.34), libssl3 (>= 3.0.0), zlib1g (>= 1:1.2.0)\n"
          << "Conffiles:\n /etc/pkg" << i << "/main.conf 0123456789abcdef0123456789abcdef\n"
          << "Description: synthetic package number " << i << "\n"
          << " A long description that spans several lines, as real packages have,\n"
          << " so that the parser skips continuation lines the way it must in production.\n"
          << " .\n Homepage and more prose follow here to make the stanza realistic.\n"
          << "Homepage: https://example.org/pkg" << i << "\n\n";
    }
  }
  ~SyntheticHost() {
    std::error_code ec;
    std::filesystem::remove_all(root_, ec);
  }
  const std::filesystem::path& root() const { return root_; }

 private:
  std::filesystem::path root_;
};

const SyntheticHost& host_tree() {
  static SyntheticHost tree;
  return tree;
}

void BM_ParseDpkgStatusInProcess(benchmark::State& state) {
  const auto path = host_tree().root() / "var/lib/dpkg/status";
  for (auto _ : state) {
    auto text = providers::read_file(path);
    auto status = providers::parse_dpkg_status(*text);
    if (status.size() != kPackages) state.SkipWithError("wrong package count");
    benchmark::DoNotOptimize(status);
  }
  state.counters["packages"] = kPackages;
}
BENCHMARK(BM_ParseDpkgStatusInProcess)->Unit(benchmark::kMillisecond);

void BM_DpkgQueryProcess(benchmark::State& state) {
  providers::Exec exec;
  providers::ExecRequest request;
  request.argv = {"dpkg-query", "--admindir=" + (host_tree().root() / "var/lib/dpkg").string(), "-W",
                  "-f=${Package} ${Status} ${Version}\n"};
  for (auto _ : state) {
    auto result = exec.run(request);
    if (!result.ok()) state.SkipWithError("dpkg-query failed");
    benchmark::DoNotOptimize(result.out);
  }
  state.counters["packages"] = kPackages;
}
BENCHMARK(BM_DpkgQueryProcess)->Unit(benchmark::kMillisecond);

// The apt provider's whole observation of a converged set of kPackages packages; counts processes spawned.
void BM_AptObserveConvergedSet(benchmark::State& state) {
  providers::Exec exec;
  providers::Host host;
  host.root = host_tree().root();
  host.exec = &exec;
  host.os_release = {{"ID", "debian"}};
  std::vector<std::unique_ptr<resources::PackageResource>> owned;
  std::vector<const resources::Resource*> batch;
  for (int i = 0; i < kPackages; ++i) {
    owned.push_back(std::make_unique<resources::PackageResource>(package_name(i), resources::PackageState::kPresent,
                                                                 resources::Location{}, "packages.present"));
    batch.push_back(owned.back().get());
  }
  providers::AptProvider apt;
  const std::size_t spawned_before = providers::Exec::spawned();
  for (auto _ : state) {
    providers::Session session(host);
    auto seen = apt.observe_resources(session, batch);
    for (std::size_t i = 0; i < seen.size(); ++i) {
      if (seen[i].state == nullptr || !batch[i]->diff(*seen[i].state).empty()) state.SkipWithError("not converged");
    }
    benchmark::DoNotOptimize(seen);
  }
  state.counters["packages"] = kPackages;
  state.counters["processes_spawned"] = static_cast<double>(providers::Exec::spawned() - spawned_before);
}
BENCHMARK(BM_AptObserveConvergedSet)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
