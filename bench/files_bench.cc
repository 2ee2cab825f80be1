// Observing 1,000 converged files in-process on a stand-in tree (one lstat and one read each, no process), beside
// the C floor of the same system calls, the same files filled from one template, and a whole converged dry run.
// Run: build/files_bench
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "builtin/builtin.h"
#include "engine/registry.h"
#include "engine/run.h"
#include "providers/posix_file.h"
#include "resources/file.h"

namespace {

using namespace reconcile;

constexpr int kFiles = 1000;

std::string file_path(int i) { return "/srv/conf/app" + std::to_string(i) + ".conf"; }
std::string content_of(int i) {
  return "# managed by reconcile\nname = app" + std::to_string(i) + "\nport = " + std::to_string(8000 + i) +
         "\nworkers = 4\nlog = /var/log/app.log\n";
}

// A host tree with kFiles converged files (mode 0644), their state, and a template that renders to the same text.
class StandInTree {
 public:
  StandInTree() {
    std::string pattern = (std::filesystem::temp_directory_path() / "reconcile-files-bench-XXXXXX").string();
    root_ = ::mkdtemp(pattern.data());
    for (const char* dir : {"etc", "srv/conf", "run", "var/lib/reconcile"}) std::filesystem::create_directories(root_ / dir);
    std::ofstream(root_ / "etc/passwd") << "root:x:0:0:root:/root:/bin/bash\n";
    std::ofstream(root_ / "etc/group") << "root:x:0:\n";
    std::ofstream state(root_ / "state.yaml");
    state << "files:\n";
    for (int i = 0; i < kFiles; ++i) {
      const auto path = root_ / file_path(i).substr(1);
      std::ofstream(path) << content_of(i);
      std::filesystem::permissions(path, std::filesystem::perms(0644));
      state << "  - {path: " << file_path(i) << ", content: \"" << escaped(content_of(i)) << "\", mode: \"0644\"}\n";
    }
    std::ofstream(root_ / "app.conf.tmpl") << "# managed by reconcile\nname = {{vars.name}}\nport = {{vars.port}}\n"
                                              "workers = 4\nlog = /var/log/app.log\n";
  }
  ~StandInTree() {
    std::error_code ec;
    std::filesystem::remove_all(root_, ec);
  }
  const std::filesystem::path& root() const { return root_; }

 private:
  static std::string escaped(const std::string& text) {
    std::string out;
    for (const char c : text) out += c == '\n' ? std::string("\\n") : std::string(1, c);
    return out;
  }
  std::filesystem::path root_;
};

StandInTree& tree() {
  static StandInTree t;
  return t;
}

std::vector<std::unique_ptr<resources::FileResource>> inline_files() {
  std::vector<std::unique_ptr<resources::FileResource>> out;
  for (int i = 0; i < kFiles; ++i) {
    auto file = std::make_unique<resources::FileResource>(file_path(i), resources::FileEnsure::kFile,
                                                          resources::Location{}, "");
    file->content_from = resources::ContentFrom::kInline;
    file->content = content_of(i);
    file->mode = 0644;
    out.push_back(std::move(file));
  }
  return out;
}

void observe(benchmark::State& state, const std::vector<std::unique_ptr<resources::FileResource>>& files) {
  providers::Exec exec;
  providers::Host host{tree().root(), &exec, true, {}};
  std::vector<const resources::Resource*> batch;
  for (const auto& file : files) batch.push_back(file.get());
  providers::PosixFileProvider provider;
  const std::size_t spawned = providers::Exec::spawned();
  std::size_t drifted = 0;
  for (auto _ : state) {
    providers::Session session(host);  // each run reads afresh
    auto seen = provider.observe_resources(session, batch);
    drifted = 0;
    for (std::size_t i = 0; i < seen.size(); ++i) {
      if (seen[i].state == nullptr || !batch[i]->diff(*seen[i].state).empty()) ++drifted;
    }
    benchmark::DoNotOptimize(seen);
  }
  state.counters["files"] = kFiles;
  state.counters["drifted"] = static_cast<double>(drifted);
  state.counters["processes"] = static_cast<double>(providers::Exec::spawned() - spawned);
}

// 1,000 converged files with inline content: lstat, read, compare; the account databases read once.
void BM_ObserveInProcess(benchmark::State& state) { observe(state, inline_files()); }
BENCHMARK(BM_ObserveInProcess)->Unit(benchmark::kMillisecond);

// The same 1,000 files filled from one template with per-file vars: each rendered once, then compared.
void BM_ObserveTemplates(benchmark::State& state) {
  std::vector<std::unique_ptr<resources::FileResource>> files;
  std::vector<std::shared_ptr<const resources::Node>> vars;
  for (int i = 0; i < kFiles; ++i) {
    auto file = std::make_unique<resources::FileResource>(file_path(i), resources::FileEnsure::kFile,
                                                          resources::Location{}, "");
    file->content_from = resources::ContentFrom::kTemplate;
    file->source_resolved = (tree().root() / "app.conf.tmpl").string();
    auto node = std::make_shared<resources::Node>();
    node->type = resources::Node::Type::kMap;
    for (const auto& [key, value] : {std::pair{std::string("name"), "app" + std::to_string(i)},
                                     std::pair{std::string("port"), std::to_string(8000 + i)}}) {
      resources::Node scalar;
      scalar.type = resources::Node::Type::kScalar;
      scalar.scalar = value;
      node->entries.push_back(resources::MapEntry{key, {}, scalar});
    }
    file->vars = node;
    file->mode = 0644;
    files.push_back(std::move(file));
  }
  observe(state, files);
}
BENCHMARK(BM_ObserveTemplates)->Unit(benchmark::kMillisecond);

// The C floor: the same system calls with nothing around them (lstat, open, read, compare) for 1,000 files.
void BM_CFloor(benchmark::State& state) {
  std::vector<std::string> paths;
  std::vector<std::string> wanted;
  for (int i = 0; i < kFiles; ++i) {
    paths.push_back((tree().root() / file_path(i).substr(1)).string());
    wanted.push_back(content_of(i));
  }
  std::size_t same = 0;
  char buffer[4096];
  for (auto _ : state) {
    same = 0;
    for (int i = 0; i < kFiles; ++i) {
      struct stat st {};
      if (::lstat(paths[i].c_str(), &st) != 0 || (st.st_mode & 07777) != 0644) continue;
      const int fd = ::open(paths[i].c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
      if (fd < 0) continue;
      const ssize_t n = ::read(fd, buffer, sizeof buffer);
      ::close(fd);
      if (n == static_cast<ssize_t>(wanted[i].size()) && std::memcmp(buffer, wanted[i].data(), wanted[i].size()) == 0) {
        ++same;
      }
    }
    benchmark::DoNotOptimize(same);
  }
  state.counters["same"] = static_cast<double>(same);
}
BENCHMARK(BM_CFloor)->Unit(benchmark::kMillisecond);

// A whole converged dry run (load, validate, compile, observe, plan) over the 1,000 files.
void BM_ConvergedRun(benchmark::State& state) {
  const auto registry = builtin::registry();
  engine::RunOptions options;
  options.files = {(tree().root() / "state.yaml").string()};
  options.root = tree().root();
  options.dry_run = true;
  std::size_t spawned = 0;
  int exit_code = 0;
  std::size_t resources = 0;
  for (auto _ : state) {
    const engine::Report report = engine::converge(options, registry);
    spawned += report.processes_spawned;
    exit_code = report.exit_code;
    resources = report.resources.size();
  }
  state.counters["resources"] = static_cast<double>(resources);
  state.counters["exit_code"] = exit_code;
  state.counters["processes"] = static_cast<double>(spawned);
}
BENCHMARK(BM_ConvergedRun)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
