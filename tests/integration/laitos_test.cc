// laitos configs on a booted test host: the real binary converts them, applies what they mean with the real
// tools (apt/dpkg, systemctl, the shadow tools, swapon, /proc/sys, /etc/localtime), and a second run changes
// nothing. The native keys this binary does not have yet (firewall, daemon, report, routines, checks, scripts,
// merged from their own work) are dropped from the converted state, named by the binary's own validate; once
// every key is there the laitos config itself runs with --laitos and the report copy appears where laitos puts it.

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <chrono>
#include <map>
#include <set>
#include <thread>
#include <sstream>

#include "tests/support/test_host.h"

namespace reconcile {
namespace {

namespace rt = reconcile::testing;

// The converted YAML without the top-level blocks of `drop`.
std::string without_keys(const std::string& yaml, const std::set<std::string>& drop) {
  std::istringstream in(yaml);
  std::string line, out;
  bool dropping = false;
  while (std::getline(in, line)) {
    if (!line.empty() && line[0] != ' ' && line[0] != '#') dropping = drop.contains(line.substr(0, line.find(':')));
    if (!dropping) out += line + "\n";
  }
  return out;
}

// Top-level keys the binary refuses (not in this build yet), from `validate --offline`'s errors.
std::set<std::string> pending_keys(rt::TestHost& host, const std::string& file) {
  std::set<std::string> keys;
  const auto result = host.reconcile({"validate", "--offline", file});
  for (const char* key : {"firewall", "daemon", "report", "maintenance", "checks", "scripts"}) {
    if (result.err.find("'" + std::string(key) + "'") != std::string::npos) keys.insert(key);
  }
  return keys;
}

constexpr const char* kConfig = R"({
  "HTTPDaemon": {"Port": 8080},
  "Maintenance": {
    "IntervalSec": 0,
    "InstallPackages": ["hello", "tree"],
    "SetTimeZone": "Europe/Helsinki",
    "TuneLinux": true,
    "SwapFileSizeMB": -1,
    "DisableStopServices": ["atd"],
    "EnableStartServices": ["cron"],
    "BlockPortsExcept": [22, 25],
    "ThrottleIncomingPackets": 3,
    "CheckTCPPorts": {"localhost": [22]},
    "ScriptForWindows": "Get-Date",
    "NoSuchKey": true
  }
})";

TEST(LaitosHostTest, AConfigConvertsAppliesAndConvergesWithTheDpkgRepairAndUnavailableAdminTools) {
  RECONCILE_TEST_HOST_OR_SKIP(host, rt::unique_name("lt-laitos"), rt::default_bin_dir());
  host->write_file("/tmp/laitos.json", kConfig);

  // Convert: every line names its laitos key; the ignored keys are said so.
  auto converted = host->reconcile({"laitos", "convert", "/tmp/laitos.json"});
  ASSERT_EQ(converted.exit_code, 0) << converted.err;
  EXPECT_NE(converted.out.find("timezone: Europe/Helsinki    # Maintenance.SetTimeZone (line 6)"), std::string::npos)
      << converted.out;
  EXPECT_NE(converted.out.find("ScriptForWindows is ignored"), std::string::npos);
  EXPECT_NE(converted.out.find("the firewall is left alone: ThrottleIncomingPackets is 3"), std::string::npos);
  host->write_file("/tmp/converted.yaml", converted.out);
  const auto pending = pending_keys(*host, "/tmp/converted.yaml");
  host->write_file("/tmp/native.yaml", without_keys(converted.out, pending));

  // An interrupted dpkg run: a package left half-configured.
  ASSERT_EQ(host->exec({"apt-get", "install", "-y", "-q", "at"}).exit_code, 0);
  ASSERT_EQ(host->exec({"sed", "-i", "/^Package: at$/,/^$/s/^Status: install ok installed$/Status: install ok half-configured/",
                        "/var/lib/dpkg/status"}).exit_code, 0);

  auto dry = host->reconcile({"--dry-run", "--format=json", "/tmp/native.yaml"});
  auto plan = nlohmann::json::parse(dry.out, nullptr, false);
  ASSERT_FALSE(plan.is_discarded()) << dry.out << dry.err;
  EXPECT_TRUE(plan["errors"].empty()) << plan["errors"].dump(2);
  bool repair_planned = false;
  for (const auto& r : plan["resources"]) {
    if (r["id"] == "package-repair:interrupted") repair_planned = r["status"] != "in-sync";
  }
  EXPECT_TRUE(repair_planned) << dry.out;

  auto apply = host->reconcile({"--format=json", "/tmp/native.yaml"});
  auto report = nlohmann::json::parse(apply.out, nullptr, false);
  ASSERT_FALSE(report.is_discarded()) << apply.out << apply.err;
  EXPECT_EQ(apply.exit_code & 2, 2) << apply.out;
  bool repaired = false;
  for (const auto& r : report["resources"]) {
    if (r["id"] == "package-repair:interrupted") {
      repaired = r["status"] == "changed" && r["changes"].dump().find("dpkg --force-confdef --force-confold --configure -a") != std::string::npos;
    }
    // Admin tools this host's repositories lack are not available, never failures.
    if (std::string(r["source"]["key_path"]) == "packages.preset") {
      EXPECT_NE(r["status"], "failed") << r.dump(2);
    }
  }
  EXPECT_TRUE(repaired) << apply.out;
  EXPECT_EQ(host->exec({"dpkg-query", "-W", "-f", "${Status}", "at"}).out, "install ok installed");
  EXPECT_EQ(host->exec({"readlink", "/etc/localtime"}).out, "/usr/share/zoneinfo/Europe/Helsinki\n");
  EXPECT_EQ(host->exec({"cat", "/proc/sys/net/ipv4/tcp_syncookies"}).out, "1\n");  // per network namespace
  EXPECT_EQ(host->exec({"systemctl", "is-enabled", "atd"}).out, "masked\n");
  EXPECT_EQ(host->exec({"dpkg-query", "-W", "-f", "${Status}", "hello"}).out, "install ok installed");

  // Second run: nothing changes. The only failures allowed are sysctl keys a container's /proc/sys refuses
  // (kernel-wide ones, and net ones only the initial network namespace may set).
  auto again = host->reconcile({"--format=json", "/tmp/native.yaml"});
  EXPECT_EQ(again.exit_code & 2, 0) << again.out << again.err;  // nothing changed (4: the failed check)
  auto second = nlohmann::json::parse(again.out, nullptr, false);
  ASSERT_FALSE(second.is_discarded()) << again.out;
  for (const auto& r : second["resources"]) {
    if (r["status"] == "in-sync") continue;
    const std::string id = r["id"];
    const std::string text = r.dump();
    // Nothing listens on port 22 in a test host: that check fails every run, as laitos reports it.
    if (id == "check:tcp:localhost:22" && text.find("does not answer") != std::string::npos) continue;
    EXPECT_TRUE(id.starts_with("sysctl:") && (text.find("not permitted") != std::string::npos || text.find("Read-only") != std::string::npos)) << r.dump(2);
  }

  if (pending.empty()) {
    // Every native key is in this build: the laitos config itself converges, and its report copy is there.
    auto laitos = host->reconcile({"--laitos", "/tmp/laitos.json"});
    EXPECT_EQ(laitos.exit_code & 1, 0) << laitos.out << laitos.err;
    EXPECT_EQ(host->exec({"stat", "-c", "%a", "/tmp/laitos-latest-maintenance-report.txt"}).out, "600\n");
  } else {
    // Until then the laitos config names the keys it needs at its own lines.
    auto laitos = host->reconcile({"--dry-run", "--laitos", "/tmp/laitos.json"});
    EXPECT_EQ(laitos.exit_code, 1);
    EXPECT_NE(laitos.err.find("/tmp/laitos.json:"), std::string::npos) << laitos.err;
  }
}

// --- Several laitos configs, every Maintenance key between them, run with --laitos itself ------------------

// id → status of a JSON report's resources.
std::map<std::string, std::string> statuses(const nlohmann::json& report) {
  std::map<std::string, std::string> out;
  for (const auto& r : report["resources"]) out[r["id"].get<std::string>()] = r["status"].get<std::string>();
  return out;
}

nlohmann::json parsed(const rt::RunResult& result) {
  auto j = nlohmann::json::parse(result.out, nullptr, false);
  return j.is_discarded() ? nlohmann::json::object() : j;
}

struct LaitosCase {
  const char* name;
  const char* config;
  std::vector<const char*> converted_has;   // lines `laitos convert` prints (notes and mapped keys)
  bool firewall;                            // firewall:inbound is managed (nft table inet reconcile)
  bool mail;                                // Recipients: the report reaches the local mailbox
};

void PrintTo(const LaitosCase& c, std::ostream* os) { *os << c.name; }

const LaitosCase kCases[] = {
    {"ListFormThrottleUnder5NegativeSwapIgnoredKeys",
     R"({
  "HTTPDaemon": {"Port": 8080},
  "Maintenance": {
    "IntervalSec": -1,
    "Recipients": ["root@localhost"],
    "CheckTCPPorts": ["localhost:25", "127.0.0.1:25"],
    "BlockSystemLoginExcept": ["ALICE", "root"],
    "DisableStopServices": ["atd"],
    "EnableStartServices": ["cron"],
    "InstallPackages": ["hello"],
    "BlockPortsExcept": [22, 25],
    "ThrottleIncomingPackets": 3,
    "SetTimeZone": "Europe/Helsinki",
    "TuneLinux": false,
    "SwapFileSizeMB": -1,
    "ShrinkSystemdJournalSizeMB": 50,
    "DoEnhanceFileSecurity": true,
    "ScriptForWindows": "Get-Date",
    "DoEnhanceRegistry": true,
    "NoSuchKey": true
  }
})",
     {"the firewall is left alone: ThrottleIncomingPackets is 3", "ScriptForWindows is ignored", "NoSuchKey",
      "HTTPDaemon", "off: true", "journal_max_mb: 50", "home_permissions: true", "localhost:25"},
     false, true},
    {"MapFormThrottleAbove5ManagedFirewall",
     R"({
  "Maintenance": {
    "IntervalSec": 86400,
    "Recipients": ["root@localhost"],
    "CheckTCPPorts": {"localhost": [25], "127.0.0.1": [25]},
    "BlockSystemLoginExcept": ["alice", "Root"],
    "EnableStartServices": ["cron"],
    "InstallPackages": ["tree"],
    "BlockPortsExcept": [22, 25, 8080],
    "ThrottleIncomingPackets": 40,
    "SetTimeZone": "Europe/Berlin",
    "SwapFileSizeMB": 0,
    "ShrinkSystemdJournalSizeMB": 100,
    "DoEnhanceFileSecurity": true
  }
})",
     {"throttle_per_source: 40", "localhost:25", "127.0.0.1:25", "journal_max_mb: 100"}, true, true},
};

class LaitosConfigTest : public ::testing::TestWithParam<LaitosCase> {};

INSTANTIATE_TEST_SUITE_P(Configs, LaitosConfigTest, ::testing::ValuesIn(kCases),
                         [](const auto& info) { return std::string(info.param.name); });

// The config converges with --laitos, its second run changes nothing, the report copy is where laitos puts it
// (0600) and mailed to Recipients, and `laitos convert` applied natively plans the same.
TEST_P(LaitosConfigTest, ConvergesSecondRunChangesNothingReportWhereLaitosPutsItConvertPlansTheSame) {
  const LaitosCase& c = GetParam();
  RECONCILE_TEST_HOST_OR_SKIP(host, rt::unique_name("lt-cfg"), rt::default_bin_dir());
  // An MTA for Recipients and for the TCP checks of port 25; root's mail goes to a user (as delivery_test.cc).
  auto installed = host->exec_env({"DEBIAN_FRONTEND=noninteractive"}, {"apt-get", "install", "-y", "-q", "opensmtpd"});
  ASSERT_EQ(installed.exit_code, 0) << installed.out << installed.err;
  ASSERT_EQ(host->exec({"sh", "-c", "useradd -m mailtest && echo 'root: mailtest' >> /etc/aliases && "
                                    "systemctl restart opensmtpd"}).exit_code, 0);
  // Accounts that can log in: alice (allowed, in another case) and bob (locked); a home to tighten.
  ASSERT_EQ(host->exec({"sh", "-c", "useradd -m -s /bin/bash alice && useradd -m -s /bin/bash bob && "
                                    "echo alice:pw1 | chpasswd && echo bob:pw2 | chpasswd && chmod 755 /home/alice"})
                .exit_code, 0);
  host->write_file("/tmp/laitos.json", c.config);

  auto converted = host->reconcile({"laitos", "convert", "/tmp/laitos.json"});
  ASSERT_EQ(converted.exit_code, 0) << converted.err;
  for (const char* line : c.converted_has) EXPECT_NE(converted.out.find(line), std::string::npos) << line << "\n" << converted.out;
  host->write_file("/tmp/converted.yaml", converted.out);
  ASSERT_EQ(host->reconcile({"validate", "--offline", "/tmp/converted.yaml"}).exit_code, 0);

  // The same plan: the dry runs of the laitos config and of its conversion, on this host.
  const auto native_dry = parsed(host->reconcile({"--dry-run", "--format=json", "/tmp/converted.yaml"}));
  const auto laitos_dry = parsed(host->reconcile({"--dry-run", "--format=json", "--laitos", "/tmp/laitos.json"}));
  ASSERT_TRUE(laitos_dry.contains("resources")) << laitos_dry.dump(1);
  EXPECT_TRUE(laitos_dry["errors"].empty()) << laitos_dry["errors"].dump(1);
  EXPECT_EQ(statuses(native_dry), statuses(laitos_dry));
  EXPECT_TRUE(statuses(laitos_dry).contains("user:*"));
  EXPECT_EQ(statuses(laitos_dry).contains("firewall:inbound"), c.firewall) << laitos_dry.dump(1);

  auto apply = host->reconcile({"--format=json", "--laitos", "/tmp/laitos.json"});
  const auto first = parsed(apply);
  ASSERT_TRUE(first.contains("resources")) << apply.out << apply.err;
  EXPECT_TRUE(first["errors"].empty()) << first["errors"].dump(1);
  EXPECT_EQ(apply.exit_code & 2, 2) << apply.out;
  for (const auto& r : first["resources"]) {
    if (std::string(r["source"]["key_path"]).starts_with("packages.preset")) continue;  // names this repo lacks
    EXPECT_NE(r["status"], "failed") << r.dump(1);
  }
  // What laitos asked for, on the host.
  EXPECT_EQ(host->exec({"dpkg-query", "-W", "-f", "${Status}", c.firewall ? "tree" : "hello"}).out, "install ok installed");
  EXPECT_EQ(host->exec({"systemctl", "is-enabled", "cron"}).out, "enabled\n");
  EXPECT_EQ(host->exec({"stat", "-c", "%a", "/home/alice"}).out, "700\n");
  EXPECT_EQ(host->exec({"sh", "-c", "getent shadow bob | cut -d: -f2 | cut -c1"}).out, "!\n");
  EXPECT_NE(host->exec({"sh", "-c", "getent shadow alice | cut -d: -f2 | cut -c1"}).out, "!\n");
  EXPECT_EQ(host->exec({"nft", "list", "table", "inet", "reconcile"}).exit_code == 0, c.firewall);
  const std::string warnings = first["warnings"].dump();
  if (!c.firewall) {
    EXPECT_NE(warnings.find("the firewall is left alone"), std::string::npos) << warnings;
  }
  EXPECT_EQ(warnings.find("lockout guard"), std::string::npos) << warnings;  // it kept no account here

  // The report where laitos puts it, 0600; and in the mailbox of Recipients.
  EXPECT_EQ(host->exec({"stat", "-c", "%a", "/tmp/laitos-latest-maintenance-report.txt"}).out, "600\n");
  EXPECT_EQ(host->exec({"sh", "-c", "grep -c 'user:bob' /tmp/laitos-latest-maintenance-report.txt"}).exit_code, 0);
  if (c.mail) {
    bool mailed = false;
    for (int i = 0; i < 100 && !mailed; ++i) {
      mailed = host->exec({"sh", "-c", "grep -rl 'Subject: reconcile' /home/mailtest/Maildir/new"}).exit_code == 0;
      if (!mailed) std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    EXPECT_TRUE(mailed) << host->exec({"journalctl", "-u", "opensmtpd", "--no-pager"}).out;
  }

  // The second run with --laitos changes nothing.
  host->exec({"rm", "-f", "/tmp/laitos-latest-maintenance-report.txt"});
  auto again = host->reconcile({"--format=json", "--laitos", "/tmp/laitos.json"});
  const auto second = parsed(again);
  ASSERT_TRUE(second.contains("resources")) << again.out << again.err;
  EXPECT_EQ(again.exit_code & 3, 0) << again.out << again.err;
  for (const auto& r : second["resources"]) {
    EXPECT_NE(r["status"], "changed") << r.dump(1);
    EXPECT_NE(r["status"], "failed") << r.dump(1);
  }
  EXPECT_EQ(host->exec({"stat", "-c", "%a", "/tmp/laitos-latest-maintenance-report.txt"}).out, "600\n");
}

// BlockSystemLoginExcept would lock root, the only admin that can log in: the lockout guard overrides laitos, and
// the run's error says so at the laitos file's line, naming root; nothing is changed.
TEST(LaitosHostTest, TheLockoutGuardKeepsRootWhenLaitosWouldLockTheOnlyAdmin) {
  RECONCILE_TEST_HOST_OR_SKIP(host, rt::unique_name("lt-guard"), rt::default_bin_dir());
  ASSERT_EQ(host->exec({"sh", "-c", "echo root:pw0 | chpasswd && useradd -m -s /bin/bash alice && "
                                    "echo alice:pw1 | chpasswd"}).exit_code, 0);
  host->write_file("/tmp/laitos.json", "{\"Maintenance\": {\n  \"BlockSystemLoginExcept\": [\"Alice\"],\n"
                                       "  \"SetTimeZone\": \"Europe/Helsinki\"\n}}\n");
  const std::string shadow_before = host->exec({"cat", "/etc/shadow"}).out;
  auto run = host->reconcile({"--format=json", "--laitos", "/tmp/laitos.json"});
  EXPECT_EQ(run.exit_code, 1) << run.out << run.err;
  const auto report = parsed(run);
  const std::string errors = report["errors"].dump();
  EXPECT_NE(errors.find("lock out root while root is the only admin"), std::string::npos) << errors << run.err;
  bool at_laitos_line = false;
  for (const auto& e : report["errors"]) at_laitos_line = at_laitos_line || (e["file"] == "/tmp/laitos.json" && e["line"] == 2);
  EXPECT_TRUE(at_laitos_line) << errors;
  EXPECT_EQ(host->exec({"cat", "/etc/shadow"}).out, shadow_before);
  EXPECT_NE(host->exec({"readlink", "/etc/localtime"}).out, "/usr/share/zoneinfo/Europe/Helsinki\n");
}

}  // namespace
}  // namespace reconcile
