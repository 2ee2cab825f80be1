// Notifications on in-memory state: a file that drifts plans a restart of the service it notifies, worded for
// the dry run; the apply keeps it only when a notifier changed.
#include <gtest/gtest.h>

#include "engine/plan.h"
#include "resources/file.h"
#include "resources/service.h"
#include "tests/support/compile.h"

namespace reconcile::engine {
namespace {

using resources::FileObserved;
using resources::FileType;
using resources::ServiceObserved;

constexpr const char* kState =
    "services: {enabled: [nginx]}\n"
    "files:\n"
    "  - {path: /etc/nginx/nginx.conf, content: x, notify: [service:nginx]}\n"
    "  - {path: /etc/nginx/conf.d/a.conf, content: y, notify: [{service: nginx, action: reload}]}\n";

struct World {
  bool conf_same = false;
  bool extra_same = false;
  resources::UnitActive active = resources::UnitActive::kActive;
  bool can_reload = false;
};

class NotifyTest : public ::testing::Test {
 protected:
  void plan_with(const std::string& text, const World& world) {
    compiled_ = testing::compile_yaml(text);
    ASSERT_TRUE(compiled_.errors.empty()) << compiled_.errors[0].str();
    auto& g = compiled_.graph;
    std::vector<providers::Observation> observations;
    for (const auto& resource : g.resources) {
      if (resource->kind() == "file") {
        auto seen = std::make_unique<FileObserved>();
        seen->type = FileType::kFile;
        seen->content_known = true;
        seen->content_same = resource->name() == "/etc/nginx/nginx.conf" ? world.conf_same : world.extra_same;
        observations.push_back(providers::Observation::known(std::move(seen)));
      } else {
        auto seen = std::make_unique<ServiceObserved>();
        seen->unit = "nginx.service";
        seen->load = resources::UnitLoad::kLoaded;
        seen->file = resources::UnitFile::kEnabled;
        seen->active = world.active;
        seen->can_reload = world.can_reload;
        observations.push_back(providers::Observation::known(std::move(seen)));
      }
    }
    state_ = RunState(g.size());
    plan(g, std::move(observations), state_, ledger_);
  }
  ResourceState& at(const std::string& id) { return state_[compiled_.graph.index.at(id)]; }
  std::size_t vertex(const std::string& id) { return compiled_.graph.index.at(id); }

  Compiled compiled_;
  RunState state_;
  Ledger ledger_;
};

TEST_F(NotifyTest, DriftedFilesPlanOneRestartNamingEveryNotifier) {
  plan_with(kState, World{});
  auto& service = at("service:nginx");
  EXPECT_EQ(service.status, Status::kDrifted);
  ASSERT_EQ(service.drift.size(), 1u);
  EXPECT_EQ(service.drift[0].summary,
            "would restart service:nginx (after file:/etc/nginx/nginx.conf, file:/etc/nginx/conf.d/a.conf)");
  EXPECT_TRUE(resources::is_field(service.drift[0], resources::ServiceField::kRestart));
}

TEST_F(NotifyTest, NoDriftedNotifierNoRestart) {
  plan_with(kState, World{true, true});
  EXPECT_EQ(at("service:nginx").status, Status::kInSync);
  EXPECT_TRUE(at("service:nginx").drift.empty());
}

TEST_F(NotifyTest, ReloadWhenEveryNotifierAsksAndTheUnitCan) {
  plan_with(kState, World{true, false, resources::UnitActive::kActive, true});
  ASSERT_EQ(at("service:nginx").drift.size(), 1u);
  EXPECT_EQ(at("service:nginx").drift[0].summary, "would reload service:nginx (after file:/etc/nginx/conf.d/a.conf)");
  EXPECT_TRUE(resources::is_field(at("service:nginx").drift[0], resources::ServiceField::kReload));
  plan_with(kState, World{true, false, resources::UnitActive::kActive, false});
  EXPECT_EQ(at("service:nginx").drift[0].summary,
            "would restart service:nginx (after file:/etc/nginx/conf.d/a.conf); nginx.service cannot reload, so it "
            "restarts");
}

TEST_F(NotifyTest, AServiceAboutToStartIsNotRestartedToo) {
  plan_with(kState, World{false, false, resources::UnitActive::kInactive});
  auto& service = at("service:nginx");
  ASSERT_EQ(service.drift.size(), 1u);
  EXPECT_TRUE(resources::is_field(service.drift[0], resources::ServiceField::kActive));
  EXPECT_TRUE(service.notified_by.empty());
}

TEST_F(NotifyTest, ApplyKeepsTheRestartOnlyWhenANotifierChanged) {
  plan_with(kState, World{});
  at("file:/etc/nginx/nginx.conf").status = Status::kFailed;
  at("file:/etc/nginx/conf.d/a.conf").status = Status::kChanged;
  keep_notification(vertex("service:nginx"), state_);
  EXPECT_EQ(at("service:nginx").status, Status::kDrifted);
  ASSERT_EQ(at("service:nginx").drift.size(), 1u);

  plan_with(kState, World{});
  at("file:/etc/nginx/nginx.conf").status = Status::kInSync;  // converged by the time it was applied
  at("file:/etc/nginx/conf.d/a.conf").status = Status::kInSync;
  keep_notification(vertex("service:nginx"), state_);
  EXPECT_EQ(at("service:nginx").status, Status::kInSync);
  EXPECT_TRUE(at("service:nginx").drift.empty());
}

}  // namespace
}  // namespace reconcile::engine
