#include "engine/front_end.h"

namespace reconcile::engine {

std::vector<const FrontEnd*> front_ends() {
  // A later front-end for a foreign JSON format goes before json_front_end(): it recognises its own
  // documents among those that json would read.
  return {&laitos_front_end(), &json_front_end(), &yaml_front_end()};
}

const FrontEnd* front_end_named(std::string_view name) {
  for (const FrontEnd* front_end : front_ends()) {
    if (front_end->name() == name) return front_end;
  }
  return nullptr;
}

std::string front_end_names() {
  std::string out;
  for (const FrontEnd* front_end : front_ends()) out += (out.empty() ? "" : ", ") + std::string(front_end->name());
  return out;
}

const FrontEnd& detect_front_end(std::string_view text) {
  for (const FrontEnd* front_end : front_ends()) {
    if (front_end != &yaml_front_end() && front_end->recognises(text)) return *front_end;
  }
  return yaml_front_end();
}

}  // namespace reconcile::engine
