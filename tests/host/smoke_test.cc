// Smoke test of the test-host machinery (tests/host/testhost.sh + tests/support/test_host.*): boot, exec, the
// offline apt repository, snapshots, swap cleanup, two hosts at once, and an untouched machine after teardown.
#include <gtest/gtest.h>

#include <sys/stat.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "tests/support/test_host.h"

namespace rt = reconcile::testing;

namespace {

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

// /proc/swaps of the machine running the tests, without the header line.
std::vector<std::string> machine_swaps() {
  std::vector<std::string> lines;
  std::istringstream in(slurp("/proc/swaps"));
  std::string line;
  std::getline(in, line);
  while (std::getline(in, line))
    if (!line.empty()) lines.push_back(line);
  return lines;
}

}  // namespace

TEST(TestHostSmoke, BootExecAptAndTeardown) {
  RECONCILE_TEST_HOST_OR_SKIP(host, rt::unique_name("smoke"), rt::default_bin_dir());
  const std::string root = host->root_dir();
  EXPECT_TRUE(exists(root + "/etc/os-release"));

  auto r = host->exec({"cat", "/etc/timezone"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "Etc/UTC\n");

  r = host->exec({"readlink", "/etc/localtime"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "/usr/share/zoneinfo/Etc/UTC\n");

  r = host->exec({"systemctl", "is-active", "dbus"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "active\n");

  // stdin, stdout, stderr and the exit code pass through; the machine's environment does not leak in.
  r = host->exec({"cat"}, "some input\n");
  EXPECT_EQ(r.out, "some input\n");
  r = host->exec({"sh", "-c", "echo out; echo err >&2; exit 7"});
  EXPECT_EQ(r.exit_code, 7);
  EXPECT_EQ(r.out, "out\n");
  EXPECT_EQ(r.err, "err\n");
  r = host->exec_env({"FOO=bar"}, {"env"});
  EXPECT_NE(r.out.find("FOO=bar\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("PATH=/usr/sbin:/usr/bin:/sbin:/bin\n"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("GTEST"), std::string::npos) << r.out;

  // A read-only command leaves the upper directory as it was; a write shows up.
  const auto snap1 = host->upper_snapshot();
  r = host->exec({"sh", "-c", "cat /etc/passwd >/dev/null; dpkg-query -W hello; systemctl is-enabled cron"});
  EXPECT_EQ(host->upper_snapshot(), snap1);
  host->write_file("/etc/reconcile-smoke/state.txt", "x = 1\n");
  EXPECT_EQ(slurp(host->upper_dir() + "/etc/reconcile-smoke/state.txt"), "x = 1\n");
  EXPECT_NE(host->upper_snapshot(), snap1);
  host->write_file("/tmp/state.txt", "in tmpfs\n");  // /tmp is a tmpfs: not in root_dir() nor the upper dir
  EXPECT_EQ(host->exec({"cat", "/tmp/state.txt"}).out, "in tmpfs\n");

  // Offline apt repository.
  r = host->exec_env({"DEBIAN_FRONTEND=noninteractive"}, {"apt-get", "install", "-y", "hello"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  r = host->exec({"hello"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "Hello, world!\n");
  EXPECT_TRUE(exists(host->upper_dir() + "/usr/bin/hello"));

  // Our service packages.
  r = host->exec_env({"DEBIAN_FRONTEND=noninteractive"}, {"apt-get", "install", "-y", "rc-demo-svc"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  r = host->exec({"systemctl", "enable", "--now", "rc-demo.service"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(host->exec({"systemctl", "is-active", "rc-demo.service"}).out, "active\n");

  // Swap is the machine's kernel's: teardown must swapoff it.
  const std::string swapfile = "/var/swap/" + host->name();
  r = host->exec({"sh", "-c",
                  "dd if=/dev/zero of=\"$1\" bs=1M count=16 status=none && chmod 600 \"$1\" && "
                  "mkswap \"$1\" >/dev/null && swapon \"$1\"",
                  "sh", swapfile});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(slurp("/proc/swaps").find(swapfile), std::string::npos);

  // The reconcile binary, if one was given.
  if (!rt::default_bin_dir().empty()) {
    EXPECT_EQ(host->exec({"test", "-x", "/opt/rc/reconcile"}).exit_code, 0);
  }

  std::string report;
  EXPECT_TRUE(host->down(&report)) << report;
  EXPECT_FALSE(exists(root));
  // Other test processes may have swap of their own active right now: look for ours only (unique name).
  for (const auto& line : machine_swaps()) EXPECT_EQ(line.find(swapfile + " "), std::string::npos) << line;
}

TEST(TestHostSmoke, TwoHostsAtOnce) {
  RECONCILE_TEST_HOST_OR_SKIP(a, rt::unique_name("par-a"), "");
  RECONCILE_TEST_HOST_OR_SKIP(b, rt::unique_name("par-b"), "");
  EXPECT_NE(a->leader_pid(), b->leader_pid());
  EXPECT_EQ(a->exec({"hostname"}).out, a->name() + "\n");
  EXPECT_EQ(b->exec({"hostname"}).out, b->name() + "\n");
  a->write_file("/etc/only-in-a", "a\n");
  EXPECT_EQ(a->exec({"cat", "/etc/only-in-a"}).exit_code, 0);
  EXPECT_NE(b->exec({"cat", "/etc/only-in-a"}).exit_code, 0);
  // nft inside a host changes only that host's namespace.
  EXPECT_EQ(a->exec({"nft", "add", "table", "inet", "smoke"}).exit_code, 0);
  EXPECT_EQ(b->exec({"nft", "list", "tables"}).out, "");

  // netpeer: a listener in a's network namespace (the machine's socat, entered with ip netns exec) is reachable
  // from the peer namespace at 192.0.2.1. down() kills the listener if it is still there.
  std::string why;
  ASSERT_TRUE(a->netpeer(&why)) << why;
  auto r = rt::run_command({"sh", "-c",
                            "ip netns exec \"$1\" timeout 20 socat TCP-LISTEN:8080,reuseaddr SYSTEM:'echo hi' "
                            "</dev/null >/dev/null 2>&1 &",
                            "sh", "th-" + a->name()});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  r = rt::run_command({"ip", "netns", "exec", a->peer_netns(), "sh", "-c",
                       "for i in $(seq 50); do socat -T2 - TCP:192.0.2.1:8080 </dev/null 2>/dev/null && exit 0; "
                       "sleep 0.1; done; exit 1"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "hi\n");

  std::string ra, rb;
  EXPECT_TRUE(a->down(&ra)) << ra;
  EXPECT_TRUE(b->down(&rb)) << rb;
  EXPECT_FALSE(exists("/run/netns/" + a->peer_netns()));
}
