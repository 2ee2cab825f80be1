#include "resources/vars.h"

namespace reconcile::resources {

bool valid_var_name(std::string_view name) {
  if (name.empty() || name.size() > 128 || (name.front() >= '0' && name.front() <= '9')) return false;
  for (const char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

namespace {

// Every key of every mapping under `node` a template can name.
void check_names(const Node& node, NodeReader& reader, int depth) {
  if (depth > 16) {
    reader.fail(node, ErrorCode::kInvalidValue, "vars are nested more than 16 levels deep", "flatten them");
    return;
  }
  if (node.is_sequence()) {
    for (const Node& item : node.items) check_names(item, reader, depth + 1);
    return;
  }
  if (!node.is_map()) return;
  for (const auto& entry : node.entries) {
    if (!valid_var_name(entry.key)) {
      const std::string shown = entry.key.size() > 60 ? entry.key.substr(0, 60) + "…" : entry.key;
      reader.fail(entry.value, ErrorCode::kInvalidValue,
                  "invalid name '" + shown + "': a template names it as {{vars.NAME}}, so it is letters, digits, "
                  "'_' and '-', not starting with a digit",
                  "rename it, e.g. app_port");
    }
    check_names(entry.value, reader, depth + 1);
  }
}

}  // namespace

SectionSpec vars_section() {
  return SectionSpec{"vars", "values of the state's own that templates fill in as {{vars.NAME}}",
                     [](const Node& value, NodeReader& reader) {
                       if (value.is_null()) return;
                       if (!value.is_map()) {
                         reader.fail(value, ErrorCode::kType, "expected a mapping of names to values, got " +
                                                                  value.describe(),
                                     "write vars: {app_port: 8080}");
                         return;
                       }
                       check_names(value, reader, 0);
                     }};
}

}  // namespace reconcile::resources
