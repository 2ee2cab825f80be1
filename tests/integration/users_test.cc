// Users through useradd/usermod/userdel on booted test hosts (tests/host/README.md): the login allow-list locks
// for real (su and an sshd key login are refused), unlocking restores, and unsafe states are refused.
#include <gtest/gtest.h>

#include <algorithm>
#include <iterator>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tests/support/test_host.h"

namespace rt = reconcile::testing;
using nlohmann::json;

namespace {

constexpr const char* kState = "/tmp/state.yaml";

json run_json(rt::TestHost& host, const std::vector<std::string>& args, int* exit_code,
              const std::vector<std::string>& env = {}) {
  std::vector<std::string> argv{"/opt/rc/reconcile", "--format", "json"};
  argv.insert(argv.end(), args.begin(), args.end());
  const auto r = host.exec_env(env, argv);
  *exit_code = r.exit_code;
  try {
    return json::parse(r.out);
  } catch (const std::exception&) {
    ADD_FAILURE() << "no JSON report: " << r.out << r.err;
    return json();
  }
}

const json* find_resource(const json& report, const std::string& id) {
  for (const auto& r : report["resources"]) {
    if (r["id"] == id) return &r;
  }
  return nullptr;
}

// "field: observed -> desired" of each drift of a resource, in order.
std::vector<std::string> drift_of(const json& report, const std::string& id) {
  std::vector<std::string> out;
  const json* r = find_resource(report, id);
  if (r == nullptr) {
    ADD_FAILURE() << "no resource " << id << " in " << report.dump(1);
    return out;
  }
  for (const auto& d : (*r)["drift"]) {
    out.push_back(d["field"].get<std::string>() + ": " + d["observed"].get<std::string>() + " -> " +
                  d["desired"].get<std::string>());
  }
  return out;
}

std::string status_of(const json& report, const std::string& id) {
  const json* r = find_resource(report, id);
  return r == nullptr ? "(missing)" : (*r)["status"].get<std::string>();
}

int count_status(const json& report, const std::string& status) {
  int n = 0;
  for (const auto& r : report["resources"]) n += r["status"] == status ? 1 : 0;
  return n;
}

std::vector<std::string> snapshot_changes(const std::vector<std::string>& before,
                                          const std::vector<std::string>& after) {
  std::vector<std::string> out;
  std::set_symmetric_difference(before.begin(), before.end(), after.begin(), after.end(), std::back_inserter(out));
  return out;
}

std::string line_of(rt::TestHost& host, const std::string& database, const std::string& name) {
  const auto r = host.exec({"getent", database, "--", name});
  return r.exit_code == 0 ? r.out : "";
}

// The field `index` (0-based) of the account's /etc/shadow line.
std::string shadow_field(rt::TestHost& host, const std::string& name, int index) {
  std::string line = line_of(host, "shadow", name);
  if (!line.empty() && line.back() == '\n') line.pop_back();
  std::size_t start = 0;
  for (int i = 0; i < index; ++i) {
    start = line.find(':', start);
    if (start == std::string::npos) return "(no field)";
    ++start;
  }
  return line.substr(start, line.find(':', start) - start);
}

void run_ok(rt::TestHost& host, const std::string& script) {
  const auto r = host.exec({"sh", "-ec", script});
  ASSERT_EQ(r.exit_code, 0) << script << "\n" << r.out << r.err;
}

rt::RunResult ssh_as(rt::TestHost& host, const std::string& user) {
  return host.exec({"ssh", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no", "-o",
                    "UserKnownHostsFile=/dev/null", "-o", "ConnectTimeout=5", "-i", "/root/.ssh/id_ed25519",
                    user + "@127.0.0.1", "id", "-un"});
}

TEST(UsersTest, AllowListLocksEveryOtherLoginAccountInAllThreePartsAndUnlockRestores) {
  RECONCILE_TEST_HOST_OR_SKIP(host, rt::unique_name("users-allow"), rt::default_bin_dir());
  // alice: a password; bob: only an authorized_keys file (no password); carol: nologin already, with a password.
  run_ok(*host,
         "apt-get install -y -q openssh-server >/dev/null 2>&1\n"
         "useradd -m -s /bin/bash alice && echo alice:secret1 | chpasswd\n"
         "useradd -m -s /bin/bash bob\n"
         "useradd -m -s /usr/sbin/nologin carol && echo carol:secret2 | chpasswd\n"
         "ssh-keygen -q -t ed25519 -N '' -f /root/.ssh/id_ed25519 </dev/null\n"
         "install -d -o bob -g bob -m 700 /home/bob/.ssh\n"
         "install -o bob -g bob -m 600 /root/.ssh/id_ed25519.pub /home/bob/.ssh/authorized_keys\n"
         "systemctl is-active --quiet ssh\n");
  ASSERT_EQ(ssh_as(*host, "bob").out, "bob\n") << "the key login works before the lock";
  const std::string alice_before = line_of(*host, "shadow", "alice") + line_of(*host, "passwd", "alice");
  const std::string root_before = line_of(*host, "shadow", "root") + line_of(*host, "passwd", "root");
  const std::string carol_hash = shadow_field(*host, "carol", 1);
  host->write_file(kState, "users:\n  login_allowed_only: [root, alice]\n");

  // The dry run names every account and every part it would change, and changes nothing.
  const auto before = host->upper_snapshot();
  int code = 0;
  json report = run_json(*host, {"--dry-run", kState}, &code);
  EXPECT_EQ(code, 2) << report.dump(1);
  EXPECT_EQ(drift_of(report, "user:bob"), (std::vector<std::string>{"shell: /bin/bash -> /usr/sbin/nologin",
                                                                    "expiry: never -> expired (1970-01-02)"}));
  EXPECT_EQ(drift_of(report, "user:carol"),
            (std::vector<std::string>{"password: usable -> disabled", "expiry: never -> expired (1970-01-02)"}));
  EXPECT_EQ(find_resource(report, "user:alice"), nullptr);
  EXPECT_EQ(find_resource(report, "user:root"), nullptr);
  EXPECT_EQ(find_resource(report, "user:daemon"), nullptr) << "system accounts that cannot log in are left alone";
  EXPECT_EQ(report["processes_spawned"], 0);
  EXPECT_EQ(snapshot_changes(before, host->upper_snapshot()), std::vector<std::string>{});

  report = run_json(*host, {kState}, &code);
  EXPECT_EQ(code, 2) << report.dump(1);
  EXPECT_EQ(status_of(report, "user:bob"), "changed");
  EXPECT_EQ(status_of(report, "user:carol"), "changed");
  for (const std::string name : {"bob", "carol"}) {
    EXPECT_TRUE(shadow_field(*host, name, 1).starts_with("!")) << name;
    EXPECT_EQ(shadow_field(*host, name, 7), "1") << name;
    EXPECT_TRUE(line_of(*host, "passwd", name).ends_with(":/usr/sbin/nologin\n")) << name;
  }
  EXPECT_EQ(line_of(*host, "shadow", "alice") + line_of(*host, "passwd", "alice"), alice_before);
  EXPECT_EQ(line_of(*host, "shadow", "root") + line_of(*host, "passwd", "root"), root_before);
  const auto su = host->exec({"su", "-", "bob", "-c", "id -un"});
  EXPECT_NE(su.exit_code, 0);
  EXPECT_NE(su.err.find("Your account has expired"), std::string::npos) << su.err;
  const auto ssh = ssh_as(*host, "bob");
  EXPECT_NE(ssh.exit_code, 0);
  EXPECT_EQ(ssh.out, "");
  const auto records = host->exec({"cat", "/var/lib/reconcile/users.json"});
  const json kept = json::parse(records.out);
  EXPECT_EQ(kept["locked"]["bob"]["shell"], "/bin/bash");
  EXPECT_EQ(kept["locked"]["bob"]["password_set"], false);
  EXPECT_EQ(kept["locked"]["carol"]["shell"], "/usr/sbin/nologin");
  EXPECT_EQ(kept["locked"]["carol"]["password_set"], true);

  report = run_json(*host, {kState}, &code);
  EXPECT_EQ(code, 0) << report.dump(1);
  EXPECT_EQ(count_status(report, "changed"), 0);
  EXPECT_EQ(report["processes_spawned"], 0);

  // Unlock: bob joins the allow-list, carol moves to present. Both get back what they had.
  host->write_file(kState, "users:\n  login_allowed_only: [root, alice, bob]\n  present: [carol]\n");
  report = run_json(*host, {kState}, &code);
  EXPECT_EQ(code, 2) << report.dump(1);
  EXPECT_EQ(drift_of(report, "user:bob"),
            (std::vector<std::string>{"shell: /usr/sbin/nologin -> /bin/bash", "expiry: 1970-01-02 -> never"}));
  EXPECT_EQ(drift_of(report, "user:carol"),
            (std::vector<std::string>{"password: disabled -> usable", "expiry: 1970-01-02 -> never"}));
  EXPECT_EQ(shadow_field(*host, "bob", 1), "!");
  EXPECT_EQ(shadow_field(*host, "bob", 7), "");
  EXPECT_TRUE(line_of(*host, "passwd", "bob").ends_with(":/bin/bash\n"));
  EXPECT_EQ(shadow_field(*host, "carol", 1), carol_hash);
  EXPECT_EQ(shadow_field(*host, "carol", 7), "");
  EXPECT_TRUE(line_of(*host, "passwd", "carol").ends_with(":/usr/sbin/nologin\n"));
  EXPECT_EQ(ssh_as(*host, "bob").out, "bob\n");
  EXPECT_EQ(json::parse(host->exec({"cat", "/var/lib/reconcile/users.json"}).out)["locked"], json::object());
  report = run_json(*host, {kState}, &code);
  EXPECT_EQ(code, 0) << report.dump(1);
}

TEST(UsersTest, PresentCreatesWithUidGroupsShellAndHomeThenChangesTheShell) {
  RECONCILE_TEST_HOST_OR_SKIP(host, rt::unique_name("users-present"), rt::default_bin_dir());
  host->write_file(kState,
                   "users:\n  present:\n"
                   "    - {name: deploy, uid: 1500, groups: [sudo, adm], shell: /bin/bash, home: /srv/deploy}\n");
  int code = 0;
  json report = run_json(*host, {kState}, &code);
  EXPECT_EQ(code, 2) << report.dump(1);
  EXPECT_EQ(line_of(*host, "passwd", "deploy"), "deploy:x:1500:1500::/srv/deploy:/bin/bash\n");
  EXPECT_EQ(host->exec({"id", "-nG", "deploy"}).out, "deploy adm sudo\n");
  EXPECT_EQ(host->exec({"stat", "-c", "%U %F", "/srv/deploy"}).out, "deploy directory\n");
  report = run_json(*host, {kState}, &code);
  EXPECT_EQ(code, 0) << report.dump(1);
  EXPECT_EQ(report["processes_spawned"], 0);

  host->write_file(kState, "users:\n  present: [{name: deploy, shell: /bin/sh, groups: [sudo]}]\n");
  const auto before = host->upper_snapshot();
  report = run_json(*host, {"--dry-run", kState}, &code);
  EXPECT_EQ(code, 2);
  EXPECT_EQ(drift_of(report, "user:deploy"), std::vector<std::string>{"shell: /bin/bash -> /bin/sh"});
  EXPECT_EQ(snapshot_changes(before, host->upper_snapshot()), std::vector<std::string>{});
  report = run_json(*host, {kState}, &code);
  EXPECT_EQ(code, 2) << report.dump(1);
  EXPECT_EQ(line_of(*host, "passwd", "deploy"), "deploy:x:1500:1500::/srv/deploy:/bin/sh\n");
  EXPECT_EQ(host->exec({"id", "-nG", "deploy"}).out, "deploy adm sudo\n") << "groups are a minimum";
  report = run_json(*host, {kState}, &code);
  EXPECT_EQ(code, 0) << report.dump(1);
}

TEST(UsersTest, AbsentRemovesButNotWhileProcessesRunAndALockStillApplies) {
  RECONCILE_TEST_HOST_OR_SKIP(host, rt::unique_name("users-absent"), rt::default_bin_dir());
  run_ok(*host,
         "useradd -m -s /bin/bash olduser\nuseradd -m -s /bin/bash gone\nuseradd -m -s /bin/bash busy\n"
         "setsid setpriv --reuid=olduser --regid=olduser --clear-groups sleep 600 </dev/null >/dev/null 2>&1 &\n"
         "setsid setpriv --reuid=busy --regid=busy --clear-groups sleep 600 </dev/null >/dev/null 2>&1 &\n"
         "sleep 0.3\n");
  host->write_file(kState, "users:\n  absent: [olduser, {name: gone, remove_home: true}]\n  locked: [busy]\n");
  int code = 0;
  json report = run_json(*host, {kState}, &code);
  EXPECT_EQ(code, 6) << report.dump(1);
  EXPECT_EQ(status_of(report, "user:busy"), "changed");
  EXPECT_EQ(status_of(report, "user:gone"), "changed");
  EXPECT_EQ(status_of(report, "user:olduser"), "failed");
  const std::string reason = (*find_resource(report, "user:olduser"))["reason"];
  EXPECT_TRUE(reason.starts_with("cannot remove 'olduser': it has running processes: ")) << reason;
  EXPECT_TRUE(reason.ends_with(" (sleep); stop them first")) << reason;
  EXPECT_NE(line_of(*host, "passwd", "olduser"), "");
  EXPECT_EQ(line_of(*host, "passwd", "gone"), "");
  EXPECT_NE(host->exec({"test", "-e", "/home/gone"}).exit_code, 0);
  EXPECT_EQ(shadow_field(*host, "busy", 7), "1");

  run_ok(*host, "pkill -u olduser; pkill -u busy; sleep 0.3");
  report = run_json(*host, {kState}, &code);
  EXPECT_EQ(code, 2) << report.dump(1);
  EXPECT_EQ(line_of(*host, "passwd", "olduser"), "");
  EXPECT_EQ(host->exec({"test", "-d", "/home/olduser"}).exit_code, 0) << "the home is kept by default";
  report = run_json(*host, {kState}, &code);
  EXPECT_EQ(code, 0) << report.dump(1);
}

TEST(UsersTest, UnknownGroupInvalidNameAndUnlistedShellAreRefusedBeforeAnythingChanges) {
  RECONCILE_TEST_HOST_OR_SKIP(host, rt::unique_name("users-invalid"), rt::default_bin_dir());
  host->write_file(kState,
                   "users:\n  present:\n"
                   "    - {name: deploy, groups: [nosuch]}\n"
                   "    - Bob\n"
                   "    - {name: eve, shell: /bin/zsh}\n");
  const auto before = host->upper_snapshot();
  const auto r = host->reconcile({kState});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.err,
            "/tmp/state.yaml:3:7: error: users.present[0]: group 'nosuch' does not exist\n"
            "  hint: add it under groups.present, or list an account of that name under users.present\n"
            "/tmp/state.yaml:4:7: error: users.present[1]: invalid account name 'Bob': it does not match this "
            "system's NAME_REGEX ^[a-z_][a-z0-9_-]*[$]?$\n"
            "  hint: account names are lower-case letters, digits, '_' and '-', starting with a letter or '_', at "
            "most 32 characters\n"
            "/tmp/state.yaml:5:7: error: users.present[2]: shell '/bin/zsh' is not listed in /etc/shells\n"
            "  hint: did you mean '/bin/sh'?\n"
            "3 errors; nothing was changed.\n");
  EXPECT_EQ(snapshot_changes(before, host->upper_snapshot()), std::vector<std::string>{});
  EXPECT_EQ(line_of(*host, "passwd", "deploy"), "");
}

TEST(UsersTest, LockoutOfTheRunningUserOrOfEveryoneIsRefusedUnlessAllowed) {
  RECONCILE_TEST_HOST_OR_SKIP(host, rt::unique_name("users-lockout"), rt::default_bin_dir());
  // A login needs a password or a key besides a shell: each of these accounts has a password.
  run_ok(*host, "useradd -m -s /bin/bash alice\nuseradd -m -s /bin/bash admin\nusermod -aG sudo admin\n"
                "echo alice:secret1 | chpasswd\necho admin:secret2 | chpasswd\necho root:secret3 | chpasswd\n");
  host->write_file(kState, "users:\n  login_allowed_only: [root, alice]\n");
  const auto before = host->upper_snapshot();
  auto r = host->exec_env({"SUDO_USER=admin"}, {"/opt/rc/reconcile", kState});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.err,
            "/tmp/state.yaml:2:23: error: users.login_allowed_only: this state would lock out 'admin', the account "
            "running reconcile (SUDO_USER); accounts that could still log in: alice (password), root (password)\n"
            "  hint: allow 'admin' to log in; or set users.allow_lockout: true if this is really meant\n"
            "1 error; nothing was changed.\n");

  host->write_file(kState, "users:\n  locked: [root, admin]\n");
  r = host->reconcile({kState});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("this state would lock out root while root is the only admin (no account that could still "
                       "log in is in sudo, wheel or admin); accounts that could still log in: alice"),
            std::string::npos)
      << r.err;

  host->write_file(kState, "users:\n  login_allowed_only: [nobody-here]\n");
  r = host->reconcile({kState});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("this state would leave no account that can log in (it takes the last way in from admin, alice, "
                       "root; a login needs a login shell and a password or an SSH key)"),
            std::string::npos)
      << r.err;
  EXPECT_EQ(snapshot_changes(before, host->upper_snapshot()), std::vector<std::string>{});

  host->write_file(kState, "users:\n  login_allowed_only: [root, alice]\n  allow_lockout: true\n");
  int code = 0;
  const json report = run_json(*host, {kState}, &code, {"SUDO_USER=admin"});
  EXPECT_EQ(code, 2) << report.dump(1);
  EXPECT_EQ(status_of(report, "user:admin"), "changed");
}

TEST(UsersTest, DryRunAsAnOrdinaryUserReportsShadowFieldsAsNotObservable) {
  RECONCILE_TEST_HOST_OR_SKIP(host, rt::unique_name("users-nonroot"), rt::default_bin_dir());
  run_ok(*host, "useradd -m -s /bin/bash alice\nuseradd -m -s /bin/bash bob\n"
                "useradd -m -s /usr/sbin/nologin carol && echo carol:secret | chpasswd\n");
  host->write_file(kState, "users:\n  login_allowed_only: [root, alice]\n  present: [alice]\n");
  const auto before = host->upper_snapshot();
  const auto r = host->exec({"setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "/opt/rc/reconcile",
                             "--dry-run", "--format", "json", kState});
  EXPECT_EQ(r.exit_code, 4) << r.out << r.err;
  const json report = json::parse(r.out);
  EXPECT_EQ(status_of(report, "user:bob"), "unknown");
  EXPECT_EQ((*find_resource(report, "user:bob"))["reason"],
            "not observable: permission denied (reading /etc/shadow needs root)");
  EXPECT_EQ(status_of(report, "user:carol"), "unknown") << "a password login cannot be ruled out without root";
  EXPECT_EQ(find_resource(report, "user:daemon"), nullptr);
  EXPECT_EQ(status_of(report, "user:alice"), "in-sync");
  EXPECT_EQ(snapshot_changes(before, host->upper_snapshot()), std::vector<std::string>{});
}

}  // namespace
