// A converged dry run of the whole `laitos` sysctl preset and a swap file over a stand-in tree (/proc/sys,
// /proc/swaps, /etc/fstab, the drop-in), side by side with the floor: a loop that only reads the same files.
// Run: build-rel/tuning_bench

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
#include "resources/sysctl.h"

namespace {

using namespace reconcile;

class TuningTree {
 public:
  TuningTree() {
    namespace fs = std::filesystem;
    std::string pattern = (fs::temp_directory_path() / "reconcile-tuning-XXXXXX").string();
    root_ = ::mkdtemp(pattern.data());
    fs::create_directories(root_ / "etc/sysctl.d");
    std::ofstream dropin(root_ / "etc/sysctl.d/90-reconcile.conf");
    for (const auto& s : resources::sysctl_preset("laitos")) {
      if (s.key == "net.ipv4.tcp_tw_recycle") continue;  // gone from current kernels: not applicable
      const auto file = root_ / "proc/sys" / resources::sysctl_path(s.key);
      fs::create_directories(file.parent_path());
      std::ofstream(file) << s.value << "\n";
      files_.push_back(file);
      dropin << s.key << " = " << s.value << "\n";
    }
    std::ofstream(root_ / "proc/swaps") << "Filename\tType\tSize\tUsed\tPriority\n/swapfile\tfile\t65532\t0\t-2\n";
    std::ofstream(root_ / "etc/fstab") << "# fstab\n/swapfile none swap sw 0 0\n";
    const int fd = ::open((root_ / "swapfile").c_str(), O_WRONLY | O_CREAT, 0600);
    if (fd < 0 || ::fallocate(fd, 0, 0, 64 << 20) != 0) std::abort();
    if (::pwrite(fd, "SWAPSPACE2", 10, ::sysconf(_SC_PAGESIZE) - 10) != 10) std::abort();
    ::close(fd);
    state_ = (root_ / "state.yaml").string();
    std::ofstream(state_) << "sysctl: {preset: laitos}\nswap: {file: /swapfile, size_mb: 64}\n";
    for (const char* f : {"etc/sysctl.d/90-reconcile.conf", "proc/swaps", "etc/fstab", "state.yaml"}) {
      files_.push_back(root_ / f);
    }
  }
  ~TuningTree() {
    std::error_code ec;
    std::filesystem::remove_all(root_, ec);
  }
  const std::filesystem::path& root() const { return root_; }
  const std::string& state() const { return state_; }
  const std::vector<std::filesystem::path>& files() const { return files_; }

 private:
  std::filesystem::path root_;
  std::string state_;
  std::vector<std::filesystem::path> files_;
};

// The floor: read every file such a run needs, and nothing else.
void BM_ReadFilesOnly(benchmark::State& state) {
  TuningTree tree;
  static char buffer[1 << 12];
  for (auto _ : state) {
    for (const auto& file : tree.files()) {
      const int fd = ::open(file.c_str(), O_RDONLY);
      while (::read(fd, buffer, sizeof buffer) > 0) {
      }
      ::close(fd);
    }
  }
}

void BM_ConvergedLaitosAndSwapDryRun(benchmark::State& state) {
  TuningTree tree;
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

BENCHMARK(BM_ReadFilesOnly)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_ConvergedLaitosAndSwapDryRun)->Unit(benchmark::kMillisecond);

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
