#include "engine/loader.h"

#include <algorithm>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <unordered_map>

#include "engine/node_paths.h"
#include "providers/fs.h"

namespace reconcile::engine {

using resources::Error;
using resources::ErrorCode;
using resources::Location;
using resources::Node;

namespace {

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

// The first place where a tree exceeds the limits, as an error; checked for every front-end, so
// one that builds its tree from a foreign document cannot get past them.
std::optional<Error> beyond_limits(const Node& root, const LoadLimits& limits) {
  std::vector<std::pair<const Node*, int>> pending{{&root, 0}};  // node, containers above it
  std::size_t count = 0;
  while (!pending.empty()) {
    const auto [node, depth] = pending.back();
    pending.pop_back();
    if (++count > limits.max_nodes) {
      return Error{ErrorCode::kInvalidValue, "the file holds more than " + std::to_string(limits.max_nodes) + " values",
                   node->location, node->path, "a state file needs far fewer values"};
    }
    const bool container = node->is_map() || node->is_sequence();
    if (container && depth >= limits.max_depth) {
      return Error{ErrorCode::kSyntax, "nested deeper than " + std::to_string(limits.max_depth) + " levels",
                   node->location, node->path, "a state file needs only a few levels"};
    }
    for (const auto& item : node->items) pending.emplace_back(&item, depth + 1);
    for (const auto& entry : node->entries) pending.emplace_back(&entry.value, depth + 1);
  }
  return std::nullopt;
}

// Writes `explain` lines; `suffix` marks a value that did not win. After each node, the values of earlier layers
// that it replaced (at its key path), newest first, each shown once.
class Explainer {
 public:
  Explainer(std::string& out, const std::vector<Overridden>& overridden) : out_(out), overridden_(overridden) {
    shown_.assign(overridden.size(), false);
    for (std::size_t i = 0; i < overridden.size(); ++i) by_path_[overridden[i].value.path].push_back(i);
  }

  void node(const Node& node, const std::string& mark) {
    switch (node.type) {
      case Node::Type::kMap:
        for (const auto& entry : node.entries) this->node(entry.value, mark);
        if (node.entries.empty() && !node.path.empty()) line(node, "{}", mark);
        break;
      case Node::Type::kSequence:
        for (const auto& item : node.items) this->node(item, mark);
        if (node.items.empty()) line(node, "[]", mark);
        break;
      case Node::Type::kNull:
        line(node, "null", mark);
        break;
      case Node::Type::kScalar:
        line(node, node.tag == Node::Tag::kString ? nlohmann::json(node.scalar).dump() : node.scalar, mark);
        break;
    }
    const auto found = by_path_.find(node.path);
    if (found == by_path_.end()) return;
    for (auto it = found->second.rbegin(); it != found->second.rend(); ++it) {
      if (shown_[*it]) continue;
      shown_[*it] = true;
      this->node(overridden_[*it].value, suffix(overridden_[*it]));
    }
  }

  /// What no value of the final tree led to (a key path a foreign file's node keeps), at the end.
  void rest() {
    for (std::size_t i = 0; i < overridden_.size(); ++i) {
      if (shown_[i]) continue;
      shown_[i] = true;
      node(overridden_[i].value, suffix(overridden_[i]));
    }
  }

 private:
  static std::string suffix(const Overridden& old) {
    return old.repeated ? " (listed again; the first, at " + old.by.str() + ", is kept)"
                        : " (overridden by " + old.by.str() + ")";
  }

  void line(const Node& node, const std::string& value, const std::string& mark) {
    out_ += node.path + " = " + value + "    # " + node.location.str() + mark + "\n";
  }

  std::string& out_;
  const std::vector<Overridden>& overridden_;
  std::vector<bool> shown_;
  std::unordered_map<std::string, std::vector<std::size_t>> by_path_;
};

}  // namespace

Node parse_text(const std::string& name, std::string text, std::vector<Error>& errors, const LoadLimits& limits,
                const FrontEnd* format, std::vector<std::string>* notes) {
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
  const FrontEnd* front_end = format != nullptr ? format : &detect_front_end(text);
  std::vector<std::string> told;
  Node root = front_end->read_noting(name, text, errors, limits, told);
  if (notes != nullptr) notes->insert(notes->end(), told.begin(), told.end());
  const bool named_yaml = name.ends_with(".yaml") || name.ends_with(".yml");
  if (errors.size() != before && format == nullptr && front_end == &json_front_end() && named_yaml) {
    // A .yaml file that starts like JSON but is not JSON is YAML flow style ({timezone: Etc/UTC}).
    errors.erase(errors.begin() + static_cast<std::ptrdiff_t>(before), errors.end());
    front_end = &yaml_front_end();
    root = front_end->read(name, text, errors, limits);
  }
  if (errors.size() != before) {
    // Chosen by content, YAML flow style in a file not named .yaml reads as malformed JSON: say why.
    if (format == nullptr && front_end == &json_front_end() && !name.ends_with(".json")) {
      for (std::size_t i = before; i < errors.size(); ++i) {
        if (errors[i].code != ErrorCode::kSyntax) continue;
        errors[i].hint += std::string(errors[i].hint.empty() ? "" : "; ") +
                          "read as JSON because it starts with '{' or '['; give --input-format yaml for YAML";
      }
    }
    return root;
  }
  if (auto beyond = beyond_limits(root, limits)) {
    errors.push_back(std::move(*beyond));
    return Node{};
  }
  if (!root.is_map()) {
    errors.push_back(Error{ErrorCode::kType,
                           "the top level of a state file must be a mapping of keys, not " + root.describe(),
                           root.location.line > 0 ? root.location : Location{name, 1, 1}, "", front_end->example()});
  }
  return root;
}

void merge_into(Node& base, const Node& overlay, std::vector<Overridden>* overridden) {
  // Keeps what a later layer replaces (`validate --explain` shows it), with the key path it had.
  auto replaced = [&](const Node& old, const Node& by) {
    if (overridden != nullptr) overridden->push_back(Overridden{old, by.location, false});
  };
  if (!base.is_map() || !overlay.is_map()) {
    const std::string path = base.path;
    replaced(base, overlay);
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
      // Under a foreign file's node a value keeps the key path of its own file (a native one).
      if (!base.foreign_path) repath(base.entries.back().value, child_path(base.path, entry.key));
      continue;
    }
    Node& target = it->value;
    if (target.is_map() && entry.value.is_map()) {
      merge_into(target, entry.value, overridden);
    } else if (target.is_sequence() && entry.value.is_sequence()) {
      for (const auto& item : entry.value.items) {
        const auto present = std::find_if(target.items.begin(), target.items.end(),
                                          [&](const Node& existing) { return equal_values(existing, item); });
        if (present != target.items.end()) {
          if (overridden != nullptr) {
            Node again = item;
            repath(again, present->path);
            overridden->push_back(Overridden{std::move(again), present->location, true});
          }
          continue;
        }
        target.items.push_back(item);
        if (!target.foreign_path) repath(target.items.back(), index_path(target.path, target.items.size() - 1));
      }
    } else {
      it->key_location = entry.key_location;
      replaced(target, entry.value);
      target = entry.value;
      if (!base.foreign_path) repath(target, child_path(base.path, entry.key));
    }
  }
}

Loaded load_files(const std::vector<std::string>& files, const LoadLimits& limits, const FrontEnd* format,
                  const FileFormats& per_file) {
  Loaded loaded;
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
    const auto own = per_file.find(file);
    Node root = parse_text(file, std::move(*text), loaded.errors, limits, own != per_file.end() ? own->second : format,
                           &loaded.notes);
    if (!root.is_map()) continue;
    if (loaded.root.entries.empty()) loaded.root = std::move(root);  // the first layer needs no merge
    else merge_into(loaded.root, root, &loaded.overridden);
  }
  return loaded;
}

std::string explain(const Node& root, const std::vector<Overridden>& overridden) {
  std::string out;
  Explainer explainer(out, overridden);
  explainer.node(root, "");
  explainer.rest();
  return out;
}

}  // namespace reconcile::engine
