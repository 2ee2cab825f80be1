#include "resources/firewall.h"

#include <gtest/gtest.h>

#include "tests/support/compile.h"

namespace reconcile::resources {
namespace {

using testing::compile_yaml;

const FirewallResource* firewall(const engine::Compiled& compiled) {
  for (const auto& r : compiled.graph.resources) {
    if (r->id() == "firewall:inbound") return dynamic_cast<const FirewallResource*>(r.get());
  }
  return nullptr;
}

std::string first_error(const std::string& yaml) {
  auto compiled = compile_yaml(yaml);
  if (compiled.errors.empty()) return "";
  return compiled.errors[0].str();
}

TEST(FirewallTest, TheKeyCompilesIntoOneResourceWithTypedFields) {
  auto compiled = compile_yaml(
      "firewall:\n  allow_ports: [22, {port: 53, proto: udp}, {port: \"8000-8100\", proto: tcp}]\n"
      "  throttle_per_source: 30\n  allow_from: [10.0.0.0/8, \"2001:DB8:0:0::/32\", 192.0.2.7]\n");
  ASSERT_TRUE(compiled.errors.empty()) << compiled.errors[0].str();
  ASSERT_EQ(compiled.graph.size(), 1u);
  const auto* fw = firewall(compiled);
  ASSERT_NE(fw, nullptr);
  ASSERT_EQ(fw->ports().size(), 4u);  // 22 is tcp and udp
  EXPECT_EQ(fw->ports()[0].proto, Proto::kTcp);
  EXPECT_EQ(fw->ports()[1].proto, Proto::kUdp);
  EXPECT_EQ(fw->ports()[3].ports(), "8000-8100");
  EXPECT_EQ(fw->throttle(), 30);
  ASSERT_EQ(fw->allow_from().size(), 3u);
  EXPECT_EQ(fw->allow_from()[1].str(), "2001:db8::/32");
  EXPECT_EQ(fw->allow_from()[2].str(), "192.0.2.7");
  EXPECT_FALSE(fw->allow_lockout());
  EXPECT_EQ(fw->location().line, 2);
  const auto rules = fw->rules();
  EXPECT_EQ(rules.front(), "iif \"lo\" accept");
  EXPECT_EQ(rules.back(), "counter drop");
  EXPECT_NE(std::find(rules.begin(), rules.end(), "tcp dport 8000-8100 accept"), rules.end());
  EXPECT_NE(std::find(rules.begin(), rules.end(), "ip6 saddr 2001:db8::/32 accept"), rules.end());
  EXPECT_NE(fw->script().find("delete table inet reconcile\ntable inet reconcile {\n"), std::string::npos);
  EXPECT_NE(fw->script().find("set throttle6 { type ipv6_addr; size 65535; flags dynamic,timeout; timeout 60s; }"),
            std::string::npos)
      << fw->script();
}

TEST(FirewallTest, InvalidInputIsRefusedWithFileLineAndHint) {
  EXPECT_NE(first_error("firewall:\n  allow_ports: [0]\n").find("state.yaml:2:17: firewall.allow_ports[0]: port 0 is outside 1-65535"),
            std::string::npos) << first_error("firewall:\n  allow_ports: [0]\n");
  EXPECT_NE(first_error("firewall:\n  allow_ports: [65536]\n").find("'65536' is not a port"), std::string::npos);
  EXPECT_NE(first_error("firewall:\n  allow_ports: [{port: \"100-50\"}]\n").find("the range 100-50 is reversed"),
            std::string::npos);
  EXPECT_NE(first_error("firewall:\n  allow_ports: [{port: 1, proto: sctp}]\n").find("unknown protocol 'sctp'"),
            std::string::npos);
  EXPECT_NE(first_error("firewall:\n  allow_ports: [{port: 1, proto: tpc}]\n").find("did you mean 'tcp'?"),
            std::string::npos);
  EXPECT_NE(first_error("firewall:\n  throttle_per_source: 5\n").find("more than 5 and less than 256, got 5"),
            std::string::npos);
  EXPECT_NE(first_error("firewall:\n  throttle_per_source: 256\n").find("got 256"), std::string::npos);
  EXPECT_EQ(first_error("firewall:\n  throttle_per_source: 255\n"), "");
  EXPECT_NE(first_error("firewall:\n  allow_from: [10.0.0.0/33]\n").find("prefix length"), std::string::npos);
  EXPECT_NE(first_error("firewall:\n  allow_from: [300.1.1.1]\n").find("not an IPv4 address"), std::string::npos);
  EXPECT_NE(first_error("firewall:\n  allow_from: [\"2001:db8:::1\"]\n").find("not an IPv6 address"), std::string::npos);
  EXPECT_NE(first_error("firewall:\n  allow_from: [10.1.2.3/8]\n").find("did you mean 10.0.0.0/8?"), std::string::npos);
  const std::string twice = first_error("firewall:\n  allow_ports:\n    - 22\n    - {port: \"20-30\", proto: tcp}\n");
  EXPECT_NE(twice.find("state.yaml:4:"), std::string::npos) << twice;
  EXPECT_NE(twice.find("is allowed twice (also 22 at state.yaml:3:7)"), std::string::npos) << twice;
  EXPECT_NE(first_error("firewall:\n  allow_port: [22]\n").find("did you mean 'allow_ports'?"), std::string::npos);
  EXPECT_NE(first_error("firewall: [22]\n").find("expected a mapping"), std::string::npos);
}

TEST(FirewallTest, AddressesAreNormalisedAsNftPrintsThem) {
  EXPECT_EQ(parse_cidr("2001:0db8:0000:0000:0000:0000:0000:0001")->str(), "2001:db8::1");
  EXPECT_EQ(parse_cidr("::")->str(), "::");
  EXPECT_EQ(parse_cidr("::1")->str(), "::1");
  EXPECT_EQ(parse_cidr("fe80::/10")->str(), "fe80::/10");
  EXPECT_EQ(parse_cidr("2001:db8:0:1:0:0:0:1")->str(), "2001:db8:0:1::1");
  EXPECT_EQ(parse_cidr("1:0:0:2:0:0:0:3")->str(), "1:0:0:2::3");
  EXPECT_EQ(parse_cidr("::ffff:192.0.2.1")->str(), "::ffff:192.0.2.1");
  EXPECT_EQ(parse_cidr("0.0.0.0/0")->str(), "0.0.0.0/0");
  EXPECT_FALSE(parse_cidr("1.2.3"));
  EXPECT_FALSE(parse_cidr("01.2.3.4"));
  EXPECT_FALSE(parse_cidr("1::2::3"));
  EXPECT_TRUE(parse_cidr("10.0.0.0/8")->contains("10.200.1.1"));
  EXPECT_FALSE(parse_cidr("10.0.0.0/8")->contains("11.0.0.1"));
}

TEST(FirewallTest, DiffShowsRulesAddedAndRemovedInOrder) {
  auto compiled = compile_yaml("firewall:\n  allow_ports: [22]\n");
  const auto* fw = firewall(compiled);
  ASSERT_NE(fw, nullptr);
  FirewallObserved seen;
  seen.table = true;
  seen.head = fw->head();
  seen.rules = fw->rules();
  seen.persisted = fw->script();
  seen.unit_current = seen.unit_enabled = true;
  EXPECT_TRUE(fw->diff(seen).empty());
  seen.rules.insert(seen.rules.end() - 1, "tcp dport 9999 accept");
  seen.rules.erase(std::find(seen.rules.begin(), seen.rules.end(), "udp dport 22 accept"));
  const auto drift = fw->diff(seen);
  ASSERT_EQ(drift.size(), 2u);
  EXPECT_EQ(drift[0].observed, "tcp dport 9999 accept");
  EXPECT_EQ(drift[0].desired, "absent");
  EXPECT_EQ(drift[1].observed, "absent");
  EXPECT_EQ(drift[1].desired, "udp dport 22 accept");
  seen.rules = fw->rules();
  seen.persisted = "old";
  ASSERT_EQ(fw->diff(seen).size(), 1u);
  EXPECT_TRUE(is_field(fw->diff(seen)[0], FirewallField::kPersisted));
  seen.awaiting_confirmation = true;  // persistence follows `reconcile confirm`
  EXPECT_TRUE(fw->diff(seen).empty());
}

TEST(FirewallTest, SshGuardRefusesWhatDropsSshdOrTheCurrentSession) {
  const auto guard = [](const std::string& yaml, const std::vector<std::uint16_t>& sshd, const std::string& session) {
    auto compiled = compile_yaml(yaml);
    const auto* fw = firewall(compiled);
    EXPECT_NE(fw, nullptr) << yaml;
    auto lockout = fw != nullptr ? fw->lockout(sshd, session) : std::nullopt;
    return lockout ? std::to_string(lockout->port) + ": " + lockout->why : std::string("ok");
  };
  // sshd's own port, from its configuration or its sockets.
  EXPECT_EQ(guard("firewall:\n  allow_ports: [22]\n", {2222}, ""), "2222: sshd listens on it");
  EXPECT_EQ(guard("firewall:\n  allow_ports: [2222]\n", {2222}, ""), "ok");
  EXPECT_EQ(guard("firewall:\n  allow_ports: [\"2000-3000\"]\n", {22, 2222}, ""), "22: sshd listens on it");
  EXPECT_EQ(guard("firewall:\n  allow_ports: [{port: 2222, proto: udp}]\n", {2222}, ""), "2222: sshd listens on it");
  EXPECT_EQ(guard("firewall:\n  allow_ports: [80]\n  allow_lockout: true\n", {22}, "192.0.2.9 50000 192.0.2.1 22"),
            "ok");
  // The session's port, even where sshd's own ports are unknown.
  EXPECT_EQ(guard("firewall:\n  allow_ports: [80]\n", {}, "192.0.2.9 50000 192.0.2.1 2200"),
            "2200: the port of this SSH session, from 192.0.2.9");
  EXPECT_EQ(guard("firewall:\n  allow_ports: [2200]\n", {}, "192.0.2.9 50000 192.0.2.1 2200"), "ok");
  // allow_from: the session's address decides; outside a session the sources named still reach sshd.
  EXPECT_EQ(guard("firewall:\n  allow_ports: [80]\n  allow_from: [10.0.0.0/8]\n", {22}, "192.0.2.9 50000 192.0.2.1 22"),
            "22: the port of this SSH session, from 192.0.2.9, which is not in allow_from");
  EXPECT_EQ(guard("firewall:\n  allow_ports: [80]\n  allow_from: [10.0.0.0/8]\n", {2222}, "192.0.2.9 50000 192.0.2.1 22"),
            "22: the port of this SSH session, from 192.0.2.9, which is not in allow_from");
  EXPECT_EQ(guard("firewall:\n  allow_ports: [22, 80]\n  allow_from: [10.0.0.0/8]\n", {2222},
                  "192.0.2.9 50000 192.0.2.1 22"),
            "2222: sshd listens on it, and this SSH session's address 192.0.2.9 is not in allow_from");
  EXPECT_EQ(guard("firewall:\n  allow_ports: [80]\n  allow_from: [192.0.2.0/24]\n", {2222},
                  "192.0.2.9 50000 192.0.2.1 2222"),
            "ok");
  EXPECT_EQ(guard("firewall:\n  allow_ports: [80]\n  allow_from: [\"2001:db8::/32\"]\n", {22},
                  "2001:db8::9 50000 2001:db8::1 22"),
            "ok");
  EXPECT_EQ(guard("firewall:\n  allow_ports: [80]\n  allow_from: [192.0.2.0/24]\n", {22},
                  "::ffff:192.0.2.9 50000 ::ffff:192.0.2.1 22"),
            "ok");  // an IPv4 client of a dual-stack sshd
  EXPECT_EQ(guard("firewall:\n  allow_ports: [80]\n  allow_from: [10.0.0.0/8]\n", {22}, ""), "ok");
  EXPECT_EQ(guard("firewall:\n  allow_ports: [80]\n", {22}, "garbage"), "22: sshd listens on it");
}

}  // namespace
}  // namespace reconcile::resources
