#pragma once
// JSON text of a document, exactly as nlohmann::json's dump(2, ' ', false, replace) writes it, several times
// faster: a converged apply writes its report two or three times, and nlohmann's serializer was most of the
// time such a run spent after observing. Plain ASCII strings and integers are written directly; anything else
// (escapes, UTF-8, floating point) goes through nlohmann, so the bytes are the same.

#include <nlohmann/json.hpp>
#include <string>

namespace reconcile::engine {

/// `value` indented by two spaces, with a final newline; invalid UTF-8 replaced by U+FFFD.
std::string pretty_json(const nlohmann::json& value);

}  // namespace reconcile::engine
