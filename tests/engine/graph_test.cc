#include "engine/graph.h"

#include <gtest/gtest.h>

#include "tests/support/compile.h"

#include "engine/loader.h"
#include "tests/engine/fake_kind.h"

namespace reconcile::engine {
namespace {

using testing::compile_yaml;

class GraphTest : public ::testing::Test {
 protected:
  testing::FakeProvider* fake_ = nullptr;
  Registry registry_ = testing::fake_registry(&fake_);
};

TEST_F(GraphTest, RequiresBecomeEdgesInDependencyOrder) {
  auto compiled = compile_yaml(
      "fakes:\n"
      "  - {name: c, requires: [fake:b]}\n"
      "  - {name: a}\n"
      "  - {name: b, requires: [fake:a]}\n",
      registry_);
  ASSERT_TRUE(compiled.errors.empty()) << compiled.errors[0].str();
  const auto& g = compiled.graph;
  std::vector<std::string> order;
  for (const auto v : g.order()) order.push_back(g.resources[v]->id());
  EXPECT_EQ(order, (std::vector<std::string>{"fake:a", "fake:b", "fake:c"}));
  EXPECT_NE(g.dot().find("\"fake:a\" -> \"fake:b\";"), std::string::npos) << g.dot();
}

TEST_F(GraphTest, AutomaticEdgesLinkOnlyToManagedResources) {
  auto compiled = compile_yaml(
      "fakes:\n"
      "  - {name: svc, auto: [fake:pkg, fake:unmanaged]}\n"
      "  - {name: pkg}\n",
      registry_);
  ASSERT_TRUE(compiled.errors.empty());
  const auto& g = compiled.graph;
  EXPECT_EQ(g.edges.size(), 1u);
  EXPECT_EQ(g.requirements(g.index.at("fake:svc")), (std::vector<std::size_t>{g.index.at("fake:pkg")}));
  EXPECT_NE(g.dot().find("[style=dashed]"), std::string::npos);
}

TEST_F(GraphTest, CycleIsPrintedAsPathWithEachHopsLocation) {
  auto compiled = compile_yaml(
      "fakes:\n"
      "  - {name: a, requires: [fake:c]}\n"
      "  - {name: b, requires: [fake:a]}\n"
      "  - {name: c, requires: [fake:b]}\n",
      registry_);
  ASSERT_EQ(compiled.errors.size(), 1u);
  const auto& error = compiled.errors[0];
  EXPECT_EQ(error.code, resources::ErrorCode::kCycle);
  EXPECT_NE(error.message.find("dependency cycle: fake:a -> fake:b -> fake:c -> fake:a"), std::string::npos)
      << error.message;
  EXPECT_NE(error.message.find("fake:b requires fake:a at state.yaml:3:26"), std::string::npos) << error.message;
  EXPECT_NE(error.message.find("fake:a requires fake:c at state.yaml:2:26"), std::string::npos) << error.message;
}

TEST_F(GraphTest, SelfRequirementIsACycle) {
  auto compiled = compile_yaml("fakes:\n  - {name: a, requires: [fake:a]}\n", registry_);
  ASSERT_EQ(compiled.errors.size(), 1u);
  EXPECT_EQ(compiled.errors[0].code, resources::ErrorCode::kCycle);
  EXPECT_EQ(compiled.errors[0].key_path, "fakes[0].requires[0]");
}

TEST_F(GraphTest, UnknownRequiresTargetSuggestsNearestManagedId) {
  auto compiled = compile_yaml("fakes:\n  - {name: nginx}\n  - {name: b, requires: [fake:ngnix]}\n", registry_);
  ASSERT_EQ(compiled.errors.size(), 1u);
  const auto& error = compiled.errors[0];
  EXPECT_EQ(error.code, resources::ErrorCode::kUnknownTarget);
  EXPECT_EQ(error.location.line, 3);
  EXPECT_EQ(error.key_path, "fakes[1].requires[0]");
  EXPECT_EQ(error.hint, "did you mean 'fake:nginx'?");
}

TEST_F(GraphTest, ContradictionNamesBothPlacesAndSameStateTwiceIsOne) {
  auto compiled = compile_yaml("fakes:\n  - {name: a, value: on}\n  - {name: a, value: off}\n  - {name: a, value: on}\n",
                               registry_);
  ASSERT_EQ(compiled.errors.size(), 1u);
  const auto& error = compiled.errors[0];
  EXPECT_EQ(error.code, resources::ErrorCode::kConflict);
  EXPECT_EQ(error.location.line, 3);
  EXPECT_NE(error.message.find("state.yaml:2:5"), std::string::npos) << error.message;
  EXPECT_EQ(compiled.graph.size(), 1u);
}

TEST_F(GraphTest, TwoOwnersOfOneFileFragmentAreAnInputErrorNamingBoth) {
  auto compiled = compile_yaml(
      "fakes:\n"
      "  - {name: a, claims: [\"/etc/sysctl.d/90-reconcile.conf line:vm.swappiness\"]}\n"
      "  - {name: b, claims: [\"/etc/sysctl.d/90-reconcile.conf line:vm.overcommit_memory\"]}\n"
      "  - {name: c, claims: [\"/etc/sysctl.d/90-reconcile.conf line:vm.swappiness\"]}\n",
      registry_);
  ASSERT_EQ(compiled.errors.size(), 1u);
  const auto& error = compiled.errors[0];
  EXPECT_EQ(error.code, resources::ErrorCode::kConflict);
  EXPECT_EQ(error.location.str(), "state.yaml:4:5");
  EXPECT_EQ(error.key_path, "fakes[2]");
  EXPECT_EQ(error.message,
            "fake:c here and fake:a at state.yaml:2:5 (fakes[0]) claim /etc/sysctl.d/90-reconcile.conf: the same "
            "keyed line 'vm.swappiness'");
}

TEST_F(GraphTest, AFragmentOfAFileTheTimezoneOwnsWhollyIsAConflict) {
  auto compiled = compile_yaml("timezone: Etc/UTC\nfakes:\n  - {name: a, claims: [\"/etc/timezone line:zone\"]}\n",
                               registry_);
  ASSERT_EQ(compiled.errors.size(), 1u);
  EXPECT_EQ(compiled.errors[0].key_path, "fakes[0]");
  EXPECT_NE(compiled.errors[0].message.find("fake:a here and timezone at state.yaml:1:"), std::string::npos)
      << compiled.errors[0].message;
  EXPECT_NE(compiled.errors[0].message.find("claim /etc/timezone: the whole file against keyed line 'zone'"),
            std::string::npos)
      << compiled.errors[0].message;
}

TEST_F(GraphTest, IdenticalEntriesMergeTheirRequiresEachWithItsOwnPlace) {
  auto compiled = compile_yaml(
      "fakes:\n"
      "  - {name: a}\n"
      "  - {name: b}\n"
      "  - {name: c, requires: [fake:a]}\n"
      "  - {name: c, requires: [fake:b]}\n"
      "  - {name: c}\n",
      registry_);
  ASSERT_TRUE(compiled.errors.empty()) << compiled.errors[0].str();
  const auto& g = compiled.graph;
  ASSERT_EQ(g.size(), 3u);
  const std::size_t a = g.index.at("fake:a"), b = g.index.at("fake:b"), c = g.index.at("fake:c");
  ASSERT_TRUE(g.edges.contains({a, c}));
  ASSERT_TRUE(g.edges.contains({b, c}));
  EXPECT_EQ(g.edges.at({a, c}).location.line, 4);
  EXPECT_EQ(g.edges.at({b, c}).location.line, 5);
  EXPECT_EQ(g.requirements(c).size(), 2u);
}

TEST_F(GraphTest, APackageWrittenTwiceKeepsTheRequiresOfTheSecondEntry) {
  auto compiled = compile_yaml(
      "timezone: Etc/UTC\n"
      "packages:\n"
      "  present:\n"
      "    - nginx\n"
      "    - {name: nginx, requires: [timezone]}\n",
      registry_);
  ASSERT_TRUE(compiled.errors.empty()) << compiled.errors[0].str();
  const auto& g = compiled.graph;
  const std::size_t zone = g.index.at("timezone"), nginx = g.index.at("package:nginx");
  ASSERT_TRUE(g.edges.contains({zone, nginx})) << g.dot();
  EXPECT_EQ(g.edges.at({zone, nginx}).location.line, 5);
  EXPECT_EQ(g.resources[nginx]->location().line, 4);
}

TEST_F(GraphTest, ADuplicatesUnknownRequiresTargetIsReportedAtItsOwnPlace) {
  auto compiled = compile_yaml("fakes:\n  - {name: a}\n  - {name: a, requires: [fake:nope]}\n", registry_);
  ASSERT_EQ(compiled.errors.size(), 1u);
  EXPECT_EQ(compiled.errors[0].code, resources::ErrorCode::kUnknownTarget);
  EXPECT_EQ(compiled.errors[0].location.line, 3);
  EXPECT_EQ(compiled.errors[0].key_path, "fakes[1].requires[0]");
}

TEST_F(GraphTest, ConflictingDuplicatesInTwoLayersNameTheFileAndLineOfEach) {
  std::vector<resources::Error> errors;
  resources::Node base = parse_text("common.yaml", "fakes:\n  - {name: a, value: on}\n", errors);
  const resources::Node host = parse_text("web1.yaml", "# web1\nfakes:\n  - {name: a, value: off}\n", errors);
  ASSERT_TRUE(errors.empty());
  merge_into(base, host);
  auto compiled = compile(base, registry_);
  ASSERT_EQ(compiled.errors.size(), 1u);
  const auto& error = compiled.errors[0];
  EXPECT_EQ(error.code, resources::ErrorCode::kConflict);
  EXPECT_EQ(error.location.file, "web1.yaml");
  EXPECT_EQ(error.location.line, 3);
  EXPECT_NE(error.message.find("value=off here and as value=on at common.yaml:2:5"), std::string::npos)
      << error.message;
}

TEST_F(GraphTest, DuplicatesWithOtherSettingsThanTheirDesiredFieldsConflict) {
  auto compiled = compile_yaml("services:\n  enabled: [nginx, {name: nginx, package: nginx-full}]\n", registry_);
  ASSERT_EQ(compiled.errors.size(), 1u);
  EXPECT_EQ(compiled.errors[0].code, resources::ErrorCode::kConflict);
  EXPECT_NE(compiled.errors[0].message.find("other settings than at state.yaml:2:13"), std::string::npos)
      << compiled.errors[0].message;
}

TEST_F(GraphTest, UnknownTopLevelKeySuggestsNearest) {
  auto compiled = compile_yaml("timezon: Etc/UTC\n", registry_);
  ASSERT_EQ(compiled.errors.size(), 1u);
  EXPECT_EQ(compiled.errors[0].code, resources::ErrorCode::kUnknownKey);
  EXPECT_EQ(compiled.errors[0].hint, "did you mean 'timezone'?");
  EXPECT_EQ(compiled.errors[0].location.line, 1);
}

TEST_F(GraphTest, UnknownTopLevelKeyHintListsOnlyKindsThatWork) {
  auto compiled = compile_yaml("laitoz: {}\nsysctls: {}\n", registry_);
  ASSERT_EQ(compiled.errors.size(), 2u);
  EXPECT_EQ(compiled.errors[0].hint.find("laitos"), std::string::npos) << compiled.errors[0].hint;  // not built yet
  EXPECT_EQ(compiled.errors[1].hint, "did you mean 'sysctl'?");
}

TEST_F(GraphTest, EveryErrorIsReportedAtOnce) {
  auto compiled = compile_yaml("timezon: Etc/UTC\nfakes:\n  - {name: a, requires: [fake:x]}\n  - {name: b, colour: red}\n",
                               registry_);
  EXPECT_EQ(compiled.errors.size(), 3u);
}

TEST_F(GraphTest, SettingsSectionIsValidatedAndKeptAsItsNodeWithoutResources) {
  registry_.add_section(resources::SectionSpec{
      "settings", "run settings", [](const resources::Node& value, resources::NodeReader& reader) {
        reader.check_keys(value, {"every"}, "settings");
      }});
  auto compiled = compile_yaml("settings: {every: 5m}\nfakes: [{name: a}]\n", registry_);
  ASSERT_TRUE(compiled.errors.empty()) << compiled.errors[0].str();
  EXPECT_EQ(compiled.graph.resources.size(), 1u);
  ASSERT_TRUE(compiled.sections.contains("settings"));
  EXPECT_EQ(compiled.sections.at("settings").entries.at(0).key, "every");

  auto bad = compile_yaml("settings: {evry: 5m}\n", registry_);
  ASSERT_EQ(bad.errors.size(), 1u);
  EXPECT_NE(bad.errors[0].str().find("every"), std::string::npos) << bad.errors[0].str();

  auto misspelt = compile_yaml("setings: {}\n", registry_);
  ASSERT_EQ(misspelt.errors.size(), 1u);
  EXPECT_NE(misspelt.errors[0].str().find("settings"), std::string::npos) << misspelt.errors[0].str();
}

}  // namespace
}  // namespace reconcile::engine
