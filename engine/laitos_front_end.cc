// The laitos front-end: the laitos JSON config read by the native JSON reader (so every value keeps its line),
// its `Maintenance` object compiled key by key into native keys, the rest of the file left alone.

#include <algorithm>
#include <cctype>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "engine/laitos.h"
#include "engine/node_paths.h"

namespace reconcile::engine::laitos {

using resources::Error;
using resources::ErrorCode;
using resources::Location;
using resources::MapEntry;
using resources::Node;

namespace {

std::string lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// The Maintenance keys laitos knows, in its spelling.
const std::vector<std::string> kKeys{
    "IntervalSec",       "Recipients",          "CheckTCPPorts",          "BlockSystemLoginExcept",
    "DisableStopServices", "EnableStartServices", "InstallPackages",      "BlockPortsExcept",
    "ThrottleIncomingPackets", "SetTimeZone",   "TuneLinux",              "SwapFileSizeMB",
    "ScriptForUnix",     "ScriptForWindows",    "UploadReportToS3Bucket", "ShrinkSystemdJournalSizeMB",
    "DoEnhanceFileSecurity"};

constexpr std::int64_t kDay = 86400;

// Builds native nodes that carry a laitos key's location and path.
struct Origin {
  Location location;
  std::string path;
};

Origin origin_of(const Node& node) { return Origin{node.location, node.path}; }

Node scalar(std::string value, Node::Tag tag, const Origin& from) {
  Node node;
  node.type = Node::Type::kScalar;
  node.tag = tag;
  node.scalar = std::move(value);
  node.location = from.location;
  node.path = from.path;
  node.foreign_path = true;
  return node;
}

Node text(std::string value, const Origin& from) { return scalar(std::move(value), Node::Tag::kString, from); }
Node number(std::int64_t value, const Origin& from) { return scalar(std::to_string(value), Node::Tag::kNumber, from); }
Node boolean(bool value, const Origin& from) { return scalar(value ? "true" : "false", Node::Tag::kBool, from); }

Node container(Node::Type type, const Origin& from) {
  Node node;
  node.type = type;
  node.location = from.location;
  node.path = from.path;
  node.foreign_path = true;
  return node;
}

// The mapping under `key` of `parent`, made when missing.
Node& section(Node& parent, const std::string& key, const Origin& from) {
  for (auto& entry : parent.entries) {
    if (entry.key == key) return entry.value;
  }
  parent.entries.push_back(MapEntry{key, from.location, container(Node::Type::kMap, from)});
  return parent.entries.back().value;
}

void put(Node& map, const std::string& key, Node value) {
  const Location where = value.location;
  for (auto& entry : map.entries) {
    if (entry.key == key) {
      entry.value = std::move(value);
      return;
    }
  }
  map.entries.push_back(MapEntry{key, where, std::move(value)});
}

// A duration as the native keys write it: 24h, 2m, 90s.
std::string duration(std::int64_t seconds) {
  if (seconds % 3600 == 0) return std::to_string(seconds / 3600) + "h";
  if (seconds % 60 == 0) return std::to_string(seconds / 60) + "m";
  return std::to_string(seconds) + "s";
}

class Compiler {
 public:
  Compiler(std::vector<Error>& errors, std::vector<std::string>& notes) : errors_(errors), notes_(notes) {}

  Node run(const Node& config) {
    Node root = container(Node::Type::kMap, Origin{config.location, ""});
    const MapEntry* maintenance = nullptr;
    std::vector<std::string> others;
    for (const auto& entry : config.entries) {
      if (lower(entry.key) == "maintenance" && maintenance == nullptr) maintenance = &entry;
      else others.push_back(entry.key);
    }
    if (!others.empty()) {
      std::string keys;
      for (const auto& key : others) keys += (keys.empty() ? "" : ", ") + key;
      notes_.push_back("laitos: the keys outside Maintenance configure other laitos daemons and are ignored: " + keys);
    }
    if (maintenance == nullptr) {
      fail(config, "this laitos config has no Maintenance object",
           "reconcile --laitos reads the Maintenance object of a laitos config: {\"Maintenance\": {\"IntervalSec\": "
           "86400, …}}");
      return Node{};
    }
    const Node& m = maintenance->value;
    if (m.is_null()) {
      notes_.push_back("laitos: Maintenance is null, so only what laitos does every run applies");
    } else if (!m.is_map()) {
      fail(m, "Maintenance must be an object of settings, not " + m.describe(),
           "write \"Maintenance\": {\"IntervalSec\": 86400}");
      return Node{};
    }
    every_run_ = Origin{m.location, std::string(kEveryRun)};
    read_keys(m);
    compile(root);
    if (errors_.size() != errors_before_) return Node{};
    return root;
  }

 private:
  void fail(const Node& node, std::string message, std::string hint = "") {
    errors_.push_back(Error{ErrorCode::kInvalidValue, std::move(message), node.location, node.path, std::move(hint)});
  }
  void type_error(const Node& node, const std::string& expected, const std::string& example) {
    errors_.push_back(Error{ErrorCode::kType, "expected " + expected + ", got " + node.describe(), node.location,
                            node.path, "laitos would refuse this too; write " + example});
  }

  // Maps laitos' spelling (JSON keys match case-insensitively, as Go decodes them) to the value.
  void read_keys(const Node& m) {
    for (const auto& entry : m.entries) {
      const auto known = std::find_if(kKeys.begin(), kKeys.end(),
                                      [&](const std::string& key) { return lower(key) == lower(entry.key); });
      if (known == kKeys.end()) {
        const std::string hint = resources::did_you_mean(entry.key, kKeys);
        notes_.push_back("laitos: " + entry.value.location.str() + ": Maintenance." + entry.key +
                         " is not a laitos maintenance key and is ignored, as laitos ignores it" +
                         (hint.empty() ? "" : " (" + hint + ")"));
        continue;
      }
      if (*known == "ScriptForWindows") {
        notes_.push_back("laitos: " + entry.value.location.str() +
                         ": Maintenance.ScriptForWindows is ignored: PowerShell runs on Windows only");
        continue;
      }
      if (entry.value.is_null()) continue;  // Go leaves the zero value
      keys_.emplace(*known, &entry.value);
    }
  }

  const Node* key(const std::string& name) const {
    const auto it = keys_.find(name);
    return it == keys_.end() ? nullptr : it->second;
  }

  std::optional<std::int64_t> integer(const Node& node, const std::string& example) {
    if (!node.is_scalar() || node.tag != Node::Tag::kNumber || node.scalar.find_first_of(".eE") != std::string::npos) {
      type_error(node, "a whole number", example);
      return std::nullopt;
    }
    try {
      return std::stoll(node.scalar);
    } catch (const std::exception&) {
      fail(node, "the number " + node.scalar + " is too large", example);
      return std::nullopt;
    }
  }

  std::optional<bool> flag(const Node& node) {
    if (!node.is_scalar() || node.tag != Node::Tag::kBool) {
      type_error(node, "true or false", "true");
      return std::nullopt;
    }
    return node.scalar == "true";
  }

  std::optional<std::string> string(const Node& node, const std::string& example) {
    if (!node.is_scalar() || node.tag != Node::Tag::kString) {
      type_error(node, "a string", example);
      return std::nullopt;
    }
    return node.scalar;
  }

  // A list of strings; empty items are skipped, as laitos skips them.
  std::vector<const Node*> strings(const Node& node, const std::string& example) {
    std::vector<const Node*> out;
    if (!node.is_sequence()) {
      type_error(node, "a list of strings", example);
      return out;
    }
    for (const auto& item : node.items) {
      if (!item.is_scalar() || item.tag != Node::Tag::kString) {
        type_error(item, "a string", example);
        continue;
      }
      if (item.scalar.find_first_not_of(" \t") == std::string::npos) continue;
      out.push_back(&item);
    }
    return out;
  }

  Node string_list(const Node& from, const std::vector<const Node*>& items) {
    Node list = container(Node::Type::kSequence, origin_of(from));
    for (const Node* item : items) {
      std::string value = item->scalar;
      value.erase(0, value.find_first_not_of(" \t"));
      value.erase(value.find_last_not_of(" \t") + 1);
      list.items.push_back(text(value, origin_of(*item)));
    }
    return list;
  }

  void compile(Node& root) {
    schedule(root);
    report(root);
    packages(root);
    users(root);
    services(root);
    firewall(root);
    system(root);
    routines(root);
    checks(root);
    script(root);
  }

  // IntervalSec → daemon.interval (0 or negative: a day; under a day refused, as laitos); the first run 2 minutes
  // after start, as laitos' code does it.
  void schedule(Node& root) {
    std::int64_t interval = kDay;
    Origin interval_origin = every_run_;
    if (const Node* node = key("IntervalSec")) {
      const auto seconds = integer(*node, "86400");
      if (!seconds) return;
      interval_origin = origin_of(*node);
      if (*seconds > 0 && *seconds < kDay) {
        fail(*node, "IntervalSec " + std::to_string(*seconds) + " is less than a day (86400 seconds), which laitos "
                    "refuses too", "use 86400 or more, or 0 for a day");
        return;
      }
      if (*seconds >= kDay) interval = *seconds;
    }
    interval_ = interval;
    Node& daemon = section(root, "daemon", every_run_);
    put(daemon, "interval", text(duration(interval), interval_origin));
    put(daemon, "first_run_delay", text("2m", every_run_));
  }

  // The report: the latest text copy where laitos puts it, mail to Recipients, the S3 upload, standard output
  // when nobody gets mail.
  void report(Node& root) {
    Node& out = section(root, "report", every_run_);
    Node copies = container(Node::Type::kSequence, every_run_);
    Node copy = container(Node::Type::kMap, every_run_);
    put(copy, "path", text(std::string(kReportCopy), every_run_));
    put(copy, "format", text("text", every_run_));
    put(copy, "mode", text("0600", every_run_));
    copies.items.push_back(std::move(copy));
    put(out, "copies", std::move(copies));
    std::vector<const Node*> recipients;
    const Node* recipients_node = key("Recipients");
    if (recipients_node != nullptr) recipients = strings(*recipients_node, "[\"admin@example.com\"]");
    if (!recipients.empty()) {
      put(out, "mail_to", string_list(*recipients_node, recipients));
      put(out, "mail", text("always", origin_of(*recipients_node)));
    } else {
      put(out, "stdout", text("always", recipients_node != nullptr ? origin_of(*recipients_node) : every_run_));
    }
    if (const Node* bucket = key("UploadReportToS3Bucket")) {
      auto name = string(*bucket, "\"my-bucket\"");
      if (name && !name->empty()) {
        Node& s3 = section(out, "s3", origin_of(*bucket));
        put(s3, "bucket", text(*name, origin_of(*bucket)));
      }
    }
  }

  // InstallPackages kept at the newest version, the full upgrade, the admin tools and the dpkg repair laitos does
  // every run.
  void packages(Node& root) {
    Node& out = section(root, "packages", every_run_);
    put(out, "repair_interrupted", boolean(true, every_run_));
    put(out, "preset", text("admin-tools", every_run_));
    put(out, "upgrade", text("all", every_run_));
    if (const Node* node = key("InstallPackages")) {
      const auto names = strings(*node, "[\"nginx\", \"git\"]");
      if (!names.empty()) put(out, "latest", string_list(*node, names));
    }
  }

  // BlockSystemLoginExcept → the login allow-list, names compared case-insensitively as laitos does.
  void users(Node& root) {
    const Node* node = key("BlockSystemLoginExcept");
    if (node == nullptr) return;
    const auto names = strings(*node, "[\"root\", \"admin\"]");
    if (names.empty()) {
      if (node->is_sequence()) notes_.push_back("laitos: Maintenance.BlockSystemLoginExcept is empty, so no login is blocked, as in laitos");
      return;
    }
    Node& out = section(root, "users", origin_of(*node));
    put(out, "login_allowed_only", string_list(*node, names));
    put(out, "login_names_ignore_case", boolean(true, origin_of(*node)));
    bool root_listed = false;
    for (const Node* name : names) root_listed = root_listed || lower(name->scalar) == "root";
    notes_.push_back(
        "laitos: " + node->location.str() +
        ": Maintenance.BlockSystemLoginExcept: laitos locks every other account in /etc/passwd, system accounts " +
        (root_listed ? "" : "and root ") +
        "included; reconcile locks only the accounts that can log in and keeps a record to undo each lock");
    // Whether the lockout guard overrides laitos depends on the host: when it does, the run's error names the
    // account it keeps (the operator, the last admin, root as the only admin) at this key's line.
  }

  // DisableStopServices → stopped, disabled and masked; EnableStartServices → unmasked, enabled, started.
  void services(Node& root) {
    const std::pair<const char*, const char*> lists[] = {{"DisableStopServices", "masked"},
                                                         {"EnableStartServices", "enabled"}};
    for (const auto& [laitos_key, native] : lists) {
      const Node* node = key(laitos_key);
      if (node == nullptr) continue;
      const auto names = strings(*node, "[\"snmpd\"]");
      if (names.empty()) continue;
      put(section(root, "services", origin_of(*node)), native, string_list(*node, names));
    }
  }

  // BlockPortsExcept + ThrottleIncomingPackets → the firewall, skipped like laitos skips it (a threshold of 5 or
  // less), a threshold over 255 cut to 255.
  void firewall(Node& root) {
    const Node* ports = key("BlockPortsExcept");
    const Node* throttle = key("ThrottleIncomingPackets");
    std::vector<std::pair<std::int64_t, const Node*>> allowed;
    if (ports != nullptr) {
      if (!ports->is_sequence()) {
        type_error(*ports, "a list of port numbers", "[22, 80, 443]");
        return;
      }
      for (const auto& item : ports->items) {
        const auto port = integer(item, "22");
        if (!port) continue;
        if (*port < 1 || *port > 65535) {
          fail(item, "port " + std::to_string(*port) + " is not between 1 and 65535", "ports are 1 to 65535");
          continue;
        }
        allowed.emplace_back(*port, &item);
      }
    }
    std::int64_t threshold = 0;
    if (throttle != nullptr) {
      const auto value = integer(*throttle, "30");
      if (!value) return;
      threshold = *value;
    }
    if (allowed.empty()) {
      if (throttle != nullptr) {
        notes_.push_back("laitos: Maintenance.ThrottleIncomingPackets is ignored without BlockPortsExcept: laitos "
                         "sets up no firewall then, and the firewall is left alone");
      }
      return;
    }
    if (threshold <= 5) {
      notes_.push_back("laitos: " + (throttle != nullptr ? throttle->location.str() : ports->location.str()) +
                       ": the firewall is left alone: ThrottleIncomingPackets is " + std::to_string(threshold) +
                       ", and laitos skips its firewall when the threshold is 5 or less (give 6 to 255 to "
                       "manage it)");
      return;
    }
    if (threshold > 255) {
      notes_.push_back("laitos: " + throttle->location.str() + ": ThrottleIncomingPackets " +
                       std::to_string(threshold) + " is cut to 255, as laitos cuts it");
      threshold = 255;
    }
    Node& out = section(root, "firewall", origin_of(*ports));
    Node list = container(Node::Type::kSequence, origin_of(*ports));
    bool ssh = false;
    for (const auto& [port, item] : allowed) {
      ssh = ssh || port == 22;
      list.items.push_back(number(port, origin_of(*item)));
    }
    put(out, "allow_ports", std::move(list));
    put(out, "throttle_per_source", number(threshold, origin_of(*throttle)));
    if (!ssh) {
      notes_.push_back("laitos: " + ports->location.str() +
                       ": BlockPortsExcept does not list 22 (SSH); the firewall's lockout guard keeps the port of "
                       "the SSH session running reconcile open, and laitos tells its users to keep 22");
    }
  }

  // SetTimeZone, TuneLinux, SwapFileSizeMB.
  void system(Node& root) {
    if (const Node* node = key("SetTimeZone")) {
      auto zone = string(*node, "\"Europe/Helsinki\"");
      if (zone && !zone->empty()) put(root, "timezone", text(*zone, origin_of(*node)));
    }
    if (const Node* node = key("TuneLinux")) {
      auto tune = flag(*node);
      if (tune && *tune) put(section(root, "sysctl", origin_of(*node)), "preset", text("laitos", origin_of(*node)));
    }
    if (const Node* node = key("SwapFileSizeMB")) {
      auto size = integer(*node, "1024");
      if (!size || *size == 0) return;
      Node& swap = section(root, "swap", origin_of(*node));
      if (*size < 0) {
        put(swap, "off", boolean(true, origin_of(*node)));
      } else {
        put(swap, "file", text(std::string(kSwapFile), origin_of(*node)));
        put(swap, "size_mb", number(*size, origin_of(*node)));
      }
    }
  }

  // What laitos does every run (clock, /tmp, SSD trim), and the two keys of its code.
  void routines(Node& root) {
    Node& out = section(root, "maintenance", every_run_);
    put(out, "clock_sync", boolean(true, every_run_));
    Node cleanup = container(Node::Type::kMap, every_run_);
    Node paths = container(Node::Type::kSequence, every_run_);
    paths.items.push_back(text("/tmp", every_run_));
    put(cleanup, "paths", std::move(paths));
    put(cleanup, "older_than", text("7d", every_run_));
    put(out, "tmp_cleanup", std::move(cleanup));
    put(out, "fstrim", text("weekly", every_run_));
    if (const Node* node = key("ShrinkSystemdJournalSizeMB")) {
      auto size = integer(*node, "1000");
      if (size && *size > 0) put(out, "journal_max_mb", number(*size, origin_of(*node)));
    }
    if (const Node* node = key("DoEnhanceFileSecurity")) {
      auto secure = flag(*node);
      if (secure && *secure) put(out, "home_permissions", boolean(true, origin_of(*node)));
    }
  }

  // CheckTCPPorts: the documented list of "host:port", or the map host → ports that laitos' code reads.
  void checks(Node& root) {
    const Node* node = key("CheckTCPPorts");
    if (node == nullptr) return;
    Node list = container(Node::Type::kSequence, origin_of(*node));
    std::set<std::string> seen;
    auto add = [&](const std::string& host, std::int64_t port, const Node& at) {
      if (port < 1 || port > 65535) {
        fail(at, "port " + std::to_string(port) + " is not between 1 and 65535", "ports are 1 to 65535");
        return;
      }
      const bool v6 = host.find(':') != std::string::npos;
      const std::string target = (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
      if (seen.insert(target).second) list.items.push_back(text(target, origin_of(at)));
    };
    if (node->is_map()) {
      for (const auto& entry : node->entries) {
        if (entry.key.empty()) {
          fail(entry.value, "a host name is empty", "write {\"localhost\": [25, 53]}");
          continue;
        }
        if (!entry.value.is_sequence()) {
          type_error(entry.value, "a list of port numbers", "{\"" + entry.key + "\": [25]}");
          continue;
        }
        for (const auto& item : entry.value.items) {
          if (auto port = integer(item, "25")) add(entry.key, *port, item);
        }
      }
    } else if (node->is_sequence()) {
      for (const auto& item : node->items) {
        auto target = string(item, "\"localhost:25\"");
        if (!target) continue;
        const auto colon = target->rfind(':');
        std::string host = colon == std::string::npos ? "" : target->substr(0, colon);
        if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
        const std::string port = colon == std::string::npos ? "" : target->substr(colon + 1);
        const bool digits = !port.empty() && port.size() <= 5 &&
                            std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; });
        if (host.empty() || !digits) {
          fail(item, "'" + *target + "' is not host:port", "write \"localhost:25\" or \"[::1]:53\"");
          continue;
        }
        add(host, std::stoll(port), item);
      }
    } else {
      type_error(*node, "a list of \"host:port\" or an object of host → ports", "{\"localhost\": [25, 53]}");
      return;
    }
    if (!list.items.empty()) put(section(root, "checks", origin_of(*node)), "tcp", std::move(list));
  }

  // ScriptForUnix → a script run after everything else, with laitos' timeout of half the interval.
  void script(Node& root) {
    const Node* node = key("ScriptForUnix");
    if (node == nullptr) return;
    auto body = string(*node, "\"echo hello\"");
    if (!body || body->find_first_not_of(" \t\r\n") == std::string::npos) return;
    Node list = container(Node::Type::kSequence, origin_of(*node));
    Node entry = container(Node::Type::kMap, origin_of(*node));
    put(entry, "name", text("laitos-script-for-unix", origin_of(*node)));
    put(entry, "run", text(*body, origin_of(*node)));
    put(entry, "timeout", text(duration(interval_ / 2), origin_of(*node)));
    list.items.push_back(std::move(entry));
    put(root, "scripts", std::move(list));
    notes_.push_back("laitos: " + node->location.str() +
                     ": Maintenance.ScriptForUnix runs every time, as in laitos: it has no guard (unless, onlyif, "
                     "creates) to tell when it is needed");
  }

  std::vector<Error>& errors_;
  const std::size_t errors_before_ = errors_.size();
  std::vector<std::string>& notes_;
  std::map<std::string, const Node*> keys_;
  Origin every_run_;
  std::int64_t interval_ = kDay;
};

// YAML text of a scalar: plain when it reads back as the same string, else JSON-quoted (valid YAML).
std::string yaml_scalar(const Node& node) {
  if (node.tag != Node::Tag::kString) return node.scalar;
  const std::string& s = node.scalar;
  static const std::set<std::string> words{"true", "false", "yes", "no", "on", "off", "null", "~", "y", "n"};
  bool plain = !s.empty() && !words.contains(lower(s)) &&
               std::all_of(s.begin(), s.end(), [](char c) {
                 return std::isalnum(static_cast<unsigned char>(c)) || std::string_view("/._-@+").find(c) != std::string_view::npos;
               }) &&
               !std::isdigit(static_cast<unsigned char>(s.front())) && s.front() != '-';
  return plain ? s : nlohmann::json(s).dump();
}

std::string comment(const Node& node) {
  if (node.path == kEveryRun) return "# laitos does this every run";
  return "# " + node.path + (node.location.line > 0 ? " (line " + std::to_string(node.location.line) + ")" : "");
}

void emit(const Node& node, int indent, std::string& out);

void emit_item(const Node& item, int indent, std::string& out) {
  const std::string pad(static_cast<std::size_t>(indent), ' ');
  if (item.is_scalar()) {
    out += pad + "- " + yaml_scalar(item) + "    " + comment(item) + "\n";
    return;
  }
  out += pad + "-    " + comment(item) + "\n";
  emit(item, indent + 2, out);
}

void emit(const Node& node, int indent, std::string& out) {
  const std::string pad(static_cast<std::size_t>(indent), ' ');
  for (const auto& entry : node.entries) {
    const Node& value = entry.value;
    if (value.is_scalar()) {
      out += pad + entry.key + ": " + yaml_scalar(value) + "    " + comment(value) + "\n";
    } else if (value.is_sequence()) {
      out += pad + entry.key + ":    " + comment(value) + "\n";
      for (const auto& item : value.items) emit_item(item, indent + 2, out);
    } else {
      out += pad + entry.key + ":    " + comment(value) + "\n";
      emit(value, indent + 2, out);
    }
  }
}

class LaitosFrontEnd : public FrontEnd {
 public:
  std::string_view name() const override { return "laitos"; }
  bool recognises(std::string_view text) const override { return looks_like_laitos(text); }
  Node read(const std::string& file, std::string_view text, std::vector<Error>& errors,
            const LoadLimits& limits) const override {
    return convert(file, text, errors, limits).root;
  }
  Node read_noting(const std::string& file, std::string_view text, std::vector<Error>& errors,
                   const LoadLimits& limits, std::vector<std::string>& notes) const override {
    Converted converted = convert(file, text, errors, limits);
    notes.insert(notes.end(), converted.notes.begin(), converted.notes.end());
    return std::move(converted.root);
  }
  std::string example() const override { return "a laitos config is {\"Maintenance\": {\"IntervalSec\": 86400}}"; }
};

}  // namespace

Converted convert(const std::string& file, std::string_view text, std::vector<Error>& errors,
                  const LoadLimits& limits) {
  Converted out;
  const std::size_t before = errors.size();
  const Node config = json_front_end().read(file, text, errors, limits);
  if (errors.size() != before) return out;
  if (!config.is_map()) {
    errors.push_back(Error{ErrorCode::kType, "a laitos config is a JSON object, not " + config.describe(),
                           config.location, "", "{\"Maintenance\": {\"IntervalSec\": 86400}}"});
    return out;
  }
  out.root = Compiler(errors, out.notes).run(config);
  return out;
}

std::string to_yaml(const Converted& converted, const std::string& file) {
  std::string out = "# The native state of the Maintenance object of " + file +
                    " (reconcile laitos convert).\n# Each line names the laitos key it came from.\n";
  for (const auto& note : converted.notes) out += "# note: " + note + "\n";
  emit(converted.root, 0, out);
  return out;
}

bool looks_like_laitos(std::string_view text) {
  const auto first = text.find_first_not_of(" \t\r\n");
  if (first == std::string_view::npos || text[first] != '{') return false;
  // A top-level key "Maintenance" in any case but the native state's own lowercase `maintenance:`; that one is
  // laitos's only beside another laitos daemon's key (CamelCase: HTTPDaemon) or holding a laitos key (IntervalSec).
  bool found = false;
  bool lowercase_maintenance = false;
  bool laitos_sign = false;
  bool in_lowercase_maintenance = false;
  try {
    nlohmann::json::parser_callback_t top_level = [&](int depth, nlohmann::json::parse_event_t event,
                                                      nlohmann::json& parsed) {
      if (event != nlohmann::json::parse_event_t::key || !parsed.is_string()) return true;
      const auto& key = parsed.get_ref<const std::string&>();
      if (depth == 1) {
        in_lowercase_maintenance = key == "maintenance";
        lowercase_maintenance = lowercase_maintenance || in_lowercase_maintenance;
        if (!in_lowercase_maintenance && lower(key) == "maintenance") found = true;
        if (!key.empty() && std::isupper(static_cast<unsigned char>(key[0])) != 0) laitos_sign = true;
      } else if (depth == 2 && in_lowercase_maintenance) {
        const std::string name = lower(key);
        if (std::any_of(kKeys.begin(), kKeys.end(), [&](const std::string& k) { return lower(k) == name; })) {
          laitos_sign = true;
        }
      }
      return true;
    };
    const auto parsed = nlohmann::json::parse(text.begin(), text.end(), top_level, false);
    if (parsed.is_discarded()) return false;
  } catch (...) {
    return false;
  }
  return found || (lowercase_maintenance && laitos_sign);
}

}  // namespace reconcile::engine::laitos

namespace reconcile::engine {

const FrontEnd& laitos_front_end() {
  static const laitos::LaitosFrontEnd instance;
  return instance;
}

}  // namespace reconcile::engine
