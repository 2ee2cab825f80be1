#pragma once
// The `vars:` settings section: values of the state's own, for templates (`files: [{template: ...}]`).
//
//   vars:
//     app_port: 8080
//     upstreams: [{host: app1, port: 8080}, {host: app2, port: 8080}]
//
// A template names them as {{vars.app_port}}; layered state files merge them like every other mapping.

#include <string_view>

#include "resources/kind.h"

namespace reconcile::resources {

/// Nothing when `name` may name a value in `vars:` (letters, digits, '_' and '-', not starting with a digit).
bool valid_var_name(std::string_view name);

/// The `vars` key.
SectionSpec vars_section();

}  // namespace reconcile::resources
