#include "resources/user.h"

#include <gtest/gtest.h>

#include "tests/support/compile.h"

#include "engine/graph.h"
#include "engine/loader.h"
#include "engine/plan.h"
#include "engine/registry.h"
#include "resources/package.h"

namespace reconcile::resources {
namespace {

using testing::compile_yaml;

const UserResource& user(const engine::Compiled& compiled, const std::string& id) {
  return dynamic_cast<const UserResource&>(*compiled.graph.resources.at(compiled.graph.index.at(id)));
}

UserObserved account(std::string shell = "/bin/bash", PasswordState password = PasswordState::kUsable) {
  UserObserved seen;
  seen.exists = true;
  seen.uid = 1001;
  seen.home = "/home/bob";
  seen.shell = std::move(shell);
  seen.password = password;
  seen.today = 20000;
  seen.nologin_shell = "/usr/sbin/nologin";
  return seen;
}

std::vector<std::string> fields_of(const Drift& drift) {
  std::vector<std::string> out;
  for (const auto& d : drift) out.push_back(d.field);
  return out;
}

TEST(UserTest, EachSectionCompilesToUserResources) {
  const auto compiled = compile_yaml(
      "users:\n"
      "  login_allowed_only: [root, alice]\n"
      "  present:\n"
      "    - {name: deploy, uid: 1500, groups: [sudo, adm], shell: /bin/bash, home: /home/deploy}\n"
      "    - carol\n"
      "  locked: [bob]\n"
      "  absent: [olduser, {name: gone, remove_home: true}]\n");
  ASSERT_TRUE(compiled.errors.empty()) << compiled.errors[0].str();
  ASSERT_EQ(compiled.graph.size(), 6u);
  EXPECT_TRUE(compiled.graph.index.contains("user:*"));
  const auto& deploy = user(compiled, "user:deploy");
  EXPECT_EQ(deploy.ensure(), UserEnsure::kPresent);
  EXPECT_EQ(deploy.uid, 1500u);
  EXPECT_EQ(deploy.groups, (std::vector<std::string>{"adm", "sudo"}));
  EXPECT_EQ(deploy.shell, "/bin/bash");
  EXPECT_EQ(deploy.home, "/home/deploy");
  EXPECT_EQ(deploy.key_path(), "users.present[0]");
  EXPECT_EQ(deploy.location().line, 4);
  EXPECT_EQ(user(compiled, "user:bob").ensure(), UserEnsure::kLocked);
  EXPECT_FALSE(user(compiled, "user:olduser").remove_home);
  EXPECT_TRUE(user(compiled, "user:gone").remove_home);
  EXPECT_FALSE(user(compiled, "user:bob").allow_lockout());
}

TEST(UserTest, AnUnlockKeepsAnEmptyPasswordDisabledAndSaysSo) {
  const auto compiled = compile_yaml("users:\n  present: [bob]\n");
  ASSERT_TRUE(compiled.errors.empty());
  UserObserved seen;
  seen.exists = true;
  seen.shell = "/usr/sbin/nologin";
  seen.nologin_shell = "/usr/sbin/nologin";
  seen.password = PasswordState::kDisabled;
  seen.record = LockRecord{"/bin/bash", false, true, std::nullopt};
  const auto drift = compiled.graph.resources[0]->diff(seen);
  ASSERT_EQ(drift.size(), 1u);  // the shell comes back; the password does not
  EXPECT_EQ(drift[0].field, "shell");
  EXPECT_NE(drift[0].reason.find("its empty password stays disabled, since restoring it would open a login without "
                                 "a password (set one with passwd bob)"),
            std::string::npos)
      << drift[0].reason;
}

TEST(UserTest, ASystemDirectoryAsAHomeIsRefusedBeforeAnythingChanges) {
  for (const char* home : {"/etc", "/", "/usr/", "/var", "/etc/ssh", "/proc/1"}) {
    const auto compiled = compile_yaml("users:\n  present: [{name: bob, home: " + std::string(home) + "}]\n");
    ASSERT_EQ(compiled.errors.size(), 1u) << home;
    EXPECT_EQ(compiled.errors[0].key_path, "users.present[0].home") << home;
    EXPECT_NE(compiled.errors[0].message.find("a system directory"), std::string::npos) << compiled.errors[0].message;
    EXPECT_EQ(compiled.errors[0].hint, "give the account a directory of its own, such as /home/bob or /srv/bob");
  }
  EXPECT_TRUE(compile_yaml("users:\n  present: [{name: bob, home: /srv/bob}]\n").errors.empty());
}

TEST(UserTest, SameAccountPresentAndAbsentIsAConflictNamingBothPlaces) {
  const auto compiled = compile_yaml("users:\n  present: [bob]\n  absent: [bob]\n");
  ASSERT_EQ(compiled.errors.size(), 1u);
  EXPECT_EQ(compiled.errors[0].code, ErrorCode::kConflict);
  EXPECT_EQ(compiled.errors[0].key_path, "users.absent[0]");
  EXPECT_NE(compiled.errors[0].message.find("user:bob is wanted as ensure=absent"), std::string::npos)
      << compiled.errors[0].message;
  EXPECT_NE(compiled.errors[0].message.find("state.yaml:2:13 (users.present[0])"), std::string::npos)
      << compiled.errors[0].message;
}

TEST(UserTest, TheSameEntryTwiceIsOneResource) {
  const auto compiled = compile_yaml("users:\n  locked: [bob, bob]\n");
  EXPECT_TRUE(compiled.errors.empty());
  EXPECT_EQ(compiled.graph.size(), 1u);
}

TEST(UserTest, AllowedAccountCannotAlsoBeLockedOrAbsent) {
  const auto compiled = compile_yaml("users:\n  login_allowed_only: [root, bob]\n  locked: [bob]\n  absent: [root]\n");
  ASSERT_EQ(compiled.errors.size(), 2u);
  EXPECT_EQ(compiled.errors[0].message, "'bob' is locked here but allowed to log in at state.yaml:2:30 "
                                        "(users.login_allowed_only[1])");
  EXPECT_EQ(compiled.errors[0].key_path, "users.locked[0]");
  EXPECT_EQ(compiled.errors[1].key_path, "users.absent[0]");
}

TEST(UserTest, InvalidNameIsRejectedWhereItIs) {
  const auto compiled = compile_yaml("users:\n  present: [\"bad name\", \"-rf\"]\n");
  ASSERT_EQ(compiled.errors.size(), 2u);
  EXPECT_EQ(compiled.errors[0].message,
            "invalid account name 'bad name': the name contains ' '; allowed are letters, digits and \"_-.$\"");
  EXPECT_EQ(compiled.errors[0].key_path, "users.present[0]");
  EXPECT_NE(compiled.errors[0].hint.find("lower-case"), std::string::npos);
  EXPECT_EQ(compiled.errors[1].message, "invalid account name '-rf': the name starts with '-'");
}

TEST(UserTest, UnknownKeysSuggestTheNearest) {
  const auto compiled = compile_yaml("users:\n  present: [{name: a, shel: /bin/sh}]\n  lockd: [b]\n");
  ASSERT_EQ(compiled.errors.size(), 2u);
  EXPECT_EQ(compiled.errors[0].message, "unknown key 'lockd' in the users mapping");
  EXPECT_EQ(compiled.errors[0].hint, "did you mean 'locked'?");
  EXPECT_EQ(compiled.errors[1].message, "unknown key 'shel' in a users.present entry");
  EXPECT_EQ(compiled.errors[1].key_path, "users.present[0].shel");
}

TEST(UserTest, AMappingWithoutANameIsRefusedWithAnExample) {
  const auto compiled = compile_yaml("users:\n  present:\n    - {uid: 1500}\n");
  ASSERT_EQ(compiled.errors.size(), 1u);
  EXPECT_EQ(compiled.errors[0].message, "this entry needs a 'name'");
  EXPECT_EQ(compiled.errors[0].hint, "write {name: alice, ...}");
  EXPECT_EQ(compiled.errors[0].location.line, 3);
  EXPECT_EQ(compiled.errors[0].key_path, "users.present[0]");
}

TEST(UserTest, BadValuesAreTypedErrors) {
  const auto compiled = compile_yaml(
      "users:\n  present: [{name: a, uid: -1}, {name: b, shell: bash}, {name: c, home: /home/../etc}]\n"
      "  absent: [{name: d, remove_home: maybe}]\n  allow_lockout: sure\n");
  ASSERT_EQ(compiled.errors.size(), 5u);
  EXPECT_EQ(compiled.errors[0].message, "expected true or false, got the string 'sure'");
  EXPECT_EQ(compiled.errors[1].message, "expected a whole number from 0 to 4294967294, got -1");
  EXPECT_EQ(compiled.errors[2].message, "invalid path 'bash': it is not an absolute path");
  EXPECT_EQ(compiled.errors[3].message, "invalid path '/home/../etc': it contains '..'");
  EXPECT_EQ(compiled.errors[4].key_path, "users.absent[0].remove_home");
}

TEST(UserTest, LockShowsEachMissingPartAsItsOwnDrift) {
  const auto compiled = compile_yaml("users:\n  locked: [bob]\n");
  const auto& bob = user(compiled, "user:bob");
  const Drift drift = bob.diff(account());
  EXPECT_EQ(fields_of(drift), (std::vector<std::string>{"password", "shell", "expiry"}));
  EXPECT_EQ(drift[0].observed, "usable");
  EXPECT_EQ(drift[0].desired, "disabled");
  EXPECT_EQ(drift[1].observed, "/bin/bash");
  EXPECT_EQ(drift[1].desired, "/usr/sbin/nologin");
  EXPECT_EQ(drift[2].observed, "never");
  EXPECT_EQ(drift[2].desired, "expired (1970-01-02)");

  UserObserved half = account("/sbin/nologin", PasswordState::kDisabled);
  EXPECT_EQ(fields_of(bob.diff(half)), (std::vector<std::string>{"expiry"}));
  half.expire = 1;
  EXPECT_TRUE(bob.diff(half).empty());
  half.expire = 20001;  // expires tomorrow: not yet
  EXPECT_EQ(fields_of(bob.diff(half)), (std::vector<std::string>{"expiry"}));
  EXPECT_EQ(bob.diff(half)[0].observed, day_text(20001));
}

TEST(UserTest, LockOfAMissingAccountIsInSync) {
  const auto compiled = compile_yaml("users:\n  locked: [bob]\n");
  EXPECT_TRUE(user(compiled, "user:bob").diff(UserObserved{}).empty());
}

TEST(UserTest, PresentCreatesOrChangesOnlyWhatDiffers) {
  const auto compiled = compile_yaml(
      "users:\n  present: [{name: bob, uid: 1001, groups: [sudo], shell: /bin/zsh, home: /home/bob}]\n");
  const auto& bob = user(compiled, "user:bob");
  const Drift create = bob.diff(UserObserved{});
  ASSERT_EQ(create.size(), 1u);
  EXPECT_EQ(create[0].field, "account");
  EXPECT_EQ(create[0].desired, "present (uid 1001, groups sudo, shell /bin/zsh, home /home/bob)");

  UserObserved seen = account();
  seen.groups = {"adm"};
  const Drift drift = bob.diff(seen);
  EXPECT_EQ(fields_of(drift), (std::vector<std::string>{"shell", "groups"}));
  EXPECT_EQ(drift[1].observed, "adm");
  EXPECT_EQ(drift[1].desired, "adm, sudo");
  seen.shell = "/bin/zsh";
  seen.groups = {"adm", "sudo"};
  EXPECT_TRUE(bob.diff(seen).empty());  // groups are a minimum: adm stays
}

TEST(UserTest, PresentAfterALockRestoresShellPasswordAndExpiry) {
  const auto compiled = compile_yaml("users:\n  present: [bob]\n");
  const auto& bob = user(compiled, "user:bob");
  UserObserved seen = account("/usr/sbin/nologin", PasswordState::kDisabled);
  seen.expire = 1;
  EXPECT_TRUE(bob.diff(seen).empty()) << "not locked by reconcile: left alone";
  seen.record = LockRecord{"/bin/bash", true, false, std::nullopt};
  const Drift drift = bob.diff(seen);
  EXPECT_EQ(fields_of(drift), (std::vector<std::string>{"shell", "password", "expiry"}));
  EXPECT_EQ(drift[0].desired, "/bin/bash");
  EXPECT_EQ(drift[1].desired, "usable");
  EXPECT_EQ(drift[2].desired, "never");
  seen.record = LockRecord{"/usr/sbin/nologin", false, false, 19000};
  const Drift nologin = bob.diff(seen);
  EXPECT_EQ(fields_of(nologin), (std::vector<std::string>{"expiry"}));  // it had no password and no shell
  EXPECT_EQ(nologin[0].desired, day_text(19000));
}

TEST(UserTest, AbsentRemovesAnExistingAccount) {
  const auto compiled = compile_yaml("users:\n  absent: [{name: bob, remove_home: true}]\n");
  const Drift drift = user(compiled, "user:bob").diff(account());
  ASSERT_EQ(drift.size(), 1u);
  EXPECT_EQ(drift[0].observed, "present (uid 1001)");
  EXPECT_EQ(drift[0].desired, "absent");
  EXPECT_EQ(drift[0].reason, "to be removed with its home /home/bob");
  EXPECT_TRUE(user(compiled, "user:bob").diff(UserObserved{}).empty());
}

TEST(UserTest, GroupsOfManagedAccountsBecomeAutomaticEdges) {
  const auto compiled = compile_yaml("users:\n  present: [{name: deploy, groups: [alice]}, alice]\n");
  ASSERT_TRUE(compiled.errors.empty());
  const std::size_t alice = compiled.graph.index.at("user:alice");
  const std::size_t deploy = compiled.graph.index.at("user:deploy");
  EXPECT_EQ(compiled.graph.requirements(deploy), std::vector<std::size_t>{alice});
}

TEST(UserTest, DayTextIsIsoDate) {
  EXPECT_EQ(day_text(0), "1970-01-01");
  EXPECT_EQ(day_text(1), "1970-01-02");
  EXPECT_EQ(day_text(20417), "2025-11-25");
}

TEST(UserTest, AnEmptyAllowListIsRefusedRatherThanLockingEveryone) {
  for (const char* text : {"users:\n  login_allowed_only:\n  allow_lockout: true\n", "users:\n  login_allowed_only: []\n"}) {
    auto compiled = compile_yaml(text);
    ASSERT_EQ(compiled.errors.size(), 1u) << text;
    EXPECT_EQ(compiled.errors[0].message, "login_allowed_only is empty, which would lock every account that can log in");
    EXPECT_EQ(compiled.errors[0].key_path, "users.login_allowed_only");
  }
}

// A group that does not exist yet, joined while the run installs packages: planned from that batch (the package's
// maintainer script may add it), against the account as seen now; with no package to install, it fails now.
engine::RunState plan_missing_group(engine::Compiled& compiled, bool package_installed) {
  auto& g = compiled.graph;
  std::vector<providers::Observation> observations(g.size());
  engine::RunState state(g.size());
  auto package = std::make_unique<PackageObserved>();
  if (package_installed) {
    package->state = InstallState::kInstalled;
    package->version = "1.0";
  }
  observations[g.index.at("package:docker.io")] = providers::Observation::known(std::move(package));
  auto& web = observations[g.index.at("user:web")];
  web = providers::Observation::known(std::make_unique<UserObserved>(account()));
  web.blocked_reason = "group 'docker' does not exist";
  web.after_requirements = std::make_unique<UserObserved>(account());
  engine::Ledger ledger;
  engine::plan(g, std::move(observations), state, ledger);
  return state;
}

TEST(UserTest, MissingGroupIsPlannedAfterThePackagesTheRunInstalls) {
  auto compiled = compile_yaml(
      "packages:\n  present: [docker.io]\nusers:\n  present: [{name: web, groups: [docker]}]\n");
  ASSERT_TRUE(compiled.errors.empty()) << compiled.errors[0].str();
  const auto state = plan_missing_group(compiled, false);
  const auto& web = state[compiled.graph.index.at("user:web")];
  EXPECT_EQ(web.status, engine::Status::kDrifted) << web.reason;
  EXPECT_TRUE(web.predicted);
  EXPECT_EQ(web.after, std::vector<std::string>{"package:docker.io"});
  ASSERT_EQ(web.drift.size(), 1u);
  EXPECT_EQ(web.drift[0].field, "groups");
}

TEST(UserTest, MissingGroupFailsInThePlanWhenTheRunInstallsNoPackage) {
  auto compiled = compile_yaml(
      "packages:\n  present: [docker.io]\nusers:\n  present: [{name: web, groups: [docker]}]\n");
  ASSERT_TRUE(compiled.errors.empty()) << compiled.errors[0].str();
  const auto state = plan_missing_group(compiled, true);
  const auto& web = state[compiled.graph.index.at("user:web")];
  EXPECT_EQ(web.status, engine::Status::kFailed);
  EXPECT_EQ(web.reason,
            "group 'docker' does not exist; create it first (groupadd, or groups in the state), or install the "
            "package that adds it in the same run");
}

}  // namespace
}  // namespace reconcile::resources
