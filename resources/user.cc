#include "resources/user.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>

#include "resources/package.h"

namespace reconcile::resources {

namespace {

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& item : items) out += (out.empty() ? "" : ", ") + item;
  return out;
}

std::string expire_text(const std::optional<std::int64_t>& expire) {
  return expire ? day_text(*expire) : "never";
}

constexpr std::uint32_t kMaxUid = 4294967294u;  // (uid_t)-1 means "no uid"

std::string mode_text(unsigned mode) {
  char buffer[8];
  std::snprintf(buffer, sizeof buffer, "%04o", mode & 07777u);
  return buffer;
}

// The authorized_keys drift of an existing account: keys to add, replace (same key, other options or comment)
// and, when exclusive, remove; and the modes and owner sshd's StrictModes wants.
std::optional<FieldDrift> keys_drift(const UserResource& user, const AuthorizedKeysSeen& seen) {
  std::map<std::string, const SshKey*> in_file;
  for (const auto& key : seen.keys) in_file.emplace(key.identity(), &key);
  std::vector<std::string> added, replaced, removed, kept, fixes;
  std::map<std::string, const SshKey*> listed;
  for (const auto& key : user.ssh_keys) {
    listed.emplace(key.identity(), &key);
    const auto found = in_file.find(key.identity());
    if (found == in_file.end()) added.push_back(seen.label(key));
    else if (found->second->line() != key.line()) replaced.push_back(seen.label(key));
  }
  for (const auto& key : seen.keys) {
    if (listed.contains(key.identity())) continue;
    (user.ssh_keys_exclusive ? removed : kept).push_back(seen.label(key));
  }
  const bool writes = seen.exists || !added.empty();
  if (writes && seen.dir_mode && *seen.dir_mode != 0700) fixes.push_back("~/.ssh mode " + mode_text(*seen.dir_mode) + " → 0700");
  if (writes && !seen.dir_owned) fixes.push_back("~/.ssh owner → " + user.name());
  if (seen.exists && seen.file_mode && *seen.file_mode != 0600) {
    fixes.push_back("authorized_keys mode " + mode_text(*seen.file_mode) + " → 0600");
  }
  if (seen.exists && !seen.file_owned) fixes.push_back("authorized_keys owner → " + user.name());
  if (added.empty() && replaced.empty() && removed.empty() && fixes.empty()) return std::nullopt;

  std::vector<std::string> before, after;
  for (const auto& key : seen.keys) before.push_back(seen.label(key));
  for (const auto& key : user.ssh_keys) after.push_back(seen.label(key));
  after.insert(after.end(), kept.begin(), kept.end());
  std::string why;
  const auto part = [&](const std::string& verb, const std::vector<std::string>& keys) {
    if (!keys.empty()) why += (why.empty() ? "" : "; ") + verb + " " + join(keys);
  };
  part("adds", added);
  part("rewrites the options or comment of", replaced);
  part("removes (ssh_keys_exclusive)", removed);
  if (!fixes.empty()) why += (why.empty() ? "" : "; ") + join(fixes);
  if (!kept.empty()) why += "; keeps " + std::to_string(kept.size()) + " unlisted key" + (kept.size() == 1 ? "" : "s");
  FieldDrift drift = drift_of(UserField::kSshKeys, seen.exists ? (before.empty() ? "no keys" : join(before)) : "no file",
                              after.empty() ? "no keys" : join(after), why);
  return drift;
}

}  // namespace

std::string_view to_string(UserEnsure ensure) {
  switch (ensure) {
    case UserEnsure::kPresent: return "present";
    case UserEnsure::kLocked: return "locked";
    case UserEnsure::kAbsent: return "absent";
  }
  return "present";
}

std::string_view to_string(PasswordState state) {
  switch (state) {
    case PasswordState::kUsable: return "usable";
    case PasswordState::kEmpty: return "empty (no password needed)";
    case PasswordState::kDisabled: return "disabled";
    case PasswordState::kNone: return "none";
  }
  return "none";
}

std::string day_text(std::int64_t days) {
  const std::chrono::year_month_day date{std::chrono::sys_days{std::chrono::days{days}}};
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%04d-%02u-%02u", static_cast<int>(date.year()),
                static_cast<unsigned>(date.month()), static_cast<unsigned>(date.day()));
  return buffer;
}

std::expected<void, std::string> check_user_name(std::string_view name) {
  return check_name(name, "_-.$", 32);
}

bool UserObserved::shell_locked() const {
  return shell == nologin_shell || shell.ends_with("/nologin");
}

std::vector<Field> UserObserved::fields() const {
  if (!exists) return {{"account", "absent"}};
  std::vector<Field> out{{"account", "present"},
                         {"uid", std::to_string(uid)},
                         {"home", home},
                         {"shell", shell},
                         {"groups", join(groups)},
                         {"password", std::string(to_string(password))},
                         {"expiry", expire_text(expire)}};
  if (record) {
    out.push_back({"shell before lock", record->shell});
    out.push_back({"password before lock", record->password_set ? "set" : "not set"});
    out.push_back({"expiry before lock", expire_text(record->expire)});
  }
  if (authorized_keys.observed) {
    std::vector<std::string> keys;
    for (const auto& key : authorized_keys.keys) keys.push_back(authorized_keys.label(key));
    out.push_back({"ssh_keys", authorized_keys.exists ? (keys.empty() ? "no keys" : join(keys)) : "no file"});
  }
  return out;
}

std::string AuthorizedKeysSeen::label(const SshKey& key) const {
  const auto found = fingerprints.find(key.identity());
  return key.label(found == fingerprints.end() ? "" : found->second);
}

std::vector<Field> LoginPolicyObserved::fields() const { return {{"can log in", join(can_log_in)}}; }

UserResource::UserResource(std::string name, UserEnsure ensure, Location location, std::string key_path)
    : ResourceOf("user", std::move(name), std::move(location), std::move(key_path)), ensure_(ensure) {}

std::vector<std::string> UserResource::auto_requires() const {
  std::vector<std::string> out;
  if (ensure_ != UserEnsure::kPresent) return out;
  out.push_back(make_id("group", name()));  // a managed group of its own name becomes its primary group
  for (const auto& group : groups) {
    out.push_back(make_id("group", group));
    if (group != name()) out.push_back(make_id("user", group));  // the private group of a managed user
  }
  return out;
}

bool UserResource::provided_by(const Resource& requirement) const {
  if (ensure_ != UserEnsure::kPresent || groups.empty()) return false;
  if (const auto* package = dynamic_cast<const PackageResource*>(&requirement)) {
    return package->state() != PackageState::kAbsent;
  }
  const bool named = std::find(groups.begin(), groups.end(), requirement.name()) != groups.end();
  return named && (requirement.kind() == "group" || requirement.kind() == "user");
}

std::string UserResource::comes_with_changes_hint() const {
  if (ensure_ != UserEnsure::kPresent || groups.empty()) return "";
  return "; create it first (groupadd, or groups in the state), or install the package that adds it in the same run";
}

std::vector<Field> UserResource::desired_fields() const {
  std::vector<Field> out{{"ensure", std::string(to_string(ensure_))}};
  if (ensure_ == UserEnsure::kAbsent) out.push_back({"remove_home", remove_home ? "true" : "false"});
  if (uid) out.push_back({"uid", std::to_string(*uid)});
  if (!groups.empty()) out.push_back({"groups", join(groups)});
  if (shell) out.push_back({"shell", *shell});
  if (home) out.push_back({"home", *home});
  if (!ssh_keys.empty()) {
    std::vector<std::string> keys;
    for (const auto& key : ssh_keys) keys.push_back(key.label());
    out.push_back({"ssh_keys", join(keys)});
  }
  if (ssh_keys_exclusive) out.push_back({"ssh_keys_exclusive", "true"});
  return out;
}

std::string_view field_name(UserField field) {
  switch (field) {
    case UserField::kAccount: return "account";
    case UserField::kUid: return "uid";
    case UserField::kHome: return "home";
    case UserField::kShell: return "shell";
    case UserField::kGroups: return "groups";
    case UserField::kPassword: return "password";
    case UserField::kExpiry: return "expiry";
    case UserField::kSshKeys: return "ssh_keys";
  }
  return "account";
}

Drift UserResource::diff_of(const UserObserved& seen) const {
  Drift drift;
  switch (ensure_) {
    case UserEnsure::kAbsent:
      if (seen.exists) {
        drift.push_back(drift_of(UserField::kAccount, "present (uid " + std::to_string(seen.uid) + ")", "absent",
                         remove_home ? "to be removed with its home " + seen.home
                                     : "to be removed; its home " + seen.home + " is kept"));
      }
      return drift;
    case UserEnsure::kLocked: {
      if (!seen.exists) return drift;  // nothing to lock
      const std::string why = origin_ == UserOrigin::kAllowList ? "not in users.login_allowed_only: " : "";
      if (!seen.password_locked()) {
        drift.push_back(drift_of(UserField::kPassword, std::string(to_string(seen.password)), "disabled",
                         why + "a '!' prefix on the hash stops password logins"));
      }
      if (!seen.shell_locked()) {
        drift.push_back(drift_of(UserField::kShell, seen.shell, seen.nologin_shell,
                         why + "no shell for a locked account; " + seen.shell + " is kept to restore on unlock"));
      }
      if (!seen.expired()) {
        drift.push_back(drift_of(UserField::kExpiry, expire_text(seen.expire), "expired (" + day_text(1) + ")",
                         why + "an expired account refuses SSH key logins too"));
      }
      return drift;
    }
    case UserEnsure::kPresent:
      break;
  }
  if (!seen.exists) {
    std::string what = "present";
    const auto fields = desired_fields();
    for (std::size_t i = 1; i < fields.size(); ++i) {
      what += (i == 1 ? " (" : ", ") + fields[i].name + " " + fields[i].value + (i + 1 == fields.size() ? ")" : "");
    }
    drift.push_back(drift_of(UserField::kAccount, "absent", what, "to be created"));
    return drift;
  }
  if (uid && *uid != seen.uid) {
    drift.push_back(drift_of(UserField::kUid, std::to_string(seen.uid), std::to_string(*uid), "the uid differs"));
  }
  if (home && *home != seen.home) drift.push_back(drift_of(UserField::kHome, seen.home, *home, "the home directory differs"));
  const std::string* want_shell = shell ? &*shell : (seen.record ? &seen.record->shell : nullptr);
  if (want_shell != nullptr && *want_shell != seen.shell) {
    drift.push_back(drift_of(UserField::kShell, seen.shell, *want_shell,
                     shell ? "the login shell differs" : "unlock: the shell it had before reconcile locked it"));
  }
  std::vector<std::string> missing;
  for (const auto& group : groups) {
    if (!std::binary_search(seen.groups.begin(), seen.groups.end(), group)) missing.push_back(group);
  }
  if (!missing.empty()) {
    std::vector<std::string> wanted = seen.groups;
    wanted.insert(wanted.end(), missing.begin(), missing.end());
    std::sort(wanted.begin(), wanted.end());
    drift.push_back(drift_of(UserField::kGroups, join(seen.groups), join(wanted), "not yet a member of " + join(missing)));
  }
  if (seen.record) {
    if (seen.record->password_set && seen.password_locked()) {
      drift.push_back(drift_of(UserField::kPassword, "disabled", "usable", "unlock: it had a password before reconcile locked it"));
    }
    if (seen.expire != seen.record->expire) {
      drift.push_back(drift_of(UserField::kExpiry, expire_text(seen.expire), expire_text(seen.record->expire),
                       "unlock: the expiry it had before reconcile locked it"));
    }
    if (seen.record->password_empty && !drift.empty()) {
      drift.back().reason += "; its empty password stays disabled, since restoring it would open a login without "
                             "a password (set one with passwd " + name() + ")";
    }
  }
  if (manages_ssh_keys() && seen.authorized_keys.observed) {
    if (auto keys = keys_drift(*this, seen.authorized_keys)) drift.push_back(std::move(*keys));
  }
  return drift;
}

LoginPolicyResource::LoginPolicyResource(std::vector<std::string> allowed, Location location, std::string key_path)
    : ResourceOf("user", std::string(kLoginPolicyName), std::move(location), std::move(key_path)),
      allowed_(std::move(allowed)) {}

std::vector<Field> LoginPolicyResource::desired_fields() const {
  std::vector<Field> out{{"login_allowed_only", join(allowed_)}};
  if (ignore_case_) out.push_back({"login_names_ignore_case", "true"});
  return out;
}

bool LoginPolicyResource::allows(std::string_view name) const {
  const auto same = [&](const std::string& allowed) {
    if (!ignore_case_) return allowed == name;
    return allowed.size() == name.size() && std::equal(allowed.begin(), allowed.end(), name.begin(), [](char a, char b) {
             return std::tolower(static_cast<unsigned char>(a)) == std::tolower(static_cast<unsigned char>(b));
           });
  };
  return std::any_of(allowed_.begin(), allowed_.end(), same);
}

Drift LoginPolicyResource::diff_of(const LoginPolicyObserved&) const { return {}; }  // the locks it adds carry the drift

namespace {

// Where a name was listed, to report contradictions inside the users mapping.
std::optional<std::string> read_user_name(NodeReader& reader, const Node& node) {
  auto name = reader.string(node, "an account name such as alice");
  if (!name) return std::nullopt;
  if (const auto checked = check_user_name(*name); !checked) {
    reader.fail(node, ErrorCode::kInvalidValue, "invalid account name '" + *name + "': " + checked.error(),
                "account names look like alice or deploy_ci: lower-case letters, digits, '_' and '-'");
    return std::nullopt;
  }
  return name;
}

// Why a path cannot be an account's home: usermod --move-home would rewrite the account to it and then fail to
// move, or move a system directory.
std::expected<void, std::string> not_a_system_directory(std::string path) {
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  static constexpr std::string_view kExact[] = {"/",        "/bin",     "/boot",      "/dev",     "/etc",
                                                "/home",    "/lib",     "/lib32",     "/lib64",   "/libx32",
                                                "/media",   "/mnt",     "/opt",       "/proc",    "/run",
                                                "/sbin",    "/srv",     "/sys",       "/tmp",     "/usr",
                                                "/usr/bin", "/usr/lib", "/usr/local", "/usr/sbin", "/usr/share",
                                                "/var",     "/var/lib", "/var/log",   "/var/cache", "/var/tmp"};
  static constexpr std::string_view kUnder[] = {"/boot/", "/dev/", "/etc/", "/proc/", "/run/", "/sys/"};
  for (const auto dir : kExact) {
    if (path == dir) return std::unexpected("is a system directory");
  }
  for (const auto dir : kUnder) {
    if (path.starts_with(dir)) {
      return std::unexpected("is inside " + std::string(dir.substr(0, dir.size() - 1)) + ", a system directory");
    }
  }
  return {};
}

std::optional<std::string> read_path(NodeReader& reader, const Node& node, std::string_view what) {
  auto path = reader.string(node, what);
  if (!path) return std::nullopt;
  const auto named = check_name(*path, "/._-+", 255);
  std::string problem = named ? "" : named.error();
  if (problem.empty() && !path->starts_with("/")) problem = "it is not an absolute path";
  if (problem.empty() && (path->find("/../") != std::string::npos || path->ends_with("/.."))) {
    problem = "it contains '..'";
  }
  if (!problem.empty()) {
    reader.fail(node, ErrorCode::kInvalidValue, "invalid path '" + *path + "': " + problem,
                "write an absolute path such as /bin/bash or /home/alice");
    return std::nullopt;
  }
  return path;
}

// ssh_keys: public key lines, each validated as a key; the same key twice must be the same line.
bool read_ssh_keys(NodeReader& reader, const Node& node, UserResource& user) {
  bool ok = true;
  std::map<std::string, const Node*> seen;  // identity → where it was listed
  for (const Node* item : reader.list(node, "public key lines such as \"ssh-ed25519 AAAA… alice@laptop\"", true)) {
    auto line = reader.string(*item, "a public key line such as \"ssh-ed25519 AAAA… alice@laptop\"");
    if (!line) {
      ok = false;
      continue;
    }
    auto key = parse_ssh_key(*line);
    if (!key) {
      reader.fail(*item, ErrorCode::kInvalidValue, "invalid SSH public key: " + key.error(),
                  "paste one line of a .pub file (ssh-keygen -y -f KEY prints it), such as "
                  "\"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA… alice@laptop\"; options such as from=\"10.0.0.0/8\" may "
                  "come first");
      ok = false;
      continue;
    }
    const auto [found, fresh] = seen.emplace(key->identity(), item);
    if (!fresh) {
      const auto& first = user.ssh_keys[static_cast<std::size_t>(
          std::find_if(user.ssh_keys.begin(), user.ssh_keys.end(),
                       [&](const SshKey& k) { return k.identity() == key->identity(); }) -
          user.ssh_keys.begin())];
      if (first.line() != key->line()) {
        reader.fail(*item, ErrorCode::kConflict,
                    "this key is also listed at " + found->second->location.str() + " (" + found->second->path +
                        ") with other options or comment",
                    "list each key once");
        ok = false;
      }
      continue;
    }
    user.ssh_keys.push_back(std::move(*key));
  }
  return ok;
}

// One entry of present/locked/absent: a name, or a mapping with a name and the section's keys.
std::unique_ptr<UserResource> read_entry(const Node& item, UserEnsure ensure, CompileContext& context) {
  NodeReader& reader = context.reader();
  std::vector<std::string> allowed{"name", "requires"};
  if (ensure == UserEnsure::kPresent) {
    allowed.insert(allowed.end(), {"uid", "groups", "shell", "home", "ssh_keys", "ssh_keys_exclusive"});
  }
  if (ensure == UserEnsure::kAbsent) allowed.push_back("remove_home");
  const Node* name_node = reader.entry_name(item, allowed, "a users." + std::string(to_string(ensure)) + " entry",
                                            "write {name: alice, ...}");
  if (name_node == nullptr) return nullptr;
  auto name = read_user_name(reader, *name_node);
  if (!name) return nullptr;
  auto resource = std::make_unique<UserResource>(*name, ensure, item.location, item.path);
  if (!item.is_map()) return resource;
  bool ok = true;
  if (const Node* uid = item.find("uid")) {
    auto value = reader.integer(*uid, 0, kMaxUid);
    if (value) resource->uid = static_cast<std::uint32_t>(*value);
    else ok = false;
  }
  if (const Node* groups = item.find("groups")) {
    for (const Node* group : reader.list(*groups, "group names such as sudo", true)) {
      auto group_name = reader.string(*group, "a group name such as sudo");
      const auto checked = group_name ? check_user_name(*group_name) : std::expected<void, std::string>();
      if (!group_name || !checked) {
        if (group_name) {
          reader.fail(*group, ErrorCode::kInvalidValue, "invalid group name '" + *group_name + "': " + checked.error());
        }
        ok = false;
        continue;
      }
      resource->groups.push_back(*group_name);
    }
    std::sort(resource->groups.begin(), resource->groups.end());
    resource->groups.erase(std::unique(resource->groups.begin(), resource->groups.end()), resource->groups.end());
  }
  if (const Node* shell = item.find("shell")) {
    resource->shell = read_path(reader, *shell, "a shell such as /bin/bash");
    ok = ok && resource->shell.has_value();
  }
  if (const Node* home = item.find("home")) {
    resource->home = read_path(reader, *home, "a home directory such as /home/alice");
    if (resource->home) {
      if (const auto own = not_a_system_directory(*resource->home); !own) {
        reader.fail(*home, ErrorCode::kInvalidValue, "home '" + *resource->home + "' " + own.error(),
                    "give the account a directory of its own, such as /home/" + resource->name() + " or /srv/" +
                        resource->name());
        resource->home.reset();
      }
    }
    ok = ok && resource->home.has_value();
  }
  if (const Node* keys = item.find("ssh_keys")) ok = read_ssh_keys(reader, *keys, *resource) && ok;
  if (const Node* exclusive = item.find("ssh_keys_exclusive")) {
    auto value = reader.boolean(*exclusive);
    if (value) resource->ssh_keys_exclusive = *value;
    else ok = false;
  }
  if (const Node* remove_home = item.find("remove_home")) {
    auto value = reader.boolean(*remove_home);
    if (value) resource->remove_home = *value;
    else ok = false;
  }
  context.read_requires(item, *resource);
  return ok ? std::move(resource) : nullptr;
}

}  // namespace

KindSpec users_kind() {
  KindSpec spec;
  spec.key = "users";
  spec.compile = [](const Node& value, CompileContext& context) {
    NodeReader& reader = context.reader();
    const bool known_keys = reader.check_keys(
        value, {"login_allowed_only", "login_names_ignore_case", "present", "locked", "absent", "allow_lockout"},
        "the users mapping");
    if (!known_keys && !value.is_map()) return;
    bool allow_lockout = false;
    if (const Node* node = value.find("allow_lockout")) {
      auto allow = reader.boolean(*node);
      if (allow) allow_lockout = *allow;
    }

    std::map<std::string, const Node*> allowed_at;  // name → where it is allowed
    std::unique_ptr<LoginPolicyResource> policy;
    const Node* allow_list = value.find("login_allowed_only");
    if (allow_list != nullptr && (allow_list->is_null() || (allow_list->is_sequence() && allow_list->items.empty()))) {
      // An empty allow-list would lock every account: surely a half-written key, never a wish.
      reader.fail(*allow_list, ErrorCode::kInvalidValue,
                  "login_allowed_only is empty, which would lock every account that can log in",
                  "list the accounts that may log in, e.g. login_allowed_only: [root, alice], or remove the key");
      allow_list = nullptr;
    }
    bool ignore_case = false;  // read (and checked) even without an allow-list
    if (const Node* ignore = value.find("login_names_ignore_case")) {
      if (auto flag = reader.boolean(*ignore)) ignore_case = *flag;
    }
    if (const Node* node = allow_list) {
      std::vector<std::string> allowed;
      for (const Node* item : reader.list(*node, "account names", true)) {
        auto name = read_user_name(reader, *item);
        if (!name) continue;
        if (allowed_at.emplace(*name, item).second) allowed.push_back(*name);
      }
      policy = std::make_unique<LoginPolicyResource>(std::move(allowed), node->location, node->path);
      policy->set_allow_lockout(allow_lockout);
      policy->set_ignore_case(ignore_case);
    }

    const std::pair<const char*, UserEnsure> sections[] = {
        {"present", UserEnsure::kPresent}, {"locked", UserEnsure::kLocked}, {"absent", UserEnsure::kAbsent}};
    std::vector<std::unique_ptr<UserResource>> users;
    for (const auto& [key, ensure] : sections) {
      const Node* node = value.find(key);
      if (node == nullptr) continue;
      for (const Node* item : reader.list(*node, "account names or mappings")) {
        auto resource = read_entry(*item, ensure, context);
        if (!resource) continue;
        const auto found = allowed_at.find(resource->name());
        if (ensure != UserEnsure::kPresent && found != allowed_at.end()) {
          reader.fail(*item, ErrorCode::kConflict,
                      "'" + resource->name() + "' is " + std::string(to_string(ensure)) +
                          " here but allowed to log in at " + found->second->location.str() + " (" +
                          found->second->path + ")",
                      "keep one of the two");
          continue;
        }
        resource->set_allow_lockout(allow_lockout);
        users.push_back(std::move(resource));
      }
    }
    if (policy) context.add(std::move(policy));
    for (auto& user : users) context.add(std::move(user));
  };
  return spec;
}

}  // namespace reconcile::resources
