// A whole converged dry run (engine::converge: load, compile, validate, observe, plan, report) over a
// synthetic host tree, side by side with the floor: a loop that only reads the same files.
// The tree: a dpkg database of 1,000 installed packages (100 or 500 of them managed), 50 or 250 locked
// accounts among 1,000 in passwd/shadow/group, and the time zone. Run: build-rel/converge_bench

#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "builtin/builtin.h"
#include "engine/registry.h"
#include "engine/run.h"
#include "providers/exec.h"

namespace {

using namespace reconcile;

class SyntheticTree {
 public:
  explicit SyntheticTree(int managed) {
    std::string pattern = (std::filesystem::temp_directory_path() / "reconcile-converge-XXXXXX").string();
    root_ = ::mkdtemp(pattern.data());
    namespace fs = std::filesystem;
    for (const char* dir : {"etc", "var/lib/dpkg/info", "var/lib/dpkg/updates", "usr/share/zoneinfo/Europe",
                            "usr/sbin", "home"}) {
      fs::create_directories(root_ / dir);
    }
    fs::copy_file("/usr/share/zoneinfo/Europe/Helsinki", root_ / "usr/share/zoneinfo/Europe/Helsinki");
    fs::create_symlink("/usr/share/zoneinfo/Europe/Helsinki", root_ / "etc/localtime");
    std::ofstream(root_ / "etc/timezone") << "Europe/Helsinki\n";
    std::ofstream(root_ / "etc/os-release") << "ID=debian\nVERSION_ID=\"12\"\n";
    std::ofstream(root_ / "etc/shells") << "/bin/sh\n/bin/bash\n";
    // The shadow tools only need to exist: a converged run never calls them.
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
      const bool locked = i < managed / 2;
      passwd << "user" << i << ":x:" << 2000 + i << ":" << 2000 + i << "::/home/user" << i << ":"
             << (locked ? "/usr/sbin/nologin" : "/bin/bash") << "\n";
      shadow << "user" << i << ":" << (locked ? "!$6$salt$hash" : "$6$salt$hash") << ":19000:0:99999:7::"
             << (locked ? "1" : "") << ":\n";
      group << "user" << i << ":x:" << 2000 + i << ":\n";
    }
    std::string text = "timezone: Europe/Helsinki\npackages:\n  present:\n";
    for (int i = 0; i < managed; ++i) text += "    - pkg" + std::to_string(i) + "\n";
    text += "users:\n  locked:\n";
    for (int i = 0; i < managed / 2; ++i) text += "    - user" + std::to_string(i) + "\n";
    state_ = (root_ / "state.yaml").string();
    std::ofstream(state_) << text;
  }
  ~SyntheticTree() {
    std::error_code ec;
    std::filesystem::remove_all(root_, ec);
  }
  const std::filesystem::path& root() const { return root_; }
  const std::string& state() const { return state_; }

 private:
  std::filesystem::path root_;
  std::string state_;
};

// The floor: read every file such a run needs, and nothing else.
void BM_ReadFilesOnly(benchmark::State& state) {
  SyntheticTree tree(static_cast<int>(state.range(0)));
  static char buffer[1 << 16];
  for (auto _ : state) {
    for (const char* file : {"state.yaml", "var/lib/dpkg/status", "etc/passwd", "etc/shadow", "etc/group",
                             "etc/timezone", "etc/os-release"}) {
      const int fd = ::open((tree.root() / file).c_str(), O_RDONLY);
      while (::read(fd, buffer, sizeof buffer) > 0) {
      }
      ::close(fd);
    }
    char link[256];
    benchmark::DoNotOptimize(::readlink((tree.root() / "etc/localtime").c_str(), link, sizeof link));
  }
}

void BM_ConvergedDryRun(benchmark::State& state) {
  SyntheticTree tree(static_cast<int>(state.range(0)));
  const engine::Registry registry = builtin::registry();
  engine::RunOptions options;
  options.files = {tree.state()};
  options.dry_run = true;
  options.root = tree.root();
  const std::size_t spawned = providers::Exec::spawned();
  int resources = 0, drifted = 0;
  for (auto _ : state) {
    engine::Report report = engine::converge(options, registry);
    resources = report.counts.total;
    drifted = report.counts.drifted + report.counts.failed + report.counts.unknown + static_cast<int>(report.errors.size());
  }
  state.counters["resources"] = resources;
  state.counters["not_in_sync"] = drifted;
  state.counters["processes"] = static_cast<double>(providers::Exec::spawned() - spawned);
}

BENCHMARK(BM_ReadFilesOnly)->Arg(100)->Arg(500)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_ConvergedDryRun)->Arg(100)->Arg(500)->Unit(benchmark::kMillisecond);

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  std::printf("peak RSS: %.1f MB\n", static_cast<double>(usage.ru_maxrss) / 1024.0);
  return 0;
}
