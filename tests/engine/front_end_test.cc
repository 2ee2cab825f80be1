#include "builtin/builtin.h"
#include "engine/front_end.h"

#include <gtest/gtest.h>

#include "engine/graph.h"
#include "engine/loader.h"
#include "engine/node_paths.h"

namespace reconcile::engine {
namespace {

using resources::ErrorCode;
using resources::Node;

TEST(FrontEndTest, ContentDecidesJsonByItsFirstCharacterAfterBomAndWhiteSpace) {
  EXPECT_EQ(&detect_front_end("{\"timezone\": \"Etc/UTC\"}"), &json_front_end());
  EXPECT_EQ(&detect_front_end("[1]"), &json_front_end());
  EXPECT_EQ(&detect_front_end("\xEF\xBB\xBF{}"), &json_front_end());
  EXPECT_EQ(&detect_front_end(" \t\r\n\r\n  {}"), &json_front_end());
  EXPECT_EQ(&detect_front_end("timezone: Etc/UTC\n"), &yaml_front_end());
  EXPECT_EQ(&detect_front_end("# {not json}\n{}"), &yaml_front_end());
  EXPECT_EQ(&detect_front_end("- {a: 1}"), &yaml_front_end());
  EXPECT_EQ(&detect_front_end(""), &yaml_front_end());
  EXPECT_EQ(front_end_named("json"), &json_front_end());
  EXPECT_EQ(front_end_named("yaml"), &yaml_front_end());
  EXPECT_EQ(front_end_named("toml"), nullptr);
  EXPECT_EQ(front_end_names(), "laitos, json, yaml");
}

TEST(FrontEndTest, AJsonNameWithYamlContentIsReadAsYaml) {
  std::vector<resources::Error> errors;
  const Node root = parse_text("s.json", "timezone: Etc/UTC\r\npackages: {lock_wait: 5}\r\n", errors);
  ASSERT_TRUE(errors.empty()) << errors[0].str();
  EXPECT_EQ(root.find("timezone")->scalar, "Etc/UTC");
  EXPECT_EQ(root.find("packages")->find("lock_wait")->tag, Node::Tag::kPlain);  // YAML's, not JSON's kNumber
  EXPECT_EQ(root.find("packages")->location.line, 2);
}

TEST(FrontEndTest, AYamlNameWithJsonContentIsReadAsJsonThroughBomAndCrlf) {
  std::vector<resources::Error> errors;
  const Node root =
      parse_text("s.yaml", "\xEF\xBB\xBF\r\n  {\"timezone\": \"Etc/UTC\",\r\n   \"packages\": {\"lock_wait\": 5}}\r\n",
                 errors);
  ASSERT_TRUE(errors.empty()) << errors[0].str();
  EXPECT_EQ(root.find("packages")->find("lock_wait")->tag, Node::Tag::kNumber);
  EXPECT_EQ(root.find("timezone")->location.line, 2);
  EXPECT_EQ(root.find("timezone")->location.column, 16);
  EXPECT_EQ(root.entries[1].key_location.line, 3);
}

TEST(FrontEndTest, AnExplicitFormatOverridesTheContent) {
  std::vector<resources::Error> errors;
  const Node root = parse_text("s.json", "{\"packages\": {\"lock_wait\": 5}}", errors, {}, &yaml_front_end());
  ASSERT_TRUE(errors.empty()) << errors[0].str();
  EXPECT_EQ(root.find("packages")->find("lock_wait")->tag, Node::Tag::kPlain);
  parse_text("s.yaml", "timezone: Etc/UTC\n", errors, {}, &json_front_end());
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].code, ErrorCode::kSyntax);
  EXPECT_NE(errors[0].message.find("malformed JSON"), std::string::npos) << errors[0].message;
  EXPECT_EQ(errors[0].hint.find("--input-format"), std::string::npos) << errors[0].hint;  // it was asked for
}

TEST(FrontEndTest, AYamlFlowMappingIsYamlInAYamlFileAndSaysHowToReadItElsewhere) {
  std::vector<resources::Error> errors;
  const Node flow = parse_text("s.yaml", "{timezone: Etc/UTC, packages: {present: [a]}}\n", errors);
  ASSERT_TRUE(errors.empty()) << errors[0].str();
  EXPECT_EQ(flow.find("timezone")->scalar, "Etc/UTC");
  // Not JSON and not YAML: the errors are YAML's, as the name says.
  parse_text("s.yml", "{timezone: [Etc/UTC}\n", errors);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_NE(errors[0].message.find("malformed YAML"), std::string::npos) << errors[0].message;
  errors.clear();
  // Any error of JSON's sends a .yaml file to YAML: a duplicate key is reported in YAML's words, as before.
  parse_text("s.yaml", "{\"a\": 1, \"a\": 2}", errors);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_NE(errors[0].message.find("twice in this mapping"), std::string::npos) << errors[0].message;
  errors.clear();
  parse_text("s.txt", "{\"a\": 1, \"a\": 2}", errors);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_NE(errors[0].message.find("twice in this object"), std::string::npos) << errors[0].message;
  errors.clear();
  parse_text("state", "{timezone: Etc/UTC}\n", errors);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_NE(errors[0].message.find("malformed JSON"), std::string::npos) << errors[0].message;
  EXPECT_NE(errors[0].hint.find("read as JSON because it starts with '{' or '['; give --input-format yaml"),
            std::string::npos)
      << errors[0].hint;
  errors.clear();
  const Node root = parse_text("state", "{timezone: Etc/UTC}\n", errors, {}, &yaml_front_end());
  ASSERT_TRUE(errors.empty()) << errors[0].str();
  EXPECT_EQ(root.find("timezone")->scalar, "Etc/UTC");
  parse_text("s.json", "{timezone: Etc/UTC}\n", errors);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].hint.find("--input-format"), std::string::npos) << errors[0].hint;  // the name says JSON
}

TEST(FrontEndTest, EquivalentYamlAndJsonGiveTheSameResources) {
  const std::string yaml =
      "timezone: Europe/Helsinki\n"
      "packages:\n"
      "  present: [nginx, {name: htop, version: \"3.2.2-2\", requires: [package:nginx]}]\n"
      "  absent: [{name: telnetd, purge: true}]\n"
      "services:\n"
      "  enabled: [{name: nginx, running: false}]\n"
      "users:\n"
      "  present: [{name: deploy, uid: 1500, groups: [sudo], shell: /bin/bash}]\n"
      "  absent: [{name: old, remove_home: true}]\n";
  const std::string json =
      "{\"timezone\": \"Europe/Helsinki\",\n"
      "\"packages\": {\n"
      "  \"present\": [\"nginx\", {\"name\": \"htop\", \"version\": \"3.2.2-2\", \"requires\": [\"package:nginx\"]}],\n"
      "  \"absent\": [{\"name\": \"telnetd\", \"purge\": true}]},\n"
      "\"services\": {\n"
      "  \"enabled\": [{\"name\": \"nginx\", \"running\": false}]},\n"
      "\"users\": {\n"
      "  \"present\": [{\"name\": \"deploy\", \"uid\": 1500, \"groups\": [\"sudo\"], \"shell\": \"/bin/bash\"}],\n"
      "  \"absent\": [{\"name\": \"old\", \"remove_home\": true}]}}\n";
  const Registry registry = builtin::registry();
  auto describe = [&](const std::string& name, const std::string& text) {
    std::vector<resources::Error> errors;
    const Node root = parse_text(name, text, errors);
    EXPECT_TRUE(errors.empty()) << errors[0].str();
    const Compiled compiled = compile(root, registry);
    EXPECT_TRUE(compiled.errors.empty()) << compiled.errors[0].str();
    std::vector<std::string> out;
    for (const auto& resource : compiled.graph.resources) {
      std::string line = resource->id() + " " + resource->key_path() + " line " +
                         std::to_string(resource->location().line) + ":";
      for (const auto& field : resource->desired_fields()) line += " " + field.name + "=" + field.value;
      for (const auto& requirement : resource->requirements()) line += " after " + requirement.id;
      out.push_back(line);
    }
    for (const auto& [edge, origin] : compiled.graph.edges) {
      out.push_back(compiled.graph.resources[edge.first]->id() + " -> " + compiled.graph.resources[edge.second]->id());
    }
    return out;
  };
  const auto from_yaml = describe("s.yaml", yaml);
  EXPECT_EQ(from_yaml.size(), 13u);  // 8 resources (package-repair:interrupted too), 5 edges
  EXPECT_EQ(from_yaml, describe("s.json", json));
  EXPECT_EQ(from_yaml, describe("s.txt", json));  // by content, whatever the name
}

// A foreign format in the shape a laitos front-end will have: a JSON document whose `Maintenance`
// object is translated into native keys, every value still at the foreign file's own line.
class ForeignFrontEnd : public FrontEnd {
 public:
  std::string_view name() const override { return "foreign"; }
  bool recognises(std::string_view text) const override { return text.find("\"Maintenance\"") != std::string::npos; }
  Node read(const std::string& file, std::string_view text, std::vector<resources::Error>& errors,
            const LoadLimits& limits) const override {
    const Node foreign = json_front_end().read(file, text, errors, limits);
    Node native;
    native.type = Node::Type::kMap;
    native.location = foreign.location;
    const Node* maintenance = foreign.find("Maintenance");
    if (maintenance == nullptr) return native;
    for (const auto& entry : maintenance->entries) {
      if (entry.key != "TimeZone") continue;
      native.entries.push_back(resources::MapEntry{"timezone", entry.key_location, entry.value});
      repath(native.entries.back().value, "timezone");
    }
    return native;
  }
  std::string example() const override { return "write {\"Maintenance\": {}}"; }
};

TEST(FrontEndTest, AForeignFrontEndBuildsNativeKeysLocatedInTheForeignFile) {
  const ForeignFrontEnd foreign;
  std::vector<resources::Error> errors;
  const Node root = parse_text("laitos.json", "{\"Maintenance\": {\n  \"TimeZone\": \"Europe/Helsinki\"}}\n", errors,
                               {}, &foreign);
  ASSERT_TRUE(errors.empty()) << errors[0].str();
  const Compiled compiled = compile(root, builtin::registry());
  ASSERT_TRUE(compiled.errors.empty()) << compiled.errors[0].str();
  ASSERT_EQ(compiled.graph.size(), 1u);
  EXPECT_EQ(compiled.graph.resources[0]->id(), "timezone");
  EXPECT_EQ(compiled.graph.resources[0]->location().str(), "laitos.json:2:15");
}

// A front-end that ignores the limits: the loader still holds it to them.
class CarelessFrontEnd : public FrontEnd {
 public:
  explicit CarelessFrontEnd(int depth, int width) : depth_(depth), width_(width) {}
  std::string_view name() const override { return "careless"; }
  bool recognises(std::string_view) const override { return false; }
  Node read(const std::string& file, std::string_view, std::vector<resources::Error>&,
            const LoadLimits&) const override {
    Node root;
    root.type = Node::Type::kMap;
    root.location = {file, 1, 1};
    Node* at = &root;
    for (int i = 0; i < depth_; ++i) {
      at->entries.push_back(resources::MapEntry{"x", {file, 1, 1}, Node{}});
      at = &at->entries.back().value;
      at->type = Node::Type::kMap;
      at->location = {file, i + 2, 1};
    }
    at->type = Node::Type::kSequence;
    at->items.resize(static_cast<std::size_t>(width_));
    return root;
  }
  std::string example() const override { return ""; }

 private:
  int depth_;
  int width_;
};

TEST(FrontEndTest, TheLimitsBindEveryFrontEnd) {
  std::vector<resources::Error> errors;
  const CarelessFrontEnd deep(100, 1);
  parse_text("deep.x", "anything", errors, {}, &deep);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_NE(errors[0].message.find("nested deeper than 64 levels"), std::string::npos) << errors[0].message;
  EXPECT_EQ(errors[0].location.line, 65);
  errors.clear();
  const CarelessFrontEnd wide(1, 2000);
  parse_text("wide.x", "anything", errors, LoadLimits{1u << 20, 64, 1000}, &wide);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_NE(errors[0].message.find("more than 1000 values"), std::string::npos) << errors[0].message;
  errors.clear();
  const CarelessFrontEnd fine(10, 10);
  parse_text("fine.x", "anything", errors, {}, &fine);
  EXPECT_TRUE(errors.empty()) << errors[0].str();
}

}  // namespace
}  // namespace reconcile::engine
