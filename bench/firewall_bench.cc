// Observing a converged firewall: the nftables provider in-process (libnftables' JSON listing, normalised and
// diffed, plus the persisted rule set and the boot unit) against `nft -j list ruleset` as a process, side by side.
// The benchmark moves itself into a private network namespace first (unshare(CLONE_NEWNET), so it needs root):
// the rule set it loads and lists is that namespace's, never the machine's. Run: sudo build/firewall_bench
#include <benchmark/benchmark.h>
#include <sched.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "providers/exec.h"
#include "providers/nftables.h"
#include "resources/firewall.h"

namespace {

using namespace reconcile;

// The rule set of the feature's example: five port entries, a per-source throttle and two allow_from prefixes.
std::unique_ptr<resources::FirewallResource> example_firewall() {
  using resources::PortRule;
  using resources::Proto;
  std::vector<PortRule> ports = {{Proto::kTcp, 22, 22, {}, ""},   {Proto::kUdp, 22, 22, {}, ""},
                                 {Proto::kTcp, 80, 80, {}, ""},   {Proto::kUdp, 80, 80, {}, ""},
                                 {Proto::kTcp, 443, 443, {}, ""}, {Proto::kUdp, 443, 443, {}, ""},
                                 {Proto::kUdp, 53, 53, {}, ""},   {Proto::kTcp, 8000, 8100, {}, ""}};
  std::vector<resources::Cidr> from = {*resources::parse_cidr("10.0.0.0/8"), *resources::parse_cidr("2001:db8::/32")};
  return std::make_unique<resources::FirewallResource>(std::move(ports), 30, std::move(from), false,
                                                       resources::Location{}, "firewall");
}

// A stand-in root holding the persisted rule set and the enabled unit, and the table loaded in this namespace.
class ConvergedHost {
 public:
  ConvergedHost() : firewall_(example_firewall()) {
    std::string pattern = (std::filesystem::temp_directory_path() / "reconcile-bench-XXXXXX").string();
    root_ = ::mkdtemp(pattern.data());
    write(resources::kFirewallPersisted, firewall_->script());
    write(resources::kFirewallUnit, resources::FirewallResource::unit_text());
    std::filesystem::create_directories((root_ / std::string(resources::kFirewallUnitLink).substr(1)).parent_path());
    std::filesystem::create_symlink(resources::kFirewallUnit, root_ / std::string(resources::kFirewallUnitLink).substr(1));
    auto loaded = providers::Nft::get().run(firewall_->script(), false);
    error_ = loaded ? "" : "cannot load the rule set: " + loaded.error();
  }
  ~ConvergedHost() {
    std::error_code ec;
    std::filesystem::remove_all(root_, ec);
  }
  const std::filesystem::path& root() const { return root_; }
  const resources::FirewallResource& firewall() const { return *firewall_; }
  const std::string& error() const { return error_; }

 private:
  void write(std::string_view path, const std::string& content) {
    const auto file = root_ / std::string(path).substr(1);
    std::filesystem::create_directories(file.parent_path());
    std::ofstream(file) << content;
  }
  std::filesystem::path root_;
  std::unique_ptr<resources::FirewallResource> firewall_;
  std::string error_;
};

const ConvergedHost& converged() {
  static ConvergedHost host;
  return host;
}

// The provider's whole observation of the converged firewall, then the diff; counts processes spawned.
void BM_FirewallObserveInProcess(benchmark::State& state) {
  if (!converged().error().empty()) return state.SkipWithError(converged().error().c_str());
  providers::Exec exec;
  providers::Host host;
  host.root = converged().root();
  host.exec = &exec;
  providers::NftablesProvider nftables;
  const std::vector<const resources::Resource*> batch = {&converged().firewall()};
  const std::size_t spawned_before = providers::Exec::spawned();
  for (auto _ : state) {
    providers::Session session(host);
    auto seen = nftables.observe_resources(session, batch);
    if (seen.size() != 1 || seen[0].state == nullptr) return state.SkipWithError("not observed");
    if (const auto drift = batch[0]->diff(*seen[0].state); !drift.empty()) {
      static std::string why;
      why = "not converged: " + drift[0].observed + " -> " + drift[0].desired + " (" + drift[0].reason + ")";
      return state.SkipWithError(why.c_str());
    }
    benchmark::DoNotOptimize(seen);
  }
  state.counters["rules"] = static_cast<double>(converged().firewall().rules().size());
  state.counters["processes_spawned"] = static_cast<double>(providers::Exec::spawned() - spawned_before);
}
BENCHMARK(BM_FirewallObserveInProcess)->Unit(benchmark::kMillisecond);

// Only the JSON listing, through libnftables.
void BM_ListRulesetInProcess(benchmark::State& state) {
  if (!converged().error().empty()) return state.SkipWithError(converged().error().c_str());
  for (auto _ : state) {
    auto listed = providers::Nft::get().run("list ruleset", true);
    if (!listed) return state.SkipWithError(listed.error().c_str());
    benchmark::DoNotOptimize(listed);
  }
}
BENCHMARK(BM_ListRulesetInProcess)->Unit(benchmark::kMillisecond);

// The same listing as a process, as a provider calling the tool would get it.
void BM_NftListRulesetProcess(benchmark::State& state) {
  if (!converged().error().empty()) return state.SkipWithError(converged().error().c_str());
  providers::Exec exec;
  providers::ExecRequest request;
  request.argv = {"nft", "-j", "list", "ruleset"};
  for (auto _ : state) {
    auto result = exec.run(request);
    if (!result.ok()) return state.SkipWithError("nft -j list ruleset failed");
    benchmark::DoNotOptimize(result.out);
  }
}
BENCHMARK(BM_NftListRulesetProcess)->Unit(benchmark::kMillisecond);

}  // namespace

int main(int argc, char** argv) {
  // Before any thread or rule exists: everything below lives in this new, empty network namespace.
  if (::unshare(CLONE_NEWNET) != 0) {
    std::fprintf(stderr, "firewall_bench: unshare(CLONE_NEWNET): %s (run it as root)\n", std::strerror(errno));
    return 1;
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
