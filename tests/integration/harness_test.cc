// The harness on test hosts: properties of random valid states (a dry run changes nothing; apply, then apply
// again changes nothing), a corrupt host (each damage fails its own resource and nothing else), and SIGKILL at
// points spread over an apply (by time and at tool calls), each followed by the host checks and a converging run.
// RECONCILE_PROPERTY_STATES (default 3) and RECONCILE_CRASH_POINTS (default 20) widen the last two
// (scripts/crash.sh).

#include <gtest/gtest.h>
#include <rapidcheck.h>

#include <chrono>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "tests/property/state_gen.h"
#include "tests/support/test_host.h"

namespace reconcile {
namespace {

namespace rt = reconcile::testing;
namespace prop = reconcile::testing::prop;
using nlohmann::json;

int env_count(const char* name, int fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::atoi(v) : fallback;
}

std::string sh(rt::TestHost& host, const std::string& script) { return host.exec({"sh", "-c", script}).out; }

// ---- properties ---------------------------------------------------------------------------------------------

TEST(HarnessProperty, DryRunChangesNothingAndTheSecondApplyChangesNothing) {
  const int count = env_count("RECONCILE_PROPERTY_STATES", 3);
  for (int i = 0; i < count; ++i) {
    // Seeded, so a failure names a state that can be run again.
    const json state = prop::state_gen()(rc::Random(0x5eed0000u + static_cast<unsigned>(i)), 30).value();
    const std::string yaml = prop::yaml_text(state);
    SCOPED_TRACE("state " + std::to_string(i) + ":\n" + yaml);
    RECONCILE_TEST_HOST_OR_SKIP(host, rt::unique_name("hn-prop"), rt::default_bin_dir());
    host->write_file("/tmp/state.yaml", yaml);
    const auto before = host->upper_snapshot();
    const auto dry = host->reconcile({"--dry-run", "/tmp/state.yaml"});
    EXPECT_TRUE(dry.exit_code == 0 || dry.exit_code == 2) << dry.out << dry.err;
    EXPECT_EQ(host->upper_snapshot(), before) << dry.out;
    const auto apply = host->reconcile({"/tmp/state.yaml"});
    EXPECT_TRUE(apply.exit_code == 0 || apply.exit_code == 2) << apply.out << apply.err;
    const auto again = host->reconcile({"--format=json", "/tmp/state.yaml"});
    EXPECT_EQ(again.exit_code, 0) << again.out << again.err;
    if (again.exit_code == 0) {
      EXPECT_EQ(json::parse(again.out)["counts"]["changed"], 0) << again.out;
    }
    std::string report;
    EXPECT_TRUE(host->down(&report)) << report;
  }
}

// ---- a corrupt host -------------------------------------------------------------------------------------------

// The healthy resource next to each damaged one: it must still be changed.
constexpr const char* kHealthy = "timezone: Europe/Berlin\n";

struct Damage {
  const char* name;
  const char* setup;          // shell run inside before the apply
  const char* state;          // the resources that meet the damage (the healthy one is added)
  const char* failed;         // the resource that must fail, or "" when the run must succeed
  const char* says;           // what the output must say about it
};

const Damage kDamages[] = {
    {"garbage ledger", "mkdir -p /var/lib/reconcile && printf '{\"ver' > /var/lib/reconcile/ledger.json", "", "",
     "ledger"},
    {"garbage users.json", "mkdir -p /var/lib/reconcile && head -c 300 /dev/urandom > /var/lib/reconcile/users.json",
     "users:\n  locked: [daemon]\n", "user:daemon", "users.json"},
    // The allow-list cannot tell whether an account it cannot read logs in: it fails, naming the line.
    {"malformed passwd line", "echo 'hnbroken:x:notanumber' >> /etc/passwd",
     "users:\n  login_allowed_only: [root]\n  allow_lockout: true\n", "user:*", "passwd"},
    {"truncated shadow line", "echo 'hnshadow:$6$abc' >> /etc/shadow", "users:\n  absent: [hnnobody]\n", "", ""},
    {"truncated dpkg status", "s=/var/lib/dpkg/status; head -c $(( $(stat -c %s $s) / 2 )) $s > $s.hn && mv $s.hn $s",
     "packages:\n  present: [hello]\n", "package:hello", "hello"},
    {"missing /etc/localtime target", "ln -sfn /usr/share/zoneinfo/Nowhere/Gone /etc/localtime", "", "", ""},
    {"tool printing garbage",
     "mkdir -p /opt/hn/bin && printf '#!/bin/sh\\nhead -c 2000 /dev/urandom\\nexit 0\\n' > /opt/hn/bin/dpkg-query && "
     "chmod +x /opt/hn/bin/dpkg-query && cp /opt/hn/bin/dpkg-query /opt/hn/bin/apt-cache",
     "packages:\n  present: [hello]\n", "package:hello", "hello"},
};

TEST(HarnessCorruptHost, EachDamageFailsItsOwnResourceAndNothingElse) {
  for (const Damage& d : kDamages) {
    SCOPED_TRACE(d.name);
    RECONCILE_TEST_HOST_OR_SKIP(host, rt::unique_name("hn-bad"), rt::default_bin_dir());
    host->write_file("/tmp/state.yaml", std::string(kHealthy) + d.state);
    const auto setup = host->exec({"sh", "-c", d.setup});
    ASSERT_EQ(setup.exit_code, 0) << setup.err;
    const auto run = host->exec_env({"PATH=/opt/hn/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
                                    {"/opt/rc/reconcile", "--format=json", "/tmp/state.yaml"});
    ASSERT_NE(run.exit_code, 1) << "refused as invalid input: " << run.err;
    EXPECT_NE(run.exit_code, -1) << "timed out";
    EXPECT_LT(run.exit_code, 128) << "crashed: " << run.err;
    json report;
    try {
      report = json::parse(run.out);
    } catch (const std::exception& e) {
      ADD_FAILURE() << "no JSON report: " << e.what() << "\n" << run.out << run.err;
      continue;
    }
    bool healthy_changed = false;
    for (const auto& r : report["resources"]) {
      const std::string id = r.value("id", "");
      const std::string status = r.value("status", "");
      if (id == "timezone") {
        healthy_changed = status == "changed";
      } else if (id != d.failed) {
        EXPECT_NE(status, "failed") << id << " failed too: " << r.dump();
      }
      if (id == d.failed) {
        EXPECT_EQ(status, "failed") << r.dump();
        EXPECT_NE(r.dump().find(d.says), std::string::npos) << "the failure does not say '" << d.says << "': "
                                                            << r.dump();
      }
    }
    EXPECT_TRUE(healthy_changed) << "the healthy resource was not applied: " << run.out << run.err;
    if (*d.failed == 0 && *d.says) {
      EXPECT_NE((run.out + run.err).find(d.says), std::string::npos) << run.out << run.err;
    }
    EXPECT_EQ(host->exec({"readlink", "/etc/localtime"}).out, "/usr/share/zoneinfo/Europe/Berlin\n");
  }
}

// ---- SIGKILL during an apply ---------------------------------------------------------------------------------

// Every kind on main; swap on the host's ext4 bind, a file name of this host's own.
std::string every_kind(const std::string& swap, bool on) {
  if (on) {
    return "timezone: Europe/Helsinki\n"
           "packages:\n  present: [hello, tree, {name: at, start_on_install: false}, rc-demo-svc]\n"
           "services:\n  enabled: [{name: rc-demo, package: rc-demo-svc}]\n  disabled: [cron]\n"
           "users:\n  present:\n    - {name: hncrash, shell: /bin/bash, groups: [users]}\n  locked: [daemon]\n"
           "swap:\n  file: " + swap + "\n  size_mb: 16\n"
           "sysctl:\n  keys:\n    net.ipv4.tcp_syncookies: 2\n";
  }
  return "timezone: Etc/UTC\n"
         "packages:\n  absent: [hello, tree, at, rc-demo-svc]\n"
         "services:\n  enabled: [cron]\n"
         "users:\n  absent: [hncrash]\n"
         "swap:\n  off: true\n"
         "sysctl:\n  keys:\n    net.ipv4.tcp_syncookies: 1\n";
}

// The tools an apply of every_kind() calls; a wrapper of each kills reconcile (its parent) when named in
// /run/hn-kill-at, then runs the real tool.
const std::vector<std::string> kKillTools{"apt-get", "dpkg", "useradd", "usermod", "userdel", "mkswap", "swapon"};

void install_kill_wrappers(rt::TestHost& host) {
  for (const auto& tool : kKillTools) {
    const std::string real = sh(host, "command -v " + tool + " | tr -d '\\n'");
    if (real.empty()) continue;
    host.exec({"sh", "-c",
               "mkdir -p /opt/hn/bin && cat > /opt/hn/bin/" + tool + " <<'X'\n#!/bin/sh\n"
               "if [ \"$(cat /run/hn-kill-at 2>/dev/null)\" = " + tool + " ]; then rm -f /run/hn-kill-at; "
               "kill -9 $PPID; fi\nexec " + real + " \"$@\"\nX\nchmod +x /opt/hn/bin/" + tool});
  }
}

void wait_for_tools(rt::TestHost& host) {
  for (int i = 0; i < 600; ++i) {
    if (sh(host, "pgrep -x 'dpkg|apt-get|useradd|usermod|userdel|mkswap|swapon|reconcile' || true").empty()) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ADD_FAILURE() << "tools still running a minute after the kill";
}

// What must hold on the host after a killed run and again after the next one.
void check_host(rt::TestHost& host, const std::string& when, int pwck_baseline, int grpck_baseline) {
  SCOPED_TRACE(when);
  EXPECT_EQ(sh(host, "dpkg --audit"), "") << "dpkg --audit";
  EXPECT_EQ(host.exec({"pwck", "-r"}).exit_code, pwck_baseline) << sh(host, "pwck -r 2>&1");
  EXPECT_EQ(host.exec({"grpck", "-r"}).exit_code, grpck_baseline) << sh(host, "grpck -r 2>&1");
  EXPECT_EQ(sh(host, "find /etc /var/lib/reconcile /usr/sbin /var/swap -xdev -name '*.reconcile-*' ! -path '/etc/*.reconcile-previous' 2>/dev/null"), "")
      << "temporary files of ours left";
  EXPECT_EQ(sh(host, "[ -e /usr/sbin/policy-rc.d ] && echo left || true"), "") << "/usr/sbin/policy-rc.d left";
  const auto ledger = sh(host, "cat /var/lib/reconcile/ledger.json 2>/dev/null || echo '{}'");
  EXPECT_TRUE(json::accept(ledger)) << "half-written ledger: " << ledger;
}

TEST(HarnessCrash, SigkillAtPointsOverAnApplyThenTheNextRunConverges) {
  const int points = env_count("RECONCILE_CRASH_POINTS", 20);
  RECONCILE_TEST_HOST_OR_SKIP(host, rt::unique_name("hn-crash"), rt::default_bin_dir());
  const std::string swap = "/var/swap/" + host->name();
  host->write_file("/tmp/on.yaml", every_kind(swap, true));
  host->write_file("/tmp/off.yaml", every_kind(swap, false));
  install_kill_wrappers(*host);
  const int pwck_baseline = host->exec({"pwck", "-r"}).exit_code;
  const int grpck_baseline = host->exec({"grpck", "-r"}).exit_code;
  const std::vector<std::string> env{"PATH=/opt/hn/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                                     "DEBIAN_FRONTEND=noninteractive"};

  // How long a whole apply of each direction takes, to spread the kills by time over it.
  auto timed = [&](const char* file) {
    const auto t0 = std::chrono::steady_clock::now();
    const auto r = host->exec_env(env, {"/opt/rc/reconcile", file});
    EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  };
  const double on_s = timed("/tmp/on.yaml");
  const double off_s = timed("/tmp/off.yaml");

  for (int i = 0; i < points; ++i) {
    const bool on = i % 2 == 0;  // alternate, so every point has a whole set of changes to make
    const char* file = on ? "/tmp/on.yaml" : "/tmp/off.yaml";
    const bool at_tool = (i / 2) % 2 == 1;
    std::string point;
    if (at_tool) {
      const std::string& tool = kKillTools[static_cast<std::size_t>(i / 4) % kKillTools.size()];
      point = "at " + tool;
      host->write_file("/run/hn-kill-at", tool);
    } else {
      const double total = on ? on_s : off_s;
      const double at = total * (0.05 + 0.9 * (i / 2 / 2 + 0.5) / ((points + 3) / 4));
      point = "after " + std::to_string(at) + " s";
      host->exec({"rm", "-f", "/run/hn-kill-at"});
      std::string script = "/opt/rc/reconcile " + std::string(file) + " >/dev/null 2>&1 & p=$!; sleep " +
                           std::to_string(at) + "; kill -9 $p 2>/dev/null; wait $p; true";
      host->exec_env(env, {"sh", "-c", script});
    }
    SCOPED_TRACE("kill point " + std::to_string(i) + " (" + file + ", " + point + ")");
    if (at_tool) host->exec_env(env, {"/opt/rc/reconcile", file});
    wait_for_tools(*host);
    host->exec({"rm", "-f", "/run/hn-kill-at"});
    // What a killed run leaves may be unfinished, never broken: the next run repairs and converges.
    const auto next = host->exec_env(env, {"/opt/rc/reconcile", file});
    EXPECT_TRUE(next.exit_code == 0 || next.exit_code == 2) << next.out << next.err;
    const auto again = host->exec_env(env, {"/opt/rc/reconcile", file});
    EXPECT_EQ(again.exit_code, 0) << "did not converge:\n" << again.out << again.err;
    check_host(*host, "after the converging run", pwck_baseline, grpck_baseline);
  }
  host->exec({"swapoff", swap});
}

}  // namespace
}  // namespace reconcile
