// The groupadd provider's host checks and in-process observation, and the SSH keys of accounts (merge, the
// lockout guard), on a temporary root.
#include "providers/groups.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include "builtin/builtin.h"
#include "engine/graph.h"
#include "engine/loader.h"
#include "providers/authorized_keys.h"
#include "providers/shadow.h"
#include "tests/engine/temp_root.h"

namespace reconcile::providers {
namespace {

constexpr const char* kK1 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICDzFFnMRAa8ZJ71vFsSrR3l13Xdq+gxXwVMbqCqi1Eo k1@laptop";
constexpr const char* kK2 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGFK3v2lnL6xni1C7j72kthJOC7c6C9kGKs0dLK7oXFU k2@laptop";

class GroupsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_.write("etc/passwd",
                "root:x:0:0:root:/root:/bin/bash\n"
                "alice:x:1000:1000::/home/alice:/bin/bash\n"
                "bob:x:1001:1500::/home/bob:/bin/bash\n");
    root_.write("etc/shadow", "root:*:19000::::::\nalice:!:19000::::::\nbob:!:19000::::::\n");
    root_.write("etc/group", "root:x:0:\nsudo:x:27:alice\nalice:x:1000:\nstaff:x:1500:alice\nold:x:1600:\n");
    root_.write("etc/gshadow", "root:*::\nsudo:*::alice\nalice:!::\nstaff:!::alice\n");
    root_.write("etc/shells", "/bin/sh\n/bin/bash\n");
    root_.write("usr/sbin/nologin", "");
    host_.root = root_.path();
  }

  std::vector<const resources::Resource*> compile(const std::string& text) {
    std::vector<resources::Error> errors;
    resources::Node node = engine::parse_text("state.yaml", text, errors);
    compiled_ = engine::compile(node, builtin::registry());
    EXPECT_TRUE(compiled_.errors.empty()) << compiled_.errors[0].str();
    auto& managed = session_.state<ManagedIds>().ids;
    std::vector<const resources::Resource*> out;
    for (const auto& resource : compiled_.graph.resources) {
      managed.insert(resource->id());
      out.push_back(resource.get());
    }
    return out;
  }
  std::vector<const resources::Resource*> of_kind(const std::vector<const resources::Resource*>& all,
                                                  const std::string& kind) {
    std::vector<const resources::Resource*> out;
    for (const auto* r : all) {
      if (r->kind() == kind) out.push_back(r);
    }
    return out;
  }
  std::vector<std::string> messages(const std::vector<resources::Error>& errors) {
    std::vector<std::string> out;
    for (const auto& e : errors) out.push_back(e.message);
    return out;
  }
  std::vector<std::string> validate_groups(const std::string& text) {
    return messages(GroupaddProvider().validate_resources(session_, of_kind(compile(text), "group")));
  }
  std::vector<std::string> validate_users(const std::string& text, RunningUser running = {}) {
    return messages(ShadowProvider(std::move(running)).validate_resources(session_, of_kind(compile(text), "user")));
  }

  testing::TempRoot root_;
  Exec exec_;
  Host host_{"/", &exec_, true, {}};
  Session session_{host_};
  engine::Compiled compiled_;
};

TEST_F(GroupsTest, ObservesGidMembersPrimaryAccountsAndGshadowWithoutSpawning) {
  const auto resources = compile("groups:\n  present: [staff, {name: deploy, gid: 1700}]\n  absent: [old]\n");
  const auto before = Exec::spawned();
  const auto seen = GroupaddProvider().observe_resources(session_, resources);
  EXPECT_EQ(Exec::spawned(), before);
  ASSERT_EQ(seen.size(), 3u);
  const auto& staff = dynamic_cast<const resources::GroupObserved&>(*seen[0].state);
  EXPECT_TRUE(staff.exists);
  EXPECT_EQ(staff.gid, 1500u);
  EXPECT_EQ(staff.members, std::vector<std::string>{"alice"});
  EXPECT_EQ(staff.primary_of, std::vector<std::string>{"bob"});
  EXPECT_TRUE(staff.in_gshadow);
  EXPECT_FALSE(dynamic_cast<const resources::GroupObserved&>(*seen[1].state).exists);
  EXPECT_EQ(seen[2].note, "/etc/gshadow has no line for it (grpck -r lists such groups)");
}

TEST_F(GroupsTest, RefusesATakenGidAndRemovingAPrimaryGroupOfAnUnmanagedAccount) {
  EXPECT_EQ(validate_groups("groups:\n  present: [{name: deploy, gid: 1000}]\n"),
            std::vector<std::string>{"gid 1000 already belongs to group 'alice'"});
  EXPECT_EQ(validate_groups("groups:\n  present: [{name: a, gid: 1700}, {name: b, gid: 1700}]\n"),
            std::vector<std::string>{"gid 1700 is also wanted for group 'a' at state.yaml:2:13"});
  EXPECT_TRUE(validate_groups("groups:\n  present: [{name: staff, gid: 1500}]\n").empty());
  EXPECT_EQ(validate_groups("groups:\n  absent: [staff]\n"),
            std::vector<std::string>{"group 'staff' is the primary group of bob; groupdel refuses to leave an account "
                                     "without its primary group"});
  EXPECT_TRUE(validate_groups("groups:\n  absent: [staff]\nusers:\n  absent: [bob]\n").empty());
}

TEST_F(GroupsTest, AnAccountMayNameAGroupTheStateCreates) {
  EXPECT_EQ(validate_users("users:\n  present: [{name: carol, groups: [ops]}]\n"),
            std::vector<std::string>{"group 'ops' does not exist"});
  EXPECT_TRUE(validate_users("groups:\n  present: [ops]\nusers:\n  present: [{name: carol, groups: [ops]}]\n").empty());
}

TEST_F(GroupsTest, AuthorizedKeysAreObservedInProcessWithModesAndFingerprints) {
  root_.write("home/bob/.ssh/authorized_keys", std::string("# mine\n") + kK2 + "\n");
  ::chmod((root_.path() / "home/bob/.ssh").c_str(), 0755);
  ::chmod((root_.path() / "home/bob/.ssh/authorized_keys").c_str(), 0644);
  const auto resources = compile(std::string("users:\n  present: [{name: bob, ssh_keys: [\"") + kK1 + "\"]}]\n");
  const auto before = Exec::spawned();
  const auto seen = ShadowProvider(RunningUser{}).observe_resources(session_, resources);
  EXPECT_EQ(Exec::spawned(), before);
  ASSERT_EQ(seen.size(), 1u);
  ASSERT_TRUE(seen[0].state) << seen[0].unknown_reason;
  const auto& keys = dynamic_cast<const resources::UserObserved&>(*seen[0].state).authorized_keys;
  EXPECT_TRUE(keys.observed);
  EXPECT_TRUE(keys.exists);
  EXPECT_EQ(keys.path, "/home/bob/.ssh/authorized_keys");
  ASSERT_EQ(keys.keys.size(), 1u);
  EXPECT_EQ(keys.other_lines, 1u);
  EXPECT_EQ(keys.dir_mode, 0755u);
  EXPECT_EQ(keys.file_mode, 0644u);
  EXPECT_EQ(keys.fingerprints.at(resources::parse_ssh_key(kK1)->identity()), "SHA256:MJATOyxjXJyQKQUOhJDpjZzhGpFFl+9WYau5aacUV8s");
  const auto drift = compiled_.graph.resources[0]->diff(*seen[0].state);
  ASSERT_EQ(drift.size(), 1u);
  EXPECT_EQ(drift[0].reason, "adds ssh-ed25519 SHA256:MJATOyxjXJyQKQUOhJDpjZzhGpFFl+9WYau5aacUV8s (k1@laptop); ~/.ssh mode 0755 → 0700, ~/.ssh owner → bob, "
                             "authorized_keys mode 0644 → 0600, authorized_keys owner → bob; keeps 1 unlisted key");

  std::filesystem::remove_all(root_.path() / "home/bob/.ssh");
  std::filesystem::create_directory_symlink("/etc", root_.path() / "home/bob/.ssh");
  const auto linked = ShadowProvider(RunningUser{}).observe_resources(session_, resources);
  EXPECT_EQ(linked[0].blocked_reason,
            "cannot manage its SSH keys: /home/bob/.ssh is a symbolic link (refused: it could point anywhere)");
}

TEST_F(GroupsTest, MergingKeepsOtherLinesAndDropsUnlistedKeysOnlyWhenExclusive) {
  compile(std::string("users:\n  present: [{name: bob, ssh_keys: [\"no-pty ") + kK1 + "\"]}]\n");
  const auto& bob = dynamic_cast<const resources::UserResource&>(*compiled_.graph.resources[0]);
  const std::string current = std::string("# mine\n") + kK2 + "\n" + kK1 + "\n\n" + kK1 + "\n";
  EXPECT_EQ(merged_authorized_keys(current, bob), std::string("# mine\n") + kK2 + "\nno-pty " + kK1 + "\n\n");
  EXPECT_EQ(merged_authorized_keys("", bob), std::string("no-pty ") + kK1 + "\n");
  compile(std::string("users:\n  present: [{name: bob, ssh_keys_exclusive: true, ssh_keys: [\"") + kK1 + "\"]}]\n");
  const auto& only = dynamic_cast<const resources::UserResource&>(*compiled_.graph.resources[0]);
  EXPECT_EQ(merged_authorized_keys(current, only), std::string("# mine\n") + kK1 + "\n\n");
}

TEST_F(GroupsTest, WritesAuthorizedKeysWithTheModesSshdWants) {
  if (::geteuid() != 0) GTEST_SKIP() << "chown needs root";
  root_.write("home/bob/.keep", "");
  compile(std::string("users:\n  present: [{name: bob, ssh_keys: [\"") + kK1 + "\"]}]\n");
  const auto& bob = dynamic_cast<const resources::UserResource&>(*compiled_.graph.resources[0]);
  const PasswdEntry entry{"bob", 1001, 1500, "/home/bob", "/bin/bash"};
  auto written = write_authorized_keys(host_, bob, entry);
  ASSERT_TRUE(written) << written.error();
  EXPECT_EQ(*written, "write /home/bob/.ssh/authorized_keys (1 key, mode 0600)");
  struct stat st {};
  ASSERT_EQ(::stat((root_.path() / "home/bob/.ssh").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0700u);
  EXPECT_EQ(st.st_uid, 1001u);
  EXPECT_EQ(st.st_gid, 1500u);
  ASSERT_EQ(::stat((root_.path() / "home/bob/.ssh/authorized_keys").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  EXPECT_EQ(st.st_uid, 1001u);
  const auto seen = observe_authorized_keys(host_, bob, entry);
  EXPECT_TRUE(compiled_.graph.resources[0]->diff([&] {
    resources::UserObserved o;
    o.exists = true;
    o.uid = 1001;
    o.home = "/home/bob";
    o.shell = "/bin/bash";
    o.authorized_keys = seen;
    return o;
  }()).empty());
}

// The lockout guard counts the keys a plan adds and removes.
TEST_F(GroupsTest, TheGuardCountsKeysTheStateAddsAndRemoves) {
  // root: a key only; alice (in sudo) and bob: no password, no key.
  root_.write("root/.ssh/authorized_keys", std::string(kK2) + "\n");
  EXPECT_TRUE(validate_users("users:\n  present: [{name: root, ssh_keys: [\"" + std::string(kK1) + "\"]}]\n").empty());
  auto errors = validate_users("users:\n  present: [{name: root, ssh_keys_exclusive: true}]\n");
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0], "this state would leave no account that can log in (it takes the last way in from root; a "
                       "login needs a login shell and a password or an SSH key)");
  // A key that exclusive removes, while another listed one stays, keeps the account's way in.
  EXPECT_TRUE(validate_users("users:\n  present: [{name: root, ssh_keys_exclusive: true, ssh_keys: [\"" +
                             std::string(kK1) + "\"]}]\n")
                  .empty());
  // A key given to alice lets root lose its own: she is an admin who can log in.
  EXPECT_TRUE(validate_users("users:\n  present: [{name: root, ssh_keys_exclusive: true}, {name: alice, ssh_keys: [\"" +
                             std::string(kK1) + "\"]}]\n")
                  .empty());
  errors = validate_users("users:\n  present: [{name: root, ssh_keys_exclusive: true}]\n", RunningUser{"root", std::nullopt});
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_NE(errors[0].find("this state would lock out 'root', the account running reconcile"), std::string::npos)
      << errors[0];
}

}  // namespace
}  // namespace reconcile::providers
