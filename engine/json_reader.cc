// The native JSON front-end: nlohmann/json's SAX parser feeds the tree directly, and a counting
// iterator tells where in the text each event is.

#include <iterator>
#include <memory>
#include <nlohmann/json.hpp>
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

Node parse_json(const std::string& name, std::string_view text, std::vector<Error>& errors,
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

class JsonFrontEnd : public FrontEnd {
 public:
  std::string_view name() const override { return "json"; }
  // JSON when the first character that is not white space is `{` or `[`.
  bool recognises(std::string_view text) const override {
    if (text.starts_with("\xEF\xBB\xBF")) text.remove_prefix(3);
    const auto first = text.find_first_not_of(" \t\r\n");
    return first != std::string_view::npos && (text[first] == '{' || text[first] == '[');
  }
  Node read(const std::string& file, std::string_view text, std::vector<Error>& errors,
            const LoadLimits& limits) const override {
    return parse_json(file, text, errors, limits);
  }
  std::string example() const override { return "write {\"timezone\": \"Etc/UTC\"}"; }
};

}  // namespace

const FrontEnd& json_front_end() {
  static const JsonFrontEnd instance;
  return instance;
}

}  // namespace reconcile::engine
