#include "resources/timezone.h"

#include <gtest/gtest.h>

#include "tests/support/compile.h"

#include "engine/graph.h"
#include "engine/loader.h"

namespace reconcile::resources {
namespace {

using testing::compile_yaml;

TEST(TimezoneTest, CompilesScalarAndMappingForms) {
  auto scalar = compile_yaml("timezone: Europe/Helsinki\n");
  ASSERT_TRUE(scalar.errors.empty());
  ASSERT_EQ(scalar.graph.size(), 1u);
  EXPECT_EQ(scalar.graph.resources[0]->id(), "timezone");
  EXPECT_EQ(dynamic_cast<const TimezoneResource&>(*scalar.graph.resources[0]).zone(), "Europe/Helsinki");
  auto mapping = compile_yaml("timezone: {zone: Etc/UTC}\n");
  ASSERT_TRUE(mapping.errors.empty());
  EXPECT_EQ(mapping.graph.resources[0]->key_path(), "timezone.zone");
}

TEST(TimezoneTest, NamesOutsideTheCharsetOrWithDotDotAreRefused) {
  for (const char* bad : {"../../etc/shadow", "Europe/../../x", "/etc/passwd", "Europe/Hel sinki", "Europe//X"}) {
    auto compiled = compile_yaml(std::string("timezone: \"") + bad + "\"\n");
    ASSERT_EQ(compiled.errors.size(), 1u) << bad;
    EXPECT_EQ(compiled.errors[0].code, ErrorCode::kInvalidValue) << bad;
    EXPECT_EQ(compiled.errors[0].key_path, "timezone");
    EXPECT_EQ(compiled.errors[0].location.line, 1);
  }
}

TEST(TimezoneTest, WrongTypesAndUnknownKeysAreExplained) {
  auto number = compile_yaml("timezone: 5\n");
  ASSERT_EQ(number.errors.size(), 1u);
  EXPECT_EQ(number.errors[0].code, ErrorCode::kType);
  EXPECT_EQ(number.errors[0].message, "expected a time zone name such as Europe/Helsinki, got the number 5");
  auto list = compile_yaml("timezone: [Etc/UTC]\n");
  ASSERT_EQ(list.errors.size(), 1u);
  EXPECT_EQ(list.errors[0].message, "expected a time zone name such as Europe/Helsinki, got a list");
  auto typo = compile_yaml("timezone: {zoen: Etc/UTC}\n");
  ASSERT_FALSE(typo.errors.empty());
  EXPECT_EQ(typo.errors[0].code, ErrorCode::kUnknownKey);
  EXPECT_EQ(typo.errors[0].hint, "did you mean 'zone'?");
  EXPECT_EQ(typo.errors[0].key_path, "timezone.zoen");
}

TEST(TimezoneTest, DiffComparesZoneAndTimezoneFile) {
  TimezoneResource desired("Europe/Helsinki", {}, "timezone");
  TimezoneObserved seen;
  seen.zone = "Europe/Helsinki";
  seen.zone_known = true;
  seen.has_timezone_file = true;
  seen.timezone_file = "Europe/Helsinki";
  EXPECT_TRUE(desired.diff(seen).empty());
  seen.timezone_file = "Etc/UTC";
  auto drift = desired.diff(seen);
  ASSERT_EQ(drift.size(), 1u);
  EXPECT_EQ(drift[0].field, "/etc/timezone");
  seen.zone = "Etc/UTC";
  seen.has_timezone_file = false;
  drift = desired.diff(seen);
  ASSERT_EQ(drift.size(), 1u);
  EXPECT_EQ(drift[0].field, "zone");
  EXPECT_EQ(drift[0].observed, "Etc/UTC");
  EXPECT_EQ(drift[0].desired, "Europe/Helsinki");
}

TEST(TimezoneTest, AKeyOfAKindNotBuiltInIsRefusedAsUnsupported) {
  auto compiled = compile_yaml("laitos: {}\n");
  ASSERT_EQ(compiled.errors.size(), 1u);
  EXPECT_EQ(compiled.errors[0].code, ErrorCode::kUnsupported);
  EXPECT_NE(compiled.errors[0].message.find("not supported yet"), std::string::npos);
}

}  // namespace
}  // namespace reconcile::resources
