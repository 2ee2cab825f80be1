#include "providers/shadow.h"

#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <optional>
#include <cstdlib>
#include <regex>
#include <set>
#include <system_error>

#include "providers/account_tools.h"
#include "providers/authorized_keys.h"
#include "providers/fs.h"
#include "resources/user.h"

namespace reconcile::providers {

namespace {

using resources::Error;
using resources::ErrorCode;
using resources::LoginPolicyResource;
using resources::PasswordState;
using resources::UserEnsure;
using resources::UserField;
using resources::UserObserved;
using resources::UserOrigin;
using resources::UserResource;

constexpr std::string_view kAdminGroups[] = {"sudo", "wheel", "admin"};
constexpr std::string_view kNotObservable = "not observable: permission denied (reading /etc/shadow needs root)";

std::string join(const std::vector<std::string>& items, std::string_view none = "none") {
  if (items.empty()) return std::string(none);
  std::string out;
  for (const auto& item : items) out += (out.empty() ? "" : ", ") + item;
  return out;
}

std::string comma_list(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& item : items) out += (out.empty() ? "" : ",") + item;
  return out;
}

std::string lower_first(std::string text) {
  if (!text.empty() && text.front() >= 'A' && text.front() <= 'Z') text.front() = static_cast<char>(text.front() + 32);
  return text;
}

bool is_nologin(std::string_view shell) {
  return shell.ends_with("/nologin") || shell.ends_with("/false");
}

const LoginPolicyResource* find_policy(std::span<const UserItem> resources) {
  for (const UserItem& resource : resources) {
    if (const auto* policy = as_policy(resource)) return policy;
  }
  return nullptr;
}

// Without /etc/shadow (an ordinary user's dry run) an ordinary account may still log in by password:
// it is listed, and reported as not observable, rather than silently left out.
bool might_log_in_unseen(const AccountDb& db, const PasswdEntry& entry) {
  return !db.shadow_readable && entry.uid >= db.uid_min && entry.uid <= db.uid_max;
}

// What the allow-list adds: a lock for each account that can log in (or that reconcile locked) and is
// not allowed, and a restore for each allowed account that reconcile locked. Accounts the state lists
// elsewhere are governed by their own entry.
struct Expansion {
  std::vector<std::string> lock;
  std::vector<std::string> restore;
};

Expansion expand_policy(const Host& host, const AccountDb& db, const LockRecords& records,
                        const LoginPolicyResource& policy, const std::set<std::string>& managed) {
  Expansion out;
  for (const auto& entry : db.passwd) {
    if (managed.contains(entry.name)) continue;
    const bool recorded = records.locked.contains(entry.name);
    if (policy.allows(entry.name)) {
      if (recorded) out.restore.push_back(entry.name);
    } else if (recorded || can_log_in(host, db, entry) || might_log_in_unseen(db, entry)) {
      out.lock.push_back(entry.name);
    }
  }
  return out;
}

std::regex name_rule(const AccountDb& db) {
  try {
    return std::regex(db.name_regex, std::regex::extended);
  } catch (const std::regex_error&) {
    return std::regex(std::string(kDefaultNameRegex), std::regex::extended);
  }
}

Error error_at(const Resource& resource, ErrorCode code, std::string message, std::string hint = "") {
  return Error{code, std::move(message), resource.location(), resource.key_path(), std::move(hint)};
}

// How one account can be logged into: the ways in that stay open with its shell, password, keys and expiry.
struct Access {
  bool exists = false;
  std::string shell;
  PasswordState password = PasswordState::kNone;
  // A non-empty authorized_keys file in `key_home`: looked at only when the answer matters (an account with a login
  // shell and no usable password), so a converged run does not stat the homes of a thousand locked accounts.
  std::string key_home;
  mutable std::optional<bool> key;
  bool expired = false;  // an expired account refuses password and key logins alike
  std::vector<std::string> groups;
  const Resource* changed_by = nullptr;  // the entry of the state that changes it
};

bool has_key(const Host& host, const std::string& home) {
  if (home.empty() || !home.starts_with("/")) return false;
  std::error_code ec;
  for (const char* file : {"/.ssh/authorized_keys", "/.ssh/authorized_keys2"}) {
    const auto path = host.path(home + file);
    if (std::filesystem::is_regular_file(path, ec) && std::filesystem::file_size(path, ec) > 0 && !ec) return true;
  }
  return false;
}

bool has_key_of(const Host& host, const Access& access) {
  if (!access.key) access.key = has_key(host, access.key_home);
  return *access.key;
}

// Whether the account has a login shell (glibc reads an empty one as /bin/sh) and is not expired.
bool login_shell_open(const AccountDb& db, const Access& access) {
  if (!access.exists || access.expired) return false;
  const std::string shell = access.shell.empty() ? "/bin/sh" : access.shell;
  return !is_nologin(shell) && db.valid_shell(shell);
}

// Whether the account can be logged into: a login shell and a password or a key, not expired.
bool can_enter(const Host& host, const AccountDb& db, const Access& access) {
  if (!login_shell_open(db, access)) return false;
  if (access.password == PasswordState::kUsable || access.password == PasswordState::kEmpty) return true;
  return has_key_of(host, access);
}

// "password", "SSH key", "password and SSH key", or "" when the account cannot be logged into (see can_enter).
std::string ways_in(const Host& host, const AccountDb& db, const Access& access) {
  if (!login_shell_open(db, access)) return "";
  std::string how;
  if (access.password == PasswordState::kUsable) how = "password";
  if (access.password == PasswordState::kEmpty) how = "empty password";
  if (has_key_of(host, access)) how += std::string(how.empty() ? "" : " and ") + "SSH key";
  return how;
}

// The key login an account keeps once the plan wrote its ssh_keys: listed keys add one, an exclusive list
// removes the file's other keys (an account whose only way in is a key the list drops loses it).
void apply_keys_to(Access& access, const UserResource& user, const AccountDb& db, const Host& host) {
  if (!user.manages_ssh_keys()) return;
  const PasswdEntry* entry = db.find(user.name());
  const std::string home = entry != nullptr ? entry->home : (user.home ? *user.home : "/home/" + user.name());
  access.key = keys_remain(host, home, user);
}

// The account as the plan leaves it when `ensure` is applied to it by `by`.
// `user` is the account's entry, or nullptr for what the allow-list does to `account`.
void apply_to(Access& access, const std::string& account, UserEnsure ensure, const UserResource* user,
              const LockRecords& records, const AccountDb& db, const Host& host, const Resource* by,
              std::int64_t now) {
  access.changed_by = by;
  if (ensure == UserEnsure::kAbsent) {
    access.exists = false;
    return;
  }
  if (ensure == UserEnsure::kLocked) {
    if (!access.exists) return;
    access.password = PasswordState::kDisabled;
    access.shell = db.nologin_shell;
    access.expired = true;
    return;
  }
  // present: created by useradd (no password, a fresh home) or restored from reconcile's lock record.
  if (!access.exists) {
    access.exists = true;
    access.shell = user != nullptr && user->shell ? *user->shell : "/bin/sh";
    access.password = PasswordState::kDisabled;
    access.expired = false;
    access.key_home = user != nullptr && user->home ? *user->home : "";
    access.key.reset();
  }
  if (const auto record = records.locked.find(account); record != records.locked.end()) {
    access.shell = record->second.shell;
    if (record->second.password_set) access.password = PasswordState::kUsable;
    access.expired = record->second.expire && *record->second.expire <= now;
  }
  if (user != nullptr) {
    if (user->shell) access.shell = *user->shell;
    access.groups.insert(access.groups.end(), user->groups.begin(), user->groups.end());
    apply_keys_to(access, *user, db, host);
  }
}

// The lockout checks, on the host as the whole plan leaves it (shells, locks, removals, expiry and the allow-list
// together, whatever list an account is named in): someone must still be able to log in, the account running
// reconcile must keep its way in, and root must not lose its own while it is the only admin.
void check_lockout(const Host& host, const AccountDb& db, const LockRecords& records,
                   std::span<const UserItem> resources, const RunningUser& running,
                   std::vector<Error>& errors) {
  const std::int64_t now = today();
  // The accounts as they are, read from the databases when first asked for: a converged run asks only for the
  // accounts its entries name, not for every account on the host.
  std::map<std::string, Access> before;
  const auto before_of = [&](const std::string& name) -> const Access* {
    if (const auto it = before.find(name); it != before.end()) return &it->second;
    const PasswdEntry* entry = db.find(name);
    if (entry == nullptr) return nullptr;
    Access access;
    access.exists = true;
    access.shell = entry->shell;
    access.password = db.password(entry->name);
    access.key_home = entry->home;
    const auto shadow = db.shadow.find(entry->name);
    access.expired = shadow != db.shadow.end() && shadow->second.expire && *shadow->second.expire <= now;
    if (const auto groups = db.member_of.find(entry->name); groups != db.member_of.end()) access.groups = groups->second;
    return &before.emplace(name, std::move(access)).first->second;
  };
  // The accounts as the plan leaves them: those it changes (or adds) here, the others as they are.
  std::map<std::string, Access> changed;
  const auto change = [&](const std::string& name) -> Access& {
    if (const auto it = changed.find(name); it != changed.end()) return it->second;
    const Access* was = before_of(name);
    return changed.emplace(name, was != nullptr ? *was : Access{}).first->second;
  };
  const auto after = [&](const std::string& name) -> const Access& {
    const auto it = changed.find(name);
    return it != changed.end() ? it->second : *before_of(name);
  };
  std::set<std::string> managed;
  for (const UserItem& resource : resources) {
    const auto* user = as_user(resource);
    if (user == nullptr) continue;
    managed.insert(user->name());
    apply_to(change(user->name()), user->name(), user->ensure(), user, records, db, host, user, now);
  }
  if (const LoginPolicyResource* policy = find_policy(resources)) {
    const Expansion expansion = expand_policy(host, db, records, *policy, managed);
    for (const auto& name : expansion.lock) {
      apply_to(change(name), name, UserEnsure::kLocked, nullptr, records, db, host, policy, now);
    }
    for (const auto& name : expansion.restore) {
      apply_to(change(name), name, UserEnsure::kPresent, nullptr, records, db, host, policy, now);
    }
  }

  std::map<std::string, const Resource*> losing;  // account → the entry that takes its last way in
  for (const auto& [name, access] : changed) {
    if (access.changed_by == nullptr || can_enter(host, db, access)) continue;
    if (const Access* was = before_of(name); was != nullptr && can_enter(host, db, *was)) {
      losing.emplace(name, access.changed_by);
    }
  }
  // The accounts that can still log in afterwards, sorted: needed only when someone loses a way in.
  const auto remaining_names = [&] {
    std::set<std::string> names;
    for (const auto& entry : db.passwd) {
      if (!names.contains(entry.name) && can_enter(host, db, after(entry.name))) names.insert(entry.name);
    }
    for (const auto& [name, access] : changed) {
      if (can_enter(host, db, access)) names.insert(name);
    }
    return std::vector<std::string>(names.begin(), names.end());
  };
  // Said only in an error: "accounts that could still log in: alice (password), bob (SSH key)".
  const auto remain_text = [&] {
    std::vector<std::string> remaining;
    for (const auto& name : remaining_names()) remaining.push_back(name + " (" + ways_in(host, db, after(name)) + ")");
    return "accounts that could still log in: " + join(remaining);
  };
  const std::string hint = "set users.allow_lockout: true if this is really meant";

  // The account running reconcile keeps its way in, whatever it was (it logged in somehow).
  std::vector<std::pair<std::string, std::string>> operators;  // name, how we know
  if (!running.sudo_user.empty() && db.find(running.sudo_user) != nullptr) {
    operators.emplace_back(running.sudo_user, "SUDO_USER");
  }
  if (running.login_uid) {
    for (const auto& entry : db.passwd) {
      if (entry.uid == *running.login_uid) {
        operators.emplace_back(entry.name, "the login uid " + std::to_string(entry.uid));
        break;
      }
    }
  }
  for (const auto& [name, how] : operators) {
    const Access& access = after(name);
    if (access.changed_by == nullptr || can_enter(host, db, access)) continue;
    errors.push_back(error_at(*access.changed_by, ErrorCode::kConflict,
                              "this state would lock out '" + name + "', the account running reconcile (" + how +
                                  "); " + remain_text(),
                              "allow '" + name + "' to log in; or " + hint));
    return;
  }
  if (losing.empty()) return;
  std::vector<std::string> lost;
  for (const auto& [name, resource] : losing) lost.push_back(name);
  const std::vector<std::string> remaining = remaining_names();
  if (remaining.empty()) {
    errors.push_back(error_at(*losing.begin()->second, ErrorCode::kConflict,
                              "this state would leave no account that can log in (it takes the last way in from " +
                                  join(lost) + "; a login needs a login shell and a password or an SSH key)",
                              "keep an admin account that has a password or an authorized key; or " + hint));
    return;
  }
  if (losing.contains("root")) {
    std::vector<std::string> admins;
    for (const auto& name : remaining) {
      const auto& groups = after(name).groups;
      for (const auto admin_group : kAdminGroups) {
        if (std::find(groups.begin(), groups.end(), admin_group) != groups.end()) {
          admins.push_back(name);
          break;
        }
      }
    }
    if (admins.empty()) {
      errors.push_back(error_at(*losing.at("root"), ErrorCode::kConflict,
                                "this state would lock out root while root is the only admin (no account that could "
                                "still log in is in sudo, wheel or admin); " + remain_text(),
                                "allow root to log in, or add an admin to the sudo group first; or " + hint));
    }
  }
}

// A group of groups.present (or absent) in this state: the graph orders it before the accounts that name it.
bool state_manages_group(Session& session, const std::string& group) {
  return session.state<ManagedIds>().ids.contains(resources::make_id("group", group));
}

// The usermod or useradd command that converges a present account.
std::vector<std::string> present_argv(const UserResource& user, const UserObserved& seen, const ShadowProvider::Change& change,
                                      bool own_group_managed) {
  if (!seen.exists) {
    std::vector<std::string> argv{"useradd", "--create-home"};
    // A group of its own name from groups.present is its primary group (no private group is made).
    if (own_group_managed) argv.insert(argv.end(), {"--gid", user.name()});
    if (user.uid) argv.insert(argv.end(), {"--uid", std::to_string(*user.uid)});
    if (!user.groups.empty()) argv.insert(argv.end(), {"--groups", comma_list(user.groups)});
    if (user.shell) argv.insert(argv.end(), {"--shell", *user.shell});
    if (user.home) argv.insert(argv.end(), {"--home-dir", *user.home});
    argv.insert(argv.end(), {"--", user.name()});
    return argv;
  }
  std::vector<std::string> argv{"usermod"};
  if (change.drifted(UserField::kUid)) argv.insert(argv.end(), {"--uid", std::to_string(*user.uid)});
  if (change.drifted(UserField::kHome)) argv.insert(argv.end(), {"--home", *user.home, "--move-home"});
  if (change.drifted(UserField::kShell)) argv.insert(argv.end(), {"--shell", user.shell ? *user.shell : seen.record->shell});
  if (change.drifted(UserField::kGroups)) argv.insert(argv.end(), {"--append", "--groups", comma_list(user.groups)});
  if (change.drifted(UserField::kPassword)) argv.push_back("--unlock");
  if (change.drifted(UserField::kExpiry)) {
    argv.insert(argv.end(), {"--expiredate", seen.record->expire ? resources::day_text(*seen.record->expire) : ""});
  }
  argv.insert(argv.end(), {"--", user.name()});
  return argv;
}

// Writes the account's authorized_keys after useradd/usermod made it what the state wants (its uid and home read
// again, in-process).
void apply_keys(const Host& host, const UserResource& user, ChangeOutcome& outcome) {
  const auto started = std::chrono::steady_clock::now();
  auto db = read_account_db(host);
  const PasswdEntry* entry = db ? db->find(user.name()) : nullptr;
  std::expected<std::string, std::string> written =
      entry != nullptr ? write_authorized_keys(host, user, *entry)
                       : std::unexpected(db ? "the account does not exist" : db.error());
  Step step{written ? *written : "write authorized_keys of " + user.name(), 0, written ? 0 : 1,
            written ? "" : written.error()};
  step.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  outcome.steps.push_back(std::move(step));
  if (!written) outcome = ChangeOutcome::failed("cannot write the SSH keys: " + written.error(), outcome.steps);
}

}  // namespace

const UserResource* as_user(const UserItem& item) {
  const auto* user = std::get_if<const UserResource*>(&item);
  return user == nullptr ? nullptr : *user;
}

const LoginPolicyResource* as_policy(const UserItem& item) {
  const auto* policy = std::get_if<const LoginPolicyResource*>(&item);
  return policy == nullptr ? nullptr : *policy;
}

namespace {

// A group the account should join that does not exist (nor is an account the state creates) blocks it: a package
// the run installs may add the group, and the plan then converges the account after it, planned from what is seen
// now; else it fails with this reason.
void block_on_missing_groups(const UserResource& user, const AccountDb& db, std::span<const UserItem> resources,
                             Observation& observation) {
  if (user.ensure() != UserEnsure::kPresent || observation.state == nullptr) return;
  std::string missing;
  for (const auto& group : user.groups) {
    if (db.find_group(group) != nullptr) continue;
    const bool created = std::any_of(resources.begin(), resources.end(), [&](const UserItem& item) {
      const auto* other = as_user(item);
      return other != nullptr && other->name() == group && other->ensure() == UserEnsure::kPresent;
    });
    if (!created) missing += (missing.empty() ? "'" : ", '") + group + "'";
  }
  if (missing.empty()) return;
  observation.blocked_reason = "group " + missing + " does not exist";
  observation.after_requirements =
      std::make_unique<UserObserved>(static_cast<const UserObserved&>(*observation.state));
}

}  // namespace

RunningUser current_running_user() {
  RunningUser running;
  if (const char* sudo_user = std::getenv("SUDO_USER")) running.sudo_user = sudo_user;
  if (auto text = read_file("/proc/self/loginuid", 64)) {
    try {
      const unsigned long uid = std::stoul(*text);
      if (uid != 4294967295ul) running.login_uid = static_cast<std::uint32_t>(uid);
    } catch (const std::exception&) {
    }
  }
  return running;
}

bool can_log_in(const Host& host, const AccountDb& db, const PasswdEntry& entry) {
  const std::string shell = entry.shell.empty() ? "/bin/sh" : entry.shell;  // as glibc and login read it
  if (!is_nologin(shell) && db.valid_shell(shell)) return true;
  const PasswordState password = db.password(entry.name);
  if (password == PasswordState::kUsable || password == PasswordState::kEmpty) return true;
  return has_key(host, entry.home);
}

std::expected<AccountDb, std::string> ShadowProvider::load(Session& session, bool keep) const {
  auto& cache = session.state<Databases>(this);
  const std::lock_guard lock(cache.mutex);
  if (cache.primed) {
    if (keep) return *cache.primed;
    AccountDb db = std::move(*cache.primed);
    cache.primed.reset();
    return db;
  }
  std::expected<AccountDb, std::string> db = std::unexpected(std::string());
  if (cache.validated && cache.validated_signature == files_signature(session.host())) {
    db = std::move(*cache.validated);
  } else {
    db = read_account_db(session.host());
  }
  cache.validated.reset();
  if (db && keep) cache.primed = *db;
  return db;
}

std::string ShadowProvider::files_signature(const Host& host) {
  std::string out;
  for (const char* file : {"/etc/passwd", "/etc/shadow", "/etc/group", "/etc/shells", "/etc/adduser.conf",
                           "/etc/login.defs"}) {
    struct stat st {};
    if (::stat(host.path(file).c_str(), &st) != 0) {
      out += "-;";
      continue;
    }
    out += std::to_string(st.st_ino) + ':' + std::to_string(st.st_size) + ':' + std::to_string(st.st_mtim.tv_sec) +
           '.' + std::to_string(st.st_mtim.tv_nsec) + ';';
  }
  return out;
}

std::string ShadowProvider::unusable_reason(const Host& host) const {
  std::error_code ec;
  for (const char* dir : {"/usr/sbin/", "/sbin/"}) {
    if (std::filesystem::exists(host.path(std::string(dir) + "usermod"), ec)) return "";
  }
  return "usermod is not installed (install the passwd package)";
}

std::vector<Error> ShadowProvider::validate(Session& session, std::span<const UserItem> resources) const {
  const Host& host = session.host();
  std::vector<Error> errors;
  // Validation runs before the run lock is taken: what it reads is reused by this run's expand or
  // observe only while the files still carry the same stat data (any tool that edits them renames).
  const std::string signature = files_signature(host);
  auto loaded = read_account_db(host);
  if (!loaded) return errors;  // reported per resource when observed
  const AccountDb& db = *loaded;
  struct KeepForObserve {
    Databases& cache;
    std::expected<AccountDb, std::string>& loaded;
    const std::string& signature;
    ~KeepForObserve() {
      const std::lock_guard lock(cache.mutex);
      cache.validated = std::move(*loaded);
      cache.validated_signature = signature;
    }
  } keep{session.state<Databases>(this), loaded, signature};
  auto records = read_lock_records(host);
  const LockRecords no_records;

  std::optional<std::regex> rule;  // compiled only when a new account's name needs checking
  std::set<std::string> created;   // accounts the state creates (and so their private groups)
  std::map<std::uint32_t, const UserResource*> uids;
  std::unordered_map<std::uint32_t, std::string> uid_owners;  // the first account of each uid
  for (const UserItem& resource : resources) {
    const auto* user = as_user(resource);
    if (user != nullptr && user->ensure() == UserEnsure::kPresent) created.insert(user->name());
  }
  std::vector<std::string> group_names;
  for (const auto& group : db.groups) group_names.push_back(group.name);
  const auto& managed = session.state<ManagedIds>().ids;
  const bool manages_packages = std::any_of(managed.begin(), managed.end(),
                                            [](const std::string& id) { return id.starts_with("package:"); });

  for (const UserItem& resource : resources) {
    const auto* user = as_user(resource);
    if (user == nullptr || user->ensure() != UserEnsure::kPresent) continue;
    const PasswdEntry* entry = db.find(user->name());
    if (entry == nullptr && !rule) rule = name_rule(db);
    if (entry == nullptr && !std::regex_match(user->name(), *rule)) {
      errors.push_back(error_at(*user, ErrorCode::kInvalidValue,
                                "invalid account name '" + user->name() + "': it does not match this system's NAME_REGEX " +
                                    db.name_regex,
                                "account names are lower-case letters, digits, '_' and '-', starting with a letter "
                                "or '_', at most 32 characters"));
    }
    if (user->uid) {
      if (uid_owners.empty()) {
        for (const auto& other : db.passwd) uid_owners.emplace(other.uid, other.name);
      }
      const auto owner = uid_owners.find(*user->uid);
      if (owner != uid_owners.end() && owner->second != user->name()) {
        errors.push_back(error_at(*user, ErrorCode::kConflict,
                                  "uid " + std::to_string(*user->uid) + " already belongs to '" + owner->second + "'",
                                  "choose a free uid, or leave uid out to get the next free one"));
      }
      const auto [it, fresh] = uids.emplace(*user->uid, user);
      if (!fresh) {
        errors.push_back(error_at(*user, ErrorCode::kConflict,
                                  "uid " + std::to_string(*user->uid) + " is also wanted for '" + it->second->name() +
                                      "' at " + it->second->location().str(),
                                  "give each account its own uid"));
      }
    }
    for (const auto& group : user->groups) {
      if (db.find_group(group) != nullptr || created.contains(group) || state_manages_group(session, group)) continue;
      std::string hint = resources::did_you_mean(group, group_names);
      // A package the state installs may add it (docker.io adds docker): the plan decides, from that run's batch.
      if (hint.empty() && manages_packages) continue;
      if (hint.empty()) hint = "add it under groups.present, or list an account of that name under users.present";
      errors.push_back(error_at(*user, ErrorCode::kInvalidValue, "group '" + group + "' does not exist", hint));
    }
    if (user->shell && !db.valid_shell(*user->shell)) {
      std::error_code ec;
      const bool refusing_shell = is_nologin(*user->shell) && std::filesystem::exists(host.path(*user->shell), ec);
      if (!refusing_shell) {
        std::string hint = resources::did_you_mean(*user->shell, db.shells);
        if (hint.empty()) hint = "install the shell's package, which lists it in /etc/shells";
        errors.push_back(error_at(*user, ErrorCode::kInvalidValue,
                                  "shell '" + *user->shell + "' is not listed in /etc/shells", hint));
      }
    }
  }
  const bool allow_lockout = std::any_of(resources.begin(), resources.end(), [](const UserItem& r) {
    const auto* user = as_user(r);
    const auto* policy = as_policy(r);
    return (user != nullptr && user->allow_lockout()) || (policy != nullptr && policy->allow_lockout());
  });
  if (!allow_lockout) {
    check_lockout(host, db, records ? *records : no_records, resources, running_user_, errors);
  }
  return errors;
}

std::vector<std::unique_ptr<Resource>> ShadowProvider::expand(Session& session,
                                                              std::span<const UserItem> resources) const {
  const Host& host = session.host();
  std::vector<std::unique_ptr<Resource>> out;
  const LoginPolicyResource* policy = find_policy(resources);
  if (policy == nullptr) return out;
  auto db = load(session, true);
  if (!db) return out;
  auto records = read_lock_records(host);
  std::set<std::string> managed;
  for (const UserItem& resource : resources) {
    if (const auto* user = as_user(resource)) managed.insert(user->name());
  }
  const Expansion expansion = expand_policy(host, *db, records ? *records : LockRecords{}, *policy, managed);
  auto add = [&](const std::string& name, UserEnsure ensure) {
    auto user = std::make_unique<UserResource>(name, ensure, policy->location(), policy->key_path());
    user->set_origin(UserOrigin::kAllowList);
    user->set_allow_lockout(policy->allow_lockout());
    out.push_back(std::move(user));
  };
  for (const auto& name : expansion.lock) add(name, UserEnsure::kLocked);
  for (const auto& name : expansion.restore) add(name, UserEnsure::kPresent);
  return out;
}

std::vector<Observation> ShadowProvider::observe(Session& session, std::span<const UserItem> resources) const {
  const Host& host = session.host();
  std::vector<Observation> out;
  auto db = load(session, false);
  if (!db) {
    for (std::size_t i = 0; i < resources.size(); ++i) {
      out.push_back(Observation::unknown("not observable: " + lower_first(db.error())));
    }
    return out;
  }
  auto records = read_lock_records(host);
  const std::int64_t now = today();
  for (const UserItem& resource : resources) {
    if (as_policy(resource) != nullptr) {
      auto seen = std::make_unique<resources::LoginPolicyObserved>();
      for (const auto& entry : db->passwd) {
        if (can_log_in(host, *db, entry)) seen->can_log_in.push_back(entry.name);
      }
      out.push_back(Observation::known(std::move(seen)));
      // The policy itself never drifts (the accounts it locks or restores are resources of their own): say which.
      std::string locks, restores;
      for (const UserItem& other : resources) {
        const auto* user = as_user(other);
        if (user == nullptr || user->origin() != UserOrigin::kAllowList) continue;
        std::string& list = user->ensure() == UserEnsure::kLocked ? locks : restores;
        list += (list.empty() ? "" : ", ") + user->name();
      }
      // Said the same in a dry run and an apply: each of these accounts is a resource of its own, whose line
      // says whether it would be or was locked.
      if (!locks.empty()) out.back().note = "outside the list and able to log in, each locked as user:NAME: " + locks;
      if (!restores.empty()) {
        out.back().note +=
            std::string(locks.empty() ? "" : "; ") + "back on the list, each unlocked as user:NAME: " + restores;
      }
      if (locks.empty() && restores.empty()) out.back().note = "no account outside the list can log in";
      // An account glibc can read but we cannot must never escape the allow-list unseen: fail it instead.
      if (!db->malformed.empty()) {
        std::string lines;
        for (const auto& line : db->malformed) lines += (lines.empty() ? "" : ", ") + line;
        out.back().blocked_reason = "/etc/passwd has lines that cannot be read as accounts: " + lines +
                                    "; the allow-list cannot tell whether they log in (fix them, or check them with "
                                    "pwck -r)";
      }
      continue;
    }
    const auto& user = *as_user(resource);
    auto seen = std::make_unique<UserObserved>();
    seen->today = now;
    seen->nologin_shell = db->nologin_shell;
    const PasswdEntry* entry = db->find(user.name());
    // glibc may still resolve the account from a line we cannot read that names it: "absent" would be a guess.
    // Lines are listed as "line N ('text')"; one without a ':' names nobody, for glibc too.
    std::string lines;
    for (const auto& line : db->malformed) {
      const auto open = line.find("('");
      const std::string text = open == std::string::npos ? line : line.substr(open + 2);
      const auto colon = text.find(':');
      if (colon == std::string::npos || text.substr(0, colon) != user.name()) continue;
      lines += (lines.empty() ? "" : ", ") + line;
    }
    if (entry == nullptr && !lines.empty()) {
      out.push_back(Observation::unknown("not observable: '" + user.name() + "' is not among the accounts read, and "
                                         "/etc/passwd has lines that cannot be read as accounts: " + lines +
                                         " (fix them, or check them with pwck -r)"));
      continue;
    }
    if (entry == nullptr) {
      out.push_back(Observation::known(std::move(seen)));
      block_on_missing_groups(user, *db, resources, out.back());
      continue;
    }
    // A lock, and an unlock of what reconcile locked, need /etc/shadow and the lock records.
    if (user.ensure() != UserEnsure::kAbsent && !records) {
      out.push_back(Observation::unknown(db->shadow_readable ? "not observable: " + lower_first(records.error())
                                                             : std::string(kNotObservable)));
      continue;
    }
    if (records) {
      const auto found = records->locked.find(user.name());
      if (found != records->locked.end()) seen->record = found->second;
    }
    const bool needs_shadow = user.ensure() == UserEnsure::kLocked ||
                              (user.ensure() == UserEnsure::kPresent && (seen->record || is_nologin(entry->shell)));
    if (needs_shadow && !db->shadow_readable) {
      out.push_back(Observation::unknown(std::string(kNotObservable)));
      continue;
    }
    seen->exists = true;
    seen->uid = entry->uid;
    seen->home = entry->home;
    seen->shell = entry->shell;
    if (const auto groups = db->member_of.find(user.name()); groups != db->member_of.end()) seen->groups = groups->second;
    if (const auto shadow = db->shadow.find(user.name()); shadow != db->shadow.end()) {
      seen->password = password_state(shadow->second.hash);
      seen->expire = shadow->second.expire;
    }
    std::string keys_problem;
    if (user.ensure() == UserEnsure::kPresent && user.manages_ssh_keys()) {
      seen->authorized_keys = observe_authorized_keys(host, user, *entry);
      keys_problem = seen->authorized_keys.problem;
    }
    out.push_back(Observation::known(std::move(seen)));
    if (!keys_problem.empty()) out.back().blocked_reason = "cannot manage its SSH keys: " + keys_problem;
    block_on_missing_groups(user, *db, resources, out.back());
  }
  return out;
}

std::vector<ChangeOutcome> ShadowProvider::apply(Session& session, std::span<const Change> changes) const {
  const Host& host = session.host();
  {
    auto& cache = session.state<Databases>(this);
    const std::lock_guard lock(cache.mutex);
    cache.primed.reset();
    cache.validated.reset();
  }
  std::vector<ChangeOutcome> outcomes(changes.size());
  for (std::size_t i = 0; i < changes.size(); ++i) {
    if (as_user(changes[i].resource) == nullptr) outcomes[i] = ChangeOutcome::failed("the login allow-list itself has nothing to change");
  }
  auto records = read_lock_records(host);
  if (!records) {
    for (auto& outcome : outcomes) outcome = ChangeOutcome::failed("cannot read the lock records: " + records.error());
    return outcomes;
  }

  // Keep what each lock changes before changing it, so a crash in between cannot lose the old shell.
  bool records_changed = false;
  std::vector<std::size_t> locks;
  for (std::size_t i = 0; i < changes.size(); ++i) {
    const UserResource* account = as_user(changes[i].resource);
    if (account == nullptr) continue;
    const auto& user = *account;
    const auto& seen = *changes[i].observed;
    if (user.ensure() != UserEnsure::kLocked || !seen.exists) continue;
    locks.push_back(i);
    const bool partly_locked = seen.password_locked() || seen.shell_locked() || seen.expired();
    if (records->locked.contains(user.name()) && partly_locked) continue;  // an earlier, unfinished lock
    records->locked[user.name()] = resources::LockRecord{seen.shell, seen.password == PasswordState::kUsable,
                                                         seen.password == PasswordState::kEmpty, seen.expire};
    records_changed = true;
  }
  if (records_changed) {
    const auto started = std::chrono::steady_clock::now();
    auto written = write_lock_records(host, *records);
    Step step{"write " + std::string(kLockRecordsPath), 0, written ? 0 : 1, written ? "" : written.error()};
    step.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    for (const std::size_t i : locks) outcomes[i].steps.push_back(step);
    if (!written) {
      for (const std::size_t i : locks) {
        outcomes[i] = ChangeOutcome::failed("cannot keep the lock record: " + written.error(), outcomes[i].steps);
      }
    }
  }
  records_changed = false;

  for (std::size_t i = 0; i < changes.size(); ++i) {
    ChangeOutcome& outcome = outcomes[i];
    if (outcome.result == ChangeOutcome::Result::kFailed) continue;
    const auto& user = *as_user(changes[i].resource);
    const auto& seen = *changes[i].observed;
    std::vector<std::string> argv;
    switch (user.ensure()) {
      case UserEnsure::kAbsent: {
        const auto processes = processes_of(host, seen.uid);
        if (!processes.empty()) {
          outcome = ChangeOutcome::failed("cannot remove '" + user.name() + "': it has running processes: " +
                                          join(processes) + "; stop them first");
          continue;
        }
        argv = {"userdel"};
        if (user.remove_home) argv.push_back("--remove");
        argv.insert(argv.end(), {"--", user.name()});
        break;
      }
      case UserEnsure::kLocked:
        argv = {"usermod"};
        if (!seen.password_locked()) argv.push_back("--lock");
        if (!seen.shell_locked()) argv.insert(argv.end(), {"--shell", seen.nologin_shell});
        if (!seen.expired()) argv.insert(argv.end(), {"--expiredate", "1"});
        argv.insert(argv.end(), {"--", user.name()});
        break;
      case UserEnsure::kPresent:
        argv = present_argv(user, seen, changes[i], state_manages_group(session, user.name()));
        break;
    }
    if (argv.size() > 3 || argv.front() != "usermod") {  // usermod -- NAME alone: only the keys drifted
      const ExecResult result = run_account_tool(host, argv, outcome.steps);
      if (!result.ok()) {
        outcome.result = ChangeOutcome::Result::kFailed;
        outcome.message = argv.front() + " failed (" + result.status_text() + "): " + result.tail_line(3);
        continue;
      }
    }
    outcome.result = ChangeOutcome::Result::kChanged;
    if (user.ensure() == UserEnsure::kPresent && user.manages_ssh_keys() &&
        (!seen.exists || changes[i].drifted(UserField::kSshKeys))) {
      apply_keys(host, user, outcome);
    }
    if (user.ensure() != UserEnsure::kLocked && records->locked.erase(user.name()) > 0) records_changed = true;
  }
  if (records_changed) {
    auto written = write_lock_records(host, *records);
    if (!written) {
      for (auto& outcome : outcomes) {
        outcome.steps.push_back(Step{"write " + std::string(kLockRecordsPath), 0, 1, written.error()});
      }
    }
  }
  return outcomes;
}

}  // namespace reconcile::providers
