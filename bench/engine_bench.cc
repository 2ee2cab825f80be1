// Compile + plan of N synthetic resources over in-memory observed state (no host touched).
// Run: build/engine_bench [--benchmark_filter=...]; peak RSS is printed at the end.

#include <benchmark/benchmark.h>
#include <sys/resource.h>

#include <cstdio>

#include "engine/graph.h"
#include "engine/loader.h"
#include "engine/observe.h"
#include "engine/plan.h"
#include "tests/engine/fake_kind.h"

namespace {

using namespace reconcile;

// N resources in chains of ten (each requires the one before), half of them drifted.
std::string synthetic_state(int n) {
  std::string text = "fakes:\n";
  for (int i = 0; i < n; ++i) {
    text += "  - {name: r" + std::to_string(i) + ", value: on";
    if (i % 10 != 0) text += ", requires: [fake:r" + std::to_string(i - 1) + "]";
    text += "}\n";
  }
  return text;
}

struct Fixture {
  explicit Fixture(int n) : registry(testing::fake_registry(&fake)) {
    std::vector<resources::Error> errors;
    root = engine::parse_text("bench.yaml", synthetic_state(n), errors);
    for (int i = 0; i < n; i += 2) fake->world["r" + std::to_string(i)] = "on";
  }
  testing::FakeProvider* fake = nullptr;
  engine::Registry registry;
  resources::Node root;
  providers::Exec exec;
  providers::Host host{"/", &exec, true, {}};
};

void BM_Load(benchmark::State& state) {
  const std::string text = synthetic_state(static_cast<int>(state.range(0)));
  for (auto _ : state) {
    std::vector<resources::Error> errors;
    benchmark::DoNotOptimize(engine::parse_text("bench.yaml", text, errors));
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
}

void BM_CompileAndPlan(benchmark::State& state) {
  Fixture f(static_cast<int>(state.range(0)));
  engine::Ledger ledger;
  for (auto _ : state) {
    auto compiled = engine::compile(f.root, f.registry);
    engine::RunState run;
    providers::Session session(f.host);
    auto observations = engine::observe_all(compiled.graph, f.registry, session, run);
    engine::plan(compiled.graph, std::move(observations), run, ledger);
    benchmark::DoNotOptimize(run.data());
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
}

BENCHMARK(BM_Load)->Arg(200)->Arg(1000)->Arg(10000)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_CompileAndPlan)->Arg(200)->Arg(1000)->Arg(10000)->Unit(benchmark::kMillisecond);

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
