#include "providers/template.h"

#include <kainjow/mustache.hpp>

#include <vector>

namespace reconcile::providers {

namespace {

using Data = kainjow::mustache::data;

// One tag of a template: its kind ('\0' a value, '&' a raw value, '#' a section, '^' an inverted one, '/' a
// section's end), the name it uses and where it starts.
struct Tag {
  char type = '\0';
  std::string name;
  int line = 0;
  int column = 0;
};

std::string trim(std::string_view text) {
  const auto first = text.find_first_not_of(" \t\r\n");
  if (first == std::string_view::npos) return "";
  const auto last = text.find_last_not_of(" \t\r\n");
  return std::string(text.substr(first, last - first + 1));
}

std::expected<std::vector<Tag>, TemplateError> scan_tags(std::string_view text) {
  std::vector<Tag> tags;
  int line = 1;
  std::size_t line_start = 0;
  std::size_t counted = 0;
  auto advance_to = [&](std::size_t pos) {
    for (; counted < pos; ++counted) {
      if (text[counted] == '\n') {
        ++line;
        line_start = counted + 1;
      }
    }
  };
  for (std::size_t pos = text.find("{{"); pos != std::string_view::npos; pos = text.find("{{", pos)) {
    advance_to(pos);
    const int column = static_cast<int>(pos - line_start) + 1;
    const bool triple = pos + 2 < text.size() && text[pos + 2] == '{';
    const std::string_view close = triple ? "}}}" : "}}";
    const std::size_t open_size = triple ? 3 : 2;
    const auto end = text.find(close, pos + open_size);
    if (end == std::string_view::npos) {
      return std::unexpected(TemplateError{line, column, std::string("'") + (triple ? "{{{" : "{{") + "' is not closed by '" +
                                                             std::string(close) + "'",
                                           "close the tag, e.g. {{vars.name}}"});
    }
    std::string inner = trim(text.substr(pos + open_size, end - pos - open_size));
    pos = end + close.size();
    Tag tag{triple ? '&' : '\0', "", line, column};
    if (!triple && !inner.empty() && std::string_view("!#^/&>=").find(inner.front()) != std::string_view::npos) {
      tag.type = inner.front();
      inner = trim(std::string_view(inner).substr(1));
    }
    if (tag.type == '!') continue;
    if (tag.type == '>') {
      return std::unexpected(TemplateError{line, column, "partials ({{> name}}) are not supported",
                                           "write the text in the template itself"});
    }
    if (tag.type == '=') {
      return std::unexpected(TemplateError{line, column, "changing the delimiters ({{=<% %>=}}) is not supported",
                                           "keep {{ and }}"});
    }
    if (inner.empty()) return std::unexpected(TemplateError{line, column, "an empty tag", "write {{vars.name}}"});
    tag.name = std::move(inner);
    tags.push_back(std::move(tag));
  }
  return tags;
}

Data from_node(const resources::Node& node) {
  switch (node.type) {
    case resources::Node::Type::kNull: return Data(Data::type::bool_false);
    case resources::Node::Type::kScalar:
      if (node.tag != resources::Node::Tag::kString && (node.scalar == "true" || node.scalar == "false")) {
        return Data(node.scalar == "true" ? Data::type::bool_true : Data::type::bool_false);
      }
      return Data(node.scalar);
    case resources::Node::Type::kSequence: {
      Data list(Data::type::list);
      for (const auto& item : node.items) list.push_back(from_node(item));
      return list;
    }
    case resources::Node::Type::kMap: {
      Data object;
      for (const auto& entry : node.entries) object.set(entry.key, from_node(entry.value));
      return object;
    }
  }
  return Data(Data::type::bool_false);
}

Data list_of(const std::vector<std::string>& items) {
  Data list(Data::type::list);
  for (const auto& item : items) list.push_back(Data(item));
  return list;
}

Data facts_data(const HostFacts& facts) {
  Data os;
  os.set("family", facts.os_family);
  os.set("id", facts.os_id);
  os.set("version", facts.os_version);
  os.set("codename", facts.os_codename);
  os.set("name", facts.os_name);
  Data out;
  out.set("hostname", facts.hostname);
  out.set("fqdn", facts.fqdn);
  out.set("domain", facts.domain);
  out.set("os", os);
  out.set("ipv4", facts.ipv4.empty() ? std::string() : facts.ipv4.front());
  out.set("ipv6", facts.ipv6.empty() ? std::string() : facts.ipv6.front());
  out.set("ipv4_addresses", list_of(facts.ipv4));
  out.set("ipv6_addresses", list_of(facts.ipv6));
  out.set("memory_mb", std::to_string(facts.memory_mb));
  out.set("cpu_count", std::to_string(facts.cpu_count));
  return out;
}

void node_names(const resources::Node& node, const std::string& prefix, std::vector<std::string>& out, int depth) {
  if (!node.is_map() || depth > 4) return;
  for (const auto& entry : node.entries) {
    out.push_back(prefix + entry.key);
    node_names(entry.value, prefix + entry.key + ".", out, depth + 1);
  }
}

std::vector<std::string> known_names(const resources::Node* vars) {
  std::vector<std::string> out = {"facts.hostname", "facts.fqdn", "facts.domain", "facts.os.family", "facts.os.id",
                                  "facts.os.version", "facts.os.codename", "facts.os.name", "facts.ipv4",
                                  "facts.ipv6", "facts.ipv4_addresses", "facts.ipv6_addresses", "facts.memory_mb",
                                  "facts.cpu_count"};
  if (vars != nullptr) node_names(*vars, "vars.", out, 0);
  return out;
}

std::vector<std::string> split(const std::string& name) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  while (true) {
    const auto dot = name.find('.', start);
    parts.push_back(name.substr(start, dot == std::string::npos ? std::string::npos : dot - start));
    if (dot == std::string::npos) return parts;
    start = dot + 1;
  }
}

// Checks every tag's name against the values, as mustache looks it up: the innermost section's value first, then
// outwards. A section over an empty list checks nothing inside (there is no item to look in).
std::expected<void, TemplateError> check_names(const std::vector<Tag>& tags, const Data& root,
                                               const resources::Node* vars) {
  static const Data kAnything;  // stands for a context whose names cannot be known
  std::vector<const Data*> stack{&root};
  std::vector<const Tag*> open;
  auto resolve = [&](const std::string& name) -> const Data* {
    if (name == ".") return stack.back();
    const auto parts = split(name);
    for (auto it = stack.rbegin(); it != stack.rend(); ++it) {
      if (*it == &kAnything) return &kAnything;
      if (!(*it)->is_object()) continue;
      const Data* found = (*it)->get(parts.front());
      if (found == nullptr) continue;
      for (std::size_t k = 1; k < parts.size() && found != nullptr; ++k) {
        found = found->is_object() ? found->get(parts[k]) : nullptr;
      }
      return found;
    }
    return nullptr;
  };
  for (const Tag& tag : tags) {
    if (tag.type == '/') {
      if (open.empty() || open.back()->name != tag.name) {
        return std::unexpected(TemplateError{
            tag.line, tag.column,
            open.empty() ? "'{{/" + tag.name + "}}' closes no section"
                         : "'{{/" + tag.name + "}}' closes '" + open.back()->name + "' (opened at line " +
                               std::to_string(open.back()->line) + ")",
            "close sections in the order they were opened"});
      }
      open.pop_back();
      stack.pop_back();
      continue;
    }
    const Data* value = resolve(tag.name);
    if (value == nullptr) {
      std::string hint = resources::did_you_mean(tag.name, known_names(vars));
      if (hint.empty()) {
        hint = tag.name.starts_with("vars.") ? "define it under the state's top-level vars:"
                                             : "names are facts.NAME (facts.hostname, facts.os.family, …) or vars.NAME";
      }
      return std::unexpected(TemplateError{tag.line, tag.column, "unknown variable '" + tag.name + "'", hint});
    }
    if (tag.type != '#' && tag.type != '^') continue;
    open.push_back(&tag);
    if (tag.type == '#' && value->is_list()) {
      stack.push_back(value->is_empty_list() ? &kAnything : &value->list_value().front());
    } else if (tag.type == '#' && value->is_object()) {
      stack.push_back(value);
    } else {
      stack.push_back(stack.back());
    }
  }
  if (!open.empty()) {
    return std::unexpected(TemplateError{open.back()->line, open.back()->column,
                                         "section '" + open.back()->name + "' is not closed",
                                         "end it with {{/" + open.back()->name + "}}"});
  }
  return {};
}

}  // namespace

std::expected<std::string, TemplateError> render_template(std::string_view text, const HostFacts& facts,
                                                          const resources::Node* vars) {
  auto tags = scan_tags(text);
  if (!tags) return std::unexpected(tags.error());
  Data root;
  root.set("facts", facts_data(facts));
  root.set("vars", vars != nullptr ? from_node(*vars) : Data());
  if (auto checked = check_names(*tags, root, vars); !checked) return std::unexpected(checked.error());
  kainjow::mustache::mustache tmpl{std::string(text)};
  if (!tmpl.is_valid()) return std::unexpected(TemplateError{0, 0, tmpl.error_message(), ""});
  tmpl.set_custom_escape([](const std::string& value) { return value; });
  std::string out = tmpl.render(root);
  if (!tmpl.is_valid()) return std::unexpected(TemplateError{0, 0, tmpl.error_message(), ""});
  return out;
}

bool names_fqdn(std::string_view text) {
  return text.find("facts.fqdn") != std::string_view::npos || text.find("facts.domain") != std::string_view::npos;
}

}  // namespace reconcile::providers
