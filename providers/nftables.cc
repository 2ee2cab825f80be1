#include "providers/nftables.h"

#include <dirent.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <nftables/libnftables.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <type_traits>

#include "providers/fs.h"
#include "providers/managed_file.h"

#ifndef RECONCILE_LIBNFTABLES_SONAME
#define RECONCILE_LIBNFTABLES_SONAME "libnftables.so.1"
#endif

namespace reconcile::providers {

using resources::FirewallField;
using resources::FirewallObserved;
using resources::FirewallResource;
using json = nlohmann::json;

struct Nft::Library {
  decltype(&nft_ctx_new) ctx_new = nullptr;
  decltype(&nft_ctx_free) ctx_free = nullptr;
  decltype(&nft_ctx_output_set_flags) set_flags = nullptr;
  decltype(&nft_ctx_buffer_output) buffer_output = nullptr;
  decltype(&nft_ctx_buffer_error) buffer_error = nullptr;
  decltype(&nft_ctx_get_output_buffer) output = nullptr;
  decltype(&nft_ctx_get_error_buffer) error = nullptr;
  decltype(&nft_run_cmd_from_buffer) run = nullptr;
  std::mutex mutex;  // one command at a time: the library keeps a cache per context, and netlink is serial anyway
};

const Nft& Nft::get() {
  static const Nft nft = [] {
    Nft n;
    void* handle = ::dlopen(RECONCILE_LIBNFTABLES_SONAME, RTLD_NOW | RTLD_LOCAL);
    if (handle == nullptr) {
      const char* why = ::dlerror();
      n.missing_ = std::string("cannot load " RECONCILE_LIBNFTABLES_SONAME) + (why != nullptr ? std::string(": ") + why : "") +
                   " (install libnftables1)";
      return n;
    }
    static Library library;
    auto bind = [&](auto& fn, const char* symbol) {
      fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(::dlsym(handle, symbol));
      if (fn == nullptr) n.missing_ = std::string(RECONCILE_LIBNFTABLES_SONAME " lacks ") + symbol;
    };
    bind(library.ctx_new, "nft_ctx_new");
    bind(library.ctx_free, "nft_ctx_free");
    bind(library.set_flags, "nft_ctx_output_set_flags");
    bind(library.buffer_output, "nft_ctx_buffer_output");
    bind(library.buffer_error, "nft_ctx_buffer_error");
    bind(library.output, "nft_ctx_get_output_buffer");
    bind(library.error, "nft_ctx_get_error_buffer");
    bind(library.run, "nft_run_cmd_from_buffer");
    if (n.missing_.empty()) n.library_ = &library;
    return n;
  }();
  return nft;
}

std::expected<std::string, std::string> Nft::run(const std::string& commands, bool json_output, bool stateless) const {
  if (library_ == nullptr) return std::unexpected(missing_);
  auto& lib = *const_cast<Library*>(library_);
  const std::lock_guard lock(lib.mutex);
  nft_ctx* ctx = lib.ctx_new(NFT_CTX_DEFAULT);
  if (ctx == nullptr) return std::unexpected("nft_ctx_new failed");
  unsigned flags = 0;
  if (json_output) flags |= NFT_CTX_OUTPUT_JSON;
  if (stateless) flags |= NFT_CTX_OUTPUT_STATELESS;
  lib.set_flags(ctx, flags);
  lib.buffer_output(ctx);
  lib.buffer_error(ctx);
  const int rc = lib.run(ctx, commands.c_str());
  // Each get_*_buffer call hands out what was written since the last one: read each once.
  const char* out_buffer = lib.output(ctx);
  const char* err_buffer = lib.error(ctx);
  std::string out = out_buffer != nullptr ? out_buffer : "";
  std::string err = err_buffer != nullptr ? err_buffer : "";
  lib.ctx_free(ctx);
  if (rc != 0) {
    while (!err.empty() && err.back() == '\n') err.pop_back();
    if (err.empty()) err = out;
    return std::unexpected(err.empty() ? "nft failed (exit " + std::to_string(rc) + ")" : err);
  }
  return out;
}

namespace {

constexpr std::string_view kStateDir = "/var/lib/reconcile/firewall";
constexpr std::string_view kUnitName = "reconcile-firewall-rollback";

std::string now_iso() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char buffer[32];
  std::strftime(buffer, sizeof buffer, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buffer;
}

double since(std::chrono::steady_clock::time_point started) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
}

// ---- JSON listing → canonical rules ----

std::string scalar(const json& value, bool quote_strings = false) {
  if (value.is_string()) return quote_strings ? "\"" + value.get<std::string>() + "\"" : value.get<std::string>();
  if (value.is_number_integer()) return std::to_string(value.get<long long>());
  if (value.is_boolean()) return value.get<bool>() ? "true" : "false";
  return value.dump();
}

std::string expression(const json& e);

std::string joined_sorted(const json& items, std::string_view separator, bool quote) {
  std::vector<std::string> parts;
  for (const auto& item : items) parts.push_back(item.is_object() ? expression(item) : scalar(item, quote));
  std::sort(parts.begin(), parts.end());
  std::string out;
  for (const auto& part : parts) out += (out.empty() ? "" : std::string(separator)) + part;
  return out;
}

// A value or selector expression: meta, payload, ct, set literals, ranges, prefixes.
std::string expression(const json& e) {
  if (!e.is_object()) return scalar(e);
  if (e.contains("meta") && e["meta"].contains("key")) {
    const std::string key = e["meta"]["key"].get<std::string>();
    if (key == "iif" || key == "oif" || key == "iifname" || key == "oifname") return key;
    return "meta " + key;
  }
  if (e.contains("payload") && e["payload"].contains("protocol") && e["payload"].contains("field")) {
    return e["payload"]["protocol"].get<std::string>() + " " + e["payload"]["field"].get<std::string>();
  }
  if (e.contains("ct") && e["ct"].contains("key") && !e["ct"].contains("dir")) return "ct " + e["ct"]["key"].get<std::string>();
  if (e.contains("set") && e["set"].is_array()) return "{ " + joined_sorted(e["set"], ", ", false) + " }";
  if (e.contains("range") && e["range"].is_array() && e["range"].size() == 2) {
    return scalar(e["range"][0]) + "-" + scalar(e["range"][1]);
  }
  if (e.contains("prefix") && e["prefix"].contains("addr") && e["prefix"].contains("len")) {
    return scalar(e["prefix"]["addr"]) + "/" + scalar(e["prefix"]["len"]);
  }
  return e.dump();
}

std::string limit_statement(const json& l) {
  std::string out = "limit rate ";
  if (l.value("inv", false)) out += "over ";
  out += scalar(l.value("rate", json(0))) + "/" + l.value("per", std::string("second"));
  const std::string unit = l.value("rate_unit", std::string("packets"));
  if (unit != "packets") out += " " + unit;
  // nft leaves the default burst (5 packets) out of its listing.
  out += " burst " + scalar(l.value("burst", json(5))) + " " + l.value("burst_unit", std::string(unit == "packets" ? "packets" : "bytes"));
  return out;
}

// A layer-4 protocol as its number: nft prints `meta l4proto 1` back as `icmp` when the host has /etc/protocols
// (netbase) and as `1` when it has not, so both spellings must compare equal to the desired number.
std::string protocol_number(const std::string& name) {
  static const std::map<std::string, std::string, std::less<>> kNumbers = {
      {"icmp", "1"},  {"igmp", "2"},  {"tcp", "6"},   {"udp", "17"},        {"gre", "47"},       {"esp", "50"},
      {"ah", "51"},   {"dccp", "33"}, {"sctp", "132"}, {"ipv6-icmp", "58"}, {"icmpv6", "58"},   {"udplite", "136"}};
  const auto found = kNumbers.find(name);
  return found != kNumbers.end() ? found->second : name;
}

// One statement of a rule.
std::string statement(const json& s) {
  if (!s.is_object() || s.size() != 1) return s.dump();
  // The key and value through the object's own iterator (an items() proxy would be a temporary here).
  const auto first = s.begin();
  const std::string name = first.key();
  const json& body = first.value();
  if (name == "match" && body.contains("left") && body.contains("right")) {
    const std::string op = body.value("op", std::string("=="));
    const std::string left = expression(body["left"]);
    const bool interface = left == "iif" || left == "oif" || left == "iifname" || left == "oifname";
    std::string right;
    if (body["right"].is_array()) right = joined_sorted(body["right"], ",", interface);  // flags: established,related
    else if (body["right"].is_string()) right = scalar(body["right"], interface);
    else right = expression(body["right"]);
    if (left == "meta l4proto" || left == "ip protocol" || left == "ip6 nexthdr") right = protocol_number(right);
    return left + " " + (op == "==" || op == "in" ? "" : op + " ") + right;
  }
  if (name == "accept" || name == "drop" || name == "return" || name == "continue") return name;
  if (name == "counter") return "counter";  // its packet and byte counts are state, not configuration
  if ((name == "jump" || name == "goto") && body.contains("target")) return name + " " + scalar(body["target"]);
  if (name == "limit" && body.is_object()) return limit_statement(body);
  if (name == "set" && body.is_object() && body.contains("elem") && body.contains("set")) {
    std::string out = body.value("op", std::string("add")) + " " + scalar(body["set"]) + " { " + expression(body["elem"]);
    if (body.contains("stmt")) {
      for (const auto& inner : body["stmt"]) out += " " + statement(inner);
    }
    return out + " }";
  }
  return s.dump();
}

std::string rule_text(const json& expr) {
  std::string out;
  for (const auto& s : expr) out += (out.empty() ? "" : " ") + statement(s);
  return out;
}

std::string set_head(const json& set) {
  std::string out = "set " + set.value("name", std::string()) + " type " + scalar(set.value("type", json("")));
  if (set.contains("size")) out += " size " + scalar(set["size"]);
  if (set.contains("flags")) {
    json flags = json::array();
    for (const auto& flag : set["flags"]) {
      if (flag != "dynamic") flags.push_back(flag);  // printed by the text listing, not by the JSON one
    }
    if (!flags.empty()) out += " flags " + joined_sorted(flags, ",", false);
  }
  if (set.contains("timeout")) out += " timeout " + scalar(set["timeout"]) + "s";
  return out;
}

std::string chain_head(const json& chain) {
  std::string out = "chain " + chain.value("name", std::string());
  if (chain.contains("hook")) {
    out += " type " + scalar(chain.value("type", json("filter"))) + " hook " + scalar(chain["hook"]) + " priority " +
           scalar(chain.value("prio", json(0))) + " policy " + scalar(chain.value("policy", json("accept")));
  }
  return out;
}

// ---- files and state ----

std::optional<std::string> read_optional(const Host& host, std::string_view path) {
  auto text = read_file(host.path(path), 16u << 20);
  if (!text) return std::nullopt;
  return *text;
}

// What became of the last --confirm-within.
struct ConfirmStatus {
  std::string state;  // "", pending, confirmed, rolled-back
  std::string applied;
  std::string ended;
  std::string unit;
  long long deadline = 0;
  int within = 0;
};

std::string state_path(std::string_view name) { return std::string(kStateDir) + "/" + std::string(name); }

ConfirmStatus read_status(const Host& host) {
  ConfirmStatus status;
  auto text = read_optional(host, state_path("status"));
  if (!text) return status;
  std::size_t at = 0;
  while (at < text->size()) {
    const std::size_t end = std::min(text->find('\n', at), text->size());
    const std::string line = text->substr(at, end - at);
    at = end + 1;
    const std::size_t eq = line.find('=');
    if (eq == std::string::npos) continue;
    const std::string key = line.substr(0, eq), value = line.substr(eq + 1);
    if (key == "state") status.state = value;
    else if (key == "applied") status.applied = value;
    else if (key == "ended") status.ended = value;
    else if (key == "unit") status.unit = value;
    else if (key == "deadline") status.deadline = std::atoll(value.c_str());
    else if (key == "within") status.within = std::atoi(value.c_str());
  }
  return status;
}

std::expected<void, std::string> write_status(const Host& host, const ConfirmStatus& s) {
  const std::string text = "state=" + s.state + "\napplied=" + s.applied + "\nended=" + s.ended + "\nunit=" + s.unit +
                           "\ndeadline=" + std::to_string(s.deadline) + "\nwithin=" + std::to_string(s.within) + "\n";
  return write_file_atomic(host.path(state_path("status")), text, 0600);
}

std::string outcome_text(const ConfirmStatus& s) {
  if (s.state == "confirmed") {
    return "the rule set applied at " + s.applied + " with --confirm-within " + std::to_string(s.within) +
           " was confirmed at " + s.ended;
  }
  if (s.state == "rolled-back") {
    return "the rule set applied at " + s.applied + " was not confirmed within " + std::to_string(s.within) +
           " s and was rolled back at " + s.ended + ": the previous rule set is back";
  }
  return "";
}

// The lock that orders `reconcile confirm` against the roll-back timer.
class StateLock {
 public:
  explicit StateLock(const Host& host) {
    std::error_code ec;
    std::filesystem::create_directories(host.path(kStateDir), ec);
    fd_ = ::open(host.path(state_path("lock")).c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd_ >= 0) ::flock(fd_, LOCK_EX);
  }
  ~StateLock() {
    if (fd_ >= 0) ::close(fd_);
  }
  StateLock(const StateLock&) = delete;
  StateLock& operator=(const StateLock&) = delete;

 private:
  int fd_ = -1;
};

// The previous table as a script that puts it back in one transaction; dynamic set elements are left out
// (the meters start empty again).
std::expected<std::string, std::string> previous_script(const Nft& nft) {
  const std::string prefix = "table inet reconcile\ndelete table inet reconcile\n";
  auto listed = nft.run("list table inet reconcile", false, true);
  if (!listed) {
    if (listed.error().find("No such file or directory") != std::string::npos) return prefix;  // none: remove ours
    return std::unexpected(listed.error());
  }
  std::string out = prefix;
  int skipping = 0;  // brace depth inside an `elements = { … }` block
  std::size_t at = 0;
  while (at < listed->size()) {
    const std::size_t end = std::min(listed->find('\n', at), listed->size());
    const std::string line = listed->substr(at, end - at);
    at = end + 1;
    if (skipping == 0 && line.find("elements = {") == std::string::npos) {
      out += line + "\n";
      continue;
    }
    for (const char c : line) skipping += c == '{' ? 1 : c == '}' ? -1 : 0;
  }
  return out;
}

// Writes the persisted rule set, the unit and its enabling link; steps and the first error into `outcome`.
void persist(const Host& host, const std::string& script, bool file, bool boot, ChangeOutcome& outcome) {
  const auto write_whole = [&](std::string_view path, const std::string& content) {
    const auto started = std::chrono::steady_clock::now();
    std::error_code ec;
    std::filesystem::create_directories(host.path(path).parent_path(), ec);
    std::string error, what = "write " + std::string(path);
    auto edit = FileEdit::open(host, path, EditOptions{0644, false, {}});
    if (!edit) {
      error = edit.error();
    } else if (auto staged = edit->set(resources::whole_file(), content); !staged) {
      error = staged.error();
    } else {
      what = edit->what();
      auto committed = edit->commit();
      if (!committed) error = committed.error();
    }
    if (what.empty()) what = "write " + std::string(path) + " (unchanged)";
    outcome.steps.push_back(Step{what, since(started), error.empty() ? 0 : 1, error});
    if (!error.empty() && outcome.result != ChangeOutcome::Result::kFailed) {
      outcome.result = ChangeOutcome::Result::kFailed;
      outcome.message = std::string(path) + ": " + error;
    }
  };
  if (file) write_whole(resources::kFirewallPersisted, script);
  if (boot) {
    write_whole(resources::kFirewallUnit, FirewallResource::unit_text());
    const auto started = std::chrono::steady_clock::now();
    std::error_code ec;
    std::filesystem::create_directories(host.path(resources::kFirewallUnitLink).parent_path(), ec);
    auto linked = replace_symlink(host, resources::kFirewallUnitLink, resources::kFirewallUnit);
    const std::string error = linked ? "" : linked.error();
    outcome.steps.push_back(Step{"enable reconcile-firewall.service (link " + std::string(resources::kFirewallUnitLink) + ")",
                                 since(started), error.empty() ? 0 : 1, error});
    if (!error.empty() && outcome.result != ChangeOutcome::Result::kFailed) {
      outcome.result = ChangeOutcome::Result::kFailed;
      outcome.message = "enable reconcile-firewall.service: " + error;
    }
  }
}

// sshd_config's Port and ListenAddress ports, following Include globs of the form DIR/*.conf.
void config_ports(const Host& host, const std::string& path, std::set<std::uint16_t>& ports, int depth) {
  if (depth > 8) return;
  auto text = read_optional(host, path);
  if (!text) return;
  std::size_t at = 0;
  bool matching = false;  // inside a Match block, Port does not apply
  while (at < text->size()) {
    const std::size_t end = std::min(text->find('\n', at), text->size());
    std::string line = text->substr(at, end - at);
    at = end + 1;
    if (const auto hash = line.find('#'); hash != std::string::npos) line.resize(hash);
    std::vector<std::string> words;
    for (std::size_t i = 0; i < line.size();) {
      i = line.find_first_not_of(" \t\r=", i);
      if (i == std::string::npos) break;
      const std::size_t stop = std::min(line.find_first_of(" \t\r=", i), line.size());
      words.push_back(line.substr(i, stop - i));
      i = stop;
    }
    if (words.size() < 2) continue;
    std::string key = words[0];
    std::transform(key.begin(), key.end(), key.begin(), [](unsigned char c) { return std::tolower(c); });
    if (key == "match") matching = true;
    if (matching) continue;
    if (key == "port") {
      const int port = std::atoi(words[1].c_str());
      if (port > 0 && port < 65536) ports.insert(static_cast<std::uint16_t>(port));
    } else if (key == "listenaddress") {
      const std::size_t colon = words[1].rfind(':');
      const std::size_t bracket = words[1].rfind(']');
      if (colon != std::string::npos && (bracket == std::string::npos || colon > bracket) &&
          words[1].find(':') == colon) {
        const int port = std::atoi(words[1].c_str() + colon + 1);
        if (port > 0 && port < 65536) ports.insert(static_cast<std::uint16_t>(port));
      }
    } else if (key == "include") {
      for (std::size_t w = 1; w < words.size(); ++w) {
        std::string pattern = words[w];
        if (pattern.front() != '/') pattern = "/etc/ssh/" + pattern;
        const std::size_t star = pattern.find('*');
        if (star == std::string::npos) {
          config_ports(host, pattern, ports, depth + 1);
          continue;
        }
        const std::string dir = pattern.substr(0, pattern.rfind('/', star));
        const std::string suffix = pattern.substr(star + 1);
        std::vector<std::string> files;
        std::error_code ec;
        for (auto it = std::filesystem::directory_iterator(host.path(dir), ec);
             !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
          const std::string name = it->path().filename().string();
          if (name.ends_with(suffix)) files.push_back(dir + "/" + name);
        }
        std::sort(files.begin(), files.end());
        for (const auto& file : files) config_ports(host, file, ports, depth + 1);
      }
    }
  }
}

}  // namespace

std::expected<NftListing, std::string> parse_nft_listing(std::string_view text) {
  if (text.find_first_not_of(" \t\r\n") == std::string_view::npos) return NftListing{};  // an empty ruleset
  const json doc = json::parse(text, nullptr, false);
  if (doc.is_discarded() || !doc.is_object() || !doc.contains("nftables") || !doc["nftables"].is_array()) {
    return std::unexpected("nft printed something that is not a JSON ruleset listing: " +
                           std::string(text.substr(0, 200)));
  }
  NftListing out;
  std::set<std::string> dropping;
  for (const auto& item : doc["nftables"]) {
    if (!item.is_object() || item.empty()) continue;
    const auto first = item.begin();
    const std::string type = first.key();
    const json& body = first.value();
    if (!body.is_object()) continue;
    const std::string family = body.value("family", std::string());
    const std::string table = type == "table" ? body.value("name", std::string()) : body.value("table", std::string());
    const bool ours = family == "inet" && table == "reconcile";
    if (type == "table") {
      if (ours) out.table = true;
      else out.others.push_back(family + " " + table);
      continue;
    }
    if (!ours) {
      // Another table that drops input: every base chain of a hook must accept a packet, so it can drop what
      // ours lets in (it can never let in what ours drops).
      if (type == "chain" && body.value("hook", std::string()) == "input" && body.value("policy", std::string()) == "drop") {
        dropping.insert(family + " " + table);
      }
      if (type == "rule" && body.contains("expr")) {
        for (const auto& s : body["expr"]) {
          if (s.is_object() && (s.contains("drop") || s.contains("reject"))) {
            // Only rules of input-hooked chains matter; the chain's hook is not in the rule, so any drop counts.
            dropping.insert(family + " " + table + " (has drop rules)");
            break;
          }
        }
      }
      continue;
    }
    if (type == "set" || type == "map") {
      out.head.push_back(set_head(body));
    } else if (type == "chain") {
      out.head.push_back(chain_head(body));
    } else if (type == "rule") {
      const std::string chain = body.value("chain", std::string());
      std::string rule = rule_text(body.value("expr", json::array()));
      if (chain != "input") rule = "[chain " + chain + "] " + rule;
      out.rules.push_back(std::move(rule));
    } else {
      out.head.push_back(type + " " + body.value("name", std::string()));
    }
  }
  for (const auto& t : dropping) out.others_dropping.push_back(t);
  return out;
}

std::string canonical_rule(std::string_view expr_json) {
  const json expr = json::parse(expr_json, nullptr, false);
  if (expr.is_discarded() || !expr.is_array()) return std::string(expr_json);
  return rule_text(expr);
}

std::vector<std::uint16_t> sshd_ports(const Host& host) {
  std::set<std::uint16_t> ports;
  std::error_code ec;
  if (std::filesystem::exists(host.path("/etc/ssh/sshd_config"), ec)) {
    std::set<std::uint16_t> configured;
    config_ports(host, "/etc/ssh/sshd_config", configured, 0);
    if (configured.empty()) configured.insert(22);
    ports.insert(configured.begin(), configured.end());
  }
  // Sockets sshd holds: listening inodes from /proc/net/tcp{,6}, owned by a process named sshd.
  std::map<unsigned long, std::uint16_t> listening;  // inode → port
  for (const char* table : {"/proc/net/tcp", "/proc/net/tcp6"}) {
    auto text = read_optional(host, table);
    if (!text) continue;
    std::size_t at = text->find('\n');
    while (at != std::string::npos && at + 1 < text->size()) {
      const std::size_t end = std::min(text->find('\n', at + 1), text->size());
      const std::string line = text->substr(at + 1, end - at - 1);
      at = end < text->size() ? end : std::string::npos;
      std::vector<std::string> f;
      for (std::size_t i = 0; i < line.size();) {
        i = line.find_first_not_of(' ', i);
        if (i == std::string::npos) break;
        const std::size_t stop = std::min(line.find(' ', i), line.size());
        f.push_back(line.substr(i, stop - i));
        i = stop;
      }
      if (f.size() < 10 || f[3] != "0A") continue;  // 0A: LISTEN
      const std::size_t colon = f[1].rfind(':');
      if (colon == std::string::npos) continue;
      listening[std::strtoul(f[9].c_str(), nullptr, 10)] =
          static_cast<std::uint16_t>(std::strtoul(f[1].c_str() + colon + 1, nullptr, 16));
    }
  }
  if (!listening.empty()) {
    for (auto it = std::filesystem::directory_iterator(host.path("/proc"), ec);
         !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
      const std::string pid = it->path().filename().string();
      if (pid.empty() || !std::all_of(pid.begin(), pid.end(), ::isdigit)) continue;
      auto comm = read_optional(host, "/proc/" + pid + "/comm");
      if (!comm || (*comm != "sshd\n" && *comm != "sshd")) continue;
      std::error_code fd_ec;
      for (auto fd = std::filesystem::directory_iterator(it->path() / "fd", fd_ec);
           !fd_ec && fd != std::filesystem::directory_iterator(); fd.increment(fd_ec)) {
        std::error_code link_ec;
        const std::string target = std::filesystem::read_symlink(fd->path(), link_ec).string();
        if (link_ec || !target.starts_with("socket:[")) continue;
        const auto found = listening.find(std::strtoul(target.c_str() + 8, nullptr, 10));
        if (found != listening.end()) ports.insert(found->second);
      }
    }
  }
  return {ports.begin(), ports.end()};
}

std::vector<resources::Error> NftablesProvider::validate(Session& session,
                                                         std::span<const FirewallResource* const> resources) const {
  std::vector<resources::Error> errors;
  const Host& host = session.host();
  const char* connection = std::getenv("SSH_CONNECTION");
  std::optional<std::vector<std::uint16_t>> ports;  // read once, and only when a firewall could lock out
  for (const auto* firewall : resources) {
    if (firewall->allow_lockout()) continue;
    if (!ports) ports = sshd_ports(host);
    const auto lockout = firewall->lockout(*ports, connection != nullptr ? connection : "");
    if (!lockout) continue;
    const std::string port = std::to_string(lockout->port);
    errors.push_back(resources::Error{
        resources::ErrorCode::kConflict,
        "the firewall would drop SSH on port " + port + " (" + lockout->why + "): that locks you out",
        firewall->location(), firewall->key_path() + ".allow_ports",
        "add " + port + " to allow_ports" + (firewall->allow_from().empty() ? "" : " or your address to allow_from") +
            ", or set allow_lockout: true if that is intended"});
  }
  return errors;
}

namespace {

// Whether this run armed a roll-back timer (its own verify must not wait for the confirmation).
struct RunFlags {
  std::mutex mutex;
  bool armed = false;
};

}  // namespace

std::vector<Observation> NftablesProvider::observe(Session& session,
                                                  std::span<const FirewallResource* const> resources) const {
  const Host& host = session.host();
  std::vector<Observation> out;
  const Nft& nft = Nft::get();
  auto& flags = session.state<RunFlags>(this);
  for (const auto* firewall : resources) {
    auto seen = std::make_unique<FirewallObserved>();
    Observation o;
    if (!nft.missing().empty()) {
      o = Observation::known(std::move(seen));
      o.blocked_reason = "nftables cannot be used: " + nft.missing();
      out.push_back(std::move(o));
      continue;
    }
    auto listed = nft.run("list ruleset", true);
    if (!listed) {
      o = Observation::known(std::move(seen));
      o.blocked_reason = "nftables does not work on this host (no nf_tables in the kernel?): " + listed.error();
      out.push_back(std::move(o));
      continue;
    }
    auto listing = parse_nft_listing(*listed);
    if (!listing) {
      out.push_back(Observation::unknown("not observable: " + listing.error()));
      continue;
    }
    seen->table = listing->table;
    seen->head = listing->head;
    seen->rules = listing->rules;
    seen->others = listing->others;
    seen->persisted = read_optional(host, resources::kFirewallPersisted);
    seen->unit_current = read_optional(host, resources::kFirewallUnit) == FirewallResource::unit_text();
    std::error_code ec;
    const auto link = std::filesystem::read_symlink(host.path(resources::kFirewallUnitLink), ec);
    seen->unit_enabled = !ec && link.string() == resources::kFirewallUnit;

    std::string blocked;
    const ConfirmStatus status = read_status(host);
    const std::string desired_script = firewall->script();
    const bool armed = [&] {
      const std::lock_guard lock(flags.mutex);
      return flags.armed;
    }();
    if (status.state == "pending") {
      const auto pending = read_optional(host, state_path("pending.nft"));
      seen->awaiting_confirmation = pending == desired_script;
      if (!armed) {
        blocked = "the rule set applied at " + status.applied + " waits for `reconcile confirm` (it is rolled back " +
                  "after " + std::to_string(status.within) + " s otherwise); the firewall is left alone until then";
      }
    } else {
      seen->confirm_outcome = outcome_text(status);
      if (status.state == "rolled-back" && host.confirm_within_seconds == 0 &&
          read_optional(host, state_path("pending.nft")) == desired_script && !armed) {
        blocked = "this rule set was rolled back at " + status.ended + " because nobody confirmed it within " +
                  std::to_string(status.within) + " s; apply it again with --confirm-within SECONDS and confirm it, " +
                  "or change the firewall state";
      }
    }
    std::string note = seen->confirm_outcome;
    if (!listing->others.empty()) {
      std::string names;
      for (const auto& other : listing->others) names += (names.empty() ? "" : ", ") + other;
      note += (note.empty() ? "" : "; ") + std::string("other tables left alone: ") + names;
    }
    for (const auto& dropping : listing->others_dropping) {
      note += "; " + dropping + " also drops inbound traffic: it may drop what ours allows";
    }
    for (const auto& [file, family] : {std::pair{"/proc/net/ip_tables_names", "IPv4"},
                                       std::pair{"/proc/net/ip6_tables_names", "IPv6"}}) {
      auto legacy = read_optional(host, file);
      if (!legacy || legacy->empty()) continue;
      std::string names = *legacy;
      std::replace(names.begin(), names.end(), '\n', ' ');
      while (!names.empty() && names.back() == ' ') names.pop_back();
      note += (note.empty() ? "" : "; ") + std::string("iptables-legacy ") + family + " tables are loaded (" + names +
              "): they filter apart from nftables";
    }
    o = Observation::known(std::move(seen));
    o.note = note;
    o.blocked_reason = blocked;
    out.push_back(std::move(o));
  }
  return out;
}

std::vector<ChangeOutcome> NftablesProvider::apply(Session& session, std::span<const Change> changes) const {
  const Host& host = session.host();
  const Nft& nft = Nft::get();
  std::vector<ChangeOutcome> outcomes;
  for (const Change& change : changes) {
    const FirewallResource& firewall = *change.resource;
    ChangeOutcome outcome;
    const std::string script = firewall.script();
    const bool live = change.drifted(FirewallField::kTable) || change.drifted(FirewallField::kRules);
    const int within = live ? host.confirm_within_seconds : 0;
    std::optional<StateLock> lock;
    std::string previous;
    if (within > 0) {
      lock.emplace(host);
      std::error_code ec;
      if (!std::filesystem::is_directory(host.path("/run/systemd/system"), ec)) {
        outcomes.push_back(ChangeOutcome::failed("--confirm-within needs systemd to arm the roll-back timer; nothing was changed"));
        continue;
      }
      auto saved = previous_script(nft);
      if (!saved) {
        outcomes.push_back(ChangeOutcome::failed("cannot save the current table for the roll-back: " + saved.error()));
        continue;
      }
      previous = *saved;
      const auto started = std::chrono::steady_clock::now();
      ConfirmStatus status{"pending", now_iso(), "", std::string(kUnitName) + "-" + std::to_string(std::time(nullptr)),
                           static_cast<long long>(std::time(nullptr)) + within, within};
      auto written = write_file_atomic(host.path(state_path("previous.nft")), previous, 0600);
      if (written) written = write_file_atomic(host.path(state_path("pending.nft")), script, 0600);
      if (written) written = write_status(host, status);
      outcome.steps.push_back(Step{"save the current table to " + state_path("previous.nft"), since(started),
                                   written ? 0 : 1, written ? "" : written.error()});
      if (!written) {
        outcome.result = ChangeOutcome::Result::kFailed;
        outcome.message = "cannot save the roll-back state: " + written.error();
        outcomes.push_back(std::move(outcome));
        continue;
      }
      // Armed before the new rules load: a run killed between the two still rolls back.
      std::string exe = std::filesystem::read_symlink("/proc/self/exe", ec).string();
      std::vector<std::string> argv = {"systemd-run", "--quiet", "--unit=" + status.unit,
                                       "--on-active=" + std::to_string(within) + "s",
                                       "--timer-property=AccuracySec=1s",
                                       "--description=reconcile: roll the firewall back unless confirmed"};
      if (const char* libs = std::getenv("LD_LIBRARY_PATH"); libs != nullptr) {
        argv.push_back(std::string("--setenv=LD_LIBRARY_PATH=") + libs);
      }
      argv.insert(argv.end(), {exe, "firewall-rollback"});
      const auto result = host.exec->run(ExecRequest{argv, {}, "", std::chrono::seconds(30)});
      outcome.steps.push_back(step_of(argv, result));
      if (!result.ok()) {
        std::filesystem::remove(host.path(state_path("status")), ec);
        outcome.result = ChangeOutcome::Result::kFailed;
        outcome.message = "cannot arm the roll-back timer (" + result.tail() + "); nothing was changed";
        outcomes.push_back(std::move(outcome));
        continue;
      }
      const std::lock_guard flag_lock(session.state<RunFlags>(this).mutex);
      session.state<RunFlags>(this).armed = true;
    }
    if (live) {
      const auto started = std::chrono::steady_clock::now();
      auto loaded = nft.run(script, false);
      outcome.steps.push_back(Step{"nft: replace table inet reconcile (" + std::to_string(firewall.rules().size()) +
                                       " rules) in one transaction",
                                   since(started), loaded ? 0 : 1, loaded ? "" : loaded.error()});
      if (!loaded) {
        outcome.result = ChangeOutcome::Result::kFailed;
        outcome.message = "nft refused the rule set (the previous table is unchanged): " + loaded.error();
        outcomes.push_back(std::move(outcome));
        continue;
      }
    }
    if (within > 0) {
      outcome.steps.push_back(Step{"roll back in " + std::to_string(within) + " s unless `reconcile confirm` runs", 0, 0, ""});
      outcomes.push_back(std::move(outcome));
      continue;  // persisted by `reconcile confirm`
    }
    persist(host, script, change.drifted(FirewallField::kPersisted),
            change.drifted(FirewallField::kBoot), outcome);
    if (outcome.result != ChangeOutcome::Result::kFailed) {
      // An earlier confirm-or-roll-back is settled by this apply.
      std::error_code ec;
      for (const char* name : {"status", "pending.nft", "previous.nft"}) std::filesystem::remove(host.path(state_path(name)), ec);
    }
    outcomes.push_back(std::move(outcome));
  }
  return outcomes;
}

std::expected<std::string, std::string> confirm_firewall(const Host& host) {
  StateLock lock(host);
  ConfirmStatus status = read_status(host);
  if (status.state == "rolled-back") {
    return std::unexpected("too late: the rule set applied at " + status.applied + " was rolled back at " + status.ended);
  }
  if (status.state != "pending") return std::unexpected("no firewall rule set waits for confirmation");
  auto script = read_optional(host, state_path("pending.nft"));
  if (!script) return std::unexpected("the pending rule set " + state_path("pending.nft") + " is missing");
  std::string stopped;
  if (!status.unit.empty()) {
    const std::vector<std::string> argv = {"systemctl", "stop", "--", status.unit + ".timer"};
    const auto result = host.exec->run(ExecRequest{argv, {}, "", std::chrono::seconds(30)});
    if (!result.ok()) stopped = "; stopping " + status.unit + ".timer failed (" + result.tail() + "), it will find the rule set confirmed";
  }
  ChangeOutcome outcome;
  persist(host, *script, true, true, outcome);
  if (outcome.result == ChangeOutcome::Result::kFailed) return std::unexpected("cannot persist the rule set: " + outcome.message);
  status.state = "confirmed";
  status.ended = now_iso();
  if (auto written = write_status(host, status); !written) return std::unexpected(written.error());
  return "firewall rule set applied at " + status.applied + " confirmed and persisted to " +
         std::string(resources::kFirewallPersisted) + stopped;
}

std::expected<std::string, std::string> roll_back_firewall(const Host& host) {
  StateLock lock(host);
  ConfirmStatus status = read_status(host);
  if (status.state != "pending") return "nothing to roll back (" + (status.state.empty() ? "no pending rule set" : status.state) + ")";
  auto previous = read_optional(host, state_path("previous.nft"));
  if (!previous) return std::unexpected("the previous rule set " + state_path("previous.nft") + " is missing");
  auto loaded = Nft::get().run(*previous, false);
  if (!loaded) return std::unexpected("nft refused the previous rule set: " + loaded.error());
  status.state = "rolled-back";
  status.ended = now_iso();
  if (auto written = write_status(host, status); !written) return std::unexpected(written.error());
  return "firewall rolled back to the rule set before " + status.applied;
}

}  // namespace reconcile::providers
