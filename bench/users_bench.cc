// Observing 1,000 accounts: /etc/passwd, /etc/shadow and /etc/group parsed in-process against one `getent passwd`
// or `chage -l` per account, and a whole converged run over 1,000 managed users (which spawns no process).
// The per-account tools read this machine's real accounts, read-only. Run: build/users_bench
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "builtin/builtin.h"
#include "engine/registry.h"
#include "engine/run.h"
#include "providers/account_db.h"
#include "providers/shadow.h"
#include "resources/user.h"

namespace {

using namespace reconcile;

constexpr int kAccounts = 1000;

std::string account_name(int i) { return "user" + std::to_string(i); }

// A host tree with kAccounts accounts: the first 700 ordinary with bash, the rest locked in all three parts.
class SyntheticHost {
 public:
  SyntheticHost() {
    std::string pattern = (std::filesystem::temp_directory_path() / "reconcile-users-bench-XXXXXX").string();
    root_ = ::mkdtemp(pattern.data());
    for (const char* dir : {"etc", "usr/sbin", "run", "var/lib/reconcile"}) std::filesystem::create_directories(root_ / dir);
    std::ofstream(root_ / "usr/sbin/nologin") << "";
    std::ofstream(root_ / "usr/sbin/usermod") << "";  // never run: a converged run has nothing to change
    std::ofstream(root_ / "etc/shells") << "/bin/sh\n/bin/bash\n";
    std::ofstream passwd(root_ / "etc/passwd");
    std::ofstream shadow(root_ / "etc/shadow");
    std::ofstream group(root_ / "etc/group");
    passwd << "root:x:0:0:root:/root:/bin/bash\n";
    shadow << "root:*:20000:0:99999:7:::\n";
    group << "root:x:0:\nsudo:x:27:root";
    std::ofstream state(root_ / "state.yaml");
    state << "users:\n  present:\n";
    for (int i = 0; i < kAccounts; ++i) {
      const std::string name = account_name(i);
      const bool locked = i >= 700;
      passwd << name << ":x:" << 2000 + i << ":" << 2000 + i << "::/home/" << name << ":"
             << (locked ? "/usr/sbin/nologin" : "/bin/bash") << "\n";
      shadow << name << ":" << (locked ? "!" : "") << "$y$j9T$abcdefghijklmnop$0123456789abcdefghijklmnopqrstuvwxyzABCDE:20000:0:99999:7::"
             << (locked ? "1" : "") << ":\n";
      if (i % 10 == 0) group << "," << name;
      if (!locked) state << "    - {name: " << name << ", uid: " << 2000 + i << ", shell: /bin/bash}\n";
    }
    group << "\n";
    state << "  locked:\n";
    for (int i = 700; i < kAccounts; ++i) state << "    - " << account_name(i) << "\n";
  }
  ~SyntheticHost() {
    std::error_code ec;
    std::filesystem::remove_all(root_, ec);
  }
  const std::filesystem::path& root() const { return root_; }

 private:
  std::filesystem::path root_;
};

SyntheticHost& synthetic() {
  static SyntheticHost host;
  return host;
}

std::vector<std::unique_ptr<resources::Resource>> managed_users() {
  std::vector<std::unique_ptr<resources::Resource>> out;
  for (int i = 0; i < kAccounts; ++i) {
    const auto ensure = i >= 700 ? resources::UserEnsure::kLocked : resources::UserEnsure::kPresent;
    out.push_back(std::make_unique<resources::UserResource>(account_name(i), ensure, resources::Location{}, ""));
  }
  return out;
}

// The in-process observation of 1,000 accounts: one read of each database, one observation per account.
void BM_ObserveInProcess(benchmark::State& state) {
  providers::Exec exec;
  providers::Host host{synthetic().root(), &exec, true, {}};
  const auto users = managed_users();
  std::vector<const resources::Resource*> batch;
  for (const auto& user : users) batch.push_back(user.get());
  providers::ShadowProvider provider(providers::RunningUser{});
  const std::size_t spawned = providers::Exec::spawned();
  for (auto _ : state) {
    providers::Session session(host);  // each run reads the databases afresh
    auto seen = provider.observe_resources(session, batch);
    benchmark::DoNotOptimize(seen);
  }
  state.counters["accounts"] = kAccounts;
  state.counters["processes"] = static_cast<double>(providers::Exec::spawned() - spawned);
}
BENCHMARK(BM_ObserveInProcess)->Unit(benchmark::kMillisecond);

// This machine's real account names, cycled to make kAccounts calls.
std::vector<std::string> real_accounts() {
  providers::Host host;
  auto db = providers::read_account_db(host);
  std::vector<std::string> names;
  if (db) {
    for (const auto& entry : db->passwd) names.push_back(entry.name);
  }
  return names;
}

void per_account_tool(benchmark::State& state, const std::vector<std::string>& tool) {
  const auto names = real_accounts();
  if (names.empty()) {
    state.SkipWithError("cannot read /etc/passwd");
    return;
  }
  providers::Exec exec;
  const std::size_t spawned = providers::Exec::spawned();
  for (auto _ : state) {
    for (int i = 0; i < kAccounts; ++i) {
      providers::ExecRequest request;
      request.argv = tool;
      request.argv.push_back(names[static_cast<std::size_t>(i) % names.size()]);
      auto result = exec.run(request);
      benchmark::DoNotOptimize(result);
    }
  }
  state.counters["accounts"] = kAccounts;
  state.counters["processes"] = static_cast<double>(providers::Exec::spawned() - spawned) /
                                static_cast<double>(state.iterations());
}

// What a per-user provider does: one `getent passwd NAME` per account.
void BM_GetentPerAccount(benchmark::State& state) { per_account_tool(state, {"getent", "passwd", "--"}); }
BENCHMARK(BM_GetentPerAccount)->Unit(benchmark::kMillisecond)->Iterations(1);

// And one `chage -l NAME` per account for the expiry (needs root to read /etc/shadow).
void BM_ChagePerAccount(benchmark::State& state) { per_account_tool(state, {"chage", "-l", "--"}); }
BENCHMARK(BM_ChagePerAccount)->Unit(benchmark::kMillisecond)->Iterations(1);

// A whole converged run (load, validate, compile, observe, plan; nothing to apply) over 1,000 managed users.
void BM_ConvergedRun(benchmark::State& state) {
  const auto registry = builtin::registry();
  engine::RunOptions options;
  options.files = {(synthetic().root() / "state.yaml").string()};
  options.root = synthetic().root();
  options.dry_run = ::geteuid() != 0;
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
