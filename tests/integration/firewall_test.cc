// firewall end to end: the rule set applied inside a test host, checked with real packets from a veth peer
// (192.0.2.2 in the netns th-NAME-peer). The listeners are socat from the machine running the tests, started
// in the host's network namespace (th-NAME): the test image has no listener of its own.

#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include <nlohmann/json.hpp>

#include "tests/support/test_host.h"

namespace reconcile {
namespace {

namespace rt = reconcile::testing;

// A Python program run in the peer's namespace: exit 0 if the probe got an answer within 2 seconds.
bool peer_probe(rt::TestHost& host, const std::string& program, const std::vector<std::string>& args) {
  std::vector<std::string> argv = {"ip", "netns", "exec", host.peer_netns(), "python3", "-c", program};
  argv.insert(argv.end(), args.begin(), args.end());
  return rt::run_command(argv, "", std::chrono::seconds(10)).exit_code == 0;
}

// TCP connect to ADDR PORT from SOURCE.
const char* kTcp = R"(
import socket, sys
a, p, src = sys.argv[1], int(sys.argv[2]), sys.argv[3]
s = socket.socket(socket.AF_INET6 if ':' in a else socket.AF_INET)
s.bind((src, 0)); s.settimeout(2); s.connect((a, p))
)";
// UDP datagram to ADDR PORT; the listener echoes it back.
const char* kUdp = R"(
import socket, sys
a, p = sys.argv[1], int(sys.argv[2])
s = socket.socket(socket.AF_INET6 if ':' in a else socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(2); s.sendto(b'probe', (a, p)); s.recvfrom(100)
)";
// ICMP echo to ADDR (IPv4 or IPv6), by a raw socket.
const char* kPing = R"(
import socket, sys, struct
a = sys.argv[1]; v6 = ':' in a
def csum(b):
    b += b'\0' * (len(b) % 2); t = sum(struct.unpack('!%dH' % (len(b) // 2), b))
    t = (t >> 16) + (t & 0xffff); t += t >> 16; return ~t & 0xffff
t = 128 if v6 else 8
pkt = struct.pack('!BBHHH', t, 0, 0, 0x4242, 1) + b'reconcile'
if not v6: pkt = pkt[:2] + struct.pack('!H', csum(pkt)) + pkt[4:]
s = socket.socket(socket.AF_INET6 if v6 else socket.AF_INET, socket.SOCK_RAW,
                  socket.IPPROTO_ICMPV6 if v6 else socket.IPPROTO_ICMP)
s.settimeout(2); s.sendto(pkt, (a, 0))
while True:
    d = s.recv(2000)
    if not v6: d = d[(d[0] & 15) * 4:]
    if d[0] == (129 if v6 else 0): break
)";

bool tcp(rt::TestHost& host, const std::string& addr, int port, const std::string& source = "") {
  const std::string src = !source.empty() ? source : addr.find(':') != std::string::npos ? "2001:db8::2" : "192.0.2.2";
  return peer_probe(host, kTcp, {addr, std::to_string(port), src});
}
bool tcp_connects(rt::TestHost& host, int port) { return tcp(host, "192.0.2.1", port); }

TEST(FirewallHostTest, AllowedPortsGetThroughOthersAreDroppedPingWorksSecondRunChangesNothing) {
  RECONCILE_TEST_HOST_OR_SKIP(host, rt::unique_name("fw-ports"), rt::default_bin_dir());
  std::string why;
  ASSERT_TRUE(host->netpeer(&why)) << why;
  const std::string ns = "th-" + host->name();
  // Listeners on 8080 (allowed) and 9090 (not), in the host's network namespace.
  std::vector<std::thread> listeners;
  const std::vector<std::pair<std::string, std::string>> listen = {
      {"8080", "TCP6-LISTEN:8080,ipv6only=0,fork,reuseaddr EXEC:/bin/true"},
      {"9090", "TCP6-LISTEN:9090,ipv6only=0,fork,reuseaddr EXEC:/bin/true"},
      {"5353", "UDP6-RECVFROM:5353,ipv6only=0,fork,reuseaddr EXEC:/bin/cat"},
      {"5454", "UDP6-RECVFROM:5454,ipv6only=0,fork,reuseaddr EXEC:/bin/cat"}};
  ASSERT_EQ(host->exec({"ip", "-6", "addr", "add", "2001:db8::1/64", "dev", "th0", "nodad"}).exit_code, 0);
  for (const auto& args : {std::vector<std::string>{"-6", "addr", "add", "2001:db8::2/64", "dev", "th0p", "nodad"},
                           {"addr", "add", "192.0.2.3/24", "dev", "th0p"}}) {
    std::vector<std::string> argv = {"ip", "-n", host->peer_netns()};
    argv.insert(argv.end(), args.begin(), args.end());
    auto r = rt::run_command(argv);
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  for (const auto& [port, spec] : listen) {
    listeners.emplace_back([ns, port, spec] {
      rt::run_command({"sh", "-c", "echo $$ > /tmp/" + ns + "-" + port + ".pid; exec ip netns exec " + ns +
                                       " socat " + spec},
                      "", std::chrono::seconds(120));
    });
  }
  std::this_thread::sleep_for(std::chrono::seconds(1));
  EXPECT_TRUE(tcp_connects(*host, 8080));
  EXPECT_TRUE(tcp_connects(*host, 9090));  // no firewall yet

  EXPECT_TRUE(tcp(*host, "2001:db8::1", 9090));
  EXPECT_TRUE(peer_probe(*host, kUdp, {"192.0.2.1", "5454"}));

  host->write_file("/tmp/fw.yaml",
                   "firewall:\n  allow_ports: [22, 8080, {port: 5353, proto: udp}]\n  throttle_per_source: 10\n");
  auto apply = host->reconcile({"/tmp/fw.yaml"});
  EXPECT_EQ(apply.exit_code, 2) << apply.out << apply.err;
  EXPECT_EQ(host->exec({"nft", "list", "table", "inet", "reconcile"}).exit_code, 0);

  for (const std::string addr : {"192.0.2.1", "2001:db8::1"}) {
    EXPECT_TRUE(tcp(*host, addr, 8080)) << addr;
    EXPECT_FALSE(tcp(*host, addr, 9090)) << addr;
    EXPECT_TRUE(peer_probe(*host, kUdp, {addr, "5353"})) << addr;
    EXPECT_FALSE(peer_probe(*host, kUdp, {addr, "5454"})) << addr;
    EXPECT_TRUE(peer_probe(*host, kPing, {addr})) << addr;
  }

  auto again = host->reconcile({"--format=json", "/tmp/fw.yaml"});
  EXPECT_EQ(again.exit_code, 0) << again.out << again.err;
  EXPECT_EQ(nlohmann::json::parse(again.out, nullptr, false)["processes_spawned"], 0) << again.out;

  for (const auto& [port, spec] : listen) {  // the listeners started above, by their pid
    const std::string file = "/tmp/" + ns + "-" + port + ".pid";
    rt::run_command({"sh", "-c", "kill $(cat " + file + ") && rm -f " + file});
  }
  for (auto& t : listeners) t.join();
}

// ---- the rest of the feature: sources, throttling, drift, dry run, guard, confirm, reboot, no library ----

// Opens N TCP connections from SOURCE to ADDR PORT at once (non-blocking) and prints how many were accepted within
// 0.8 s: before the first SYN retransmission (1 s), so a dropped SYN counts as cut.
const char* kBurst = R"(
import socket, sys, select, time
a, p, src, n = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
socks = []
for _ in range(n):
    s = socket.socket(socket.AF_INET6 if ':' in a else socket.AF_INET)
    s.bind((src, 0)); s.setblocking(False); s.connect_ex((a, p)); socks.append(s)
pending, ok, end = set(socks), 0, time.time() + 0.8
while pending and time.time() < end:
    _, w, _ = select.select([], list(pending), [], max(0, end - time.time()))
    for s in w:
        pending.discard(s)
        if s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0: ok += 1
print(ok)
)";

// socat listeners in the test host's network namespace, started from the machine, stopped by their pid.
class Listeners {
 public:
  Listeners(rt::TestHost& host, const std::vector<std::pair<std::string, std::string>>& specs) {
    const std::string ns = "th-" + host.name();
    for (const auto& [port, spec] : specs) {
      const std::string file = "/tmp/" + ns + "-" + port + ".pid";
      files_.push_back(file);
      threads_.emplace_back([ns, file, spec] {
        rt::run_command({"sh", "-c", "echo $$ > " + file + "; exec ip netns exec " + ns + " socat " + spec}, "",
                        std::chrono::seconds(300));
      });
    }
    std::this_thread::sleep_for(std::chrono::seconds(1));
  }
  ~Listeners() {
    for (const auto& file : files_) rt::run_command({"sh", "-c", "kill $(cat " + file + ") && rm -f " + file});
    for (auto& t : threads_) t.join();
  }
  Listeners(const Listeners&) = delete;
  Listeners& operator=(const Listeners&) = delete;

 private:
  std::vector<std::string> files_;
  std::vector<std::thread> threads_;
};

std::string tcp_listener(int port) {
  return "TCP6-LISTEN:" + std::to_string(port) + ",ipv6only=0,fork,reuseaddr,backlog=256 EXEC:/bin/true";
}

// netpeer plus IPv6 on both ends and more peer addresses: 192.0.2.2-4 and 2001:db8::2-3.
::testing::AssertionResult peer_with_sources(rt::TestHost& host) {
  std::string why;
  if (!host.netpeer(&why)) return ::testing::AssertionFailure() << why;
  auto r = host.exec({"ip", "-6", "addr", "add", "2001:db8::1/64", "dev", "th0", "nodad"});
  if (r.exit_code != 0) return ::testing::AssertionFailure() << r.err;
  for (const auto& args : {std::vector<std::string>{"-6", "addr", "add", "2001:db8::2/64", "dev", "th0p", "nodad"},
                           {"-6", "addr", "add", "2001:db8::3/64", "dev", "th0p", "nodad"},
                           {"addr", "add", "192.0.2.3/24", "dev", "th0p"},
                           {"addr", "add", "192.0.2.4/24", "dev", "th0p"}}) {
    std::vector<std::string> argv = {"ip", "-n", host.peer_netns()};
    argv.insert(argv.end(), args.begin(), args.end());
    r = rt::run_command(argv);
    if (r.exit_code != 0) return ::testing::AssertionFailure() << r.err;
  }
  return ::testing::AssertionSuccess();
}

int burst(rt::TestHost& host, const std::string& source, int port, int count) {
  const std::vector<std::string> argv = {"ip",     "netns", "exec", host.peer_netns(), "python3", "-c", kBurst,
                                         "192.0.2.1", std::to_string(port), source, std::to_string(count)};
  auto r = rt::run_command(argv, "", std::chrono::seconds(20));
  return r.exit_code == 0 ? std::atoi(r.out.c_str()) : -1;
}

nlohmann::json firewall_of(const std::string& report) {
  const auto doc = nlohmann::json::parse(report, nullptr, false);
  if (doc.is_discarded() || !doc.contains("resources")) return nlohmann::json::object();
  for (const auto& r : doc["resources"]) {
    if (r.value("id", "") == "firewall:inbound") return r;
  }
  return nlohmann::json::object();
}

std::string out_of(rt::TestHost& host, const std::vector<std::string>& argv) {
  auto r = host.exec(argv);
  return r.exit_code == 0 ? r.out : "exit " + std::to_string(r.exit_code) + ": " + r.err;
}

TEST(FirewallHostTest, AllowFromSourceReachesEveryPortAndABurstOverTheLimitIsCutWhileAnotherSourceGetsIn) {
  RECONCILE_TEST_HOST_OR_SKIP(host, rt::unique_name("fw-src"), rt::default_bin_dir());
  ASSERT_TRUE(peer_with_sources(*host));
  Listeners listeners(*host, {{"8080", tcp_listener(8080)}, {"9090", tcp_listener(9090)}});
  EXPECT_EQ(burst(*host, "192.0.2.2", 8080, 40), 40);  // without a firewall the listener takes the whole burst

  host->write_file("/tmp/fw.yaml",
                   "firewall:\n  allow_ports: [22, 8080]\n  throttle_per_source: 10\n"
                   "  allow_from: [192.0.2.3, \"2001:db8::3/128\"]\n");
  auto apply = host->reconcile({"/tmp/fw.yaml"});
  ASSERT_EQ(apply.exit_code, 2) << apply.out << apply.err;

  // allow_from: every port, over IPv4 and IPv6; other sources only the allowed ports.
  EXPECT_TRUE(tcp(*host, "192.0.2.1", 9090, "192.0.2.3"));
  EXPECT_TRUE(tcp(*host, "192.0.2.1", 8080, "192.0.2.3"));
  EXPECT_TRUE(tcp(*host, "2001:db8::1", 9090, "2001:db8::3"));
  EXPECT_FALSE(tcp(*host, "192.0.2.1", 9090, "192.0.2.2"));
  EXPECT_FALSE(tcp(*host, "2001:db8::1", 9090, "2001:db8::2"));
  EXPECT_TRUE(tcp(*host, "192.0.2.1", 8080, "192.0.2.2"));

  // 40 new connections at once from one source: about throttle + burst get in, the rest are dropped...
  std::this_thread::sleep_for(std::chrono::seconds(2));  // the source's meter refills
  const int accepted = burst(*host, "192.0.2.2", 8080, 40);
  EXPECT_GE(accepted, 5);
  EXPECT_LE(accepted, 25);
  // ...while a second source, with its own meter, still gets in at once.
  EXPECT_TRUE(tcp(*host, "192.0.2.1", 8080, "192.0.2.4"));
  EXPECT_GE(burst(*host, "192.0.2.4", 8080, 5), 5);
}

TEST(FirewallHostTest, HandEditedRulesAreCorrectiveDriftTheDryRunChangesNothingAndOtherTablesAreLeftAlone) {
  RECONCILE_TEST_HOST_OR_SKIP(host, rt::unique_name("fw-drift"), rt::default_bin_dir());
  // A table of someone else's (Docker's, the distribution's): observed, reported, never touched.
  auto made = host->exec({"nft", "-f", "-"},
                         "table inet other {\n  chain input {\n    type filter hook input priority 10; policy accept;\n"
                         "    tcp dport 7 counter accept\n  }\n}\n");
  ASSERT_EQ(made.exit_code, 0) << made.err;
  const std::string other = out_of(*host, {"nft", "-j", "list", "table", "inet", "other"});

  host->write_file("/tmp/fw.yaml", "firewall:\n  allow_ports: [22, 8080]\n");
  auto apply = host->reconcile({"/tmp/fw.yaml"});
  ASSERT_EQ(apply.exit_code, 2) << apply.out << apply.err;
  auto again = host->reconcile({"--format=json", "/tmp/fw.yaml"});
  EXPECT_EQ(again.exit_code, 0) << again.out << again.err;
  EXPECT_NE(firewall_of(again.out).value("reason", "").find("other tables left alone: inet other"), std::string::npos)
      << again.out;
  EXPECT_EQ(out_of(*host, {"nft", "-j", "list", "table", "inet", "other"}), other);

  // By hand: a rule added to our chain, and one of ours deleted (by its handle).
  auto added = host->exec({"nft", "add", "rule", "inet", "reconcile", "input", "tcp", "dport", "9999", "accept"});
  ASSERT_EQ(added.exit_code, 0) << added.err;
  const std::string chain = out_of(*host, {"nft", "-a", "list", "chain", "inet", "reconcile", "input"});
  const auto at = chain.find("tcp dport 8080 accept # handle ");
  ASSERT_NE(at, std::string::npos) << chain;
  const std::string handle = std::to_string(std::atoi(chain.c_str() + at + 31));
  auto deleted = host->exec({"nft", "delete", "rule", "inet", "reconcile", "input", "handle", handle});
  ASSERT_EQ(deleted.exit_code, 0) << deleted.err;

  // The dry run prints both rules, labels the drift corrective, and leaves the rule set and the files as they are.
  const std::string ruleset = out_of(*host, {"nft", "-j", "list", "ruleset"});
  const auto files = host->upper_snapshot();
  auto dry = host->reconcile({"--dry-run", "/tmp/fw.yaml"});
  EXPECT_EQ(dry.exit_code, 2) << dry.out << dry.err;
  EXPECT_NE(dry.out.find("tcp dport 9999 accept"), std::string::npos) << dry.out;
  EXPECT_NE(dry.out.find("tcp dport 8080 accept"), std::string::npos) << dry.out;
  auto dry_json = host->reconcile({"--dry-run", "--format=json", "/tmp/fw.yaml"});
  const auto seen = firewall_of(dry_json.out);
  EXPECT_EQ(seen.value("label", ""), "corrective") << dry_json.out;
  std::vector<std::pair<std::string, std::string>> drift;
  for (const auto& d : seen.value("drift", nlohmann::json::array())) {
    drift.emplace_back(d.value("observed", ""), d.value("desired", ""));
  }
  EXPECT_EQ(drift, (std::vector<std::pair<std::string, std::string>>{{"tcp dport 9999 accept", "absent"},
                                                                     {"absent", "tcp dport 8080 accept"}}))
      << dry_json.out;
  EXPECT_EQ(out_of(*host, {"nft", "-j", "list", "ruleset"}), ruleset);
  EXPECT_EQ(host->upper_snapshot(), files);

  // The apply undoes both, leaves the other table alone, and the run after it finds nothing.
  auto fix = host->reconcile({"/tmp/fw.yaml"});
  EXPECT_EQ(fix.exit_code, 2) << fix.out << fix.err;
  const std::string fixed = out_of(*host, {"nft", "list", "chain", "inet", "reconcile", "input"});
  EXPECT_NE(fixed.find("tcp dport 8080 accept"), std::string::npos) << fixed;
  EXPECT_EQ(fixed.find("9999"), std::string::npos) << fixed;
  EXPECT_EQ(host->reconcile({"/tmp/fw.yaml"}).exit_code, 0);
  EXPECT_EQ(out_of(*host, {"nft", "-j", "list", "table", "inet", "other"}), other);
}

TEST(FirewallHostTest, SshGuardRefusesToDropSshdsPortOrTheSessionsUnlessAllowLockout) {
  RECONCILE_TEST_HOST_OR_SKIP(host, rt::unique_name("fw-guard"), rt::default_bin_dir());
  host->write_file("/etc/ssh/sshd_config", "# sshd on another port\nPort 2222\n");
  const auto run = [&](const std::string& yaml, const std::string& session) {
    host->write_file("/tmp/fw.yaml", yaml);
    std::vector<std::string> env;
    if (!session.empty()) env.push_back("SSH_CONNECTION=" + session);
    return host->exec_env(env, {"/opt/rc/reconcile", "/tmp/fw.yaml"});
  };
  const auto no_table = [&] { return host->exec({"nft", "list", "table", "inet", "reconcile"}).exit_code != 0; };

  auto r = run("firewall:\n  allow_ports: [22, 80]\n", "");
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_NE(r.err.find("fw.yaml:2:3: error: firewall.allow_ports: the firewall would drop SSH on port 2222 (sshd "
                       "listens on it): that locks you out"),
            std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("hint: add 2222 to allow_ports, or set allow_lockout: true"), std::string::npos) << r.err;
  EXPECT_TRUE(no_table());

  r = run("firewall:\n  allow_ports: [2222, 80]\n", "192.0.2.2 50022 192.0.2.1 22");
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_NE(r.err.find("would drop SSH on port 22 (the port of this SSH session, from 192.0.2.2)"), std::string::npos)
      << r.err;
  EXPECT_TRUE(no_table());

  // allow_from does not save a session from outside it...
  r = run("firewall:\n  allow_ports: [80]\n  allow_from: [10.0.0.0/8]\n", "192.0.2.2 50022 192.0.2.1 2222");
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_NE(r.err.find("port 2222 (the port of this SSH session, from 192.0.2.2, which is not in allow_from)"),
            std::string::npos)
      << r.err;
  EXPECT_TRUE(no_table());
  // ...and lets in one from inside it.
  r = run("firewall:\n  allow_ports: [80]\n  allow_from: [192.0.2.0/24]\n", "192.0.2.2 50022 192.0.2.1 2222");
  EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
  EXPECT_FALSE(no_table());

  r = run("firewall:\n  allow_ports: [80]\n  allow_lockout: true\n", "192.0.2.2 50022 192.0.2.1 2222");
  EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
  EXPECT_EQ(out_of(*host, {"nft", "list", "chain", "inet", "reconcile", "input"}).find("192.0.2.0/24"),
            std::string::npos);
}

TEST(FirewallHostTest, ConfirmWithinKeepsAConfirmedRuleSetAndRollsBackAnUnconfirmedOneTheNextRunSaysSo) {
  RECONCILE_TEST_HOST_OR_SKIP(host, rt::unique_name("fw-confirm"), rt::default_bin_dir());
  const auto state = [](int port) { return "firewall:\n  allow_ports: [22, " + std::to_string(port) + "]\n"; };
  const auto chain = [&] { return out_of(*host, {"nft", "list", "chain", "inet", "reconcile", "input"}); };
  const auto persisted = [&] { return out_of(*host, {"cat", "/etc/reconcile/firewall.nft"}); };
  host->write_file("/root/a.yaml", state(8080));
  host->write_file("/root/b.yaml", state(9090));
  host->write_file("/root/c.yaml", state(7070));
  ASSERT_EQ(host->reconcile({"/root/a.yaml"}).exit_code, 2);

  // Confirmed in time: the new rules stay, and are persisted only now.
  auto b = host->reconcile({"--confirm-within", "10", "/root/b.yaml"});
  ASSERT_EQ(b.exit_code, 2) << b.out << b.err;
  EXPECT_NE(b.out.find("roll back in 10 s unless `reconcile confirm` runs"), std::string::npos) << b.out;
  EXPECT_NE(chain().find("tcp dport 9090 accept"), std::string::npos);
  EXPECT_NE(persisted().find("8080"), std::string::npos);  // the boot rule set is still the confirmed one
  auto confirm = host->reconcile({"confirm"});
  EXPECT_EQ(confirm.exit_code, 0) << confirm.out << confirm.err;
  EXPECT_NE(confirm.out.find("confirmed and persisted"), std::string::npos) << confirm.out;
  std::this_thread::sleep_for(std::chrono::seconds(13));
  EXPECT_NE(chain().find("tcp dport 9090 accept"), std::string::npos);
  EXPECT_NE(persisted().find("9090"), std::string::npos);
  auto kept = host->reconcile({"--format=json", "/root/b.yaml"});
  EXPECT_EQ(kept.exit_code, 0) << kept.out << kept.err;
  EXPECT_NE(firewall_of(kept.out).value("reason", "").find("was confirmed at"), std::string::npos) << kept.out;

  // Not confirmed: after 10 s the previous table is back, and the next run says so.
  auto c = host->reconcile({"--confirm-within", "10", "/root/c.yaml"});
  ASSERT_EQ(c.exit_code, 2) << c.out << c.err;
  EXPECT_NE(chain().find("tcp dport 7070 accept"), std::string::npos);
  std::this_thread::sleep_for(std::chrono::seconds(14));
  const std::string back = chain();
  EXPECT_NE(back.find("tcp dport 9090 accept"), std::string::npos) << back;
  EXPECT_EQ(back.find("7070"), std::string::npos) << back;
  EXPECT_NE(persisted().find("9090"), std::string::npos);
  auto next = host->reconcile({"--format=json", "/root/c.yaml"});
  EXPECT_EQ(next.exit_code, 4) << next.out << next.err;
  const auto seen = firewall_of(next.out);
  EXPECT_EQ(seen.value("status", ""), "failed") << next.out;
  EXPECT_NE(seen.value("reason", "").find("was rolled back at"), std::string::npos) << next.out;
  EXPECT_EQ(host->reconcile({"confirm"}).exit_code, 1);  // too late
}

TEST(FirewallHostTest, TheRuleSetIsBackAfterARebootAndTheNextRunIsConverged) {
  RECONCILE_TEST_HOST_OR_SKIP(host, rt::unique_name("fw-boot"), rt::default_bin_dir());
  host->write_file("/root/fw.yaml", "firewall:\n  allow_ports: [22, 8080]\n  throttle_per_source: 20\n");
  ASSERT_EQ(host->reconcile({"/root/fw.yaml"}).exit_code, 2);
  const std::string before = out_of(*host, {"nft", "-s", "list", "table", "inet", "reconcile"});
  ASSERT_NE(before.find("tcp dport 8080 accept"), std::string::npos) << before;

  std::string why;
  ASSERT_TRUE(host->reboot(&why)) << why;
  EXPECT_EQ(out_of(*host, {"systemctl", "is-active", "reconcile-firewall.service"}), "active\n");
  EXPECT_EQ(out_of(*host, {"nft", "-s", "list", "table", "inet", "reconcile"}), before);
  auto next = host->reconcile({"--format=json", "/root/fw.yaml"});
  EXPECT_EQ(next.exit_code, 0) << next.out << next.err;
  EXPECT_EQ(nlohmann::json::parse(next.out, nullptr, false)["processes_spawned"], 0) << next.out;

  // And it filters: 8080 gets through, 9090 does not.
  ASSERT_TRUE(peer_with_sources(*host));
  Listeners listeners(*host, {{"8080", tcp_listener(8080)}, {"9090", tcp_listener(9090)}});
  EXPECT_TRUE(tcp_connects(*host, 8080));
  EXPECT_FALSE(tcp_connects(*host, 9090));
}

TEST(FirewallHostTest, WithoutLibnftablesTheFirewallFailsWithTheReasonAndTheRestOfTheRunConverges) {
  RECONCILE_TEST_HOST_OR_SKIP(host, rt::unique_name("fw-nolib"), rt::default_bin_dir());
  auto hidden = host->exec({"sh", "-c", "mkdir -p /root/hidden && mv /usr/lib/*/libnftables.so.1* /root/hidden/"});
  ASSERT_EQ(hidden.exit_code, 0) << hidden.err;
  host->write_file("/root/fw.yaml",
                   "firewall:\n  allow_ports: [22]\nfiles:\n  - {path: /etc/motd, content: \"no firewall here\\n\"}\n");
  auto r = host->reconcile({"--format=json", "/root/fw.yaml"});
  EXPECT_EQ(r.exit_code, 6) << r.out << r.err;
  const auto seen = firewall_of(r.out);
  EXPECT_EQ(seen.value("status", ""), "failed") << r.out;
  EXPECT_NE(seen.value("reason", "").find("nftables cannot be used: cannot load libnftables.so.1"), std::string::npos)
      << r.out;
  EXPECT_EQ(out_of(*host, {"cat", "/etc/motd"}), "no firewall here\n");
  auto again = host->reconcile({"/root/fw.yaml"});
  EXPECT_EQ(again.exit_code, 4) << again.out << again.err;  // only the firewall is left
}

TEST(FirewallHostTest, AHostWithEtcProtocolsConvergesThoughNftPrintsProtocolsByName) {
  RECONCILE_TEST_HOST_OR_SKIP(host, rt::unique_name("fw-proto"), rt::default_bin_dir());
  // netbase's /etc/protocols (the image has none): nft then lists `meta l4proto 1` as `icmp`.
  host->write_file("/etc/protocols", "icmp\t1\tICMP\ntcp\t6\tTCP\nudp\t17\tUDP\nipv6-icmp\t58\tIPv6-ICMP\n");
  host->write_file("/tmp/fw.yaml", "firewall:\n  allow_ports: [22]\n  throttle_per_source: 30\n");
  ASSERT_EQ(host->reconcile({"/tmp/fw.yaml"}).exit_code, 2);
  EXPECT_NE(out_of(*host, {"nft", "list", "chain", "inet", "reconcile", "input"}).find("meta l4proto icmp accept"),
            std::string::npos);
  auto again = host->reconcile({"/tmp/fw.yaml"});
  EXPECT_EQ(again.exit_code, 0) << again.out << again.err;
}

}  // namespace
}  // namespace reconcile
