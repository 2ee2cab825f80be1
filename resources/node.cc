#include "resources/node.h"

#include <charconv>

namespace reconcile::resources {

namespace {

bool plain_is_bool(const std::string& s, bool* value) {
  if (s == "true" || s == "True" || s == "TRUE" || s == "yes" || s == "Yes" || s == "on") {
    *value = true;
    return true;
  }
  if (s == "false" || s == "False" || s == "FALSE" || s == "no" || s == "No" || s == "off") {
    *value = false;
    return true;
  }
  return false;
}

// A YAML plain scalar that YAML 1.2 resolves as a number (5, -3, 1.5, 1e3, 0x1F).
bool plain_is_number(const std::string& s) {
  if (s.empty()) return false;
  std::size_t i = (s[0] == '-' || s[0] == '+') ? 1 : 0;
  if (i >= s.size()) return false;
  if (s.compare(i, 2, "0x") == 0 || s.compare(i, 2, "0o") == 0) {
    return s.size() > i + 2 && s.find_first_not_of("0123456789abcdefABCDEF", i + 2) == std::string::npos;
  }
  bool digits = false, dot = false, exponent = false;
  for (; i < s.size(); ++i) {
    const char c = s[i];
    if (c >= '0' && c <= '9') digits = true;
    else if (c == '.' && !dot && !exponent) dot = true;
    else if ((c == 'e' || c == 'E') && digits && !exponent) {
      exponent = true;
      digits = false;
      if (i + 1 < s.size() && (s[i + 1] == '-' || s[i + 1] == '+')) ++i;
    } else return false;
  }
  return digits;
}

}  // namespace

const Node* Node::find(std::string_view key) const {
  for (const auto& entry : entries) {
    if (entry.key == key) return &entry.value;
  }
  return nullptr;
}

std::string Node::describe() const {
  switch (type) {
    case Type::kNull: return "null";
    case Type::kSequence: return "a list";
    case Type::kMap: return "a mapping";
    case Type::kScalar: break;
  }
  bool ignored = false;
  if (tag == Tag::kNumber || (tag == Tag::kPlain && plain_is_number(scalar))) return "the number " + scalar;
  if (tag == Tag::kBool || (tag == Tag::kPlain && plain_is_bool(scalar, &ignored))) return "the boolean " + scalar;
  return "the string '" + (scalar.size() > 40 ? scalar.substr(0, 40) + "…" : scalar) + "'";
}

void NodeReader::fail(const Node& node, ErrorCode code, std::string message, std::string hint) {
  errors_.push_back(Error{code, std::move(message), node.location, node.path, std::move(hint)});
}


std::optional<std::string> NodeReader::string(const Node& node, std::string_view what, bool allow_number) {
  if (node.is_scalar()) {
    bool ignored = false;
    const bool looks_bool = node.tag == Node::Tag::kBool ||
                            (node.tag == Node::Tag::kPlain && plain_is_bool(node.scalar, &ignored));
    if (looks_bool) {
      fail(node, ErrorCode::kType, "expected " + std::string(what) + ", got " + node.describe(),
           "quote it if you mean the text \"" + node.scalar + "\"");
      return std::nullopt;
    }
    const bool looks_number = node.tag == Node::Tag::kNumber ||
                              (node.tag == Node::Tag::kPlain && plain_is_number(node.scalar));
    if (looks_number && !allow_number) {
      fail(node, ErrorCode::kType, "expected " + std::string(what) + ", got the number " + node.scalar,
           "quote it if you mean the text \"" + node.scalar + "\"");
      return std::nullopt;
    }
    return node.scalar;
  }
  fail(node, ErrorCode::kType, "expected " + std::string(what) + ", got " + node.describe());
  return std::nullopt;
}

std::optional<bool> NodeReader::boolean(const Node& node) {
  bool value = false;
  if (node.is_scalar() && (node.tag == Node::Tag::kBool || node.tag == Node::Tag::kPlain) &&
      plain_is_bool(node.scalar, &value)) {
    return value;
  }
  fail(node, ErrorCode::kType, "expected true or false, got " + node.describe());
  return std::nullopt;
}

std::optional<std::int64_t> NodeReader::integer(const Node& node, std::int64_t min, std::int64_t max) {
  std::int64_t value = 0;
  if (node.is_scalar() && (node.tag == Node::Tag::kNumber || node.tag == Node::Tag::kPlain)) {
    const char* begin = node.scalar.data();
    const char* end = begin + node.scalar.size();
    auto [ptr, ec] = std::from_chars(begin, end, value);
    if (ec == std::errc() && ptr == end) {
      if (value < min || value > max) {
        fail(node, ErrorCode::kInvalidValue,
             "expected a whole number from " + std::to_string(min) + " to " + std::to_string(max) +
                 ", got " + node.scalar);
        return std::nullopt;
      }
      return value;
    }
  }
  fail(node, ErrorCode::kType, "expected a whole number, got " + node.describe());
  return std::nullopt;
}

std::vector<const Node*> NodeReader::list(const Node& node, std::string_view what, bool allow_single) {
  std::vector<const Node*> out;
  if (node.is_sequence()) {
    for (const auto& item : node.items) out.push_back(&item);
    return out;
  }
  if (node.is_null()) return out;
  if (allow_single && node.is_scalar()) {
    out.push_back(&node);
    return out;
  }
  fail(node, ErrorCode::kType, "expected a list of " + std::string(what) + ", got " + node.describe(),
       node.is_scalar() ? "write it as [" + node.scalar + "]" : "");
  return out;
}

bool NodeReader::check_keys(const Node& node, const std::vector<std::string>& allowed, std::string_view what) {
  if (!node.is_map()) {
    fail(node, ErrorCode::kType, "expected " + std::string(what) + ", got " + node.describe());
    return false;
  }
  bool ok = true;
  for (const auto& entry : node.entries) {
    bool known = false;
    for (const auto& key : allowed) known = known || key == entry.key;
    if (known) continue;
    ok = false;
    std::string hint = did_you_mean(entry.key, allowed);
    if (hint.empty()) {
      hint = "allowed keys: ";
      for (std::size_t i = 0; i < allowed.size(); ++i) hint += (i ? ", " : "") + allowed[i];
    }
    const std::string shown = entry.key.size() > 60 ? entry.key.substr(0, 60) + "…" : entry.key;
    errors_.push_back(Error{ErrorCode::kUnknownKey, "unknown key '" + shown + "' in " + std::string(what),
                            entry.key_location, node.path.empty() ? entry.key : node.path + "." + entry.key,
                            hint});
  }
  return ok;
}

const Node* NodeReader::entry_name(const Node& item, const std::vector<std::string>& allowed, std::string_view what,
                                   std::string_view example) {
  if (!item.is_map()) return &item;
  if (!check_keys(item, allowed, what)) return nullptr;
  const Node* name = item.find("name");
  if (name == nullptr) fail(item, ErrorCode::kInvalidValue, "this entry needs a 'name'", std::string(example));
  return name;
}

}  // namespace reconcile::resources
