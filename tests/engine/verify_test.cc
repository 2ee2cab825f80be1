// Verify: what changed is observed again to prove it converged; what failed half way is observed again to say
// what the failing tool left. In-memory state through the fake kind.
#include <gtest/gtest.h>

#include "engine/executor.h"
#include "engine/observe.h"
#include "engine/plan.h"
#include "tests/engine/fake_kind.h"
#include "tests/support/compile.h"

namespace reconcile::engine {
namespace {

class VerifyTest : public ::testing::Test {
 protected:
  void run(const std::string& text) {
    compiled_ = testing::compile_yaml(text, registry_);
    ASSERT_TRUE(compiled_.errors.empty()) << compiled_.errors[0].str();
    auto observations = observe_all(compiled_.graph, registry_, session_, state_);
    plan(compiled_.graph, std::move(observations), state_, Ledger());
    execute(compiled_.graph, state_, session_, ExecuteOptions{1, nullptr});
    verify(compiled_.graph, state_, session_);
  }
  ResourceState& at(const std::string& id) { return state_[compiled_.graph.index.at(id)]; }

  testing::FakeProvider* fake_ = nullptr;
  Registry registry_ = testing::fake_registry(&fake_);
  providers::Exec exec_;
  providers::Host host_{"/", &exec_, true, {}};
  providers::Session session_{host_};
  Compiled compiled_;
  RunState state_;
};

TEST_F(VerifyTest, AToolThatFailedHalfWayIsObservedAgainAndTheReportSaysWhatItLeft) {
  fake_->world = {{"home", "/home/alice"}};
  fake_->failing = {"home"};
  fake_->half_done = {{"home", "/etc"}};  // usermod rewrote passwd, then failed to move the files
  run("fakes: [{name: home, value: /srv/alice}]\n");
  const auto& home = at("fake:home");
  EXPECT_EQ(home.status, Status::kFailed);
  EXPECT_EQ(home.reason, "it broke; observed again, it left: value is /etc (desired /srv/alice)");
  ASSERT_EQ(home.drift.size(), 1u);
  EXPECT_EQ(home.drift[0].observed, "/etc");  // the report's drift is what the host holds now
  EXPECT_EQ(fake_->observe_calls, 2);         // observe, then once again in verify
}

TEST_F(VerifyTest, AToolThatFailedAfterItsChangeSaysTheResourceIsAsDesiredYetStaysFailed) {
  fake_->failing = {"late"};
  fake_->half_done = {{"late", "on"}};
  run("fakes: [{name: late}]\n");
  EXPECT_EQ(at("fake:late").status, Status::kFailed);
  EXPECT_EQ(at("fake:late").reason, "it broke; observed again: as desired after all");
}

TEST_F(VerifyTest, AToolThatFailedBeforeChangingAnythingKeepsItsOwnMessage) {
  fake_->failing = {"plain"};
  run("fakes: [{name: plain}, {name: fine}]\n");
  EXPECT_EQ(at("fake:plain").status, Status::kFailed);
  EXPECT_EQ(at("fake:plain").reason, "it broke");
  EXPECT_EQ(at("fake:fine").status, Status::kChanged);
}

TEST_F(VerifyTest, WhatCouldNotBeObservedIsNotObservedAgain) {
  fake_->unobservable = {"secret"};
  run("fakes: [{name: secret}]\n");
  EXPECT_EQ(at("fake:secret").status, Status::kFailed);
  EXPECT_EQ(fake_->observe_calls, 1);
}

}  // namespace
}  // namespace reconcile::engine
