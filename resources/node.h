#pragma once
// The state file as a tree of values, each knowing the file, line and key path it came from.
// The loader builds it from YAML or JSON; kinds read it to build resources.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "resources/error.h"

namespace reconcile::resources {

struct MapEntry;

/// One value of a state file: null, scalar, sequence or mapping, with its origin.
class Node {
 public:
  enum class Type { kNull, kScalar, kSequence, kMap };
  /// What the source said a scalar is: JSON knows, YAML plain scalars are resolved on use.
  enum class Tag { kString, kPlain, kNumber, kBool };

  Type type = Type::kNull;
  Tag tag = Tag::kPlain;
  std::string scalar;
  std::vector<Node> items;          // kSequence
  std::vector<MapEntry> entries;    // kMap, in file order
  Location location;
  std::string path;                 // key path, e.g. "services.disabled[2]"
  /// The key path is a foreign file's own key ("Maintenance.InstallPackages[0]" of a laitos config), kept
  /// wherever the node is layered: errors name the key the user wrote.
  bool foreign_path = false;

  bool is_null() const { return type == Type::kNull; }
  bool is_scalar() const { return type == Type::kScalar; }
  bool is_sequence() const { return type == Type::kSequence; }
  bool is_map() const { return type == Type::kMap; }

  /// The entry with this key, or nullptr.
  const Node* find(std::string_view key) const;
  /// "a string", "a list", "a mapping", "null", "a number", "true/false" for error messages.
  std::string describe() const;
};

/// A key and its value inside a mapping.
struct MapEntry {
  std::string key;
  Location key_location;
  Node value;
};

/// Reads typed values out of nodes, collecting errors instead of stopping at the first.
class NodeReader {
 public:
  explicit NodeReader(std::vector<Error>& errors) : errors_(errors) {}

  /// A string scalar (numbers and booleans are refused unless allow_number).
  std::optional<std::string> string(const Node& node, std::string_view what, bool allow_number = false);
  std::optional<bool> boolean(const Node& node);
  std::optional<std::int64_t> integer(const Node& node, std::int64_t min, std::int64_t max);
  /// A list of strings; a single string counts as a list of one when allow_single.
  std::vector<const Node*> list(const Node& node, std::string_view what, bool allow_single = false);
  /// Checks a mapping has only `allowed` keys; reports the others with the nearest allowed key.
  bool check_keys(const Node& node, const std::vector<std::string>& allowed, std::string_view what);
  /// A list entry that is a bare name or a mapping with a `name` and only `allowed` keys (`what` names the entry:
  /// "a groups.present entry"; `example` is the hint when the name is missing): the node holding the name, or
  /// null after reporting why there is none.
  const Node* entry_name(const Node& item, const std::vector<std::string>& allowed, std::string_view what,
                         std::string_view example);
  /// Records an error at a node.
  void fail(const Node& node, ErrorCode code, std::string message, std::string hint = "");

  std::vector<Error>& errors() { return errors_; }

 private:
  std::vector<Error>& errors_;
};

}  // namespace reconcile::resources
