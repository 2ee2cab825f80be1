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

}  // namespace
}  // namespace reconcile
