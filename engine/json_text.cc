#include "engine/json_text.h"

#include <charconv>

namespace reconcile::engine {

namespace {

using nlohmann::json;

void append_string(std::string& out, const std::string& text) {
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte >= 0x7f || c == '"' || c == '\\') {
      out += json(text).dump(-1, ' ', false, json::error_handler_t::replace);
      return;
    }
  }
  out += '"';
  out += text;
  out += '"';
}

template <typename T>
void append_integer(std::string& out, T value) {
  char buffer[24];
  const auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, value);
  out.append(buffer, end);
}

void write(std::string& out, const json& value, std::size_t depth) {
  switch (value.type()) {
    case json::value_t::object: {
      if (value.empty()) {
        out += "{}";
        return;
      }
      out += "{\n";
      bool first = true;
      for (auto it = value.begin(); it != value.end(); ++it) {
        if (!first) out += ",\n";
        first = false;
        out.append(2 * (depth + 1), ' ');
        append_string(out, it.key());
        out += ": ";
        write(out, it.value(), depth + 1);
      }
      out += '\n';
      out.append(2 * depth, ' ');
      out += '}';
      return;
    }
    case json::value_t::array: {
      if (value.empty()) {
        out += "[]";
        return;
      }
      out += "[\n";
      bool first = true;
      for (const auto& item : value) {
        if (!first) out += ",\n";
        first = false;
        out.append(2 * (depth + 1), ' ');
        write(out, item, depth + 1);
      }
      out += '\n';
      out.append(2 * depth, ' ');
      out += ']';
      return;
    }
    case json::value_t::string:
      append_string(out, value.get_ref<const std::string&>());
      return;
    case json::value_t::boolean:
      out += value.get<bool>() ? "true" : "false";
      return;
    case json::value_t::null:
      out += "null";
      return;
    case json::value_t::number_integer:
      append_integer(out, value.get<json::number_integer_t>());
      return;
    case json::value_t::number_unsigned:
      append_integer(out, value.get<json::number_unsigned_t>());
      return;
    default:  // floating point, binary, discarded: as nlohmann writes them
      out += value.dump(-1, ' ', false, json::error_handler_t::replace);
      return;
  }
}

}  // namespace

std::string pretty_json(const nlohmann::json& value) {
  std::string out;
  out.reserve(4096);
  write(out, value, 0);
  out += '\n';
  return out;
}

}  // namespace reconcile::engine
