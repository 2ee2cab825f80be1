#include "resources/sysctl.h"

#include <gtest/gtest.h>

#include <set>

#include "tests/support/compile.h"

namespace reconcile::resources {
namespace {

using testing::compile_yaml;

const SysctlResource* find(const engine::Compiled& compiled, const std::string& id) {
  for (const auto& r : compiled.graph.resources) {
    if (r->id() == id) return dynamic_cast<const SysctlResource*>(r.get());
  }
  return nullptr;
}

TEST(SysctlTest, KeysBecomeOneResourceEachWithNormalisedValues) {
  auto compiled = compile_yaml(
      "sysctl:\n  keys:\n    vm.swappiness: 10\n    net.ipv4.ip_local_port_range: \"32768\\t 65000\"\n");
  ASSERT_TRUE(compiled.errors.empty()) << compiled.errors[0].str();
  ASSERT_EQ(compiled.graph.size(), 2u);
  const auto* swappiness = find(compiled, "sysctl:vm.swappiness");
  ASSERT_NE(swappiness, nullptr);
  EXPECT_EQ(swappiness->value(), "10");
  EXPECT_FALSE(swappiness->optional());
  EXPECT_EQ(swappiness->location().line, 3);
  EXPECT_EQ(find(compiled, "sysctl:net.ipv4.ip_local_port_range")->value(), "32768 65000");
  ASSERT_EQ(swappiness->claims().size(), 1u);
  EXPECT_EQ(swappiness->claims()[0].str(), "/etc/sysctl.d/90-reconcile.conf: keyed line 'vm.swappiness'");
}

TEST(SysctlTest, ExplicitKeysOverrideThePreset) {
  auto compiled = compile_yaml("sysctl:\n  preset: throughput\n  keys: {vm.swappiness: 1}\n");
  ASSERT_TRUE(compiled.errors.empty()) << compiled.errors[0].str();
  EXPECT_EQ(compiled.graph.size(), sysctl_preset("throughput").size());
  const auto* swappiness = find(compiled, "sysctl:vm.swappiness");
  EXPECT_EQ(swappiness->value(), "1");
  EXPECT_EQ(swappiness->preset(), "");
  EXPECT_EQ(find(compiled, "sysctl:vm.dirty_ratio")->preset(), "throughput");
  auto both = compile_yaml("sysctl: {preset: [hardened, throughput]}\n");
  ASSERT_TRUE(both.errors.empty()) << both.errors[0].str();
}

TEST(SysctlTest, TheLaitosPresetIsExactlyLaitosTuneLinux) {
  const auto laitos = sysctl_preset("laitos");
  std::set<std::string_view> keys;
  for (const auto& s : laitos) keys.insert(s.key);
  EXPECT_EQ(keys.size(), laitos.size()) << "no key twice";
  EXPECT_EQ(laitos.size(), 58u);  // shared/laitos-maintenance.md lists 58 assignments (it says 57)
  EXPECT_TRUE(keys.contains("net.ipv4.tcp_tw_recycle"));
  auto compiled = compile_yaml("sysctl: {preset: laitos}\n");
  ASSERT_TRUE(compiled.errors.empty());
  EXPECT_EQ(find(compiled, "sysctl:net.ipv4.ip_local_port_range")->value(), "32768 65000");
  EXPECT_TRUE(find(compiled, "sysctl:net.ipv4.tcp_tw_recycle")->optional());
}

TEST(SysctlTest, InputErrorsNameThePlace) {
  auto preset = compile_yaml("sysctl: {preset: hardend}\n");
  ASSERT_EQ(preset.errors.size(), 1u);
  EXPECT_EQ(preset.errors[0].message, "unknown sysctl preset 'hardend'");
  EXPECT_EQ(preset.errors[0].hint, "did you mean 'hardened'?");
  auto key = compile_yaml("sysctl:\n  keys: {\"vm swappiness\": 1}\n");
  ASSERT_EQ(key.errors.size(), 1u);
  EXPECT_NE(key.errors[0].message.find("invalid sysctl key 'vm swappiness'"), std::string::npos);
  auto boolean = compile_yaml("sysctl: {keys: {vm.swappiness: true}}\n");
  ASSERT_EQ(boolean.errors.size(), 1u);
  EXPECT_EQ(boolean.errors[0].code, ErrorCode::kType);
  auto typo = compile_yaml("sysctl: {kyes: {}}\n");
  ASSERT_FALSE(typo.errors.empty());
  EXPECT_EQ(typo.errors[0].hint, "did you mean 'keys'?");
  auto scalar = compile_yaml("sysctl: hardened\n");
  ASSERT_EQ(scalar.errors.size(), 1u);
  EXPECT_EQ(scalar.errors[0].code, ErrorCode::kType);
}

TEST(SysctlTest, SlashesInKeysStandForDots) {
  EXPECT_EQ(sysctl_path("net.ipv4.conf.eth0/100.rp_filter"), "net/ipv4/conf/eth0.100/rp_filter");
}

}  // namespace
}  // namespace reconcile::resources
