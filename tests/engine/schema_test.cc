// Keeps schema/state.schema.json, the loader and examples/ in step.

#include <gtest/gtest.h>

#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <map>
#include <set>

#include "builtin/builtin.h"
#include "engine/graph.h"
#include "engine/loader.h"
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

using nlohmann::json;

// The schema `s` stands for, following $ref into $defs.
const json& resolve(const json& schema, const json& s) {
  const json* at = &s;
  const std::string prefix = "#/$defs/";
  while (at->contains("$ref")) at = &schema["$defs"][(*at)["$ref"].get<std::string>().substr(prefix.size())];
  return *at;
}

// The smallest value of `s` worth compiling: its constant, first choice or example, else an empty one.
json minimal(const json& schema, const json& s_in);

// An object of schema `s` with every required key but `except`.
json minimal_object(const json& schema, const json& s, const std::string& except = "") {
  json out = json::object();
  for (const auto& key : s.value("required", json::array())) {
    if (key != except) out[key.get<std::string>()] = minimal(schema, s["properties"][key.get<std::string>()]);
  }
  return out;
}

json minimal(const json& schema, const json& s_in) {
  const json& s = resolve(schema, s_in);
  if (s.contains("const")) return s["const"];
  if (s.contains("enum")) return s["enum"][0];
  if (s.contains("examples")) return s["examples"][0];
  if (s.contains("oneOf")) return minimal(schema, s["oneOf"][0]);
  const json& types = s.contains("type") ? s["type"] : json("string");
  const std::string type = types.is_array() ? types[0].get<std::string>() : types.get<std::string>();
  if (type == "boolean") return false;
  if (type == "integer") return s.value("minimum", 0);
  if (type == "null") return nullptr;
  if (type == "array") return json::array();
  if (type == "object") return minimal_object(schema, s);
  return "x";
}

// A value of every form `s` allows: each choice of a oneOf, a list empty and with an item of each form.
std::vector<json> samples(const json& schema, const json& s_in) {
  const json& s = resolve(schema, s_in);
  std::vector<json> out;
  for (const char* choice : {"oneOf", "anyOf"}) {
    if (!s.contains(choice)) continue;
    for (const auto& branch : s[choice]) {
      for (auto& sample : samples(schema, branch)) out.push_back(std::move(sample));
    }
  }
  if (!out.empty()) return out;
  if (s.contains("type") && s["type"].is_array()) {
    for (const auto& type : s["type"]) {
      json one = s;
      one["type"] = type;
      out.push_back(type == "null" ? json(nullptr) : minimal(schema, one));
    }
    return out;
  }
  if (s.contains("items")) {
    if (s.value("minItems", 0) == 0) out.push_back(json::array());
    for (auto& item : samples(schema, s["items"])) out.push_back(json::array({std::move(item)}));
    return out;
  }
  return {minimal(schema, s)};
}

// One object of the schema where keys are written, at any depth, and how to make a whole state
// document with a given value in its place.
struct Level {
  std::string path;  // e.g. "packages.present[]"
  const json* object;
  std::function<json(json)> wrap;
};

void collect(const json& schema, const json& s_in, const std::string& path, const std::function<json(json)>& wrap,
             std::vector<Level>& out) {
  const json& s = resolve(schema, s_in);
  for (const char* choice : {"oneOf", "anyOf"}) {
    if (!s.contains(choice)) continue;
    for (const auto& branch : s[choice]) collect(schema, branch, path, wrap, out);  // not value(): a copy
  }
  if (s.contains("items")) {
    collect(schema, s["items"], path + "[]", [wrap](json value) { return wrap(json::array({std::move(value)})); }, out);
  }
  if (!s.contains("properties")) return;
  out.push_back(Level{path, &s, wrap});
  for (const auto& [key, child] : s["properties"].items()) {
    const std::string name = key;
    auto inside = [&schema, &s, wrap, name](json value) {
      json object = minimal_object(schema, s, name);
      object[name] = std::move(value);
      return wrap(std::move(object));
    };
    collect(schema, child, path.empty() ? name : path + "." + name, inside, out);
  }
}

std::vector<Level> levels(const json& schema) {
  std::vector<Level> out;
  collect(schema, schema, "", [](json value) { return value; }, out);
  return out;
}

// A document through the real loader and compiler.
std::vector<resources::Error> compile_errors(const json& document, const Registry& registry) {
  std::vector<resources::Error> errors;
  const resources::Node root = parse_text("probe.json", document.dump(), errors);
  if (!errors.empty()) return errors;
  return compile(root, registry).errors;
}

// Both ways at once for values: what the schema allows, in each of its forms, compiles without an error
// (but that `requires` names a resource the probe does not manage).
TEST(SchemaTest, EveryKeyTheSchemaDeclaresAtAnyDepthCompilesInEachOfItsForms) {
  const auto schema = read_schema();
  const Registry registry = builtin::registry();
  int checked = 0;
  for (const auto& level : levels(schema)) {
    for (const auto& [key, child] : (*level.object)["properties"].items()) {
      for (auto& sample : samples(schema, child)) {
        json object = minimal_object(schema, *level.object, key);
        object[key] = std::move(sample);
        const json document = level.wrap(object);
        for (const auto& error : compile_errors(document, registry)) {
          if (error.code == resources::ErrorCode::kUnknownTarget) continue;
          ADD_FAILURE() << (level.path.empty() ? key : level.path + "." + key) << " is in the schema, but "
                        << error.str() << "\n  document: " << document.dump();
        }
        ++checked;
      }
    }
  }
  EXPECT_GT(checked, 60);
}

TEST(SchemaTest, AtEveryDepthTheCompilerAcceptsExactlyTheKeysTheSchemaDeclares) {
  const auto schema = read_schema();
  const Registry registry = builtin::registry();
  const std::string unknown = "zzzzzzzzzzzzzzzzzzzz";
  int checked = 0;
  // The branches of a oneOf at one place (swap: a size, or off) together declare what the compiler accepts there.
  std::map<std::string, std::set<std::string>> declared_at;
  for (const auto& level : levels(schema)) {
    for (const auto& [key, child] : (*level.object)["properties"].items()) declared_at[level.path].insert(key);
  }
  for (const auto& level : levels(schema)) {
    const std::string where = level.path.empty() ? "the top level" : level.path;
    EXPECT_EQ(level.object->value("additionalProperties", json(true)), json(false))
        << where << ": the schema must refuse keys it does not declare";
    json object = minimal_object(schema, *level.object);
    object[unknown] = 1;
    const json document = level.wrap(object);
    const std::set<std::string>& declared = declared_at[level.path];
    std::optional<resources::Error> refused;
    for (const auto& error : compile_errors(document, registry)) {
      if (error.code == resources::ErrorCode::kUnknownKey && error.key_path.ends_with(unknown)) refused = error;
    }
    ASSERT_TRUE(refused.has_value()) << where << ": the compiler accepts an undeclared key\n  document: "
                                     << document.dump();
    ++checked;
    if (level.path.empty()) continue;  // top-level keys: the test above (planned keys are named there too)
    const std::string prefix = "allowed keys: ";
    ASSERT_TRUE(refused->hint.starts_with(prefix)) << where << ": " << refused->hint;
    std::set<std::string> accepted;
    std::string rest = refused->hint.substr(prefix.size());
    for (std::size_t start = 0; start <= rest.size();) {
      const std::size_t comma = rest.find(", ", start);
      accepted.insert(rest.substr(start, comma - start));
      if (comma == std::string::npos) break;
      start = comma + 2;
    }
    EXPECT_EQ(accepted, declared) << where << ": the compiler's keys (left) and the schema's (right) differ";
  }
  EXPECT_GT(checked, 12);
}

TEST(SchemaTest, EveryTopLevelKeyOfTheSchemaIsAKindOfTheLoaderAndBack) {
  const auto schema = read_schema();
  std::set<std::string> in_schema;
  for (const auto& [key, value] : schema["properties"].items()) in_schema.insert(key);
  std::set<std::string> in_loader;
  const Registry registry = builtin::registry();
  for (const auto& [key, spec] : registry.kinds()) in_loader.insert(key);
  for (const auto& [key, spec] : registry.sections()) in_loader.insert(key);  // settings sections (daemon:, …)
  EXPECT_EQ(in_schema, in_loader);
  EXPECT_FALSE(schema.value("additionalProperties", true));
}

TEST(SchemaTest, EveryExampleLoadsCompilesAndDryRuns) {
  int seen = 0;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(kSource / "examples")) {
    const auto ext = entry.path().extension();
    if (ext != ".yaml" && ext != ".yml" && ext != ".json") continue;
    ++seen;
    // The real binary, read-only: a dry run of every example on this machine changes nothing (and delivers
    // its report nowhere: an example's report: section would mail and write reports here).
    providers::Exec exec;
    auto result = exec.run({{RECONCILE_BINARY, "--dry-run", "--no-deliver", "--format=json", entry.path().string()},
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
