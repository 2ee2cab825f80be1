#pragma once
// The state compiled into a graph of resources.

#include <boost/graph/adjacency_list.hpp>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "engine/registry.h"
#include "resources/node.h"
#include "resources/resource.h"

namespace reconcile::engine {

/// An edge u → v means: u converges before v (v requires u, by `requires:` or automatically).
using Graph = boost::adjacency_list<boost::vecS, boost::vecS, boost::bidirectionalS>;

/// Why an edge exists, for cycle reports and the DOT output.
struct EdgeOrigin {
  bool automatic = false;
  resources::Location location;  // where `requires:` named it (or where the dependent is, if automatic)
  bool order_only = false;       // only an order (what runs last): a failure before it does not skip it
};

/// Resources as vertices (vertex i is resources[i]) with dependency edges.
class ResourceGraph {
 public:
  std::vector<std::unique_ptr<resources::Resource>> resources;
  Graph graph;
  std::unordered_map<std::string, std::size_t> index;  // id → vertex
  std::map<std::pair<std::size_t, std::size_t>, EdgeOrigin> edges;

  std::size_t size() const { return resources.size(); }
  /// Adds a resource after compiling (from Provider::expand), with edges from the managed
  /// resources it requires; returns false (and adds nothing) when its id is already managed.
  bool add(std::unique_ptr<resources::Resource> resource);
  /// The vertices v must wait for.
  std::vector<std::size_t> requirements(std::size_t v) const;
  /// The vertices that wait for v.
  std::vector<std::size_t> dependents(std::size_t v) const;
  /// A dependency order (stable: file order among independent resources).
  std::vector<std::size_t> order() const;
  /// Graphviz DOT.
  std::string dot() const;
};

/// A compiled state, or every error found compiling it.
struct Compiled {
  ResourceGraph graph;
  std::map<std::string, resources::Node> sections;  // settings sections present in the state, by key
  std::vector<resources::Error> errors;
};

/// Compiles the loaded state: each top-level key through its kind, then duplicates, file claims, edges, cycles.
Compiled compile(const resources::Node& root, const Registry& registry);

}  // namespace reconcile::engine
