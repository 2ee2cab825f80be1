// A converged run spawns no process, for every kind at once: one state with packages, services, groups, users
// (locked, with ssh_keys), the time zone, swap, sysctl, files (content and template), the firewall, the
// maintenance routines and TCP checks, applied on a booted test host, then applied again. Scripts are left out:
// a script is due every run by design (its `unless` guard is a shell command), so it spawns on purpose.

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <set>
#include <string>

#include "tests/support/test_host.h"

namespace reconcile {
namespace {

namespace rt = reconcile::testing;
using nlohmann::json;

std::string every_kind(const std::string& swap, const std::string& key) {
  return "timezone: Europe/Helsinki\n"
         "packages:\n  present: [hello, openssh-server, rc-demo-svc]\n"
         "services:\n  enabled: [{name: rc-demo, package: rc-demo-svc}]\n  disabled: [cron]\n"
         "groups:\n  present: [{name: cvops, gid: 1600}]\n"
         "users:\n  present:\n    - {name: cvdeploy, shell: /bin/bash, groups: [cvops], ssh_keys: [\"" + key + "\"]}\n"
         "  locked: [daemon]\n"
         "swap:\n  file: " + swap + "\n  size_mb: 16\n"
         "sysctl:\n  keys:\n    net.ipv4.ip_forward: 1\n"
         "vars: {port: 8080}\n"
         "files:\n  - {path: /etc/cv.conf, content: \"converged\\n\"}\n"
         "  - {path: /etc/cv.env, template: cv.env.tmpl, mode: \"0600\"}\n"
         "firewall:\n  allow_ports: [22, 8080]\n"
         "maintenance:\n  clock_sync: true\n  tmp_cleanup: {paths: [/var/tmp], older_than: 7d}\n"
         "  journal_max_mb: 100\n  fstrim: weekly\n  home_permissions: true\n"
         "checks:\n  tcp: [\"localhost:22\"]\n";
}

TEST(ConvergedHostTest, EveryKindAppliedOnceThenTheNextApplySpawnsNoProcessAndChangesNothing) {
  RECONCILE_TEST_HOST_OR_SKIP(host, rt::unique_name("cv-every"), rt::default_bin_dir());
  // A fixed public key: the image has no ssh-keygen before openssh-server's dependencies come in.
  const std::string pub = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGGOCSHEz7ZwhKdy8WSrdaeGniJsqGUFKxaem6KTIJXl cv@laptop";
  // sshd up before the run: the TCP check of port 22 does not wait for the package that provides it.
  // The account exists with a plain home (useradd's 0755): home_permissions observes the homes before the users
  // are applied, so the home of an account created by the same run is only put right by the next run.
  const auto sshd = host->exec({"sh", "-c", "apt-get install -y -q openssh-server >/dev/null 2>&1 && "
                                            "systemctl is-active --quiet ssh && useradd -m -s /bin/sh cvdeploy"});
  ASSERT_EQ(sshd.exit_code, 0) << sshd.out << sshd.err;
  host->write_file("/tmp/st/cv.env.tmpl", "HOST={{facts.hostname}}\nPORT={{vars.port}}\n");
  host->write_file("/tmp/st/state.yaml", every_kind("/var/swap/" + host->name(), pub));

  const auto first = host->reconcile({"--format=json", "/tmp/st/state.yaml"});
  ASSERT_EQ(first.exit_code, 2) << first.out << first.err;
  const json applied = json::parse(first.out, nullptr, false);
  ASSERT_FALSE(applied.is_discarded()) << first.out;
  EXPECT_GT(applied["processes_spawned"].get<int>(), 0);
  EXPECT_GT(applied["tool_wait_seconds"].get<double>(), 0.0);
  std::set<std::string> kinds;
  for (const auto& r : applied["resources"]) kinds.insert(r["kind"].get<std::string>());
  for (const char* kind : {"package", "service", "group", "user", "timezone", "swapfile", "sysctl", "file",
                           "firewall", "check", "clock_sync", "tmp_cleanup", "journal", "fstrim", "home_permissions"}) {
    EXPECT_TRUE(kinds.contains(kind)) << kind << " missing from " << applied["resources"].dump().substr(0, 3000);
  }

  const auto again = host->reconcile({"--format=json", "/tmp/st/state.yaml"});
  EXPECT_EQ(again.exit_code, 0) << again.out << again.err;
  const json second = json::parse(again.out, nullptr, false);
  ASSERT_FALSE(second.is_discarded()) << again.out;
  EXPECT_EQ(second["processes_spawned"], 0) << again.out;
  EXPECT_EQ(second["tool_wait_seconds"], 0.0) << again.out;
  EXPECT_EQ(second["counts"]["changed"], 0) << second["counts"].dump();
  for (const auto& r : second["resources"]) {
    EXPECT_EQ(r["status"], "in-sync") << r.dump(1);
  }
  const auto settled = host->upper_snapshot();
  const auto dry = host->reconcile({"--dry-run", "--format=json", "/tmp/st/state.yaml"});
  EXPECT_EQ(dry.exit_code, 0) << dry.out << dry.err;
  EXPECT_EQ(json::parse(dry.out, nullptr, false)["processes_spawned"], 0) << dry.out;
  EXPECT_EQ(host->upper_snapshot(), settled);
}

}  // namespace
}  // namespace reconcile
