// Groups through groupadd/groupmod/groupdel and SSH keys of accounts on booted test hosts (tests/host/README.md):
// a group from the same state is there before the account that names it, authorized_keys gets the modes sshd
// wants, and a real sshd lets in the listed key and refuses the one an exclusive list removed.
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

json run_json(rt::TestHost& host, const std::vector<std::string>& args, int* exit_code, std::string* err = nullptr) {
  std::vector<std::string> argv{"/opt/rc/reconcile", "--format", "json"};
  argv.insert(argv.end(), args.begin(), args.end());
  const auto r = host.exec(argv);
  *exit_code = r.exit_code;
  if (err != nullptr) *err = r.err;
  try {
    return json::parse(r.out);
  } catch (const std::exception&) {
    if (err == nullptr) ADD_FAILURE() << "no JSON report: " << r.out << r.err;
    return json();
  }
}

const json* find_resource(const json& report, const std::string& id) {
  for (const auto& r : report["resources"]) {
    if (r["id"] == id) return &r;
  }
  return nullptr;
}

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

std::string reason_of(const json& report, const std::string& id) {
  const json* r = find_resource(report, id);
  if (r == nullptr || (*r)["drift"].empty()) return "";
  return (*r)["drift"][0]["reason"].get<std::string>();
}

std::string status_of(const json& report, const std::string& id) {
  const json* r = find_resource(report, id);
  return r == nullptr ? "(missing)" : (*r)["status"].get<std::string>();
}

std::vector<std::string> snapshot_changes(const std::vector<std::string>& before, const std::vector<std::string>& after) {
  std::vector<std::string> out;
  std::set_symmetric_difference(before.begin(), before.end(), after.begin(), after.end(), std::back_inserter(out));
  return out;
}

std::string getent(rt::TestHost& host, const std::string& database, const std::string& name) {
  const auto r = host.exec({"getent", database, "--", name});
  return r.exit_code == 0 ? r.out : "";
}

void run_ok(rt::TestHost& host, const std::string& script) {
  const auto r = host.exec({"sh", "-ec", script});
  ASSERT_EQ(r.exit_code, 0) << script << "\n" << r.out << r.err;
}

rt::RunResult ssh_with(rt::TestHost& host, const std::string& key, const std::string& user) {
  return host.exec({"ssh", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                    "-o", "ConnectTimeout=5", "-o", "IdentitiesOnly=yes", "-i", key, user + "@127.0.0.1", "id", "-un"});
}

TEST(GroupsTest, CreatesWithGidRemovesAndAUserJoinsAGroupOfTheSameState) {
  RECONCILE_TEST_HOST_OR_SKIP(host, rt::unique_name("grp-groups"), rt::default_bin_dir());
  run_ok(*host, "groupadd --gid 1600 oldgrp\n");
  host->write_file(kState,
                   "groups:\n  present: [{name: deploy, gid: 1500}, ops]\n  absent: [oldgrp]\n"
                   "users:\n  present: [{name: deploy, groups: [ops], shell: /bin/bash}]\n");

  // The dry run names each change and changes nothing; the account may name a group that does not exist yet.
  const auto before = host->upper_snapshot();
  int code = 0;
  json report = run_json(*host, {"--dry-run", kState}, &code);
  EXPECT_EQ(code, 2) << report.dump(1);
  EXPECT_EQ(drift_of(report, "group:deploy"), std::vector<std::string>{"group: absent -> present (gid 1500)"});
  EXPECT_EQ(drift_of(report, "group:ops"), std::vector<std::string>{"group: absent -> present"});
  EXPECT_EQ(drift_of(report, "group:oldgrp"), std::vector<std::string>{"group: present (gid 1600) -> absent"});
  EXPECT_EQ(report["processes_spawned"], 0);
  EXPECT_EQ(snapshot_changes(before, host->upper_snapshot()), std::vector<std::string>{});

  report = run_json(*host, {kState}, &code);
  EXPECT_EQ(code, 2) << report.dump(1);
  for (const std::string id : {"group:deploy", "group:ops", "group:oldgrp", "user:deploy"}) {
    EXPECT_EQ(status_of(report, id), "changed") << id << report.dump(1);
  }
  EXPECT_EQ(getent(*host, "group", "deploy"), "deploy:x:1500:\n");
  EXPECT_EQ(getent(*host, "group", "oldgrp"), "");
  EXPECT_NE(getent(*host, "gshadow", "ops"), "");
  // The group of its own name is the account's primary group: useradd made no private group beside it.
  EXPECT_EQ(host->exec({"id", "-g", "deploy"}).out, "1500\n");
  EXPECT_EQ(host->exec({"id", "-nG", "deploy"}).out, "deploy ops\n");

  report = run_json(*host, {kState}, &code);
  EXPECT_EQ(code, 0) << report.dump(1);
  EXPECT_EQ(report["processes_spawned"], 0);

  // A gid changed behind our back is put back; groupmod moves the account's primary gid along.
  run_ok(*host, "groupmod --gid 1777 deploy\n");
  report = run_json(*host, {kState}, &code);
  EXPECT_EQ(code, 2) << report.dump(1);
  EXPECT_EQ(drift_of(report, "group:deploy"), std::vector<std::string>{"gid: 1777 -> 1500"});
  EXPECT_EQ(getent(*host, "group", "deploy"), "deploy:x:1500:\n");
  EXPECT_EQ(host->exec({"id", "-g", "deploy"}).out, "1500\n");

  // Removing a group that is still an account's primary group is refused before anything changes.
  host->write_file(kState, "groups:\n  absent: [deploy]\n");
  std::string err;
  report = run_json(*host, {kState}, &code, &err);
  EXPECT_EQ(code, 1);
  const std::string refused = report.dump() + err;
  EXPECT_NE(refused.find("groups.absent[0]"), std::string::npos) << refused;
  EXPECT_NE(refused.find("group 'deploy' is the primary group of deploy; groupdel refuses to leave an account without "
                         "its primary group"),
            std::string::npos)
      << refused;
  EXPECT_NE(getent(*host, "group", "deploy"), "");
  // Removed together with the account, it goes (after the account).
  host->write_file(kState, "groups:\n  absent: [deploy, ops]\nusers:\n  absent: [deploy]\n");
  report = run_json(*host, {kState}, &code);
  EXPECT_EQ(code, 2) << report.dump(1);
  EXPECT_EQ(getent(*host, "group", "deploy"), "");
  EXPECT_EQ(getent(*host, "group", "ops"), "");
  EXPECT_EQ(getent(*host, "passwd", "deploy"), "");
  report = run_json(*host, {kState}, &code);
  EXPECT_EQ(code, 0) << report.dump(1);
  EXPECT_EQ(report["processes_spawned"], 0);
}

TEST(GroupsTest, AuthorizedKeysLetTheListedKeyInAndExclusiveShutsTheOtherOut) {
  RECONCILE_TEST_HOST_OR_SKIP(host, rt::unique_name("grp-sshkeys"), rt::default_bin_dir());
  run_ok(*host,
         "apt-get install -y -q openssh-server >/dev/null 2>&1\n"
         "mkdir -p -m 700 /root/.ssh\n"
         "ssh-keygen -q -t ed25519 -N '' -C one@laptop -f /root/.ssh/one </dev/null\n"
         "ssh-keygen -q -t ed25519 -N '' -C two@laptop -f /root/.ssh/two </dev/null\n"
         "systemctl is-active --quiet ssh\n");
  std::string one = host->exec({"cat", "/root/.ssh/one.pub"}).out;
  std::string two = host->exec({"cat", "/root/.ssh/two.pub"}).out;
  one.pop_back();
  two.pop_back();
  const std::string fingerprint_two = host->exec({"ssh-keygen", "-lf", "/root/.ssh/two.pub"}).out.substr(4, 50);
  const std::string state = "users:\n  present:\n    - name: deploy\n      shell: /bin/bash\n      ssh_keys: [\"" + one + "\"]\n";
  host->write_file(kState, state);
  int code = 0;
  json report = run_json(*host, {kState}, &code);
  EXPECT_EQ(code, 2) << report.dump(1);
  EXPECT_EQ(host->exec({"stat", "-c", "%a %U %G", "/home/deploy/.ssh", "/home/deploy/.ssh/authorized_keys"}).out,
            "700 deploy deploy\n600 deploy deploy\n");
  EXPECT_EQ(host->exec({"cat", "/home/deploy/.ssh/authorized_keys"}).out, one + "\n");
  EXPECT_EQ(ssh_with(*host, "/root/.ssh/one", "deploy").out, "deploy\n");
  EXPECT_NE(ssh_with(*host, "/root/.ssh/two", "deploy").exit_code, 0);
  report = run_json(*host, {kState}, &code);
  EXPECT_EQ(code, 0) << report.dump(1);
  EXPECT_EQ(report["processes_spawned"], 0);

  // A key added behind our back stays while the list is not exclusive; loose modes are put back.
  run_ok(*host, "echo '" + two + "' >> /home/deploy/.ssh/authorized_keys\nchmod 644 /home/deploy/.ssh/authorized_keys\n");
  report = run_json(*host, {kState}, &code);
  EXPECT_EQ(code, 2) << report.dump(1);
  EXPECT_EQ(reason_of(report, "user:deploy"), "authorized_keys mode 0644 → 0600; keeps 1 unlisted key");
  EXPECT_EQ(report["processes_spawned"], 0) << "keys and modes are written in-process";
  EXPECT_EQ(ssh_with(*host, "/root/.ssh/two", "deploy").out, "deploy\n");

  // Exclusive: the unlisted key goes, named by its fingerprint and comment, never its blob.
  host->write_file(kState, state + "      ssh_keys_exclusive: true\n");
  const auto before = host->upper_snapshot();
  report = run_json(*host, {"--dry-run", kState}, &code);
  EXPECT_EQ(code, 2) << report.dump(1);
  const std::string reason = reason_of(report, "user:deploy");
  EXPECT_NE(reason.find("removes (ssh_keys_exclusive) ssh-ed25519 " + fingerprint_two.substr(0, 50)), std::string::npos)
      << reason << " / " << fingerprint_two;
  EXPECT_EQ(report.dump().find(two.substr(12, 68)), std::string::npos) << "no key blob in the report";
  EXPECT_EQ(snapshot_changes(before, host->upper_snapshot()), std::vector<std::string>{});
  report = run_json(*host, {kState}, &code);
  EXPECT_EQ(code, 2) << report.dump(1);
  EXPECT_EQ(host->exec({"cat", "/home/deploy/.ssh/authorized_keys"}).out, one + "\n");
  const auto refused = ssh_with(*host, "/root/.ssh/two", "deploy");
  EXPECT_NE(refused.exit_code, 0);
  EXPECT_NE(refused.err.find("Permission denied (publickey"), std::string::npos) << refused.err;
  EXPECT_EQ(ssh_with(*host, "/root/.ssh/one", "deploy").out, "deploy\n");
  report = run_json(*host, {kState}, &code);
  EXPECT_EQ(code, 0) << report.dump(1);
  EXPECT_EQ(report["processes_spawned"], 0);
}

}  // namespace
