// The native YAML front-end. libyaml's event parser (the reference C implementation) feeds the tree
// directly: no intermediate document, an explicit stack instead of recursion, and every event carries
// its line and column.

#include <yaml.h>

#include <map>
#include <memory>
#include <unordered_map>

#include "engine/front_end.h"
#include "engine/node_paths.h"

namespace reconcile::engine {

using resources::Error;
using resources::ErrorCode;
using resources::Location;
using resources::MapEntry;
using resources::Node;

namespace {

class YamlBuilder {
 public:
  YamlBuilder(const std::string& file, const LoadLimits& limits, std::vector<Error>& errors, Node& root)
      : file_(file), limits_(limits), errors_(errors), root_(root) {}

  // Returns false to stop parsing (an error was recorded).
  bool on_event(const yaml_event_t& event) {
    const Location where{file_, static_cast<int>(event.start_mark.line) + 1,
                         static_cast<int>(event.start_mark.column) + 1};
    switch (event.type) {
      case YAML_DOCUMENT_START_EVENT:
        if (++documents_ > 1) {
          errors_.push_back(Error{ErrorCode::kSyntax, "the file holds several YAML documents (separated by ---)",
                                  where, "", "give each document its own file and list them as layers"});
          return false;
        }
        return true;
      case YAML_SCALAR_EVENT: {
        const auto& scalar = event.data.scalar;
        std::string value(reinterpret_cast<const char*>(scalar.value), scalar.length);
        if (in_key_position()) return on_key(std::move(value), where, scalar.style == YAML_PLAIN_SCALAR_STYLE);
        Node* node = slot(where);
        if (node == nullptr) return false;
        const bool plain = scalar.style == YAML_PLAIN_SCALAR_STYLE;
        const bool tagged_string = scalar.tag != nullptr &&
                                   std::string_view(reinterpret_cast<const char*>(scalar.tag)) == "tag:yaml.org,2002:str";
        if (plain && !tagged_string && (value.empty() || value == "~" || value == "null" || value == "Null" || value == "NULL")) {
          node->type = Node::Type::kNull;
        } else {
          node->type = Node::Type::kScalar;
          node->tag = plain && !tagged_string ? Node::Tag::kPlain : Node::Tag::kString;
          node->scalar = std::move(value);
        }
        remember(scalar.anchor, *node);
        return true;
      }
      case YAML_SEQUENCE_START_EVENT:
      case YAML_MAPPING_START_EVENT: {
        const bool is_map = event.type == YAML_MAPPING_START_EVENT;
        if (in_key_position()) {
          errors_.push_back(Error{ErrorCode::kType, std::string("a key must be a plain name, not ") +
                                                        (is_map ? "a mapping" : "a list"),
                                  where, stack_.back().node->path, "write keys as simple words"});
          return false;
        }
        if (static_cast<int>(stack_.size()) >= limits_.max_depth) {
          errors_.push_back(Error{ErrorCode::kSyntax, "nested deeper than " + std::to_string(limits_.max_depth) + " levels",
                                  where, stack_.empty() ? "" : stack_.back().node->path,
                                  "a state file needs only a few levels"});
          return false;
        }
        Node* node = slot(where);
        if (node == nullptr) return false;
        node->type = is_map ? Node::Type::kMap : Node::Type::kSequence;
        const auto* anchor = is_map ? event.data.mapping_start.anchor : event.data.sequence_start.anchor;
        stack_.push_back(Frame{node, anchor != nullptr ? reinterpret_cast<const char*>(anchor) : ""});
        return true;
      }
      case YAML_SEQUENCE_END_EVENT:
      case YAML_MAPPING_END_EVENT: {
        Frame frame = std::move(stack_.back());
        stack_.pop_back();
        if (!frame.anchor.empty()) anchors_[frame.anchor] = *frame.node;
        return true;
      }
      case YAML_ALIAS_EVENT: {
        const std::string name = reinterpret_cast<const char*>(event.data.alias.anchor);
        const auto found = anchors_.find(name);
        if (found == anchors_.end()) {
          errors_.push_back(Error{ErrorCode::kSyntax, "alias *" + name + " names no anchor defined before it", where,
                                  "", "define &" + name + " first"});
          return false;
        }
        if (in_key_position()) {
          if (!found->second.is_scalar()) return on_key("", where, true);
          return on_key(found->second.scalar, where, true);
        }
        count_ += count_nodes(found->second);
        Node* node = slot(where);
        if (node == nullptr) return false;
        const std::string path = node->path;
        *node = found->second;
        repath(*node, path);
        return true;
      }
      default:
        return true;
    }
  }

 private:
  struct Frame {
    Node* node;
    std::string anchor;
    std::unordered_map<std::string, int> key_lines;  // keys seen in this mapping → their line
    bool have_key = false;      // in a mapping: the key of the next value has been read
    std::string key;
    Location key_location;
    bool skip_value = false;    // the key was a duplicate: its value is read into a discard node
  };

  bool in_key_position() const {
    return !stack_.empty() && stack_.back().node->is_map() && !stack_.back().have_key;
  }

  bool on_key(std::string key, const Location& where, bool) {
    Frame& frame = stack_.back();
    frame.have_key = true;
    frame.key = std::move(key);
    frame.key_location = where;
    frame.skip_value = false;
    const auto [seen, fresh] = frame.key_lines.emplace(frame.key, where.line);
    if (!fresh) {
      errors_.push_back(Error{ErrorCode::kDuplicateKey,
                              "key '" + frame.key + "' is given twice in this mapping (first at line " +
                                  std::to_string(seen->second) + ")",
                              where, child_path(frame.node->path, frame.key), "keep one of them; merge their values"});
      frame.skip_value = true;
    }
    return true;
  }

  // Where the next value goes: the root, a list item, or the value of the pending key.
  Node* slot(const Location& where) {
    if (++count_ > limits_.max_nodes) {
      errors_.push_back(Error{ErrorCode::kInvalidValue,
                              "the file holds more than " + std::to_string(limits_.max_nodes) +
                                  " values (aliases expanding?)",
                              where, "", "a state file needs far fewer values"});
      return nullptr;
    }
    if (stack_.empty()) {
      root_.location = where;
      return &root_;
    }
    Frame& frame = stack_.back();
    Node& parent = *frame.node;
    if (parent.is_sequence()) {
      parent.items.emplace_back();
      Node& item = parent.items.back();
      item.path = index_path(parent.path, parent.items.size() - 1);
      item.location = where;
      return &item;
    }
    frame.have_key = false;
    if (frame.skip_value) {
      // Kept until the end: a discarded mapping is itself on the stack while its own entries are read (and may
      // hold a duplicate key of their own), so an earlier discard node must outlive the later ones.
      discards_.push_back(std::make_unique<Node>());
      return discards_.back().get();
    }
    parent.entries.push_back(MapEntry{std::move(frame.key), frame.key_location, Node{}});
    MapEntry& entry = parent.entries.back();
    entry.value.path = child_path(parent.path, entry.key);
    entry.value.location = where;
    return &entry.value;
  }

  void remember(const yaml_char_t* anchor, const Node& node) {
    if (anchor != nullptr) anchors_[reinterpret_cast<const char*>(anchor)] = node;
  }

  static std::size_t count_nodes(const Node& node) {
    std::size_t n = 1;
    for (const auto& item : node.items) n += count_nodes(item);
    for (const auto& entry : node.entries) n += count_nodes(entry.value);
    return n;
  }

  const std::string& file_;
  const LoadLimits& limits_;
  std::vector<Error>& errors_;
  Node& root_;
  std::vector<Frame> stack_;
  std::map<std::string, Node> anchors_;
  std::vector<std::unique_ptr<Node>> discards_;  // values of duplicate keys, read and dropped
  std::size_t count_ = 0;
  int documents_ = 0;
};

Node parse_yaml(const std::string& name, std::string_view text, std::vector<Error>& errors,
                const LoadLimits& limits) {
  Node root;
  yaml_parser_t parser;
  if (yaml_parser_initialize(&parser) == 0) {
    errors.push_back(Error{ErrorCode::kSystem, "cannot start the YAML parser", Location{name}, "", ""});
    return root;
  }
  yaml_parser_set_input_string(&parser, reinterpret_cast<const unsigned char*>(text.data()), text.size());
  YamlBuilder builder(name, limits, errors, root);
  while (true) {
    yaml_event_t event;
    if (yaml_parser_parse(&parser, &event) == 0) {
      const yaml_mark_t& mark = parser.problem_mark;
      std::string message = parser.problem != nullptr ? parser.problem : "unknown problem";
      if (parser.context != nullptr) message = std::string(parser.context) + ", " + message;
      std::string hint = "check indentation, colons and quotes around this place";
      if (message.find("flow") != std::string::npos || message.find("expected ',' or ']'") != std::string::npos ||
          message.find("expected ',' or '}'") != std::string::npos) {
        hint = "a bracket or brace is not closed, or a comma is missing";
      } else if (message.find("tab") != std::string::npos) {
        hint = "indent with spaces, not tabs";
      }
      errors.push_back(Error{ErrorCode::kSyntax, "malformed YAML: " + message,
                             Location{name, static_cast<int>(mark.line) + 1, static_cast<int>(mark.column) + 1}, "",
                             hint});
      break;
    }
    const bool done = event.type == YAML_STREAM_END_EVENT;
    const bool keep_going = builder.on_event(event);
    yaml_event_delete(&event);
    if (done || !keep_going) break;
  }
  yaml_parser_delete(&parser);
  return root;
}

class YamlFrontEnd : public FrontEnd {
 public:
  std::string_view name() const override { return "yaml"; }
  bool recognises(std::string_view) const override { return true; }
  Node read(const std::string& file, std::string_view text, std::vector<Error>& errors,
            const LoadLimits& limits) const override {
    return parse_yaml(file, text, errors, limits);
  }
  std::string example() const override { return "write 'timezone: Etc/UTC'"; }
};

}  // namespace

const FrontEnd& yaml_front_end() {
  static const YamlFrontEnd instance;
  return instance;
}

}  // namespace reconcile::engine
