#include "engine/loader.h"

#include <yaml.h>

#include <algorithm>
#include <map>
#include <memory>
#include <unordered_map>
#include <nlohmann/json.hpp>

#include "providers/fs.h"

namespace reconcile::engine {

using resources::Error;
using resources::ErrorCode;
using resources::Location;
using resources::MapEntry;
using resources::Node;

namespace {

std::string child_path(const std::string& parent, const std::string& key) {
  return parent.empty() ? key : parent + "." + key;
}

std::string index_path(const std::string& parent, std::size_t index) {
  return parent + "[" + std::to_string(index) + "]";
}

// Gives every node below `node` the key path it has at its new place.
void repath(Node& node, const std::string& path) {
  node.path = path;
  for (std::size_t i = 0; i < node.items.size(); ++i) repath(node.items[i], index_path(path, i));
  for (auto& entry : node.entries) repath(entry.value, child_path(path, entry.key));
}

// Offset of the first byte that is not valid UTF-8, or npos.
std::size_t invalid_utf8_at(std::string_view text) {
  std::size_t i = 0;
  while (i < text.size()) {
    const auto c = static_cast<unsigned char>(text[i]);
    std::size_t extra = 0;
    if (c < 0x80) extra = 0;
    else if ((c & 0xE0) == 0xC0 && c >= 0xC2) extra = 1;
    else if ((c & 0xF0) == 0xE0) extra = 2;
    else if ((c & 0xF8) == 0xF0 && c <= 0xF4) extra = 3;
    else return i;
    if (extra > 0 && i + extra >= text.size()) return i;
    for (std::size_t k = 1; k <= extra; ++k) {
      if ((static_cast<unsigned char>(text[i + k]) & 0xC0) != 0x80) return i;
    }
    i += extra + 1;
  }
  return std::string_view::npos;
}

// Maps byte offsets to 1-based line and column.
class LineIndex {
 public:
  explicit LineIndex(std::string_view text) {
    starts_.push_back(0);
    for (std::size_t i = 0; i < text.size(); ++i) {
      if (text[i] == '\n') starts_.push_back(i + 1);
    }
  }
  Location at(const std::string& file, std::size_t offset) const {
    const auto it = std::upper_bound(starts_.begin(), starts_.end(), offset);
    const auto line = static_cast<std::size_t>(it - starts_.begin());
    return Location{file, static_cast<int>(line), static_cast<int>(offset - starts_[line - 1] + 1)};
  }

 private:
  std::vector<std::size_t> starts_;
};

// ---- YAML -------------------------------------------------------------------------------------
// libyaml's event parser (the reference C implementation) feeds the tree directly: no intermediate
// document, an explicit stack instead of recursion, and every event carries its line and column.

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
      discard_ = std::make_unique<Node>();
      return discard_.get();
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
  std::unique_ptr<Node> discard_;
  std::size_t count_ = 0;
  int documents_ = 0;
};

Node parse_yaml(const std::string& name, const std::string& text, std::vector<Error>& errors,
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

// ---- JSON -------------------------------------------------------------------------------------

// Counts how far the parser has read, so each event can be placed at a line and column.
struct CountingIterator {
  using iterator_category = std::forward_iterator_tag;
  using value_type = char;
  using difference_type = std::ptrdiff_t;
  using pointer = const char*;
  using reference = const char&;

  const char* at = nullptr;
  const char* base = nullptr;
  std::size_t* consumed = nullptr;

  reference operator*() const { return *at; }
  CountingIterator& operator++() {
    ++at;
    *consumed = static_cast<std::size_t>(at - base);
    return *this;
  }
  CountingIterator operator++(int) {
    CountingIterator before = *this;
    ++*this;
    return before;
  }
  bool operator==(const CountingIterator& other) const { return at == other.at; }
};

class JsonBuilder : public nlohmann::json_sax<nlohmann::json> {
 public:
  JsonBuilder(const std::string& file, std::string_view text, const LoadLimits& limits, std::vector<Error>& errors,
              Node& root)
      : file_(file), text_(text), lines_(text), limits_(limits), errors_(errors), root_(root) {}

  std::size_t consumed = 0;

  bool null() override { return scalar(Node::Type::kNull, Node::Tag::kPlain, ""); }
  bool boolean(bool value) override { return scalar(Node::Type::kScalar, Node::Tag::kBool, value ? "true" : "false"); }
  bool number_integer(number_integer_t value) override {
    return scalar(Node::Type::kScalar, Node::Tag::kNumber, std::to_string(value));
  }
  bool number_unsigned(number_unsigned_t value) override {
    return scalar(Node::Type::kScalar, Node::Tag::kNumber, std::to_string(value));
  }
  bool number_float(number_float_t, const string_t& text) override {
    return scalar(Node::Type::kScalar, Node::Tag::kNumber, text);
  }
  bool string(string_t& value) override { return scalar(Node::Type::kScalar, Node::Tag::kString, value); }
  bool binary(binary_t&) override { return false; }
  bool start_object(std::size_t) override { return open(Node::Type::kMap); }
  bool start_array(std::size_t) override { return open(Node::Type::kSequence); }
  bool end_object() override { return close(); }
  bool end_array() override { return close(); }
  bool key(string_t& value) override {
    const Location where = token_location();
    Node& map = *stack_.back();
    const auto [seen, fresh] = key_lines_.back().emplace(value, where.line);
    if (!fresh) {
      errors_.push_back(Error{ErrorCode::kDuplicateKey,
                              "key '" + value + "' is given twice in this object (first at line " +
                                  std::to_string(seen->second) + ")",
                              where, child_path(map.path, value), "keep one of them; merge their values"});
      skip_next_ = true;
    }
    pending_key_ = value;
    pending_key_location_ = where;
    return true;
  }
  bool parse_error(std::size_t position, const std::string&, const nlohmann::detail::exception& e) override {
    if (stopped_) return false;
    std::string message = e.what();
    if (message.starts_with("[json.exception.")) message = message.substr(message.find("] ") + 2);
    const auto cut = message.find("syntax error while parsing ");
    if (cut != std::string::npos) message = message.substr(cut + 27);
    if (message.starts_with("number overflow")) {
      errors_.push_back(Error{ErrorCode::kInvalidValue, "a number too large to hold", lines_.at(file_, position > 0 ? position - 1 : 0),
                              stack_.empty() ? "" : stack_.back()->path, "numbers here are small whole numbers"});
      return false;
    }
    const std::size_t offset = position > 0 ? position - 1 : 0;
    std::string hint = "check commas, colons, brackets and quotes here";
    if (message.find("unexpected end of input") != std::string::npos) {
      hint = "the file ends early: a bracket or brace is not closed";
    } else if (message.find("unexpected '}'") != std::string::npos || message.find("unexpected ']'") != std::string::npos) {
      hint = "JSON allows no comma before a closing bracket or brace";
    }
    errors_.push_back(Error{ErrorCode::kSyntax, "malformed JSON: " + message, lines_.at(file_, offset), "", hint});
    return false;
  }

 private:
  Location token_location() {
    std::size_t i = last_;
    const std::size_t end = std::min(consumed, text_.size());
    while (i < end && std::string_view(" \t\r\n,:").find(text_[i]) != std::string_view::npos) ++i;
    last_ = consumed;
    return lines_.at(file_, std::min(i, text_.empty() ? 0 : text_.size() - 1));
  }

  // Where the next value goes: the root, a list item, or the value of the pending key.
  Node* slot(const Location& where) {
    if (stack_.empty()) {
      root_.path = "";
      root_.location = where;
      return &root_;
    }
    Node& parent = *stack_.back();
    if (parent.is_sequence()) {
      parent.items.emplace_back();
      Node& item = parent.items.back();
      item.path = index_path(parent.path, parent.items.size() - 1);
      item.location = where;
      return &item;
    }
    if (skip_next_) {
      skip_next_ = false;
      discard_ = std::make_unique<Node>();
      return discard_.get();
    }
    parent.entries.push_back(MapEntry{pending_key_, pending_key_location_, Node{}});
    Node& value = parent.entries.back().value;
    value.path = child_path(parent.path, pending_key_);
    value.location = where;
    return &value;
  }

  bool counted(const Location& where) {
    if (++count_ <= limits_.max_nodes) return true;
    errors_.push_back(Error{ErrorCode::kInvalidValue,
                            "the file holds more than " + std::to_string(limits_.max_nodes) + " values", where, "", ""});
    stopped_ = true;
    return false;
  }

  bool scalar(Node::Type type, Node::Tag tag, std::string value) {
    const Location where = token_location();
    if (!counted(where)) return false;
    Node* node = slot(where);
    node->type = type;
    node->tag = tag;
    node->scalar = std::move(value);
    return true;
  }

  bool open(Node::Type type) {
    const Location where = token_location();
    if (!counted(where)) return false;
    if (static_cast<int>(stack_.size()) >= limits_.max_depth) {
      errors_.push_back(Error{ErrorCode::kSyntax, "nested deeper than " + std::to_string(limits_.max_depth) + " levels",
                              where, stack_.empty() ? "" : stack_.back()->path, "a state file needs only a few levels"});
      stopped_ = true;
      return false;
    }
    Node* node = slot(where);
    node->type = type;
    stack_.push_back(node);
    key_lines_.emplace_back();
    return true;
  }

  bool close() {
    token_location();
    stack_.pop_back();
    key_lines_.pop_back();
    return true;
  }

  const std::string& file_;
  std::string_view text_;
  LineIndex lines_;
  const LoadLimits& limits_;
  std::vector<Error>& errors_;
  Node& root_;
  std::vector<Node*> stack_;
  std::vector<std::unordered_map<std::string, int>> key_lines_;  // per open object: keys → their line
  std::string pending_key_;
  Location pending_key_location_;
  bool skip_next_ = false;
  bool stopped_ = false;
  std::unique_ptr<Node> discard_;
  std::size_t last_ = 0;
  std::size_t count_ = 0;
};

Node parse_json(const std::string& name, const std::string& text, std::vector<Error>& errors,
                const LoadLimits& limits) {
  Node root;
  JsonBuilder builder(name, text, limits, errors, root);
  CountingIterator first{text.data(), text.data(), &builder.consumed};
  CountingIterator last{text.data() + text.size(), text.data(), &builder.consumed};
  try {
    nlohmann::json::sax_parse(first, last, &builder, nlohmann::json::input_format_t::json, true, false);
  } catch (const std::exception& e) {
    errors.push_back(Error{ErrorCode::kSyntax, std::string("malformed JSON: ") + e.what(), Location{name, 0, 0}, "", ""});
  }
  return root;
}

bool only_blank_or_comments(std::string_view text) {
  bool in_comment = false;
  for (const char c : text) {
    if (in_comment) {
      in_comment = c != '\n';
      continue;
    }
    if (c == '#') in_comment = true;
    else if (c != ' ' && c != '\t' && c != '\r' && c != '\n') return false;
  }
  return true;
}

bool equal_values(const Node& a, const Node& b) {
  if (a.type != b.type) return false;
  switch (a.type) {
    case Node::Type::kNull: return true;
    case Node::Type::kScalar: return a.scalar == b.scalar;
    case Node::Type::kSequence:
      if (a.items.size() != b.items.size()) return false;
      for (std::size_t i = 0; i < a.items.size(); ++i) {
        if (!equal_values(a.items[i], b.items[i])) return false;
      }
      return true;
    case Node::Type::kMap:
      if (a.entries.size() != b.entries.size()) return false;
      for (const auto& entry : a.entries) {
        const Node* other = b.find(entry.key);
        if (other == nullptr || !equal_values(entry.value, *other)) return false;
      }
      return true;
  }
  return false;
}

void explain_into(const Node& node, std::string& out) {
  switch (node.type) {
    case Node::Type::kMap:
      for (const auto& entry : node.entries) explain_into(entry.value, out);
      if (node.entries.empty() && !node.path.empty()) out += node.path + " = {}    # " + node.location.str() + "\n";
      return;
    case Node::Type::kSequence:
      for (const auto& item : node.items) explain_into(item, out);
      if (node.items.empty()) out += node.path + " = []    # " + node.location.str() + "\n";
      return;
    case Node::Type::kNull:
      out += node.path + " = null    # " + node.location.str() + "\n";
      return;
    case Node::Type::kScalar:
      out += node.path + " = " + (node.tag == Node::Tag::kString ? nlohmann::json(node.scalar).dump() : node.scalar) +
             "    # " + node.location.str() + "\n";
      return;
  }
}

}  // namespace

Node parse_text(const std::string& name, std::string text, std::vector<Error>& errors, const LoadLimits& limits) {
  const std::size_t before = errors.size();
  if (text.starts_with("\xEF\xBB\xBF")) text.erase(0, 3);
  if (text.find('\0') != std::string::npos) {
    const std::size_t at = text.find('\0');
    errors.push_back(Error{ErrorCode::kSyntax, "the file is binary, not YAML or JSON (it holds a NUL byte)",
                           LineIndex(text).at(name, at), "", "give the path of a text state file"});
    return Node{};
  }
  if (const std::size_t bad = invalid_utf8_at(text); bad != std::string::npos) {
    errors.push_back(Error{ErrorCode::kSyntax, "the file is not valid UTF-8", LineIndex(text).at(name, bad), "",
                           "save it as UTF-8"});
    return Node{};
  }
  if (only_blank_or_comments(text)) {
    errors.push_back(Error{ErrorCode::kSyntax, "the state file is empty", Location{name, 1, 1}, "",
                           "start with a key, e.g. 'timezone: Etc/UTC'"});
    return Node{};
  }
  const bool json = name.ends_with(".json");
  Node root = json ? parse_json(name, text, errors, limits) : parse_yaml(name, text, errors, limits);
  if (errors.size() != before) return root;
  if (!root.is_map()) {
    errors.push_back(Error{ErrorCode::kType,
                           "the top level of a state file must be a mapping of keys, not " + root.describe(),
                           root.location.line > 0 ? root.location : Location{name, 1, 1}, "",
                           json ? "write {\"timezone\": \"Etc/UTC\"}" : "write 'timezone: Etc/UTC'"});
  }
  return root;
}

void merge_into(Node& base, const Node& overlay) {
  if (!base.is_map() || !overlay.is_map()) {
    const std::string path = base.path;
    base = overlay;
    repath(base, path);
    return;
  }
  std::unordered_map<std::string, std::size_t> position;  // key → index in base.entries
  for (std::size_t i = 0; i < base.entries.size(); ++i) position.emplace(base.entries[i].key, i);
  for (const auto& entry : overlay.entries) {
    const auto found = position.find(entry.key);
    auto it = found == position.end() ? base.entries.end() : base.entries.begin() + static_cast<std::ptrdiff_t>(found->second);
    if (it == base.entries.end()) {
      position.emplace(entry.key, base.entries.size());
      base.entries.push_back(entry);
      repath(base.entries.back().value, child_path(base.path, entry.key));
      continue;
    }
    Node& target = it->value;
    if (target.is_map() && entry.value.is_map()) {
      merge_into(target, entry.value);
    } else if (target.is_sequence() && entry.value.is_sequence()) {
      for (const auto& item : entry.value.items) {
        const bool present = std::any_of(target.items.begin(), target.items.end(),
                                         [&](const Node& existing) { return equal_values(existing, item); });
        if (present) continue;
        target.items.push_back(item);
        repath(target.items.back(), index_path(target.path, target.items.size() - 1));
      }
    } else {
      it->key_location = entry.key_location;
      target = entry.value;
      repath(target, child_path(base.path, entry.key));
    }
  }
}

Loaded load_files(const std::vector<std::string>& files, const LoadLimits& limits) {
  Loaded loaded;
  loaded.files = files;
  loaded.root.type = Node::Type::kMap;
  if (files.empty()) {
    loaded.errors.push_back(Error{ErrorCode::kIo, "no state file given", Location{}, "", "reconcile STATE.yaml"});
  }
  for (const auto& file : files) {
    std::error_code ec;
    const auto status = std::filesystem::status(file, ec);
    if (!ec && std::filesystem::is_directory(status)) {
      loaded.errors.push_back(Error{ErrorCode::kIo, "is a directory, not a state file", Location{file}, "",
                                    "name the .yaml or .json file inside it"});
      continue;
    }
    if (!ec && std::filesystem::exists(status) && !std::filesystem::is_regular_file(status)) {
      loaded.errors.push_back(Error{ErrorCode::kIo, "is not a regular file", Location{file}, "", ""});
      continue;
    }
    if (!ec && std::filesystem::file_size(file, ec) > limits.max_file_bytes && !ec) {
      loaded.errors.push_back(Error{ErrorCode::kIo,
                                    "the file is larger than " + std::to_string(limits.max_file_bytes >> 20) +
                                        " MiB; a state file is far smaller",
                                    Location{file}, "", "check that this is the right file"});
      continue;
    }
    auto text = providers::read_file(file, limits.max_file_bytes);
    if (!text) {
      loaded.errors.push_back(Error{ErrorCode::kIo, "cannot read the state file: " + text.error(), Location{file},
                                    "", "check the path and its permissions"});
      continue;
    }
    Node root = parse_text(file, std::move(*text), loaded.errors, limits);
    if (!root.is_map()) continue;
    if (loaded.root.entries.empty()) loaded.root = std::move(root);  // the first layer needs no merge
    else merge_into(loaded.root, root);
  }
  return loaded;
}

std::string explain(const Node& root) {
  std::string out;
  explain_into(root, out);
  return out;
}

}  // namespace reconcile::engine
