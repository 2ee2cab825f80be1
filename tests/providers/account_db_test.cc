#include "providers/account_db.h"

#include <gtest/gtest.h>

#include "builtin/builtin.h"
#include "engine/graph.h"
#include "engine/loader.h"
#include "engine/registry.h"
#include "providers/shadow.h"
#include "tests/engine/temp_root.h"

namespace reconcile::providers {
namespace {

using resources::PasswordState;
using resources::UserEnsure;
using resources::UserObserved;

constexpr const char* kPasswd =
    "root:x:0:0:root:/root:/bin/bash\n"
    "daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n"
    "sync:x:4:65534:sync:/bin:/bin/sync\n"
    "alice:x:1000:1000:Alice,,,:/home/alice:/bin/bash\n"
    "bob:x:1001:1001::/home/bob:/usr/sbin/nologin\n"
    "carol:x:1002:1002::/home/carol:/usr/sbin/nologin\n"
    "dave:x:1003:1003::/home/dave:/usr/sbin/nologin\n"
    "broken line\n";
constexpr const char* kShadow =
    "root:*:19000:0:99999:7:::\n"
    "daemon:*:19000:0:99999:7:::\n"
    "sync:*:19000:0:99999:7:::\n"
    "alice:$y$j9T$abc$def:19000:0:99999:7:::\n"
    "bob:!:19000:0:99999:7:::\n"
    "carol:$6$salt$hash:19000:0:99999:7:::\n"
    "dave:!$6$salt$hash:19000:0:99999:7::1:\n";
constexpr const char* kGroup =
    "root:x:0:\n"
    "sudo:x:27:alice\n"
    "adm:x:4:alice,bob\n"
    "alice:x:1000:\n"
    "bob:x:1001:\n";
constexpr const char* kShells = "# /etc/shells: valid login shells\n/bin/sh\n/bin/bash\n/usr/bin/bash\n";

class AccountDbTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_.write("etc/passwd", kPasswd);
    root_.write("etc/shadow", kShadow);
    root_.write("etc/group", kGroup);
    root_.write("etc/shells", kShells);
    root_.write("usr/sbin/nologin", "");
    root_.write("home/bob/.ssh/authorized_keys", "ssh-ed25519 AAAA bob@laptop\n");
    root_.write("root/.ssh/authorized_keys", "ssh-ed25519 AAAA admin@laptop\n");
    host_.root = root_.path();
  }

  // Compiles the state and returns the user resources, as the engine hands them to the provider.
  std::vector<const resources::Resource*> compile_users(const std::string& text) {
    std::vector<resources::Error> errors;
    resources::Node node = engine::parse_text("state.yaml", text, errors);
    compiled_ = engine::compile(node, builtin::registry());
    EXPECT_TRUE(compiled_.errors.empty()) << compiled_.errors[0].str();
    std::vector<const resources::Resource*> out;
    for (const auto& resource : compiled_.graph.resources) out.push_back(resource.get());
    return out;
  }

  std::vector<std::string> validate(const std::string& text, RunningUser running = {}) {
    ShadowProvider provider(std::move(running));
    std::vector<std::string> out;
    for (const auto& error : provider.validate_resources(session_, compile_users(text))) out.push_back(error.message);
    return out;
  }

  testing::TempRoot root_;
  Exec exec_;
  Host host_{"/", &exec_, true, {}};
  Session session_{host_};
  engine::Compiled compiled_;
};

TEST_F(AccountDbTest, ParsesEveryDatabaseAndSkipsBrokenLines) {
  auto db = read_account_db(host_);
  ASSERT_TRUE(db) << db.error();
  ASSERT_EQ(db->passwd.size(), 7u);
  EXPECT_EQ(db->find("alice")->uid, 1000u);
  EXPECT_EQ(db->find("alice")->home, "/home/alice");
  EXPECT_EQ(db->find("bob")->shell, "/usr/sbin/nologin");
  EXPECT_EQ(db->find("nobody"), nullptr);
  EXPECT_TRUE(db->shadow_readable);
  EXPECT_EQ(db->password("alice"), PasswordState::kUsable);
  EXPECT_EQ(db->password("bob"), PasswordState::kDisabled);
  EXPECT_EQ(db->password("root"), PasswordState::kNone);
  EXPECT_EQ(db->shadow.at("dave").expire, 1);
  EXPECT_EQ(db->shadow.at("alice").expire, std::nullopt);
  EXPECT_EQ(db->member_of.at("alice"), (std::vector<std::string>{"adm", "sudo"}));
  EXPECT_EQ(db->member_of.at("bob"), (std::vector<std::string>{"adm"}));
  EXPECT_EQ(db->shells, (std::vector<std::string>{"/bin/sh", "/bin/bash", "/usr/bin/bash"}));
  EXPECT_EQ(db->nologin_shell, "/usr/sbin/nologin");
  EXPECT_EQ(db->name_regex, kDefaultNameRegex);
  EXPECT_EQ(db->uid_min, 1000u);
}

TEST_F(AccountDbTest, LoginDefsNumbers) {
  const char* defs = "# UID_MIN 5\nUID_MIN\t\t\t 2000\nUID_MAX   70000\nUID_MINIMUM 3\n";
  EXPECT_EQ(parse_login_defs_number(defs, "UID_MIN"), 2000u);
  EXPECT_EQ(parse_login_defs_number(defs, "UID_MAX"), 70000u);
  EXPECT_EQ(parse_login_defs_number(defs, "GID_MIN"), std::nullopt);
}

TEST_F(AccountDbTest, PasswordFieldStates) {
  EXPECT_EQ(password_state(""), PasswordState::kEmpty);
  EXPECT_EQ(password_state("!"), PasswordState::kDisabled);
  EXPECT_EQ(password_state("!$6$x$y"), PasswordState::kDisabled);
  EXPECT_EQ(password_state("*"), PasswordState::kNone);
  EXPECT_EQ(password_state("$6$x$y"), PasswordState::kUsable);
  EXPECT_EQ(password_state("abcdefghijklm"), PasswordState::kUsable);  // 13 characters of DES crypt
}

TEST_F(AccountDbTest, NameRegexComesFromAdduserConf) {
  EXPECT_EQ(parse_name_regex("# NAME_REGEX=\"^x$\"\nNAME_REGEX=\"^[a-z][-a-z0-9_]*\\$?$\"\n"),
            "^[a-z][-a-z0-9_]*$?$");
  EXPECT_EQ(parse_name_regex("#NAME_REGEX=\"^x$\"\n"), "");
}

TEST_F(AccountDbTest, LockRecordsRoundTripAtomically) {
  LockRecords records;
  records.locked["bob"] = resources::LockRecord{"/bin/bash", true, false, std::nullopt};
  records.locked["carol"] = resources::LockRecord{"/usr/sbin/nologin", false, false, 19000};
  ASSERT_TRUE(write_lock_records(host_, records));
  auto back = read_lock_records(host_);
  ASSERT_TRUE(back) << back.error();
  ASSERT_EQ(back->locked.size(), 2u);
  EXPECT_EQ(back->locked.at("bob").shell, "/bin/bash");
  EXPECT_TRUE(back->locked.at("bob").password_set);
  EXPECT_EQ(back->locked.at("carol").expire, 19000);
  // A shell that is not UTF-8 is kept byte for byte (the lock must be possible and the unlock exact).
  records.locked["eve"] = resources::LockRecord{"/opt/sh\xff\xfe", false, true, std::nullopt};
  ASSERT_TRUE(write_lock_records(host_, records));
  back = read_lock_records(host_);
  ASSERT_TRUE(back) << back.error();
  EXPECT_EQ(back->locked.at("eve").shell, "/opt/sh\xff\xfe");
  EXPECT_TRUE(back->locked.at("eve").password_empty);
  root_.write("var/lib/reconcile/users.json", "{not json");
  EXPECT_FALSE(read_lock_records(host_));
}

TEST_F(AccountDbTest, CanLogInByShellPasswordOrKeys) {
  auto db = read_account_db(host_);
  ASSERT_TRUE(db);
  EXPECT_TRUE(can_log_in(host_, *db, *db->find("alice")));   // a shell of /etc/shells
  EXPECT_TRUE(can_log_in(host_, *db, *db->find("bob")));     // authorized_keys only
  EXPECT_TRUE(can_log_in(host_, *db, *db->find("carol")));   // a password only
  EXPECT_FALSE(can_log_in(host_, *db, *db->find("dave")));   // nologin, disabled password, no keys
  EXPECT_FALSE(can_log_in(host_, *db, *db->find("daemon")));
  EXPECT_FALSE(can_log_in(host_, *db, *db->find("sync")));   // /bin/sync is not a login shell
}

TEST_F(AccountDbTest, AllowListExpandsToOneLockPerAccountThatCanLogIn) {
  ShadowProvider provider(RunningUser{});
  const auto users = compile_users("users:\n  login_allowed_only: [root, alice]\n  absent: [carol]\n");
  const std::size_t spawned = Exec::spawned();
  const auto added = provider.expand_resources(session_, users);
  std::vector<std::string> ids;
  for (const auto& resource : added) {
    ids.push_back(resource->id());
    const auto& user = dynamic_cast<const resources::UserResource&>(*resource);
    EXPECT_EQ(user.ensure(), UserEnsure::kLocked);
    EXPECT_EQ(user.key_path(), "users.login_allowed_only");
  }
  EXPECT_EQ(ids, std::vector<std::string>{"user:bob"});  // carol is managed by absent; dave cannot log in
  EXPECT_EQ(Exec::spawned(), spawned);
}

TEST_F(AccountDbTest, AllowListRestoresAllowedAccountsItLocked) {
  LockRecords records;
  records.locked["alice"] = resources::LockRecord{"/bin/bash", true, false, std::nullopt};
  records.locked["dave"] = resources::LockRecord{"/bin/sh", true, false, std::nullopt};
  ASSERT_TRUE(write_lock_records(host_, records));
  ShadowProvider provider(RunningUser{});
  const auto added = provider.expand_resources(session_, compile_users("users:\n  login_allowed_only: [root, alice, bob, carol]\n"));
  ASSERT_EQ(added.size(), 2u);
  EXPECT_EQ(added[0]->id(), "user:dave");  // still locked: reconcile keeps what it locked in view
  EXPECT_EQ(dynamic_cast<const resources::UserResource&>(*added[0]).ensure(), UserEnsure::kLocked);
  EXPECT_EQ(added[1]->id(), "user:alice");
  EXPECT_EQ(dynamic_cast<const resources::UserResource&>(*added[1]).ensure(), UserEnsure::kPresent);
}

TEST_F(AccountDbTest, ObserveReadsEachAccountWithoutSpawning) {
  ShadowProvider provider(RunningUser{});
  const auto users = compile_users("users:\n  present: [alice, newbie]\n  locked: [dave]\n");
  const std::size_t spawned = Exec::spawned();
  auto seen = provider.observe_resources(session_, users);
  EXPECT_EQ(Exec::spawned(), spawned);
  ASSERT_EQ(seen.size(), 3u);
  const auto& alice = dynamic_cast<const UserObserved&>(*seen[0].state);
  EXPECT_TRUE(alice.exists);
  EXPECT_EQ(alice.groups, (std::vector<std::string>{"adm", "sudo"}));
  EXPECT_EQ(alice.password, PasswordState::kUsable);
  EXPECT_FALSE(dynamic_cast<const UserObserved&>(*seen[1].state).exists);
  const auto& dave = dynamic_cast<const UserObserved&>(*seen[2].state);
  EXPECT_TRUE(dave.password_locked());
  EXPECT_TRUE(dave.shell_locked());
  EXPECT_TRUE(dave.expired());
  EXPECT_TRUE(compiled_.graph.resources[2]->diff(dave).empty());
}

TEST_F(AccountDbTest, UnreadableShadowMakesLocksUnknownNotGuessed) {
  std::filesystem::remove(root_.path() / "etc/shadow");
  std::filesystem::create_directories(root_.path() / "etc/shadow");  // unreadable as a file
  ShadowProvider provider(RunningUser{});
  // The allow-list cannot see passwords: every ordinary account that is not allowed is listed.
  std::vector<std::string> ids;
  for (const auto& added : provider.expand_resources(session_, compile_users("users:\n  login_allowed_only: [root, alice]\n"))) {
    ids.push_back(added->id());
  }
  EXPECT_EQ(ids, (std::vector<std::string>{"user:bob", "user:carol", "user:dave"}));
  auto seen = provider.observe_resources(session_, compile_users("users:\n  present: [alice]\n  locked: [dave]\n"));
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_NE(seen[0].state, nullptr);
  EXPECT_EQ(seen[1].state, nullptr);
  EXPECT_EQ(seen[1].unknown_reason, "not observable: permission denied (reading /etc/shadow needs root)");
}

TEST_F(AccountDbTest, ValidationChecksNamesUidsGroupsAndShells) {
  const auto errors = validate(
      "users:\n  present:\n"
      "    - {name: Newbie}\n"
      "    - {name: eve, uid: 1000}\n"
      "    - {name: frank, groups: [sudoo, docker, eve]}\n"
      "    - {name: gina, shell: /bin/zsh}\n"
      "    - {name: hank, shell: /usr/sbin/nologin}\n");
  ASSERT_EQ(errors.size(), 5u);
  EXPECT_EQ(errors[0], "invalid account name 'Newbie': it does not match this system's NAME_REGEX "
                       "^[a-z_][a-z0-9_-]*[$]?$");
  EXPECT_EQ(errors[1], "uid 1000 already belongs to 'alice'");
  EXPECT_EQ(errors[2], "group 'docker' does not exist");  // eve is created by the same state: her group exists then
  EXPECT_EQ(errors[3], "group 'sudoo' does not exist");
  EXPECT_EQ(errors[4], "shell '/bin/zsh' is not listed in /etc/shells");
}

TEST_F(AccountDbTest, UnknownGroupSuggestsTheNearest) {
  ShadowProvider provider(RunningUser{});
  const auto errors = provider.validate_resources(session_, compile_users("users:\n  present: [{name: eve, groups: [sudoo]}]\n"));
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].hint, "did you mean 'sudo'?");
  EXPECT_EQ(errors[0].key_path, "users.present[0]");
}

TEST_F(AccountDbTest, RefusesAStateThatLeavesNobodyAbleToLogIn) {
  const auto errors = validate("users:\n  login_allowed_only: [dave]\n");
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0], "this state would leave no account that can log in (it takes the last way in from alice, "
                       "root; a login needs a login shell and a password or an SSH key)");
  EXPECT_TRUE(validate("users:\n  login_allowed_only: [dave]\n  allow_lockout: true\n").empty());
}

TEST_F(AccountDbTest, RefusesToLockTheAccountRunningReconcile) {
  auto errors = validate("users:\n  login_allowed_only: [root, alice]\n", RunningUser{"carol", std::nullopt});
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0], "this state would lock out 'carol', the account running reconcile (SUDO_USER); accounts "
                       "that could still log in: alice (password), root (SSH key)");
  errors = validate("users:\n  absent: [bob]\n", RunningUser{"", 1001});
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0], "this state would lock out 'bob', the account running reconcile (the login uid 1001); "
                       "accounts that could still log in: alice (password), root (SSH key)");
  EXPECT_TRUE(validate("users:\n  locked: [bob]\n", RunningUser{"alice", 1000}).empty());
}

TEST_F(AccountDbTest, RefusesToLockRootWhileRootIsTheOnlyAdmin) {
  auto errors = validate("users:\n  locked: [root, alice]\n  present: [{name: carol, shell: /bin/bash}]\n");
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0], "this state would lock out root while root is the only admin (no account that could still "
                       "log in is in sudo, wheel or admin); accounts that could still log in: carol (password)");
  EXPECT_TRUE(validate("users:\n  locked: [root]\n").empty());  // alice is in sudo
  EXPECT_TRUE(
      validate("users:\n  locked: [root, alice]\n  present: [{name: carol, groups: [sudo], shell: /bin/bash}]\n")
          .empty());
}

// The guard judges the host as the whole plan leaves it, whatever list an account is named in.
TEST_F(AccountDbTest, TheGuardSeesANologinShellInPresentAsALockToo) {
  auto errors = validate("users:\n  present: [{name: alice, shell: /usr/sbin/nologin}]\n",
                         RunningUser{"alice", std::nullopt});
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0], "this state would lock out 'alice', the account running reconcile (SUDO_USER); accounts "
                       "that could still log in: root (SSH key)");
  errors = validate("users:\n  present: [{name: root, shell: /usr/sbin/nologin}, {name: alice, shell: "
                    "/usr/sbin/nologin}]\n");
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0], "this state would leave no account that can log in (it takes the last way in from alice, "
                       "root; a login needs a login shell and a password or an SSH key)");
}

// A login shell alone is not a way in: an admin with a disabled password and no key does not count.
TEST_F(AccountDbTest, TheGuardCountsOnlyAccountsThatCanReallyLogInAfterwards) {
  // carol is made an admin with bash, but her password is a hash she keeps; dave's is disabled and he has no key.
  auto errors = validate("users:\n  locked: [root, alice]\n  present: [{name: dave, groups: [sudo], shell: /bin/bash}]\n");
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_NE(errors[0].find("this state would leave no account that can log in"), std::string::npos) << errors[0];
  // An account the state creates has no password and no key yet.
  errors = validate("users:\n  locked: [root, alice]\n  present: [{name: erin, groups: [sudo], shell: /bin/bash}]\n");
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_NE(errors[0].find("leave no account that can log in"), std::string::npos) << errors[0];
}

TEST_F(AccountDbTest, APasswdLineWithoutItsShellIsAnAccountWithTheDefaultShell) {
  const auto entries = parse_passwd("u1:x:1005:1005::/home/u1:/bin/bash\nu2:x:1006:1006::/home/u2\nbad\n"
                                    "u3:x:notanumber:1007::/home/u3:/bin/sh\n");
  ASSERT_EQ(entries.size(), 2u);
  EXPECT_EQ(entries[1].name, "u2");
  EXPECT_EQ(entries[1].shell, "");
  EXPECT_EQ(entries[1].home, "/home/u2");
  EXPECT_EQ(malformed_passwd_lines("u1:x:1005:1005::/home/u1:/bin/bash\nbad\nu3:x:notanumber:1007::/h:/bin/sh\n"),
            (std::vector<std::string>{"line 2 ('bad')", "line 3 ('u3:x:notanumber:1007::/h:/bin/sh')"}));
}

TEST_F(AccountDbTest, AnUnreadablePasswdLineFailsTheAllowListRatherThanHidingAnAccount) {
  ShadowProvider provider(RunningUser{});
  auto seen = provider.observe_resources(session_, compile_users("users:\n  login_allowed_only: [root, alice]\n"));
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].blocked_reason,
            "/etc/passwd has lines that cannot be read as accounts: line 8 ('broken line'); the allow-list cannot tell "
            "whether they log in (fix them, or check them with pwck -r)");
}

}  // namespace
}  // namespace reconcile::providers
