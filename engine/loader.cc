#include "engine/loader.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
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

class YamlConverter {
 public:
  YamlConverter(const std::string& file, const LoadLimits& limits, std::vector<Error>& errors)
      : file_(file), limits_(limits), errors_(errors) {}

  bool convert(const YAML::Node& in, Node& out, const std::string& path, int depth) {
    out.path = path;
    out.location = where(in.Mark());
    if (++count_ > limits_.max_nodes) {
      fail(out, ErrorCode::kInvalidValue,
           "the file holds more than " + std::to_string(limits_.max_nodes) + " values (aliases expanding?)");
      return false;
    }
    if (depth > limits_.max_depth) {
      fail(out, ErrorCode::kInvalidValue, "nested deeper than " + std::to_string(limits_.max_depth) + " levels");
      return false;
    }
    switch (in.Type()) {
      case YAML::NodeType::Undefined:
      case YAML::NodeType::Null:
        out.type = Node::Type::kNull;
        return true;
      case YAML::NodeType::Scalar:
        out.type = Node::Type::kScalar;
        out.scalar = in.Scalar();
        out.tag = in.Tag() == "?" ? Node::Tag::kPlain : Node::Tag::kString;
        return true;
      case YAML::NodeType::Sequence: {
        out.type = Node::Type::kSequence;
        out.items.reserve(in.size());
        std::size_t i = 0;
        for (const auto& item : in) {
          out.items.emplace_back();
          if (!convert(item, out.items.back(), index_path(path, i++), depth + 1)) return false;
        }
        return true;
      }
      case YAML::NodeType::Map: {
        out.type = Node::Type::kMap;
        for (const auto& kv : in) {
          MapEntry entry;
          entry.key_location = where(kv.first.Mark());
          if (!kv.first.IsScalar()) {
            errors_.push_back(Error{ErrorCode::kType, "a key must be a plain name, not " +
                                                          std::string(kv.first.IsMap() ? "a mapping" : "a list"),
                                    entry.key_location, path, "write keys as simple words"});
            continue;
          }
          entry.key = kv.first.Scalar();
          const std::string key_path = child_path(path, entry.key);
          bool duplicate = false;
          for (const auto& existing : out.entries) {
            if (existing.key != entry.key) continue;
            duplicate = true;
            errors_.push_back(Error{ErrorCode::kDuplicateKey,
                                    "key '" + entry.key + "' is given twice in this mapping (first at line " +
                                        std::to_string(existing.key_location.line) + ")",
                                    entry.key_location, key_path, "keep one of them; merge their values"});
          }
          if (duplicate) continue;
          if (!convert(kv.second, entry.value, key_path, depth + 1)) return false;
          if (entry.value.location.line == 0) entry.value.location = entry.key_location;
          out.entries.push_back(std::move(entry));
        }
        return true;
      }
    }
    return true;
  }

 private:
  Location where(const YAML::Mark& mark) const {
    if (mark.line < 0) return Location{file_, 0, 0};
    return Location{file_, mark.line + 1, mark.column + 1};
  }
  void fail(const Node& at, ErrorCode code, std::string message) {
    errors_.push_back(Error{code, std::move(message), at.location, at.path, ""});
  }

  const std::string& file_;
  const LoadLimits& limits_;
  std::vector<Error>& errors_;
  std::size_t count_ = 0;
};

// Deepest nesting of flow collections ([ and {) outside quoted text: a cheap guard against
// input built to exhaust the parser's stack.
int flow_depth(std::string_view text) {
  int depth = 0, deepest = 0;
  char quote = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (quote != 0) {
      if (c == '\\' && quote == '"') ++i;
      else if (c == quote) quote = 0;
      continue;
    }
    if (c == '#' && (i == 0 || text[i - 1] == ' ' || text[i - 1] == '\n')) {
      while (i < text.size() && text[i] != '\n') ++i;
    } else if (c == '"' || (c == '\'' && (i == 0 || std::string_view(" [{,:\n").find(text[i - 1]) != std::string_view::npos))) {
      quote = c;
    } else if (c == '[' || c == '{') {
      deepest = std::max(deepest, ++depth);
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return deepest;
}

Node parse_yaml(const std::string& name, const std::string& text, std::vector<Error>& errors,
                const LoadLimits& limits) {
  Node root;
  if (flow_depth(text) > limits.max_depth) {
    errors.push_back(Error{ErrorCode::kSyntax, "nested deeper than " + std::to_string(limits.max_depth) + " levels",
                           Location{name, 1, 1}, "", "a state file needs only a few levels"});
    return root;
  }
  try {
    std::vector<YAML::Node> documents = YAML::LoadAll(text);
    if (documents.size() > 1) {
      errors.push_back(Error{ErrorCode::kSyntax, "the file holds several YAML documents (separated by ---)",
                             Location{name, documents[1].Mark().line + 1, 1}, "",
                             "give each document its own file and list them as layers"});
      return root;
    }
    if (documents.empty()) return root;
    YamlConverter converter(name, limits, errors);
    converter.convert(documents[0], root, "", 0);
  } catch (const YAML::Exception& e) {
    std::string message = e.msg;
    std::string hint = "check indentation, colons and quotes around this place";
    if (message.find("end of map not found") != std::string::npos ||
        message.find("end of sequence") != std::string::npos) {
      hint = "a bracket or brace is not closed";
    }
    errors.push_back(Error{ErrorCode::kSyntax, "malformed YAML: " + message,
                           Location{name, e.mark.line >= 0 ? e.mark.line + 1 : 0,
                                    e.mark.column >= 0 ? e.mark.column + 1 : 0},
                           "", hint});
  } catch (const std::exception& e) {
    errors.push_back(Error{ErrorCode::kSyntax, std::string("malformed YAML: ") + e.what(), Location{name, 0, 0}, "", ""});
  }
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
    for (const auto& existing : map.entries) {
      if (existing.key == value) {
        errors_.push_back(Error{ErrorCode::kDuplicateKey,
                                "key '" + value + "' is given twice in this object (first at line " +
                                    std::to_string(existing.key_location.line) + ")",
                                where, child_path(map.path, value), "keep one of them; merge their values"});
        skip_next_ = true;
      }
    }
    pending_key_ = value;
    pending_key_location_ = where;
    return true;
  }
  bool parse_error(std::size_t position, const std::string& last_token, const nlohmann::detail::exception& e) override {
    if (stopped_) return false;
    std::string message = e.what();
    const auto cut = message.find("syntax error while parsing ");
    if (cut != std::string::npos) message = message.substr(cut + 27);
    const std::size_t offset = position > 0 ? position - 1 : 0;
    std::string hint = "check commas, colons, brackets and quotes here";
    if (last_token.empty() || position >= text_.size()) hint = "the file ends early: a bracket or brace is not closed";
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
    return true;
  }

  bool close() {
    token_location();
    stack_.pop_back();
    return true;
  }

  const std::string& file_;
  std::string_view text_;
  LineIndex lines_;
  const LoadLimits& limits_;
  std::vector<Error>& errors_;
  Node& root_;
  std::vector<Node*> stack_;
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

// Gives every node below `node` the key path it has at its new place.
void repath(Node& node, const std::string& path) {
  node.path = path;
  for (std::size_t i = 0; i < node.items.size(); ++i) repath(node.items[i], index_path(path, i));
  for (auto& entry : node.entries) repath(entry.value, child_path(path, entry.key));
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
  for (const auto& entry : overlay.entries) {
    auto it = std::find_if(base.entries.begin(), base.entries.end(),
                           [&](const MapEntry& e) { return e.key == entry.key; });
    if (it == base.entries.end()) {
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
    if (root.is_map()) merge_into(loaded.root, root);
  }
  return loaded;
}

std::string explain(const Node& root) {
  std::string out;
  explain_into(root, out);
  return out;
}

}  // namespace reconcile::engine
