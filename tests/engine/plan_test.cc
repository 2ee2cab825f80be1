#include "engine/plan.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <condition_variable>
#include <mutex>
#include <nlohmann/json.hpp>

#include "tests/support/compile.h"

#include "engine/executor.h"
#include "engine/loader.h"
#include "engine/observe.h"
#include "engine/report.h"
#include "engine/run.h"
#include "tests/engine/fake_kind.h"
#include "tests/engine/temp_root.h"

namespace reconcile::engine {
namespace {

// Runs the phases after compile over the fake provider's in-memory world.
class PlanTest : public ::testing::Test {
 protected:
  void compile_state(const std::string& text) {
    compiled_ = testing::compile_yaml(text, registry_);
    ASSERT_TRUE(compiled_.errors.empty()) << compiled_.errors[0].str();
  }
  void observe_and_plan() {
    auto observations = observe_all(compiled_.graph, registry_, session_, state_);
    plan(compiled_.graph, std::move(observations), state_, ledger_);
  }
  void apply(int jobs = 2) {
    execute(compiled_.graph, state_, session_, ExecuteOptions{jobs, nullptr});
    verify(compiled_.graph, state_, session_);
  }
  ResourceState& at(const std::string& id) { return state_[compiled_.graph.index.at(id)]; }

  testing::FakeProvider* fake_ = nullptr;
  Registry registry_ = testing::fake_registry(&fake_);
  providers::Exec exec_;
  providers::Host host_{"/", &exec_, true, {}};
  providers::Session session_{host_};
  Ledger ledger_;
  Compiled compiled_;
  RunState state_;
};

TEST_F(PlanTest, DiffsEachResourceOncePerProviderBatch) {
  compile_state("fakes: [{name: a}, {name: b}, {name: c}]\n");
  fake_->world = {{"a", "on"}, {"b", "off"}};
  observe_and_plan();
  EXPECT_EQ(fake_->observe_calls, 1);
  EXPECT_EQ(at("fake:a").status, Status::kInSync);
  EXPECT_EQ(at("fake:b").status, Status::kDrifted);
  ASSERT_EQ(at("fake:b").drift.size(), 1u);
  EXPECT_EQ(at("fake:b").drift[0].observed, "off");
  EXPECT_EQ(at("fake:b").drift[0].desired, "on");
  EXPECT_EQ(at("fake:c").drift[0].observed, "absent");
}

TEST_F(PlanTest, WhenPlanSaysNothingToDoApplyChangesNothing) {
  compile_state("fakes: [{name: a}, {name: b, requires: [fake:a]}]\n");
  fake_->world = {{"a", "on"}, {"b", "on"}};
  observe_and_plan();
  apply();
  EXPECT_TRUE(fake_->batches.empty());
  EXPECT_EQ(at("fake:a").status, Status::kInSync);
  EXPECT_EQ(at("fake:b").status, Status::kInSync);
}

TEST_F(PlanTest, ReadyChangesOfOneProviderAreBatched) {
  compile_state("fakes: [{name: a}, {name: b}, {name: c}]\n");
  observe_and_plan();
  apply();
  ASSERT_EQ(fake_->batches.size(), 1u);
  EXPECT_EQ(fake_->batches[0], (std::vector<std::string>{"a", "b", "c"}));
  for (const char* id : {"fake:a", "fake:b", "fake:c"}) EXPECT_EQ(at(id).status, Status::kChanged);
  EXPECT_EQ(fake_->observe_calls, 2);  // observe, then verify once for the batch
}

TEST_F(PlanTest, DependentsConvergeAfterTheirRequirements) {
  compile_state("fakes: [{name: c, requires: [fake:b]}, {name: b, requires: [fake:a]}, {name: a}]\n");
  observe_and_plan();
  apply();
  ASSERT_EQ(fake_->batches.size(), 3u);
  EXPECT_EQ(fake_->batches[0], std::vector<std::string>{"a"});
  EXPECT_EQ(fake_->batches[1], std::vector<std::string>{"b"});
  EXPECT_EQ(fake_->batches[2], std::vector<std::string>{"c"});
}

TEST_F(PlanTest, DependentsOfFailedResourceAreSkippedButNotItsSiblings) {
  compile_state(
      "fakes:\n"
      "  - {name: base}\n"
      "  - {name: child, requires: [fake:base]}\n"
      "  - {name: grandchild, requires: [fake:child]}\n"
      "  - {name: sibling}\n");
  fake_->failing = {"base"};
  observe_and_plan();
  apply();
  EXPECT_EQ(at("fake:base").status, Status::kFailed);
  EXPECT_EQ(at("fake:base").reason, "it broke");
  EXPECT_EQ(at("fake:child").status, Status::kSkipped);
  EXPECT_EQ(at("fake:child").reason, "requires fake:base, which failed");
  EXPECT_EQ(at("fake:grandchild").status, Status::kSkipped);
  EXPECT_EQ(at("fake:grandchild").reason, "requires fake:base, which failed (through fake:child)");
  EXPECT_EQ(at("fake:sibling").status, Status::kChanged);
}

TEST_F(PlanTest, UnobservableResourceIsUnknownInPlanAndFailsItsDependentsInApply) {
  compile_state("fakes: [{name: secret}, {name: user, requires: [fake:secret]}]\n");
  fake_->unobservable = {"secret"};
  observe_and_plan();
  EXPECT_EQ(at("fake:secret").status, Status::kUnknown);
  EXPECT_EQ(at("fake:secret").reason, "not observable: permission denied");
  apply();
  EXPECT_EQ(at("fake:secret").status, Status::kFailed);
  EXPECT_EQ(at("fake:user").status, Status::kSkipped);
}

TEST_F(PlanTest, BlockedResourceIsPlannedAgainstPredictionAfterRequirement) {
  compile_state("fakes: [{name: pkg}, {name: svc, requires: [fake:pkg], provided_by: [fake:pkg]}]\n");
  fake_->blocked = {"svc"};
  observe_and_plan();
  EXPECT_EQ(at("fake:svc").status, Status::kDrifted);
  EXPECT_EQ(at("fake:svc").after, std::vector<std::string>{"fake:pkg"});
  EXPECT_EQ(at("fake:svc").drift[0].observed, "predicted");
  apply();
  EXPECT_EQ(at("fake:pkg").status, Status::kChanged);
  EXPECT_EQ(at("fake:svc").status, Status::kChanged);
  EXPECT_EQ(fake_->world["svc"], "on");
}

TEST_F(PlanTest, BlockedResourceWithNothingPlannedBeforeItFails) {
  compile_state("fakes: [{name: pkg}, {name: svc, requires: [fake:pkg]}]\n");
  fake_->world = {{"pkg", "on"}};
  fake_->blocked = {"svc"};
  observe_and_plan();
  EXPECT_EQ(at("fake:svc").status, Status::kFailed);
  EXPECT_EQ(at("fake:svc").reason, "svc does not exist");
}

TEST_F(PlanTest, BlockedResourceWhoseOnlyPlannedRequirementCannotProvideItFails) {
  compile_state("fakes: [{name: pkg}, {name: tz},\n"
                "        {name: svc, requires: [fake:pkg, fake:tz], provided_by: [fake:pkg]}]\n");
  fake_->world = {{"pkg", "on"}};
  fake_->blocked = {"svc"};
  observe_and_plan();
  EXPECT_EQ(at("fake:tz").status, Status::kDrifted);
  EXPECT_EQ(at("fake:svc").status, Status::kFailed);
  EXPECT_EQ(at("fake:svc").reason, "svc does not exist");
  EXPECT_TRUE(at("fake:svc").after.empty());
}

TEST_F(PlanTest, BlockedResourceIsPredictedOnlyAfterTheRequirementThatCanProvideIt) {
  compile_state("fakes: [{name: pkg}, {name: tz},\n"
                "        {name: svc, requires: [fake:pkg, fake:tz], provided_by: [fake:pkg]}]\n");
  fake_->blocked = {"svc"};
  observe_and_plan();
  EXPECT_EQ(at("fake:svc").status, Status::kDrifted);
  EXPECT_EQ(at("fake:svc").after, std::vector<std::string>{"fake:pkg"});
}

TEST_F(PlanTest, DriftLeftAfterApplyIsNotConverged) {
  compile_state("fakes: [{name: a}]\n");
  fake_->stuck = {"a"};
  observe_and_plan();
  apply();
  EXPECT_EQ(at("fake:a").status, Status::kFailed);
  EXPECT_EQ(at("fake:a").reason, "not converged: value is still absent, not on");
}

TEST_F(PlanTest, DriftFromLastAppliedValueIsCorrectiveAndNewWishIsIntended) {
  compile_state("fakes: [{name: a}, {name: b}]\n");
  ledger_.record("fake:a", {{"value", "on"}});
  ledger_.record("fake:b", {{"value", "old"}});
  observe_and_plan();
  EXPECT_EQ(at("fake:a").label, Label::kCorrective);
  EXPECT_EQ(at("fake:b").label, Label::kIntended);
}

TEST_F(PlanTest, ReadyResourcesOfIndependentBranchesGoOutTogetherLevelByLevel) {
  // One provider runs one batch at a time (its own cap), so with several jobs the ready heads of both
  // chains go out as one batch, then both tails.
  compile_state("fakes: [{name: a}, {name: b, requires: [fake:a]}, {name: c}, {name: d, requires: [fake:c]}]\n");
  observe_and_plan();
  apply(4);
  ASSERT_EQ(fake_->batches.size(), 2u);
  EXPECT_EQ(fake_->batches[0], (std::vector<std::string>{"a", "c"}));
  EXPECT_EQ(fake_->batches[1], (std::vector<std::string>{"b", "d"}));
}

// PlanTest with a second fake provider, "other" (`via: other`), for what the batches of two providers do.
class ExecutorTest : public PlanTest {
 protected:
  ExecutorTest() {
    auto owned = std::make_unique<testing::FakeProvider>("other");
    other_ = owned.get();
    registry_.add_provider(std::move(owned));
  }
  // Two providers' batches, each held open until the other has started or 300 ms pass: how many ran at once.
  int most_batches_at_once(int jobs) {
    compile_state("fakes: [{name: a}, {name: b, via: other}]\n");
    auto hold = [this] {
      std::unique_lock lock(hold_mutex_);
      most_ = std::max(most_, ++running_);
      hold_changed_.notify_all();
      hold_changed_.wait_for(lock, std::chrono::milliseconds(300), [&] { return running_ >= 2; });
      --running_;
    };
    fake_->on_apply = hold;
    other_->on_apply = hold;
    observe_and_plan();
    apply(jobs);
    EXPECT_EQ(at("fake:a").status, Status::kChanged);
    EXPECT_EQ(at("fake:b").status, Status::kChanged);
    return most_;
  }

  testing::FakeProvider* other_ = nullptr;
  std::mutex hold_mutex_;
  std::condition_variable hold_changed_;
  int running_ = 0, most_ = 0;
};

TEST(ReportTest, OneResourceIsCountedInTheSingular) {
  Report report;
  report.dry_run = true;
  report.host = "web1";
  ResourceReport one;
  one.id = "timezone";
  one.status = Status::kInSync;
  report.resources.push_back(one);
  finish(report);
  const std::string text = render_text(report, TextOptions{});
  EXPECT_NE(text.find(" of 1 resource on web1"), std::string::npos) << text;
}

TEST(ReportTest, ABatchedCommandIsPrintedOnceWithTheResourcesItServedAndFieldsAreNotSaidTwice) {
  Report report;
  report.host = "web1";
  const std::string batch = "apt-get -y -q install -- hello tree at";
  for (const char* name : {"hello", "tree", "at"}) {
    ResourceReport r;
    r.id = std::string("package:") + name;
    r.status = Status::kChanged;
    r.drift.push_back({"installed", "not installed", "2.10-3", ""});
    r.steps.push_back({batch, 1.5, 0, ""});
    if (std::string(name) == "at") r.steps.push_back({"systemctl start atd", 0.1, 0, ""});
    report.resources.push_back(r);
  }
  ResourceReport version;
  version.id = "package:jq";
  version.status = Status::kDrifted;
  version.drift.push_back({"version", "1.6", "1.7", ""});
  report.resources.push_back(version);
  finish(report);
  const std::string text = render_text(report, TextOptions{});
  std::size_t count = 0;
  for (auto at = text.find(batch); at != std::string::npos; at = text.find(batch, at + 1)) ++count;
  EXPECT_EQ(count, 1u) << text;
  EXPECT_NE(text.find(batch + " (1.50 s) for 3 resources: package:hello, package:tree, package:at"), std::string::npos)
      << text;
  EXPECT_NE(text.find("ran: systemctl start atd (100.0 ms)\n"), std::string::npos) << text;
  EXPECT_NE(text.find("package:hello: not installed → 2.10-3"), std::string::npos) << text;
  EXPECT_EQ(text.find("installed not installed"), std::string::npos) << text;
  EXPECT_NE(text.find("package:jq: version 1.6 → 1.7"), std::string::npos) << text;
}

TEST(ReportTest, ErrorsThatAreNotAboutTheInputCarryNoInputPrefix) {
  const resources::Error run_error{resources::ErrorCode::kSystem, "applying changes needs root", resources::Location{},
                                   "", ""};
  EXPECT_EQ(run_error.str(), "applying changes needs root");
  EXPECT_EQ(render_errors({run_error}, false), "error: applying changes needs root\n");
  const resources::Error input_error{resources::ErrorCode::kInvalidValue, "bad", resources::Location{"", 2, 3}, "", ""};
  EXPECT_EQ(input_error.str(), "<input>:2:3: bad");
}


TEST_F(ExecutorTest, BatchesOfDifferentProvidersRunInParallelUpToJobs) { EXPECT_EQ(most_batches_at_once(2), 2); }

TEST_F(ExecutorTest, OneJobRunsOneBatchAtATime) { EXPECT_EQ(most_batches_at_once(1), 1); }

TEST_F(ExecutorTest, ProviderThatThrowsFailsItsBatchWithTheMessageAndTheRunGoesOn) {
  compile_state("fakes: [{name: a}, {name: b}, {name: c, via: other},"
                " {name: d, via: other, requires: [fake:c]}, {name: e, requires: [fake:a]}]\n");
  fake_->throw_in_apply = {"a"};
  observe_and_plan();
  apply(2);
  EXPECT_EQ(at("fake:a").status, Status::kFailed);
  EXPECT_EQ(at("fake:a").reason, "apply failed: a exploded");
  EXPECT_EQ(at("fake:b").status, Status::kFailed);  // in a's batch
  EXPECT_EQ(at("fake:e").status, Status::kSkipped);
  EXPECT_EQ(at("fake:c").status, Status::kChanged);
  EXPECT_EQ(at("fake:d").status, Status::kChanged);
  EXPECT_EQ(other_->world["d"], "on");
}

TEST_F(ExecutorTest, BatchWhoseApplyThrowsGivesItsProviderSlotBackExactlyOnce) {
  // The fake provider runs one batch at a time. a's batch throws; x (behind other's c) and then y (behind other's
  // d, which waits until x has started) are the provider's next batches: both run, and y waits until x is done
  // (a slot given back twice would let y start while x is still applying).
  compile_state("fakes: [{name: a}, {name: c, via: other}, {name: d, via: other, requires: [fake:c]},"
                " {name: x, requires: [fake:c]}, {name: y, requires: [fake:d]}]\n");
  fake_->throw_in_apply = {"a"};
  int fake_calls = 0, other_calls = 0;
  bool x_started = false;
  fake_->on_apply = [&] {
    std::unique_lock lock(hold_mutex_);
    const int call = fake_calls++;
    most_ = std::max(most_, ++running_);
    if (call == 1) {  // x: held open for a while, long enough for y to start beside it if it could
      x_started = true;
      hold_changed_.notify_all();
      hold_changed_.wait_for(lock, std::chrono::milliseconds(100), [&] { return running_ >= 2; });
    }
    --running_;
  };
  other_->on_apply = [&] {
    std::unique_lock lock(hold_mutex_);
    if (other_calls++ == 1) hold_changed_.wait_for(lock, std::chrono::seconds(5), [&] { return x_started; });  // d
  };
  observe_and_plan();
  apply(3);
  EXPECT_EQ(most_, 1);
  EXPECT_EQ(at("fake:a").status, Status::kFailed);
  EXPECT_EQ(at("fake:a").reason, "apply failed: a exploded");
  EXPECT_EQ(fake_->batches, (std::vector<std::vector<std::string>>{{"x"}, {"y"}}));
  for (const char* id : {"fake:c", "fake:d", "fake:x", "fake:y"}) EXPECT_EQ(at(id).status, Status::kChanged) << id;
}

TEST_F(ExecutorTest, BatchAbandonedAfterItsApplyFailsTheRestAndTheProviderGoesOn) {
  // The progress callback throws after a's outcome: the batch is abandoned half finished, b (still without an
  // outcome) fails with the message, e behind it is skipped, and the provider's next batch (x) still runs.
  compile_state("fakes: [{name: a}, {name: b}, {name: e, requires: [fake:b]}, {name: c, via: other},"
                " {name: x, requires: [fake:c]}]\n");
  observe_and_plan();
  auto progress = [](const ProgressEvent& event) {
    if (event.kind == ProgressEvent::Kind::kEnd && event.id == "fake:a") throw std::runtime_error("progress exploded");
  };
  execute(compiled_.graph, state_, session_, ExecuteOptions{2, progress});
  verify(compiled_.graph, state_, session_);
  EXPECT_EQ(at("fake:a").status, Status::kChanged);
  EXPECT_EQ(at("fake:b").status, Status::kFailed);
  // b's change was made before the batch was abandoned: verify observes it again and says so.
  EXPECT_EQ(at("fake:b").reason, "apply failed: progress exploded; observed again: as desired after all");
  EXPECT_EQ(at("fake:e").status, Status::kSkipped);
  EXPECT_EQ(at("fake:x").status, Status::kChanged);
  EXPECT_EQ(fake_->batches, (std::vector<std::vector<std::string>>{{"a", "b"}, {"x"}}));
}

TEST_F(ExecutorTest, ProviderThatThrowsInObserveLeavesItsBatchUnknownAndOthersConverge) {
  compile_state("fakes: [{name: a}, {name: c, via: other}]\n");
  fake_->throw_in_observe = {"a"};
  observe_and_plan();
  apply(2);
  EXPECT_EQ(at("fake:a").status, Status::kFailed);
  EXPECT_EQ(at("fake:a").reason, "observe failed: a exploded");
  EXPECT_EQ(at("fake:c").status, Status::kChanged);
  EXPECT_EQ(other_->world["c"], "on");
}

TEST_F(PlanTest, ProviderThatThrowsInValidateIsAnErrorAtItsFirstResource) {
  compile_state("fakes: [{name: a}, {name: b}]\n");
  fake_->throw_in_validate = true;
  const auto errors = validate_on_host(compiled_.graph, registry_, session_);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].message, "validate failed: validate exploded (provider fake)");
  EXPECT_EQ(errors[0].location.line, compiled_.graph.resources[0]->location().line);
}

TEST_F(PlanTest, ProviderThatThrowsInExpandIsAnErrorAtItsFirstResource) {
  compile_state("fakes: [{name: a}, {name: b}]\n");
  fake_->throw_in_expand = true;
  const auto errors = expand_all(compiled_.graph, registry_, session_);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].message, "expand failed: expand exploded (provider fake)");
  EXPECT_EQ(compiled_.graph.size(), 2u);
}

TEST_F(ExecutorTest, RunWhoseProviderThrowsInApplyStillWritesItsReport) {
  if (::geteuid() != 0) GTEST_SKIP() << "applying needs root";
  fake_->throw_in_apply = {"a"};
  fake_->world = {{"b", "on"}};
  testing::TempRoot root;
  root.write("state.yaml", "fakes: [{name: a}, {name: b}]\n");
  RunOptions options;
  options.files = {(root.path() / "state.yaml").string()};
  options.root = root.path();
  const Report report = converge(options, registry_);
  ASSERT_TRUE(report.errors.empty()) << report.errors[0].str();
  const auto json = nlohmann::json::parse(render_json(report));
  ASSERT_EQ(json["resources"].size(), 2u) << json.dump(1);
  EXPECT_EQ(json["resources"][0]["status"], "failed");
  EXPECT_EQ(json["resources"][0]["reason"], "apply failed: a exploded");
  EXPECT_EQ(json["resources"][1]["status"], "in-sync");
  EXPECT_EQ(json["exit_code"], 4);
}

}  // namespace
}  // namespace reconcile::engine
