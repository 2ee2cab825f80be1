// Properties of the loader, the layering and the compiler on random states (rapidcheck, in memory):
// YAML and JSON read a state to the same values; layering is associative and idempotent; a valid state
// compiles without errors; any tree of values, valid or not, compiles without a crash and every error
// says where it is.

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include "builtin/builtin.h"
#include "engine/graph.h"
#include "engine/loader.h"
#include "tests/property/state_gen.h"

namespace reconcile::testing::prop {
namespace {

using resources::Node;

/// The values of a tree without their locations (scalar text, lists, mappings in order).
json values(const Node& n) {
  switch (n.type) {
    case Node::Type::kNull: return nullptr;
    case Node::Type::kScalar: return n.scalar;
    case Node::Type::kSequence: {
      json out = json::array();
      for (const auto& x : n.items) out.push_back(values(x));
      return out;
    }
    case Node::Type::kMap: {
      json out = json::array();
      for (const auto& e : n.entries) out.push_back(json::array({e.key, values(e.value)}));
      return out;
    }
  }
  return nullptr;
}

Node parse(const std::string& name, const std::string& text) {
  std::vector<resources::Error> errors;
  Node root = engine::parse_text(name, text, errors);
  RC_ASSERT(errors.empty());
  return root;
}

const engine::Registry& registry() {
  static const engine::Registry r = builtin::registry();
  return r;
}

RC_GTEST_PROP(StateProperties, YamlAndJsonReadTheSameValues, ()) {
  const json state = *state_gen();
  const Node from_json = parse("state.json", state.dump(2));
  const Node from_yaml = parse("state.yaml", yaml_text(state));
  RC_ASSERT(values(from_json) == values(from_yaml));
}

RC_GTEST_PROP(StateProperties, ValidStatesCompileWithoutErrors, ()) {
  const json state = *state_gen();
  const engine::Compiled compiled = engine::compile(parse("state.yaml", yaml_text(state)), registry());
  for (const auto& e : compiled.errors) RC_LOG() << e.str() << "\n";
  RC_ASSERT(compiled.errors.empty());
}

RC_GTEST_PROP(StateProperties, LayeringIsAssociativeAndIdempotent, ()) {
  const Node a = parse("a.yaml", yaml_text(*state_gen()));
  const Node b = parse("b.yaml", yaml_text(*state_gen()));
  const Node c = parse("c.yaml", yaml_text(*state_gen()));
  Node left = a;  // (a + b) + c
  engine::merge_into(left, b);
  engine::merge_into(left, c);
  Node bc = b;    // a + (b + c)
  engine::merge_into(bc, c);
  Node right = a;
  engine::merge_into(right, bc);
  RC_ASSERT(values(left) == values(right));
  Node twice = left;  // layering the last file again changes nothing
  engine::merge_into(twice, c);
  RC_ASSERT(values(twice) == values(left));
}

/// Any JSON value built from the kinds' own keys and junk: the compiler must judge it, never crash.
rc::Gen<json> junk_value(int depth) {
  auto scalar = rc::gen::oneOf(rc::gen::map(rc::gen::inRange(-5, 70000), [](int i) { return json(i); }),
                               rc::gen::map(rc::gen::arbitrary<bool>(), [](bool b) { return json(b); }),
                               rc::gen::just(json(nullptr)),
                               rc::gen::map(rc::gen::elementOf(std::vector<std::string>{
                                                "", "hello", "/etc", "../x", "Etc/UTC", "cron", "name", "present",
                                                "absent", "10", "1G", "bad name", "root", "/bin/bash"}),
                                            [](std::string s) { return json(s); }));
  if (depth <= 0) return scalar;
  static const std::vector<std::string> keys{"name",    "present", "absent", "enabled", "disabled", "masked",
                                             "locked",  "shell",   "home",   "groups",  "keys",     "preset",
                                             "file",    "size_mb", "purge",  "version", "latest",   "upgrade",
                                             "package", "requires", "start_on_install", "x"};
  return rc::gen::oneOf(
      scalar,
      rc::gen::map(rc::gen::container<std::vector<json>>(rc::gen::scale(0.2, junk_value(depth - 1))),
                   [](std::vector<json> v) { return json(v); }),
      rc::gen::map(rc::gen::container<std::vector<std::pair<std::string, json>>>(
                       rc::gen::scale(0.2, rc::gen::pair(rc::gen::elementOf(keys), junk_value(depth - 1)))),
                   [](std::vector<std::pair<std::string, json>> v) {
                     json o = json::object();
                     for (auto& [k, x] : v) o[k] = x;
                     return o;
                   }));
}

RC_GTEST_PROP(StateProperties, AnyTreeCompilesAndEveryErrorHasALocation, ()) {
  json state = json::object();
  for (const auto& [key, gen] : kKindGens) {
    if (*rc::gen::arbitrary<bool>()) state[key] = *rc::gen::oneOf(gen(), junk_value(3));
  }
  if (*rc::gen::arbitrary<bool>()) state[*rc::gen::elementOf(std::vector<std::string>{"pakages", "x", "user"})] = 1;
  const engine::Compiled compiled = engine::compile(parse("state.json", state.dump()), registry());
  for (const auto& e : compiled.errors) {
    RC_LOG() << e.str() << "\n";
    RC_ASSERT(!e.message.empty());
    RC_ASSERT(e.location.known());
  }
}

}  // namespace
}  // namespace reconcile::testing::prop
