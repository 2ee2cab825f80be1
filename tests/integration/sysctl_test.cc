// sysctl end to end: net.* keys for real inside a test host's own network namespace (per namespace, so the
// machine's values are untouched, which the test checks). Other keys are global: see tests/providers.

#include <gtest/gtest.h>

#include <fstream>
#include <iterator>

#include <nlohmann/json.hpp>

#include "tests/support/test_host.h"

namespace reconcile {
namespace {

namespace rt = reconcile::testing;

std::string machine_value(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

TEST(SysctlHostTest, NetKeysLiveAndPersistedDryRunLaterOverrideAndUnknownKey) {
  const std::string range = "/proc/sys/net/ipv4/ip_local_port_range";
  const std::string cookies = "/proc/sys/net/ipv4/tcp_syncookies";
  const std::string machine_range = machine_value(range);
  const std::string machine_cookies = machine_value(cookies);
  {
    RECONCILE_TEST_HOST_OR_SKIP(host, rt::unique_name("sysctl"), rt::default_bin_dir());
    host->write_file("/tmp/net.yaml",
                     "sysctl:\n  keys:\n    net.ipv4.ip_local_port_range: \"20000\\t30000\"\n"
                     "    net.ipv4.tcp_syncookies: 2\n");
    host->write_file("/tmp/typo.yaml", "sysctl:\n  keys:\n    net.ipv4.tcp_syncookie: 1\n");

    const auto before = host->upper_snapshot();
    auto dry = host->reconcile({"--dry-run", "/tmp/net.yaml"});
    EXPECT_EQ(dry.exit_code, 2) << dry.out << dry.err;
    EXPECT_NE(dry.out.find("sysctl:net.ipv4.ip_local_port_range: live"), std::string::npos) << dry.out;
    EXPECT_NE(dry.out.find("persisted absent → 2"), std::string::npos) << dry.out;
    EXPECT_EQ(host->upper_snapshot(), before);

    auto typo = host->reconcile({"/tmp/typo.yaml"});
    EXPECT_EQ(typo.exit_code, 1);
    EXPECT_NE(typo.err.find("/tmp/typo.yaml:3:29: error: sysctl.keys.net.ipv4.tcp_syncookie: unknown sysctl key "
                            "'net.ipv4.tcp_syncookie'"),
              std::string::npos)
        << typo.err;
    EXPECT_NE(typo.err.find("did you mean 'net.ipv4.tcp_syncookies'?"), std::string::npos) << typo.err;

    auto apply = host->reconcile({"/tmp/net.yaml"});
    EXPECT_EQ(apply.exit_code, 2) << apply.out << apply.err;
    EXPECT_EQ(host->exec({"cat", range}).out, "20000\t30000\n");
    EXPECT_EQ(host->exec({"cat", cookies}).out, "2\n");
    EXPECT_EQ(host->exec({"cat", "/etc/sysctl.d/90-reconcile.conf"}).out,
              "net.ipv4.ip_local_port_range = 20000 30000\nnet.ipv4.tcp_syncookies = 2\n");
    // The real sysctl reads our drop-in back to the same values.
    auto loaded = host->exec({"sysctl", "-p", "/etc/sysctl.d/90-reconcile.conf"});
    EXPECT_EQ(loaded.exit_code, 0) << loaded.err;

    auto again = host->reconcile({"--format=json", "/tmp/net.yaml"});
    EXPECT_EQ(again.exit_code, 0) << again.out << again.err;
    EXPECT_EQ(nlohmann::json::parse(again.out, nullptr, false)["processes_spawned"], 0);

    // A later drop-in wins at boot: reported.
    host->write_file("/etc/sysctl.d/99-later.conf", "net.ipv4.tcp_syncookies = 1\n");
    auto later = host->reconcile({"--format=json", "/tmp/net.yaml"});
    EXPECT_EQ(later.exit_code, 0) << later.out;
    const auto report = nlohmann::json::parse(later.out, nullptr, false);
    bool found = false;
    for (const auto& r : report["resources"]) {
      if (r["id"] != "sysctl:net.ipv4.tcp_syncookies") continue;
      found = true;
      EXPECT_EQ(r.value("reason", ""),
                "/etc/sysctl.d/99-later.conf sets 1 after /etc/sysctl.d/90-reconcile.conf, which wins at boot");
    }
    EXPECT_TRUE(found) << later.out;

    // Drift behind our back is corrected in /proc/sys.
    host->exec({"sh", "-c", "echo 0 > " + cookies});
    EXPECT_EQ(host->reconcile({"/tmp/net.yaml"}).exit_code, 2);
    EXPECT_EQ(host->exec({"cat", cookies}).out, "2\n");

    // A value the kernel refuses fails that key with the kernel's error; the other key still converges.
    host->write_file("/tmp/refused.yaml",
                     "sysctl:\n  keys:\n    net.ipv4.ip_local_port_range: \"30000 20000\"\n"
                     "    net.ipv4.tcp_syncookies: 1\n");
    auto refused = host->reconcile({"/tmp/refused.yaml"});
    EXPECT_EQ(refused.exit_code, 6) << refused.out << refused.err;
    EXPECT_NE(refused.out.find("the kernel refused net.ipv4.ip_local_port_range = 30000 20000: Invalid argument"),
              std::string::npos)
        << refused.out;
    EXPECT_EQ(host->exec({"cat", range}).out, "20000\t30000\n");
    EXPECT_EQ(host->exec({"cat", cookies}).out, "1\n");
    EXPECT_NE(host->exec({"cat", "/etc/sysctl.d/90-reconcile.conf"}).out.find("ip_local_port_range = 20000 30000"),
              std::string::npos)
        << "a refused value is not persisted";

    std::string why;
    EXPECT_TRUE(host->down(&why)) << why;
  }
  EXPECT_EQ(machine_value(range), machine_range);
  EXPECT_EQ(machine_value(cookies), machine_cookies);
}

}  // namespace
}  // namespace reconcile
