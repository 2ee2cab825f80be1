#include "resources/firewall.h"

#include <algorithm>
#include <charconv>
#include <map>

namespace reconcile::resources {

namespace {

constexpr int kThrottleTimeoutSeconds = 60;  // a quiet source's meter entry is forgotten after this
constexpr int kThrottleSetSize = 65535;      // sources tracked at once per family

std::optional<unsigned> number(std::string_view text, unsigned max) {
  unsigned value = 0;
  if (text.empty() || text.size() > 10) return std::nullopt;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || ptr != text.data() + text.size() || value > max) return std::nullopt;
  return value;
}

std::optional<std::vector<std::uint8_t>> parse_ipv4(std::string_view text) {
  std::vector<std::uint8_t> out;
  std::size_t start = 0;
  for (int part = 0; part < 4; ++part) {
    const std::size_t end = part == 3 ? text.size() : text.find('.', start);
    if (end == std::string_view::npos) return std::nullopt;
    const std::string_view piece = text.substr(start, end - start);
    if (piece.size() > 1 && piece.front() == '0') return std::nullopt;  // "010" is octal to some tools
    auto value = number(piece, 255);
    if (!value) return std::nullopt;
    out.push_back(static_cast<std::uint8_t>(*value));
    start = end + 1;
  }
  return out;
}

std::optional<std::vector<std::uint8_t>> parse_ipv6(std::string_view text) {
  std::vector<std::uint16_t> head;
  std::vector<std::uint16_t> tail;
  bool compressed = false;
  if (text.starts_with("::")) {
    compressed = true;
    text.remove_prefix(2);
  } else if (text.starts_with(":")) {
    return std::nullopt;
  }
  std::optional<std::vector<std::uint8_t>> ipv4;
  while (!text.empty()) {
    const std::size_t colon = text.find(':');
    const std::string_view group = text.substr(0, colon);
    auto& into = compressed ? tail : head;
    if (colon == std::string_view::npos && group.find('.') != std::string_view::npos) {
      ipv4 = parse_ipv4(group);
      if (!ipv4) return std::nullopt;
      into.push_back(static_cast<std::uint16_t>(((*ipv4)[0] << 8) | (*ipv4)[1]));
      into.push_back(static_cast<std::uint16_t>(((*ipv4)[2] << 8) | (*ipv4)[3]));
      break;
    }
    if (group.empty() || group.size() > 4) return std::nullopt;
    unsigned value = 0;
    auto [ptr, ec] = std::from_chars(group.data(), group.data() + group.size(), value, 16);
    if (ec != std::errc() || ptr != group.data() + group.size()) return std::nullopt;
    into.push_back(static_cast<std::uint16_t>(value));
    if (colon == std::string_view::npos) break;
    text.remove_prefix(colon + 1);
    if (text.starts_with(":")) {
      if (compressed) return std::nullopt;  // a second "::"
      compressed = true;
      text.remove_prefix(1);
    } else if (text.empty()) {
      return std::nullopt;  // a trailing single ':'
    }
  }
  const std::size_t groups = head.size() + tail.size();
  if (compressed ? groups > 7 : groups != 8) return std::nullopt;
  std::vector<std::uint16_t> all = head;
  all.resize(8 - tail.size(), 0);
  all.insert(all.end(), tail.begin(), tail.end());
  std::vector<std::uint8_t> out;
  for (const auto g : all) {
    out.push_back(static_cast<std::uint8_t>(g >> 8));
    out.push_back(static_cast<std::uint8_t>(g & 0xff));
  }
  return out;
}

void mask(std::vector<std::uint8_t>& bytes, int length) {
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    const int keep = std::clamp(length - static_cast<int>(i) * 8, 0, 8);
    bytes[i] &= static_cast<std::uint8_t>(0xff00 >> keep);
  }
}

std::string location_text(const Location& location) { return location.str(); }

// The longest common subsequence of two rule lists, as index pairs: what both have, in order.
std::vector<std::pair<std::size_t, std::size_t>> common(const std::vector<std::string>& a,
                                                        const std::vector<std::string>& b) {
  std::vector<std::vector<std::size_t>> len(a.size() + 1, std::vector<std::size_t>(b.size() + 1, 0));
  for (std::size_t i = a.size(); i-- > 0;) {
    for (std::size_t j = b.size(); j-- > 0;) {
      len[i][j] = a[i] == b[j] ? len[i + 1][j + 1] + 1 : std::max(len[i + 1][j], len[i][j + 1]);
    }
  }
  std::vector<std::pair<std::size_t, std::size_t>> out;
  for (std::size_t i = 0, j = 0; i < a.size() && j < b.size();) {
    if (a[i] == b[j]) {
      out.emplace_back(i++, j++);
    } else if (len[i + 1][j] >= len[i][j + 1]) {
      ++i;
    } else {
      ++j;
    }
  }
  return out;
}

}  // namespace

std::string_view to_string(Proto proto) { return proto == Proto::kTcp ? "tcp" : "udp"; }

std::string PortRule::ports() const {
  return first == last ? std::to_string(first) : std::to_string(first) + "-" + std::to_string(last);
}

std::string Cidr::str() const {
  const int whole = family == 4 ? 32 : 128;
  return length == whole ? address : address + "/" + std::to_string(length);
}

bool Cidr::contains(std::string_view text) const {
  auto net = parse_address(address, family);
  auto bytes = parse_address(text, family);
  if (!net || !bytes) return false;
  mask(*bytes, length);
  return *bytes == *net;
}

std::optional<std::vector<std::uint8_t>> parse_address(std::string_view text, int family) {
  return family == 4 ? parse_ipv4(text) : parse_ipv6(text);
}

std::string format_address(const std::vector<std::uint8_t>& bytes) {
  if (bytes.size() == 4) {
    return std::to_string(bytes[0]) + "." + std::to_string(bytes[1]) + "." + std::to_string(bytes[2]) + "." +
           std::to_string(bytes[3]);
  }
  std::uint16_t words[8];
  for (int i = 0; i < 8; ++i) words[i] = static_cast<std::uint16_t>((bytes[2 * i] << 8) | bytes[2 * i + 1]);
  int best = -1, best_len = 0;
  for (int i = 0; i < 8;) {
    if (words[i] != 0) {
      ++i;
      continue;
    }
    int j = i;
    while (j < 8 && words[j] == 0) ++j;
    if (j - i > best_len) best = i, best_len = j - i;
    i = j;
  }
  if (best_len < 2) best = -1;
  std::string out;
  static constexpr char kHex[] = "0123456789abcdef";
  for (int i = 0; i < 8; ++i) {
    if (best >= 0 && i >= best && i < best + best_len) {
      if (i == best) out += ":";
      continue;
    }
    // An IPv4 address embedded in the last 32 bits, as inet_ntop prints it (::ffff:1.2.3.4, ::1.2.3.4).
    if (i == 6 && best == 0 && (best_len == 6 || (best_len == 5 && words[5] == 0xffff))) {
      out += (out.empty() || out.back() != ':' ? ":" : "") +
             format_address({bytes[12], bytes[13], bytes[14], bytes[15]});
      return out;
    }
    if (!out.empty() || i > 0) out += ":";
    std::string group;
    for (int shift = 12; shift >= 0; shift -= 4) {
      const int digit = (words[i] >> shift) & 0xf;
      if (group.empty() && digit == 0 && shift > 0) continue;
      group += kHex[digit];
    }
    out += group;
  }
  if (best >= 0 && best + best_len == 8) out += ":";
  if (out.starts_with(":") && !out.starts_with("::")) out = ":" + out;
  return out;
}

std::expected<Cidr, std::string> parse_cidr(std::string_view text) {
  const std::size_t slash = text.find('/');
  const std::string_view addr = text.substr(0, slash);
  Cidr cidr;
  cidr.family = addr.find(':') != std::string_view::npos ? 6 : 4;
  const int whole = cidr.family == 4 ? 32 : 128;
  auto bytes = parse_address(addr, cidr.family);
  if (!bytes) {
    return std::unexpected("'" + std::string(addr) + "' is not an IPv" + std::to_string(cidr.family) + " address");
  }
  cidr.length = whole;
  if (slash != std::string_view::npos) {
    auto length = number(text.substr(slash + 1), static_cast<unsigned>(whole));
    if (!length) {
      return std::unexpected("the prefix length after '/' must be a number from 0 to " + std::to_string(whole));
    }
    cidr.length = static_cast<int>(*length);
  }
  auto network = *bytes;
  mask(network, cidr.length);
  cidr.address = format_address(network);
  if (network != *bytes) {
    return std::unexpected("host bits are set below the /" + std::to_string(cidr.length) + " prefix; did you mean " +
                           cidr.str() + "?");
  }
  return cidr;
}

std::string_view field_name(FirewallField field) {
  switch (field) {
    case FirewallField::kTable: return "table";
    case FirewallField::kRules: return "rule";
    case FirewallField::kPersisted: return "persisted";
    case FirewallField::kBoot: return "boot";
  }
  return "table";
}

std::vector<Field> FirewallObserved::fields() const {
  std::vector<Field> out;
  out.push_back({"table", table ? std::string(kFirewallTable) : "absent"});
  out.push_back({"rules", std::to_string(rules.size())});
  out.push_back({"persisted", persisted ? std::string(kFirewallPersisted) : "absent"});
  out.push_back({"boot", unit_enabled && unit_current ? "reconcile-firewall.service" : "not loaded at boot"});
  if (!others.empty()) {
    std::string names;
    for (const auto& other : others) names += (names.empty() ? "" : ", ") + other;
    out.push_back({"other tables", names});
  }
  return out;
}

FirewallResource::FirewallResource(std::vector<PortRule> ports, std::optional<int> throttle,
                                   std::vector<Cidr> allow_from, bool allow_lockout, Location location,
                                   std::string key_path)
    : ResourceOf("firewall", "inbound", std::move(location), std::move(key_path)),
      ports_(std::move(ports)),
      throttle_(throttle),
      allow_from_(std::move(allow_from)),
      allow_lockout_(allow_lockout) {}

bool FirewallResource::admits_tcp(std::uint16_t port, std::string_view client) const {
  for (const auto& rule : ports_) {
    if (rule.proto == Proto::kTcp && rule.first <= port && port <= rule.last) return true;
  }
  if (client.empty()) return false;
  for (const auto& cidr : allow_from_) {
    if (cidr.contains(client)) return true;
  }
  return false;
}

std::optional<Lockout> FirewallResource::lockout(const std::vector<std::uint16_t>& sshd_ports,
                                                 std::string_view ssh_connection) const {
  if (allow_lockout_) return std::nullopt;
  // SSH_CONNECTION: "client_address client_port server_address server_port".
  std::vector<std::string_view> words;
  for (std::size_t at = 0; at < ssh_connection.size();) {
    at = ssh_connection.find_first_not_of(' ', at);
    if (at == std::string_view::npos) break;
    const std::size_t stop = std::min(ssh_connection.find(' ', at), ssh_connection.size());
    words.push_back(ssh_connection.substr(at, stop - at));
    at = stop;
  }
  std::string client;
  std::optional<unsigned> session_port;
  if (words.size() == 4) {
    client = std::string(words[0]);
    // An IPv4 client of a dual-stack sshd is shown as ::ffff:a.b.c.d; the kernel filters it as IPv4.
    if (client.starts_with("::ffff:") && client.find('.') != std::string::npos) client = client.substr(7);
    session_port = number(words[3], 65535);
    if (session_port && *session_port == 0) session_port.reset();
  }
  const bool known_client = session_port.has_value() && (parse_address(client, 4) || parse_address(client, 6));
  if (session_port && !admits_tcp(static_cast<std::uint16_t>(*session_port), known_client ? client : "")) {
    std::string why = "the port of this SSH session, from " + client;
    if (!allow_from_.empty()) why += ", which is not in allow_from";
    return Lockout{static_cast<std::uint16_t>(*session_port), why};
  }
  for (const std::uint16_t port : sshd_ports) {
    if (admits_tcp(port, "")) continue;
    if (known_client) {
      if (admits_tcp(port, client)) continue;
      return Lockout{port, "sshd listens on it" +
                               std::string(allow_from_.empty() ? ""
                                                               : ", and this SSH session's address " + client +
                                                                     " is not in allow_from")};
    }
    if (!allow_from_.empty()) continue;  // no session to lose; the sources in allow_from still reach sshd
    return Lockout{port, "sshd listens on it"};
  }
  return std::nullopt;
}

std::vector<std::string> FirewallResource::head() const {
  std::vector<std::string> out;
  if (throttle_) {
    for (const char* family : {"4", "6"}) {
      out.push_back(std::string("set throttle") + family + " type ipv" + family + "_addr size " +
                    std::to_string(kThrottleSetSize) + " flags timeout timeout " +
                    std::to_string(kThrottleTimeoutSeconds) + "s");
    }
  }
  out.push_back("chain input type filter hook input priority 0 policy drop");
  return out;
}

std::vector<std::string> FirewallResource::rules() const {
  std::vector<std::string> out = {
      "iif \"lo\" accept",
      "ct state established,related accept",
      // Neighbour discovery before the invalid check: conntrack may class it invalid, and without it no
      // IPv6 neighbour can find this host.
      "icmpv6 type { nd-neighbor-advert, nd-neighbor-solicit, nd-router-advert, nd-router-solicit } accept",
      "ct state invalid drop",
      "meta l4proto 1 accept",
      "meta l4proto 58 accept",
  };
  if (throttle_) {
    const std::string limit = " limit rate over " + std::to_string(*throttle_) + "/second burst " +
                              std::to_string(*throttle_) + " packets } drop";
    for (const auto& [set, saddr] : {std::pair{"@throttle4", "ip saddr"}, std::pair{"@throttle6", "ip6 saddr"}}) {
      out.push_back(std::string("meta l4proto 6 ct state new update ") + set + " { " + saddr + limit);
      out.push_back(std::string("meta l4proto 17 update ") + set + " { " + saddr + limit);
    }
  }
  for (const auto& rule : ports_) out.push_back(std::string(to_string(rule.proto)) + " dport " + rule.ports() + " accept");
  for (const auto& cidr : allow_from_) {
    out.push_back(std::string(cidr.family == 4 ? "ip" : "ip6") + " saddr " + cidr.str() + " accept");
  }
  out.push_back("counter drop");
  return out;
}

std::string firewall_script(const std::vector<std::string>& head, const std::vector<std::string>& rules) {
  // "table" first creates the table when it is missing, so "delete" always has something to delete; the three
  // commands are one transaction, and the kernel swaps the old table for the new one at once.
  std::string out = "# reconcile's firewall: table inet reconcile, replaced in one transaction.\n"
                    "table inet reconcile\ndelete table inet reconcile\ntable inet reconcile {\n";
  for (const auto& line : head) {
    if (line.starts_with("set ")) {
      // "set throttle4 type ipv4_addr size 65535 flags timeout timeout 60s" → its nft declaration
      std::vector<std::string> words;
      for (std::size_t at = 0; at < line.size();) {
        const std::size_t end = std::min(line.find(' ', at), line.size());
        words.push_back(line.substr(at, end - at));
        at = end + 1;
      }
      if (words.size() == 10) {
        out += "  set " + words[1] + " { type " + words[3] + "; size " + words[5] + "; flags dynamic," + words[7] +
               "; timeout " + words[9] + "; }\n";
      }
    } else if (line.starts_with("chain input")) {
      out += "  chain input {\n    type filter hook input priority 0; policy drop;\n";
      for (const auto& rule : rules) out += "    " + rule + "\n";
      out += "  }\n";
    }
  }
  out += "}\n";
  return out;
}

std::string FirewallResource::script() const { return firewall_script(head(), rules()); }

std::string FirewallResource::unit_text() {
  return "# Written by reconcile: loads its firewall (table inet reconcile) before the network comes up.\n"
         "[Unit]\n"
         "Description=reconcile firewall (table inet reconcile)\n"
         "DefaultDependencies=no\n"
         "Before=network-pre.target shutdown.target\n"
         "Wants=network-pre.target\n"
         "Conflicts=shutdown.target\n"
         "ConditionPathExists=" + std::string(kFirewallPersisted) + "\n"
         "\n"
         "[Service]\n"
         "Type=oneshot\n"
         "RemainAfterExit=yes\n"
         "ExecStart=/usr/sbin/nft -f " + std::string(kFirewallPersisted) + "\n"
         "\n"
         "[Install]\n"
         "WantedBy=sysinit.target\n";
}

std::vector<Field> FirewallResource::desired_fields() const {
  std::vector<Field> out;
  std::string ports;
  for (const auto& rule : ports_) ports += (ports.empty() ? "" : ", ") + rule.ports() + "/" + std::string(to_string(rule.proto));
  out.push_back({"allow_ports", ports.empty() ? "none" : ports});
  out.push_back({"throttle_per_source", throttle_ ? std::to_string(*throttle_) : "off"});
  std::string from;
  for (const auto& cidr : allow_from_) from += (from.empty() ? "" : ", ") + cidr.str();
  out.push_back({"allow_from", from.empty() ? "none" : from});
  out.push_back({"persisted", std::string(kFirewallPersisted)});
  return out;
}

Drift FirewallResource::diff_of(const FirewallObserved& seen) const {
  Drift drift;
  const auto want_rules = rules();
  if (!seen.table) {
    drift.push_back(drift_of(FirewallField::kTable, "absent", std::string(kFirewallTable) + " with " +
                                                                  std::to_string(want_rules.size()) + " rules",
                             "no table of ours: inbound traffic is not filtered by reconcile"));
  } else {
    const auto want_head = head();
    for (const auto& line : seen.head) {
      if (std::find(want_head.begin(), want_head.end(), line) == want_head.end()) {
        drift.push_back(drift_of(FirewallField::kTable, line, "absent", "not in the desired table"));
      }
    }
    for (const auto& line : want_head) {
      if (std::find(seen.head.begin(), seen.head.end(), line) == seen.head.end()) {
        drift.push_back(drift_of(FirewallField::kTable, "absent", line, "missing from the table"));
      }
    }
  }
  // Rules removed and added, in chain order: what both lists share in order stays.
  const auto shared = common(seen.rules, want_rules);
  std::vector<bool> kept_seen(seen.rules.size(), false), kept_want(want_rules.size(), false);
  for (const auto& [i, j] : shared) kept_seen[i] = kept_want[j] = true;
  if (seen.table) {
    for (std::size_t i = 0; i < seen.rules.size(); ++i) {
      if (!kept_seen[i]) drift.push_back(drift_of(FirewallField::kRules, seen.rules[i], "absent", "would be removed"));
    }
  }
  for (std::size_t j = 0; j < want_rules.size(); ++j) {
    if (!kept_want[j]) drift.push_back(drift_of(FirewallField::kRules, "absent", want_rules[j], "would be added"));
  }
  if (!seen.awaiting_confirmation) {
    const std::string want_script = script();
    if (!seen.persisted) {
      drift.push_back(drift_of(FirewallField::kPersisted, "absent", std::string(kFirewallPersisted),
                               "without it the rule set is lost at reboot"));
    } else if (*seen.persisted != want_script) {
      drift.push_back(drift_of(FirewallField::kPersisted, "another rule set", std::string(kFirewallPersisted),
                               "the rule set loaded at boot differs from the desired one"));
    }
    if (!seen.unit_current || !seen.unit_enabled) {
      drift.push_back(drift_of(FirewallField::kBoot, !seen.unit_current ? "no unit" : "not enabled",
                               "reconcile-firewall.service enabled",
                               "nothing loads " + std::string(kFirewallPersisted) + " at boot"));
    }
  }
  if (!seen.confirm_outcome.empty() && !drift.empty()) {
    for (auto& d : drift) d.reason += "; " + seen.confirm_outcome;
  }
  return drift;
}

std::vector<FileClaim> FirewallResource::claims() const {
  return {{std::string(kFirewallPersisted), whole_file()}, {std::string(kFirewallUnit), whole_file()}};
}

namespace {

// One item of allow_ports: 22, "8000-8100", or {port: 53 | "8000-8100", proto: tcp | udp}; no proto means both.
void read_port(const Node& item, NodeReader& reader, std::vector<PortRule>& out) {
  const Node* port = &item;
  std::vector<Proto> protos = {Proto::kTcp, Proto::kUdp};
  if (item.is_map()) {
    if (!reader.check_keys(item, {"port", "proto"}, "an allow_ports entry")) return;
    port = item.find("port");
    if (port == nullptr) {
      reader.fail(item, ErrorCode::kInvalidValue, "an allow_ports entry needs a port",
                  "write {port: 53, proto: udp}");
      return;
    }
    if (const Node* proto = item.find("proto")) {
      auto name = reader.string(*proto, "tcp or udp");
      if (!name) return;
      if (*name == "tcp") {
        protos = {Proto::kTcp};
      } else if (*name == "udp") {
        protos = {Proto::kUdp};
      } else {
        std::string hint = did_you_mean(*name, {"tcp", "udp"});
        reader.fail(*proto, ErrorCode::kInvalidValue, "unknown protocol '" + *name + "': only tcp and udp are filtered by port",
                    hint.empty() ? "leave proto out to allow both tcp and udp" : hint);
        return;
      }
    }
  } else if (!item.is_scalar()) {
    reader.fail(item, ErrorCode::kType, "expected a port, a range \"8000-8100\" or {port, proto}, got " +
                                            item.describe());
    return;
  }
  if (!port->is_scalar()) {
    reader.fail(*port, ErrorCode::kType, "expected a port number or a range \"8000-8100\", got " + port->describe());
    return;
  }
  const std::string& text = port->scalar;
  const std::size_t dash = text.find('-');
  auto first = number(text.substr(0, dash), 65535);
  auto last = dash == std::string::npos ? first : number(text.substr(dash + 1), 65535);
  if (!first || !last) {
    reader.fail(*port, ErrorCode::kInvalidValue, "'" + text + "' is not a port or a port range",
                "write a port from 1 to 65535, or a range such as \"8000-8100\"");
    return;
  }
  if (*first < 1 || *last < 1) {
    reader.fail(*port, ErrorCode::kInvalidValue, "port " + text + " is outside 1-65535",
                "ports are numbered from 1 to 65535");
    return;
  }
  if (*first > *last) {
    reader.fail(*port, ErrorCode::kInvalidValue, "the range " + text + " is reversed",
                "write it as \"" + std::to_string(*last) + "-" + std::to_string(*first) + "\"");
    return;
  }
  for (const Proto proto : protos) {
    out.push_back(PortRule{proto, static_cast<std::uint16_t>(*first), static_cast<std::uint16_t>(*last),
                           port->location, port->path});
  }
}

}  // namespace

KindSpec firewall_kind() {
  KindSpec spec;
  spec.key = "firewall";
  spec.compile = [](const Node& value, CompileContext& context) {
    NodeReader& reader = context.reader();
    if (!value.is_map()) {
      reader.fail(value, ErrorCode::kType, "expected a mapping, got " + value.describe(),
                  "write firewall: {allow_ports: [22, 80, 443]}");
      return;
    }
    if (!reader.check_keys(value, {"allow_ports", "throttle_per_source", "allow_from", "allow_lockout", "requires"},
                           "the firewall mapping")) {
      return;
    }
    const std::size_t errors_before = reader.errors().size();
    std::vector<PortRule> ports;
    if (const Node* list = value.find("allow_ports")) {
      if (!list->is_sequence()) {
        reader.fail(*list, ErrorCode::kType, "expected a list of ports, got " + list->describe(),
                    "write allow_ports: [22, 80, {port: 53, proto: udp}]");
      } else {
        for (const Node& item : list->items) read_port(item, reader, ports);
      }
    }
    // The same port twice (or overlapping ranges) for one protocol: one entry is a mistake.
    std::vector<const PortRule*> sorted;
    for (const auto& rule : ports) sorted.push_back(&rule);
    std::stable_sort(sorted.begin(), sorted.end(), [](const PortRule* a, const PortRule* b) {
      return std::make_pair(a->proto, a->first) < std::make_pair(b->proto, b->first);
    });
    std::vector<std::string> overlaps;
    for (std::size_t i = 1; i < sorted.size(); ++i) {
      const PortRule& a = *sorted[i - 1];
      const PortRule& b = *sorted[i];
      if (a.proto != b.proto || b.first > a.last) continue;
      const PortRule& later = a.location.line > b.location.line ||
                                      (a.location.line == b.location.line && a.location.column > b.location.column)
                                  ? a
                                  : b;
      const PortRule& earlier = &later == &a ? b : a;
      Error error{ErrorCode::kDuplicateKey,
                  "port " + later.ports() + "/" + std::string(to_string(later.proto)) + " is allowed twice (also " +
                      earlier.ports() + " at " + location_text(earlier.location) + ")",
                  later.location, later.key_path, "list each port once"};
      if (std::find(overlaps.begin(), overlaps.end(), error.str()) != overlaps.end()) continue;
      overlaps.push_back(error.str());
      reader.errors().push_back(std::move(error));
    }
    std::optional<int> throttle;
    if (const Node* node = value.find("throttle_per_source")) {
      if (!node->is_null()) {
        auto n = reader.integer(*node, INT32_MIN, INT32_MAX);
        if (n && (*n <= 5 || *n >= 256)) {
          reader.fail(*node, ErrorCode::kInvalidValue,
                      "throttle_per_source must be more than 5 and less than 256, got " + std::to_string(*n),
                      "new connections and UDP packets per second per source, e.g. 30");
        } else if (n) {
          throttle = static_cast<int>(*n);
        }
      }
    }
    std::vector<Cidr> allow_from;
    if (const Node* list = value.find("allow_from")) {
      for (const Node* item : reader.list(*list, "an address or prefix such as 10.0.0.0/8", true)) {
        auto text = reader.string(*item, "an address or prefix such as 10.0.0.0/8");
        if (!text) continue;
        auto cidr = parse_cidr(*text);
        if (!cidr) {
          reader.fail(*item, ErrorCode::kInvalidValue, "invalid address or prefix '" + *text + "': " + cidr.error(),
                      "write 10.0.0.0/8, 192.0.2.7 or \"2001:db8::/32\"");
          continue;
        }
        const bool twice = std::any_of(allow_from.begin(), allow_from.end(),
                                       [&](const Cidr& c) { return c.str() == cidr->str(); });
        if (twice) {
          reader.fail(*item, ErrorCode::kDuplicateKey, cidr->str() + " is listed twice in allow_from",
                      "list each source once");
          continue;
        }
        allow_from.push_back(*cidr);
      }
    }
    bool allow_lockout = false;
    if (const Node* node = value.find("allow_lockout")) {
      if (auto flag = reader.boolean(*node)) allow_lockout = *flag;
    }
    if (reader.errors().size() != errors_before) return;
    auto resource = std::make_unique<FirewallResource>(std::move(ports), throttle, std::move(allow_from),
                                                       allow_lockout, value.location, value.path.empty() ? "firewall" : value.path);
    context.read_requires(value, *resource);
    context.add(std::move(resource));
  };
  return spec;
}

}  // namespace reconcile::resources
