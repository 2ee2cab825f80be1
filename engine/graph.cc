#include "engine/graph.h"

#include <algorithm>
#include <functional>

#include "engine/claims.h"

namespace reconcile::engine {

using resources::Error;
using resources::ErrorCode;

std::vector<std::size_t> ResourceGraph::requirements(std::size_t v) const {
  std::vector<std::size_t> out;
  for (auto [it, end] = boost::in_edges(v, graph); it != end; ++it) out.push_back(boost::source(*it, graph));
  return out;
}

std::vector<std::size_t> ResourceGraph::dependents(std::size_t v) const {
  std::vector<std::size_t> out;
  for (auto [it, end] = boost::out_edges(v, graph); it != end; ++it) out.push_back(boost::target(*it, graph));
  return out;
}

std::vector<std::size_t> ResourceGraph::order() const {
  std::vector<std::size_t> pending(size());
  for (std::size_t v = 0; v < size(); ++v) pending[v] = boost::in_degree(v, graph);
  std::vector<std::size_t> out;
  out.reserve(size());
  // Kahn's algorithm with the smallest ready vertex first keeps file order among equals.
  std::vector<std::size_t> ready;
  for (std::size_t v = 0; v < size(); ++v) {
    if (pending[v] == 0) ready.push_back(v);
  }
  std::make_heap(ready.begin(), ready.end(), std::greater<>());
  while (!ready.empty()) {
    std::pop_heap(ready.begin(), ready.end(), std::greater<>());
    const std::size_t v = ready.back();
    ready.pop_back();
    out.push_back(v);
    for (auto [it, end] = boost::out_edges(v, graph); it != end; ++it) {
      const std::size_t w = boost::target(*it, graph);
      if (--pending[w] == 0) {
        ready.push_back(w);
        std::push_heap(ready.begin(), ready.end(), std::greater<>());
      }
    }
  }
  return out;
}

bool ResourceGraph::add(std::unique_ptr<resources::Resource> resource) {
  if (index.contains(resource->id())) return false;
  const std::size_t v = resources.size();
  index.emplace(resource->id(), v);
  boost::add_vertex(graph);
  auto link = [&](const std::string& id, EdgeOrigin origin) {
    const auto target = index.find(id);
    if (target == index.end() || target->second == v || edges.contains({target->second, v})) return;
    edges.emplace(std::make_pair(target->second, v), std::move(origin));
    boost::add_edge(target->second, v, graph);
  };
  for (const auto& requirement : resource->requirements()) link(requirement.id, EdgeOrigin{false, requirement.location});
  for (const auto& wanted : resource->auto_requires()) link(wanted, EdgeOrigin{true, resource->location()});
  for (const auto& before : resource->auto_before()) {
    const auto target = index.find(before);
    if (target == index.end() || target->second == v || edges.contains({v, target->second})) continue;
    edges.emplace(std::make_pair(v, target->second), EdgeOrigin{true, resource->location()});
    boost::add_edge(v, target->second, graph);
  }
  if (!resource->runs_last()) {
    for (std::size_t last = 0; last < resources.size(); ++last) {
      if (resources[last]->runs_last() && !edges.contains({v, last})) {
        edges.emplace(std::make_pair(v, last), EdgeOrigin{true, resources[last]->location(), true});
        boost::add_edge(v, last, graph);
      }
    }
  }
  resources.push_back(std::move(resource));
  return true;
}

namespace {

std::string dot_quote(const std::string& text) {
  std::string out = "\"";
  for (const char c : text) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

class Compiler : public resources::CompileContext {
 public:
  explicit Compiler(std::vector<Error>& errors) : reader_(errors) {}
  void add(std::unique_ptr<resources::Resource> resource) override { added_.push_back(std::move(resource)); }
  resources::NodeReader& reader() override { return reader_; }
  std::vector<std::unique_ptr<resources::Resource>>& added() { return added_; }

 private:
  resources::NodeReader reader_;
  std::vector<std::unique_ptr<resources::Resource>> added_;
};

std::string describe_fields(const std::vector<resources::Field>& fields) {
  std::string out;
  for (const auto& field : fields) out += (out.empty() ? "" : ", ") + field.name + "=" + field.value;
  return out;
}

// Finds a cycle with a depth-first search and reports it as a path, each hop with its location.
void report_cycles(const ResourceGraph& g, std::vector<Error>& errors) {
  enum class Color { kWhite, kGrey, kBlack };
  std::vector<Color> color(g.size(), Color::kWhite);
  std::vector<std::size_t> stack;
  std::function<bool(std::size_t)> visit = [&](std::size_t v) -> bool {
    color[v] = Color::kGrey;
    stack.push_back(v);
    for (const std::size_t w : g.dependents(v)) {
      if (color[w] == Color::kGrey) {
        auto from = std::find(stack.begin(), stack.end(), w);
        std::vector<std::size_t> cycle(from, stack.end());
        cycle.push_back(w);
        std::string path;
        for (const std::size_t hop : cycle) path += (path.empty() ? "" : " -> ") + g.resources[hop]->id();
        std::string hops;
        for (std::size_t i = 0; i + 1 < cycle.size(); ++i) {
          const auto& origin = g.edges.at({cycle[i], cycle[i + 1]});
          hops += "\n    " + g.resources[cycle[i + 1]]->id() + " requires " + g.resources[cycle[i]]->id() +
                  (origin.automatic ? " (automatic)" : "") + " at " + origin.location.str();
        }
        const auto& first = g.resources[cycle[1]];
        errors.push_back(Error{ErrorCode::kCycle, "dependency cycle: " + path + hops,
                               g.edges.at({cycle[0], cycle[1]}).location, first->key_path(),
                               "remove one of these requires"});
        return true;
      }
      if (color[w] == Color::kWhite && visit(w)) return true;
    }
    stack.pop_back();
    color[v] = Color::kBlack;
    return false;
  };
  for (std::size_t v = 0; v < g.size(); ++v) {
    if (color[v] == Color::kWhite && visit(v)) return;  // one cycle at a time is enough to act on
  }
}

// A notification orders its target after the notifier (the restart comes after the file is written); a target
// the state does not manage, or one that cannot act on a notification, is an input error like an unknown requires.
void link_notifications(ResourceGraph& g, const std::vector<std::string>& ids, std::vector<Error>& errors) {
  for (std::size_t v = 0; v < g.resources.size(); ++v) {
    for (const auto& notification : g.resources[v]->notifies()) {
      const auto target = g.index.find(notification.id);
      if (target == g.index.end()) {
        std::string hint = resources::did_you_mean(notification.id, ids);
        if (hint.empty()) hint = "notify may name only services this state manages (services.enabled)";
        errors.push_back(Error{ErrorCode::kUnknownTarget,
                               "notifies '" + notification.id + "', which this state does not manage",
                               notification.location, notification.key_path, hint});
        continue;
      }
      if (!g.resources[target->second]->notifiable()) {
        errors.push_back(Error{ErrorCode::kInvalidValue, notification.id + " cannot act on a notification",
                               notification.location, notification.key_path, "notify names services"});
        continue;
      }
      if (target->second == v || g.edges.contains({v, target->second})) continue;
      g.edges.emplace(std::make_pair(v, target->second), EdgeOrigin{false, notification.location});
      boost::add_edge(v, target->second, g.graph);
    }
  }
}

}  // namespace

std::string ResourceGraph::dot() const {
  std::string out = "digraph reconcile {\n  rankdir=LR;\n  node [shape=box];\n";
  for (const auto& resource : resources) {
    out += "  " + dot_quote(resource->id()) + " [tooltip=" + dot_quote(resource->location().str()) + "];\n";
  }
  for (const auto& [edge, origin] : edges) {
    out += "  " + dot_quote(resources[edge.first]->id()) + " -> " + dot_quote(resources[edge.second]->id());
    if (origin.automatic) out += " [style=dashed]";
    out += ";\n";
  }
  return out + "}\n";
}

Compiled compile(const resources::Node& root, const Registry& registry) {
  Compiled compiled;
  auto& errors = compiled.errors;
  Compiler compiler(errors);
  std::vector<std::string> keys;  // what a misspelt key may mean: only kinds that work, never the planned ones
  for (const auto& [key, spec] : registry.kinds()) keys.push_back(key);
  for (const auto& [key, spec] : registry.sections()) keys.push_back(key);
  for (const auto& entry : root.entries) {
    if (const auto* spec = registry.kind(entry.key)) {
      spec->compile(entry.value, compiler);
      continue;
    }
    if (const auto* section = registry.section(entry.key)) {
      if (section->validate) section->validate(entry.value, compiler.reader());
      compiled.sections.insert_or_assign(entry.key, entry.value);
      continue;
    }
    const auto planned = registry.planned_keys().find(entry.key);
    if (planned != registry.planned_keys().end()) {
      std::string supported;
      for (const auto& [key, spec] : registry.kinds()) supported += (supported.empty() ? "" : ", ") + key;
      errors.push_back(Error{ErrorCode::kUnsupported,
                             "'" + entry.key + "' (" + planned->second + ") is not supported yet by this version",
                             entry.key_location, entry.key, "remove it for now; supported keys: " + supported});
      continue;
    }
    std::string hint = resources::did_you_mean(entry.key, keys);
    if (hint.empty()) {
      hint = "top-level keys are: ";
      for (std::size_t i = 0; i < keys.size(); ++i) hint += (i ? ", " : "") + keys[i];
    }
    const std::string shown = entry.key.size() > 60 ? entry.key.substr(0, 60) + "…" : entry.key;
    errors.push_back(Error{ErrorCode::kUnknownKey, "unknown top-level key '" + shown + "'", entry.key_location,
                           shown, hint});
  }

  // Settle duplicates: the same desired state twice is one resource, required by what either entry
  // requires (each requirement keeps the place that named it); different desired states contradict.
  auto& g = compiled.graph;
  for (auto& resource : compiler.added()) {
    const auto found = g.index.find(resource->id());
    if (found != g.index.end()) {
      auto& first = *g.resources[found->second];
      const std::string wanted = describe_fields(resource->desired_fields());
      const std::string first_wanted = describe_fields(first.desired_fields());
      if (wanted != first_wanted || resource->provider_hint() != first.provider_hint() ||
          resource->auto_requires() != first.auto_requires()) {
        const bool fields_differ = wanted != first_wanted;
        errors.push_back(Error{ErrorCode::kConflict,
                               resource->id() + " is wanted " +
                                   (fields_differ ? "as " + wanted + " here and as " + first_wanted
                                                  : "here with other settings than") +
                                   " at " + first.location().str() + " (" + first.key_path() + ")",
                               resource->location(), resource->key_path(), "keep one of the two"});
        continue;
      }
      for (const auto& requirement : resource->requirements()) first.add_requirement(requirement);
      continue;
    }
    g.index.emplace(resource->id(), g.resources.size());
    g.resources.push_back(std::move(resource));
  }
  g.graph = Graph(g.resources.size());
  // Every file fragment has one owner: two resources writing one line is an input error, not a race.
  for (auto& error : check_claims(g.resources)) errors.push_back(std::move(error));

  std::vector<std::string> ids;
  ids.reserve(g.index.size());
  for (const auto& [id, v] : g.index) ids.push_back(id);
  auto add_edge = [&](std::size_t from, std::size_t to, EdgeOrigin origin) {
    if (from == to || g.edges.contains({from, to})) return;
    g.edges.emplace(std::make_pair(from, to), std::move(origin));
    boost::add_edge(from, to, g.graph);
  };
  for (std::size_t v = 0; v < g.resources.size(); ++v) {
    const auto& resource = *g.resources[v];
    for (const auto& requirement : resource.requirements()) {
      const auto target = g.index.find(requirement.id);
      if (target == g.index.end()) {
        std::string hint = resources::did_you_mean(requirement.id, ids);
        if (hint.empty()) hint = "requires may name only resources this state manages";
        errors.push_back(Error{ErrorCode::kUnknownTarget,
                               "requires '" + requirement.id + "', which this state does not manage",
                               requirement.location, requirement.key_path, hint});
        continue;
      }
      if (target->second == v) {
        errors.push_back(Error{ErrorCode::kCycle, resource.id() + " requires itself", requirement.location,
                               requirement.key_path, "remove this requires"});
        continue;
      }
      add_edge(target->second, v, EdgeOrigin{false, requirement.location});
    }
    for (const auto& wanted : resource.auto_requires()) {
      const auto target = g.index.find(wanted);
      if (target != g.index.end()) add_edge(target->second, v, EdgeOrigin{true, resource.location()});
    }
    for (const auto& before : resource.auto_before()) {
      const auto target = g.index.find(before);
      if (target != g.index.end()) add_edge(v, target->second, EdgeOrigin{true, resource.location()});
    }
  }
  link_notifications(g, ids, errors);
  if (const auto vars = compiled.sections.find("vars"); vars != compiled.sections.end()) {
    const auto shared = std::make_shared<const resources::Node>(vars->second);
    for (auto& resource : g.resources) resource->use_vars(shared);
  }
  // What runs last (scripts) converges after everything else, each in file order among its own.
  std::vector<std::size_t> last;
  for (std::size_t v = 0; v < g.resources.size(); ++v) {
    if (g.resources[v]->runs_last()) last.push_back(v);
  }
  for (const std::size_t l : last) {
    for (std::size_t v = 0; v < g.resources.size(); ++v) {
      if (!g.resources[v]->runs_last()) add_edge(v, l, EdgeOrigin{true, g.resources[l]->location(), true});
    }
  }
  report_cycles(g, errors);
  return compiled;
}

}  // namespace reconcile::engine
