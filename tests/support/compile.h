#pragma once
// Inline YAML through the real loader and compiler, for tests of kinds and of the engine.

#include <gtest/gtest.h>

#include <string>

#include "builtin/builtin.h"
#include "engine/graph.h"
#include "engine/loader.h"
#include "engine/registry.h"

namespace reconcile::testing {

/// Parses `text` as the file "state.yaml" (expecting no syntax error) and compiles it.
inline engine::Compiled compile_yaml(const std::string& text,
                                     const engine::Registry& registry = builtin::registry()) {
  std::vector<resources::Error> errors;
  resources::Node root = engine::parse_text("state.yaml", text, errors);
  EXPECT_TRUE(errors.empty()) << (errors.empty() ? "" : errors[0].str());
  return engine::compile(root, registry);
}

}  // namespace reconcile::testing
