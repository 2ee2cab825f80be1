// laitos configs on a booted test host: the real binary converts them, applies what they mean with the real
// tools (apt/dpkg, systemctl, the shadow tools, swapon, /proc/sys, /etc/localtime), and a second run changes
// nothing. The native keys this binary does not have yet (firewall, daemon, report, routines, checks, scripts,
// merged from their own work) are dropped from the converted state, named by the binary's own validate; once
// every key is there the laitos config itself runs with --laitos and the report copy appears where laitos puts it.

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <set>
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

}  // namespace
}  // namespace reconcile
