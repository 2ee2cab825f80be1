#include "resources/group.h"

#include <gtest/gtest.h>

#include "tests/support/compile.h"

#include "engine/graph.h"

namespace reconcile::resources {
namespace {

using testing::compile_yaml;

const GroupResource& group(const engine::Compiled& compiled, const std::string& id) {
  return dynamic_cast<const GroupResource&>(*compiled.graph.resources.at(compiled.graph.index.at(id)));
}

bool has_edge(const engine::Compiled& compiled, const std::string& from, const std::string& to) {
  return compiled.graph.edges.contains({compiled.graph.index.at(from), compiled.graph.index.at(to)});
}

TEST(GroupTest, PresentAndAbsentCompileToGroupResources) {
  const auto compiled = compile_yaml(
      "groups:\n"
      "  present:\n"
      "    - {name: deploy, gid: 1500}\n"
      "    - ops\n"
      "    - {name: daemons, system: true}\n"
      "  absent: [oldgrp]\n");
  ASSERT_TRUE(compiled.errors.empty()) << compiled.errors[0].str();
  ASSERT_EQ(compiled.graph.size(), 4u);
  const auto& deploy = group(compiled, "group:deploy");
  EXPECT_EQ(deploy.ensure(), GroupEnsure::kPresent);
  EXPECT_EQ(deploy.gid, 1500u);
  EXPECT_FALSE(deploy.system);
  EXPECT_EQ(deploy.key_path(), "groups.present[0]");
  EXPECT_EQ(deploy.location().line, 3);
  EXPECT_FALSE(group(compiled, "group:ops").gid);
  EXPECT_TRUE(group(compiled, "group:daemons").system);
  EXPECT_EQ(group(compiled, "group:oldgrp").ensure(), GroupEnsure::kAbsent);
}

TEST(GroupTest, BadEntriesAreInputErrorsWithTheirPlace) {
  const auto compiled = compile_yaml(
      "groups:\n"
      "  present:\n"
      "    - {name: 'bad name'}\n"
      "    - {name: web, gid: -1}\n"
      "    - {name: db, members: [alice]}\n"
      "  absent: [{name: old, gid: 5}]\n"
      "  presnt: [x]\n");
  ASSERT_EQ(compiled.errors.size(), 5u);
  EXPECT_EQ(compiled.errors[0].location.line, 7);  // the mapping's keys are checked first
  EXPECT_NE(compiled.errors[0].hint.find("did you mean 'present'?"), std::string::npos) << compiled.errors[0].hint;
  EXPECT_EQ(compiled.errors[1].location.line, 3);
  EXPECT_NE(compiled.errors[1].message.find("invalid group name 'bad name'"), std::string::npos);
  EXPECT_EQ(compiled.errors[2].location.line, 4);
  EXPECT_EQ(compiled.errors[2].key_path, "groups.present[1].gid");
  EXPECT_EQ(compiled.errors[3].location.line, 5);
  EXPECT_NE(compiled.errors[3].message.find("members"), std::string::npos) << compiled.errors[3].message;
  EXPECT_EQ(compiled.errors[4].location.line, 6);
  EXPECT_NE(compiled.errors[4].message.find("gid"), std::string::npos) << compiled.errors[4].message;
}

TEST(GroupTest, AMappingWithoutANameIsRefusedWithAnExample) {
  const auto compiled = compile_yaml("groups:\n  absent:\n    - {requires: [user:olduser]}\n");
  ASSERT_EQ(compiled.errors.size(), 1u);
  EXPECT_EQ(compiled.errors[0].message, "this entry needs a 'name'");
  EXPECT_EQ(compiled.errors[0].hint, "write {name: deploy, gid: 1500}");
  EXPECT_EQ(compiled.errors[0].location.line, 3);
  EXPECT_EQ(compiled.errors[0].key_path, "groups.absent[0]");
}

TEST(GroupTest, TheSameGroupPresentAndAbsentNamesBothPlaces) {
  const auto compiled = compile_yaml("groups:\n  present: [deploy]\n  absent: [deploy]\n");
  ASSERT_EQ(compiled.errors.size(), 1u);
  EXPECT_EQ(compiled.errors[0].code, ErrorCode::kConflict);
  EXPECT_EQ(compiled.errors[0].location.line, 3);
  EXPECT_NE(compiled.errors[0].message.find("state.yaml:2"), std::string::npos) << compiled.errors[0].message;
  EXPECT_NE(compiled.errors[0].message.find("groups.present[0]"), std::string::npos) << compiled.errors[0].message;
}

TEST(GroupTest, UsersConvergeAfterTheGroupsTheyNameAndTheirOwnGroup) {
  const auto compiled = compile_yaml(
      "groups:\n  present: [{name: deploy, gid: 1500}, ops]\n  absent: [old]\n"
      "users:\n  present: [{name: deploy, groups: [ops]}, {name: alice, groups: [sudo]}]\n  absent: [old]\n");
  ASSERT_TRUE(compiled.errors.empty()) << compiled.errors[0].str();
  EXPECT_TRUE(has_edge(compiled, "group:ops", "user:deploy"));
  EXPECT_TRUE(has_edge(compiled, "group:deploy", "user:deploy"));  // its primary group
  EXPECT_FALSE(has_edge(compiled, "group:ops", "user:alice"));
  EXPECT_TRUE(has_edge(compiled, "user:old", "group:old"));  // userdel first: it may take its private group along
}

TEST(GroupTest, DiffCreatesChangesTheGidAndRemoves) {
  const auto compiled = compile_yaml("groups:\n  present: [{name: deploy, gid: 1500}, ops]\n  absent: [old]\n");
  ASSERT_TRUE(compiled.errors.empty());
  GroupObserved none;
  auto drift = group(compiled, "group:deploy").diff(none);
  ASSERT_EQ(drift.size(), 1u);
  EXPECT_EQ(drift[0].field, "group");
  EXPECT_EQ(drift[0].observed, "absent");
  EXPECT_EQ(drift[0].desired, "present (gid 1500)");
  EXPECT_TRUE(drifted(drift, GroupField::kGroup));

  GroupObserved seen;
  seen.exists = true;
  seen.gid = 1001;
  seen.members = {"alice"};
  seen.primary_of = {"deploy"};
  drift = group(compiled, "group:deploy").diff(seen);
  ASSERT_EQ(drift.size(), 1u);
  EXPECT_TRUE(drifted(drift, GroupField::kGid));
  EXPECT_EQ(drift[0].observed, "1001");
  EXPECT_EQ(drift[0].desired, "1500");
  EXPECT_NE(drift[0].reason.find("primary group of deploy"), std::string::npos) << drift[0].reason;
  EXPECT_TRUE(group(compiled, "group:ops").diff(seen).empty());  // no gid wanted: any gid is fine

  drift = group(compiled, "group:old").diff(seen);
  ASSERT_EQ(drift.size(), 1u);
  EXPECT_EQ(drift[0].observed, "present (gid 1001)");
  EXPECT_EQ(drift[0].desired, "absent");
  EXPECT_NE(drift[0].reason.find("its members alice leave it"), std::string::npos);
  EXPECT_TRUE(group(compiled, "group:old").diff(none).empty());
}

TEST(GroupTest, AUsersGroupMayComeFromTheSameStateOnly) {
  const auto compiled = compile_yaml("groups:\n  present: [ops]\nusers:\n  present: [{name: bob, groups: [ops]}]\n");
  ASSERT_TRUE(compiled.errors.empty());
  EXPECT_EQ(compiled.graph.size(), 2u);
}

}  // namespace
}  // namespace reconcile::resources
