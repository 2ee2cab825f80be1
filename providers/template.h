#pragma once
// Templates of `files:` entries: mustache (kainjow/mustache), filled in from the host's facts (`{{facts.fqdn}}`)
// and the state's `vars:` (`{{vars.app_port}}`). Every name a template uses must exist: mustache itself renders a
// missing name as nothing, so the tags are checked against the values first, and an unknown one is an input error
// at its line. Values are written as they are (no HTML escaping: these are configuration files).

#include <expected>
#include <string>
#include <string_view>

#include "providers/host_facts.h"
#include "resources/node.h"

namespace reconcile::providers {

/// Why a template cannot be rendered, at a 1-based line and column of the template.
struct TemplateError {
  int line = 0;
  int column = 0;
  std::string message;
  std::string hint;
};

/// The rendered text, or the first problem: a malformed tag, an unknown name, an unsupported tag (partials,
/// changed delimiters). `vars` may be nullptr (the state has none).
std::expected<std::string, TemplateError> render_template(std::string_view text, const HostFacts& facts,
                                                          const resources::Node* vars);

/// Whether the template names facts.fqdn or facts.domain, the facts that may need a name lookup.
bool names_fqdn(std::string_view text);

}  // namespace reconcile::providers
