#include "engine/claims.h"

#include <gtest/gtest.h>

#include "tests/engine/fake_kind.h"

namespace reconcile::engine {
namespace {

using testing::FakeResource;
using testing::parse_fake_claim;

class ClaimsTest : public ::testing::Test {
 protected:
  void add(const std::string& name, std::vector<std::string> claims) {
    const int line = static_cast<int>(resources_.size()) + 2;
    auto resource = std::make_unique<FakeResource>(name, "on", resources::Location{"state.yaml", line, 5},
                                                   "fakes[" + std::to_string(resources_.size()) + "]");
    for (const auto& claim : claims) resource->claims_.push_back(parse_fake_claim(claim));
    resources_.push_back(std::move(resource));
  }
  std::vector<std::unique_ptr<resources::Resource>> resources_;
};

TEST_F(ClaimsTest, DifferentFragmentsOfOneFileHaveDifferentOwners) {
  add("a", {"/etc/sysctl.d/90-reconcile.conf line:vm.swappiness", "/etc/fstab fstab:/swapfile"});
  add("b", {"/etc/sysctl.d/90-reconcile.conf line:net.ipv4.ip_forward", "/etc/fstab fstab:/srv"});
  add("c", {"/etc/timezone", "/etc/nft.conf block:fw"});
  add("d", {"/etc/nft.conf block:extra"});
  EXPECT_TRUE(check_claims(resources_).empty());
}

TEST_F(ClaimsTest, TwoOwnersOfOneKeyedLineNameBothPlaces) {
  add("a", {"/etc/sysctl.d/90-reconcile.conf line:vm.swappiness"});
  add("b", {"/etc/sysctl.d/90-reconcile.conf line:vm.swappiness"});
  const auto errors = check_claims(resources_);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].code, resources::ErrorCode::kConflict);
  EXPECT_EQ(errors[0].str(),
            "state.yaml:3:5: fakes[1]: fake:b here and fake:a at state.yaml:2:5 (fakes[0]) claim "
            "/etc/sysctl.d/90-reconcile.conf: the same keyed line 'vm.swappiness' (give each fragment of a file one "
            "owner)");
}

TEST_F(ClaimsTest, TheWholeFileExcludesEveryPartInEitherOrder) {
  add("a", {"/etc/fstab"});
  add("b", {"/etc/fstab fstab:/swapfile"});
  add("c", {"/etc/hosts block:x"});
  add("d", {"/etc/hosts"});
  const auto errors = check_claims(resources_);
  ASSERT_EQ(errors.size(), 2u);
  EXPECT_EQ(errors[0].message,
            "fake:b here and fake:a at state.yaml:2:5 (fakes[0]) claim /etc/fstab: the whole file against fstab "
            "record '/swapfile'");
  EXPECT_EQ(errors[1].message,
            "fake:d here and fake:c at state.yaml:4:5 (fakes[2]) claim /etc/hosts: the whole file against marked "
            "block 'x'");
}

TEST_F(ClaimsTest, OneFileHasOneFormat) {
  add("a", {"/etc/x.conf line:k"});
  add("b", {"/etc/x.conf block:k"});
  const auto errors = check_claims(resources_);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_NE(errors[0].message.find("keyed lines against marked blocks in one file"), std::string::npos)
      << errors[0].message;
}

TEST_F(ClaimsTest, AResourceMayClaimAWholeFileAndItsOwnParts) {
  add("a", {"/etc/localtime", "/etc/timezone", "/etc/timezone"});
  add("b", {"/etc/x.conf line:k", "/etc/x.conf line:k"});
  EXPECT_TRUE(check_claims(resources_).empty());
}

TEST_F(ClaimsTest, OnePairIsReportedOncePerFile) {
  add("a", {"/etc/x.conf line:k1", "/etc/x.conf line:k2"});
  add("b", {"/etc/x.conf line:k1", "/etc/x.conf line:k2", "/etc/y.conf"});
  add("c", {"/etc/y.conf"});
  const auto errors = check_claims(resources_);
  ASSERT_EQ(errors.size(), 2u);
  EXPECT_EQ(errors[0].key_path, "fakes[1]");
  EXPECT_EQ(errors[1].key_path, "fakes[2]");
  EXPECT_NE(errors[1].message.find("fake:c here and fake:b at state.yaml:3:5 (fakes[1]) claim /etc/y.conf"),
            std::string::npos)
      << errors[1].message;
}

}  // namespace
}  // namespace reconcile::engine
