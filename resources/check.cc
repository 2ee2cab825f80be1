#include "resources/check.h"

#include <charconv>
#include <cstdio>

namespace reconcile::resources {

namespace {

std::string ms_text(double seconds) {
  char buffer[32];
  if (seconds < 1) std::snprintf(buffer, sizeof buffer, "%.1f ms", seconds * 1000);
  else std::snprintf(buffer, sizeof buffer, "%.2f s", seconds);
  return buffer;
}

constexpr int kDefaultTimeoutMs = 5000;

}  // namespace

std::string_view field_name(CheckField) { return "probe"; }

std::vector<Field> TcpCheckObserved::fields() const {
  if (!probed) return {{"probe", "not yet"}};
  return {{"answers", answered ? "yes" : "no"}, {"latency", ms_text(seconds)}, {"address", address}};
}

std::string TcpCheckObserved::summary() const {
  if (!probed) return "not probed yet";
  if (answered) return "answered in " + ms_text(seconds) + " (" + address + ")";
  return error + " (" + (address.empty() ? "" : address + ", ") + ms_text(seconds) + ")";
}

TcpCheckResource::TcpCheckResource(std::string host, int port, int timeout_ms, Location location,
                                   std::string key_path)
    : ResourceOf("check", "tcp:" + (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" +
                              std::to_string(port),
                 std::move(location), std::move(key_path)),
      host_(std::move(host)),
      port_(port),
      timeout_ms_(timeout_ms) {}

std::vector<Field> TcpCheckResource::desired_fields() const {
  return {{"answers", "yes"}, {"timeout", std::to_string(timeout_ms_) + " ms"}};
}

Drift TcpCheckResource::diff_of(const TcpCheckObserved& seen) const {
  // A closed port is a failed check (the provider says so), never a change: only "not probed yet" drifts.
  if (seen.probed) return {};
  return {drift_of(CheckField::kProbe, "not yet", "answers", "probed once what it requires has converged")};
}

std::expected<std::pair<std::string, int>, std::string> parse_host_port(std::string_view text) {
  std::string_view host;
  std::string_view port;
  if (text.starts_with('[')) {
    const auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return std::unexpected("an IPv6 address is written [::1]:port");
    }
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    const auto colon = text.rfind(':');
    if (colon == std::string_view::npos) return std::unexpected("no port: write host:port, such as localhost:25");
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) return std::unexpected("an IPv6 address is written [::1]:port");
  }
  if (host.empty()) return std::unexpected("no host: write host:port, such as localhost:25");
  if (host.size() > 253) return std::unexpected("the host name is longer than 253 characters");
  for (const char c : host) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                    c == '-' || c == '_' || c == ':' || c == '%';
    if (!ok) return std::unexpected("the host may hold only letters, digits, '.', '-', '_' (and ':' in [IPv6])");
  }
  int value = 0;
  const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (ec != std::errc() || end != port.data() + port.size() || value < 1 || value > 65535) {
    return std::unexpected("the port '" + std::string(port) + "' is not a number from 1 to 65535");
  }
  return std::make_pair(std::string(host), value);
}

std::expected<std::int64_t, std::string> parse_routine_duration(std::string_view text) {
  if (text.empty()) return std::unexpected("empty");
  std::int64_t number = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), number);
  if (ec != std::errc() || end == text.data() || number < 0) {
    return std::unexpected("'" + std::string(text) + "' is not a duration such as 30s, 10m, 2h, 7d or 1w");
  }
  const std::string_view unit(end, static_cast<std::size_t>(text.data() + text.size() - end));
  std::int64_t scale = 0;
  if (unit.empty() || unit == "s") scale = 1;
  else if (unit == "m" || unit == "min") scale = 60;
  else if (unit == "h") scale = 3600;
  else if (unit == "d") scale = 86400;
  else if (unit == "w") scale = 7 * 86400;
  else return std::unexpected("unknown unit '" + std::string(unit) + "': use s, m, h, d or w");
  if (number > (std::int64_t{1} << 40) / scale) return std::unexpected("'" + std::string(text) + "' is too long");
  return number * scale;
}

std::optional<std::int64_t> read_duration(NodeReader& reader, const Node& node, std::int64_t min, std::int64_t max) {
  auto text = reader.string(node, "a duration such as 30s, 10m, 2h or 7d", true);
  if (!text) return std::nullopt;
  auto seconds = parse_routine_duration(*text);
  if (!seconds) {
    reader.fail(node, ErrorCode::kInvalidValue, "invalid duration: " + seconds.error(), "write 30s, 10m, 2h or 7d");
    return std::nullopt;
  }
  if (*seconds < min || *seconds > max) {
    reader.fail(node, ErrorCode::kInvalidValue,
                "the duration " + *text + " is outside " + std::to_string(min) + "–" + std::to_string(max) + " s");
    return std::nullopt;
  }
  return *seconds;
}

KindSpec checks_kind() {
  KindSpec spec;
  spec.key = "checks";
  spec.compile = [](const Node& value, CompileContext& context) {
    NodeReader& reader = context.reader();
    if (!value.is_map()) {
      reader.fail(value, ErrorCode::kType, "expected a mapping with 'tcp', got " + value.describe(),
                  "write checks: {tcp: [\"localhost:25\"]}");
      return;
    }
    if (!reader.check_keys(value, {"tcp", "timeout"}, "the checks mapping")) return;
    int timeout_ms = kDefaultTimeoutMs;
    if (const Node* timeout = value.find("timeout")) {
      if (auto seconds = read_duration(reader, *timeout, 1, 300)) timeout_ms = static_cast<int>(*seconds * 1000);
    }
    const Node* tcp = value.find("tcp");
    if (tcp == nullptr) return;
    if (!tcp->is_sequence()) {
      reader.fail(*tcp, ErrorCode::kType, "expected a list of \"host:port\", got " + tcp->describe(),
                  "write tcp: [\"localhost:25\", \"db.internal:5432\"]");
      return;
    }
    for (const Node& item : tcp->items) {
      const Node* address = &item;
      int item_timeout = timeout_ms;
      if (item.is_map()) {
        if (!reader.check_keys(item, {"address", "timeout", "requires"}, "a TCP check")) continue;
        address = item.find("address");
        if (address == nullptr) {
          reader.fail(item, ErrorCode::kInvalidValue, "a TCP check needs 'address'",
                      "write {address: \"localhost:25\"}");
          continue;
        }
        if (const Node* timeout = item.find("timeout")) {
          auto seconds = read_duration(reader, *timeout, 1, 300);
          if (!seconds) continue;
          item_timeout = static_cast<int>(*seconds * 1000);
        }
      }
      auto text = reader.string(*address, "\"host:port\"");
      if (!text) continue;
      auto parsed = parse_host_port(*text);
      if (!parsed) {
        reader.fail(*address, ErrorCode::kInvalidValue, "invalid TCP check '" + *text + "': " + parsed.error(),
                    "write \"host:port\", such as \"localhost:25\" or \"[::1]:22\"");
        continue;
      }
      auto check = std::make_unique<TcpCheckResource>(parsed->first, parsed->second, item_timeout,
                                                      address->location, address->path);
      if (item.is_map()) context.read_requires(item, *check);
      context.add(std::move(check));
    }
  };
  return spec;
}

}  // namespace reconcile::resources
