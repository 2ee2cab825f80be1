#pragma once
// How a top-level key of the state file turns into resources. Each kind registers one KindSpec;
// the compiler looks keys up in the registry, so a new kind plugs in without a central switch.

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "resources/node.h"
#include "resources/resource.h"

namespace reconcile::resources {

/// Where a kind's compile function sends what it builds.
class CompileContext {
 public:
  virtual ~CompileContext() = default;
  /// Adds a resource; duplicates and contradictions are settled by the compiler.
  virtual void add(std::unique_ptr<Resource> resource) = 0;
  /// Collects input errors; the run stops before observing anything if there are any.
  virtual NodeReader& reader() = 0;
  /// Reads an entry's `requires:` list into the resource.
  void read_requires(const Node& entry_map, Resource& resource);
};

/// A top-level key of the state file and how it compiles.
struct KindSpec {
  std::string key;      // top-level key, e.g. "timezone"
  std::function<void(const Node& value, CompileContext& context)> compile;
};

/// A top-level key that holds settings of the run rather than resources (`daemon:`, `report:`): validated with
/// the rest of the state (errors stop the run like any input error), then handed as its node to whoever reads it
/// (`Compiled::sections`), so a setting lives in the same layered, located tree as everything else.
struct SectionSpec {
  std::string key;
  std::string summary;
  std::function<void(const Node& value, NodeReader& reader)> validate;
};

}  // namespace reconcile::resources
