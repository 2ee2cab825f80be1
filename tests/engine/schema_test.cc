// Keeps schema/state.schema.json, the loader and examples/ in step.

#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "builtin/builtin.h"
#include "engine/registry.h"
#include "engine/run.h"
#include "providers/exec.h"

namespace reconcile::engine {
namespace {

const std::filesystem::path kSource = RECONCILE_SOURCE_DIR;

nlohmann::json read_schema() {
  std::ifstream in(kSource / "schema/state.schema.json");
  return nlohmann::json::parse(in);
}

TEST(SchemaTest, EveryTopLevelKeyOfTheSchemaIsAKindOfTheLoaderAndBack) {
  const auto schema = read_schema();
  std::set<std::string> in_schema;
  for (const auto& [key, value] : schema["properties"].items()) in_schema.insert(key);
  std::set<std::string> in_loader;
  const Registry registry = builtin::registry();
  for (const auto& [key, spec] : registry.kinds()) in_loader.insert(key);
  EXPECT_EQ(in_schema, in_loader);
  EXPECT_FALSE(schema.value("additionalProperties", true));
}

TEST(SchemaTest, EveryExampleLoadsCompilesAndDryRuns) {
  int seen = 0;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(kSource / "examples")) {
    const auto ext = entry.path().extension();
    if (ext != ".yaml" && ext != ".yml" && ext != ".json") continue;
    ++seen;
    // The real binary, read-only: a dry run of every example on this machine changes nothing.
    providers::Exec exec;
    auto result = exec.run({{RECONCILE_BINARY, "--dry-run", "--format=json", entry.path().string()},
                            {"NO_COLOR=1"}, "", std::chrono::seconds(120)});
    ASSERT_FALSE(result.out.empty()) << entry.path() << result.err;
    const auto report = nlohmann::json::parse(result.out);
    EXPECT_TRUE(report["errors"].empty()) << entry.path() << ": " << report["errors"].dump(2);
    EXPECT_NE(result.exit_status, 1) << entry.path() << result.err;
    EXPECT_EQ(report["mode"], "dry-run");
  }
  EXPECT_GT(seen, 0);
}

}  // namespace
}  // namespace reconcile::engine
