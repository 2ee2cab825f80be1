// The normalisation of nft's JSON listing against the desired rules, on a listing nft 1.0.6 printed for a table
// reconcile loaded (tests/providers/data/nft_listing.json): nft prints flags, sets and defaults its own way.

#include "providers/nftables.h"

#include <gtest/gtest.h>

#include <fstream>
#include <iterator>

#include "providers/exec.h"
#include "tests/engine/temp_root.h"
#include "tests/support/compile.h"

namespace reconcile::providers {
namespace {

std::string fixture() {
  std::ifstream in(std::string(RECONCILE_SOURCE_DIR) + "/tests/providers/data/nft_listing.json");
  return std::string(std::istreambuf_iterator<char>(in), {});
}

TEST(NftablesTest, ListingOfTheLoadedTableNormalisesToTheDesiredRules) {
  auto compiled = testing::compile_yaml(
      "firewall:\n  allow_ports: [{port: 22, proto: tcp}, {port: \"8000-8100\", proto: tcp}, {port: 53, proto: udp}]\n"
      "  throttle_per_source: 30\n  allow_from: [10.0.0.0/8, \"2001:db8::/32\"]\n");
  ASSERT_TRUE(compiled.errors.empty()) << compiled.errors[0].str();
  const auto* fw = dynamic_cast<const resources::FirewallResource*>(compiled.graph.resources.at(0).get());
  ASSERT_NE(fw, nullptr);
  auto listing = parse_nft_listing(fixture());
  ASSERT_TRUE(listing) << listing.error();
  EXPECT_TRUE(listing->table);
  EXPECT_EQ(listing->head, fw->head());
  EXPECT_EQ(listing->rules, fw->rules());
  resources::FirewallObserved seen;
  seen.table = true;
  seen.head = listing->head;
  seen.rules = listing->rules;
  seen.persisted = fw->script();
  seen.unit_current = seen.unit_enabled = true;
  EXPECT_TRUE(fw->diff(seen).empty());
}

TEST(NftablesTest, DefaultsAndCountersAreNormalisedAndUnknownExpressionsKept) {
  EXPECT_EQ(canonical_rule(R"([{"counter": {"packets": 12, "bytes": 900}}, {"drop": null}])"), "counter drop");
  EXPECT_EQ(canonical_rule(R"([{"limit": {"rate": 10, "per": "second"}}, {"accept": null}])"),
            "limit rate 10/second burst 5 packets accept");
  EXPECT_EQ(canonical_rule(R"([{"match": {"op": "!=", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": 22}}, {"drop": null}])"),
            "tcp dport != 22 drop");
  EXPECT_EQ(canonical_rule(R"([{"log": {"prefix": "x"}}])"), R"({"log":{"prefix":"x"}})");
}

TEST(NftablesTest, OtherTablesAreListedAndEmptyRulesetsHaveNoTable) {
  auto listing = parse_nft_listing(
      R"({"nftables": [{"metainfo": {}}, {"table": {"family": "ip", "name": "nat", "handle": 1}},)"
      R"({"table": {"family": "inet", "name": "filter", "handle": 2}},)"
      R"({"chain": {"family": "inet", "table": "filter", "name": "input", "hook": "input", "prio": 0, "policy": "drop", "type": "filter"}}]})");
  ASSERT_TRUE(listing) << listing.error();
  EXPECT_FALSE(listing->table);
  EXPECT_EQ(listing->others, (std::vector<std::string>{"ip nat", "inet filter"}));
  EXPECT_EQ(listing->others_dropping, (std::vector<std::string>{"inet filter"}));
  auto empty = parse_nft_listing("");
  ASSERT_TRUE(empty);
  EXPECT_FALSE(empty->table);
  EXPECT_FALSE(parse_nft_listing("[1, 2]"));
}

TEST(NftablesTest, ProtocolNamesFromEtcProtocolsNormaliseToTheirNumbers) {
  // nft 1.0.6 on a host with netbase's /etc/protocols prints `meta l4proto 1` back by name.
  EXPECT_EQ(canonical_rule(R"([{"match": {"op": "==", "left": {"meta": {"key": "l4proto"}}, "right": "icmp"}}, {"accept": null}])"),
            "meta l4proto 1 accept");
  EXPECT_EQ(canonical_rule(R"([{"match": {"op": "==", "left": {"meta": {"key": "l4proto"}}, "right": "ipv6-icmp"}}, {"accept": null}])"),
            "meta l4proto 58 accept");
  EXPECT_EQ(canonical_rule(R"([{"match": {"op": "==", "left": {"meta": {"key": "l4proto"}}, "right": "tcp"}}, )"
                           R"({"match": {"op": "in", "left": {"ct": {"key": "state"}}, "right": "new"}}, {"drop": null}])"),
            "meta l4proto 6 ct state new drop");
  EXPECT_EQ(canonical_rule(R"([{"match": {"op": "==", "left": {"meta": {"key": "l4proto"}}, "right": 17}}, {"drop": null}])"),
            "meta l4proto 17 drop");
}

TEST(NftablesTest, SshdPortsAreReadFromItsConfigurationAndIncludes) {
  testing::TempRoot root;
  Exec exec;
  Host host{root.path(), &exec, true, {}};
  EXPECT_TRUE(sshd_ports(host).empty());  // no sshd at all
  root.write("etc/ssh/sshd_config", "# Port 22\nInclude /etc/ssh/sshd_config.d/*.conf\nPort 2222\n");
  EXPECT_EQ(sshd_ports(host), (std::vector<std::uint16_t>{2222}));
  root.write("etc/ssh/sshd_config.d/more.conf", "ListenAddress 0.0.0.0:2200\nMatch User x\n  Port 7\n");
  EXPECT_EQ(sshd_ports(host), (std::vector<std::uint16_t>{2200, 2222}));
  root.write("etc/ssh/sshd_config", "PermitRootLogin no\n");
  EXPECT_EQ(sshd_ports(host), (std::vector<std::uint16_t>{22}));  // sshd's default
}

}  // namespace
}  // namespace reconcile::providers
