#include "providers/account_db.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <chrono>
#include <nlohmann/json.hpp>
#include <system_error>

#include "providers/fs.h"

namespace reconcile::providers {

namespace {

// One line split at ':' : the first fields (as many as any of these files has), and how many there are in all.
struct Fields {
  std::array<std::string_view, 10> at;
  std::size_t count = 0;
  std::size_t size() const { return count; }
  std::string_view operator[](std::size_t i) const { return at[i]; }
};

// Splits one line at ':'; true when it has exactly `count` fields. No allocation: a thousand accounts are read
// on every run.
bool split_fields(std::string_view line, std::size_t count, Fields& fields) {
  fields.count = 0;
  std::size_t start = 0;
  while (true) {
    const std::size_t colon = line.find(':', start);
    const std::string_view field = line.substr(start, colon == std::string_view::npos ? std::string_view::npos : colon - start);
    if (fields.count < fields.at.size()) fields.at[fields.count] = field;
    ++fields.count;
    if (colon == std::string_view::npos) break;
    start = colon + 1;
  }
  return fields.count == count;
}

template <typename F>
void for_each_line(std::string_view text, F&& f) {
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(start, end - start);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (!line.empty() && line.front() != '#') f(line);
    start = end + 1;
  }
}

template <typename T>
std::optional<T> number(std::string_view text) {
  T value{};
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || ptr != text.data() + text.size() || text.empty()) return std::nullopt;
  return value;
}

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

}  // namespace

const PasswdEntry* AccountDb::find(std::string_view name) const {
  const auto it = by_name.find(std::string(name));
  return it == by_name.end() ? nullptr : &passwd[it->second];
}

const GroupEntry* AccountDb::find_group(std::string_view name) const {
  for (const auto& group : groups) {
    if (group.name == name) return &group;
  }
  return nullptr;
}

resources::PasswordState AccountDb::password(std::string_view name) const {
  const auto it = shadow.find(std::string(name));
  return it == shadow.end() ? resources::PasswordState::kNone : password_state(it->second.hash);
}

bool AccountDb::valid_shell(std::string_view shell) const {
  return std::find(shells.begin(), shells.end(), shell) != shells.end();
}

resources::PasswordState password_state(std::string_view hash) {
  if (hash.empty()) return resources::PasswordState::kEmpty;
  if (hash.front() == '!') return resources::PasswordState::kDisabled;
  // A crypt(3) hash starts with '$' (or is 13 DES characters); '*', 'x' and the like match nothing.
  if (hash.front() == '$' || hash.size() == 13) return resources::PasswordState::kUsable;
  return resources::PasswordState::kNone;
}

namespace {

// One /etc/passwd line read as glibc's files backend reads it: name, password, uid and gid are needed; a
// missing gecos, home or shell is empty (an empty shell means /bin/sh), and a shell field holding colons keeps
// them. nullopt when glibc cannot read it either.
std::optional<PasswdEntry> passwd_line(std::string_view line) {
  Fields f;
  split_fields(line, 7, f);
  if (f.size() < 4 || f[0].empty()) return std::nullopt;
  const auto uid = number<std::uint32_t>(f[2]);
  const auto gid = number<std::uint32_t>(f[3]);
  if (!uid || !gid) return std::nullopt;
  PasswdEntry entry{std::string(f[0]), *uid, *gid, f.size() > 5 ? std::string(f[5]) : "", ""};
  if (f.size() > 6) {
    const std::size_t at = static_cast<std::size_t>(f[6].data() - line.data());
    entry.shell = std::string(line.substr(at));
  }
  return entry;
}

}  // namespace

std::vector<PasswdEntry> parse_passwd(std::string_view text, std::vector<std::string>* malformed) {
  std::vector<PasswdEntry> out;
  std::size_t number = 0, start = 0;
  while (start < text.size()) {
    std::size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(start, end - start);
    ++number;
    start = end + 1;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty() || line.front() == '#' || line.front() == '+' || line.front() == '-') continue;  // NIS compat
    if (auto entry = passwd_line(line)) {
      out.push_back(std::move(*entry));
    } else if (malformed != nullptr) {
      malformed->push_back("line " + std::to_string(number) + " ('" + std::string(line.substr(0, 60)) + "')");
    }
  }
  return out;
}

std::vector<std::string> malformed_passwd_lines(std::string_view text) {
  std::vector<std::string> out;
  parse_passwd(text, &out);
  return out;
}

std::unordered_map<std::string, ShadowEntry> parse_shadow(std::string_view text) {
  std::unordered_map<std::string, ShadowEntry> out;
  Fields f;
  for_each_line(text, [&](std::string_view line) {
    if (!split_fields(line, 9, f) || f[0].empty()) return;
    ShadowEntry entry{std::string(f[1]), number<std::int64_t>(f[7])};
    out.emplace(std::string(f[0]), std::move(entry));
  });
  return out;
}

std::vector<GroupEntry> parse_group(std::string_view text) {
  std::vector<GroupEntry> out;
  Fields f;
  for_each_line(text, [&](std::string_view line) {
    if (!split_fields(line, 4, f) || f[0].empty()) return;
    const auto gid = number<std::uint32_t>(f[2]);
    if (!gid) return;
    GroupEntry group{std::string(f[0]), *gid, {}};
    std::string_view members = f[3];
    while (!members.empty()) {
      const std::size_t comma = members.find(',');
      const std::string_view member = members.substr(0, comma);
      if (!member.empty()) group.members.emplace_back(member);
      if (comma == std::string_view::npos) break;
      members.remove_prefix(comma + 1);
    }
    out.push_back(std::move(group));
  });
  return out;
}

std::vector<std::string> parse_gshadow_names(std::string_view text) {
  std::vector<std::string> out;
  Fields f;
  for_each_line(text, [&](std::string_view line) {
    if (split_fields(line, 4, f) && !f[0].empty()) out.emplace_back(f[0]);
  });
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

std::vector<std::string> parse_shells(std::string_view text) {
  std::vector<std::string> out;
  for_each_line(text, [&](std::string_view line) {
    line = trim(line);
    if (line.starts_with("/")) out.emplace_back(line);
  });
  return out;
}

std::string parse_name_regex(std::string_view adduser_conf) {
  std::string regex;
  for_each_line(adduser_conf, [&](std::string_view line) {
    line = trim(line);
    if (!line.starts_with("NAME_REGEX=")) return;
    std::string_view value = trim(line.substr(11));
    if (value.size() >= 2 && (value.front() == '"' || value.front() == '\'') && value.back() == value.front()) {
      value = value.substr(1, value.size() - 2);
    }
    regex.clear();
    for (std::size_t i = 0; i < value.size(); ++i) {  // the shell-style "\$" stands for "$"
      if (value[i] == '\\' && i + 1 < value.size() && value[i + 1] == '$') continue;
      regex += value[i];
    }
  });
  return regex;
}

std::optional<std::uint32_t> parse_login_defs_number(std::string_view login_defs, std::string_view key) {
  std::optional<std::uint32_t> value;
  for_each_line(login_defs, [&](std::string_view line) {
    line = trim(line);
    if (!line.starts_with(key) || line.size() == key.size()) return;
    const char after = line[key.size()];
    if (after != ' ' && after != '\t') return;
    if (auto number_value = number<std::uint32_t>(trim(line.substr(key.size())))) value = number_value;
  });
  return value;
}

std::expected<AccountDb, std::string> read_account_db(const Host& host) {
  AccountDb db;
  auto passwd = read_file(host.path("/etc/passwd"));
  if (!passwd) return std::unexpected("/etc/passwd: " + passwd.error());
  db.passwd = parse_passwd(*passwd, &db.malformed);
  db.by_name.reserve(db.passwd.size());
  for (std::size_t i = 0; i < db.passwd.size(); ++i) db.by_name.emplace(db.passwd[i].name, i);

  if (auto group = read_file(host.path("/etc/group"))) {
    db.groups = parse_group(*group);
    for (const auto& g : db.groups) {
      for (const auto& member : g.members) db.member_of[member].push_back(g.name);
    }
    for (auto& [user, groups] : db.member_of) {
      std::sort(groups.begin(), groups.end());
      groups.erase(std::unique(groups.begin(), groups.end()), groups.end());
    }
  }

  auto shadow = read_file(host.path("/etc/shadow"));
  if (shadow) {
    db.shadow_readable = true;
    db.shadow = parse_shadow(*shadow);
  } else {
    db.shadow_error = shadow.error();
  }

  if (auto gshadow = read_file(host.path("/etc/gshadow"))) {
    db.gshadow_readable = true;
    db.gshadow_groups = parse_gshadow_names(*gshadow);
  }

  if (auto shells = read_file(host.path("/etc/shells"))) db.shells = parse_shells(*shells);
  if (auto conf = read_file(host.path("/etc/adduser.conf"))) {
    std::string regex = parse_name_regex(*conf);
    if (!regex.empty()) db.name_regex = std::move(regex);
  }
  if (auto defs = read_file(host.path("/etc/login.defs"))) {
    db.uid_min = parse_login_defs_number(*defs, "UID_MIN").value_or(db.uid_min);
    db.uid_max = parse_login_defs_number(*defs, "UID_MAX").value_or(db.uid_max);
  }
  std::error_code ec;
  for (const char* nologin : {"/usr/sbin/nologin", "/sbin/nologin", "/usr/bin/nologin", "/bin/nologin"}) {
    if (std::filesystem::exists(host.path(nologin), ec)) {
      db.nologin_shell = nologin;
      break;
    }
  }
  return db;
}

namespace {

bool is_utf8(std::string_view text) {
  std::size_t i = 0;
  while (i < text.size()) {
    const auto c = static_cast<unsigned char>(text[i]);
    const std::size_t length = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
    if (length == 0 || i + length > text.size()) return false;
    for (std::size_t k = 1; k < length; ++k) {
      if ((static_cast<unsigned char>(text[i + k]) >> 6) != 0x2) return false;
    }
    i += length;
  }
  return true;
}

std::string to_hex(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (const char c : bytes) {
    out += kDigits[static_cast<unsigned char>(c) >> 4];
    out += kDigits[static_cast<unsigned char>(c) & 0xF];
  }
  return out;
}

std::string from_hex(std::string_view hex) {
  auto value = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    throw std::invalid_argument("not a hex digit in shell_hex");
  };
  if (hex.size() % 2 != 0) throw std::invalid_argument("odd length of shell_hex");
  std::string out;
  for (std::size_t i = 0; i < hex.size(); i += 2) out += static_cast<char>(value(hex[i]) * 16 + value(hex[i + 1]));
  return out;
}

}  // namespace

std::expected<LockRecords, std::string> read_lock_records(const Host& host) {
  LockRecords records;
  const auto path = host.path(kLockRecordsPath);
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return records;
  auto text = read_file(path, 16u << 20);
  if (!text) return std::unexpected(std::string(kLockRecordsPath) + ": " + text.error());
  try {
    const auto json = nlohmann::json::parse(*text);
    for (const auto& [name, entry] : json.at("locked").items()) {
      resources::LockRecord record;
      record.shell = entry.contains("shell_hex") ? from_hex(entry.at("shell_hex").get<std::string>())
                                                 : entry.at("shell").get<std::string>();
      record.password_set = entry.at("password_set").get<bool>();
      record.password_empty = entry.value("password_empty", false);
      if (!entry.at("expire").is_null()) record.expire = entry.at("expire").get<std::int64_t>();
      records.locked.emplace(name, std::move(record));
    }
  } catch (const std::exception& e) {
    return std::unexpected(std::string(kLockRecordsPath) + " is malformed: " + e.what());
  }
  return records;
}

std::expected<void, std::string> write_lock_records(const Host& host, const LockRecords& records) {
  nlohmann::json locked = nlohmann::json::object();
  for (const auto& [name, record] : records.locked) {
    // Names and shells are bytes: one that is not UTF-8 is kept exactly, as hex, never lost or thrown over.
    locked[name] = {{"password_set", record.password_set},
                    {"password_empty", record.password_empty},
                    {"expire", record.expire ? nlohmann::json(*record.expire) : nlohmann::json(nullptr)}};
    if (is_utf8(record.shell)) locked[name]["shell"] = record.shell;
    else locked[name]["shell_hex"] = to_hex(record.shell);
  }
  const nlohmann::json json = {{"version", 1},
                               {"about", "accounts reconcile locked, and what unlocking them restores"},
                               {"locked", locked}};
  const auto path = host.path(kLockRecordsPath);
  std::error_code ec;
  std::filesystem::create_directories(path.parent_path(), ec);
  if (ec) return std::unexpected("create " + path.parent_path().string() + ": " + ec.message());
  return write_file_atomic(path, json.dump(2) + "\n", 0600);
}

std::vector<std::string> processes_of(const Host& host, std::uint32_t uid) {
  std::vector<std::string> out;
  std::error_code ec;
  for (auto it = std::filesystem::directory_iterator(host.path("/proc"), ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    const std::string pid = it->path().filename().string();
    if (!number<std::uint32_t>(pid)) continue;
    auto status = read_file(it->path() / "status", 1u << 16);
    if (!status) continue;  // the process ended meanwhile
    std::string name;
    std::optional<std::uint32_t> real_uid;
    for_each_line(*status, [&](std::string_view line) {
      if (line.starts_with("Name:")) name = trim(line.substr(5));
      if (line.starts_with("Uid:")) {
        std::string_view rest = trim(line.substr(4));
        real_uid = number<std::uint32_t>(rest.substr(0, rest.find_first_of(" \t")));
      }
    });
    if (real_uid == uid) out.push_back(pid + " (" + name + ")");
  }
  std::sort(out.begin(), out.end(), [](const std::string& a, const std::string& b) {
    return std::stoul(a) < std::stoul(b);
  });
  return out;
}

std::int64_t today() {
  const auto now = std::chrono::floor<std::chrono::days>(std::chrono::system_clock::now());
  return now.time_since_epoch().count();
}

}  // namespace reconcile::providers
