#pragma once
// Accounts present, absent or locked, and the login allow-list (`users:`).
// A locked account has three parts: its password hash disabled ('!' prefix), its shell set to
// nologin and its account expired, so neither passwords nor SSH keys let anyone in.

#include <cstdint>
#include <map>
#include <optional>
#include <expected>
#include <string>
#include <vector>

#include "resources/kind.h"
#include "resources/resource.h"
#include "resources/ssh_key.h"

namespace reconcile::resources {

/// What the state wants of one account.
enum class UserEnsure { kPresent, kLocked, kAbsent };

/// Why a resource exists: listed in the state, or added by the login allow-list at observe time.
enum class UserOrigin { kListed, kAllowList };

/// How the password field of /etc/shadow stands.
enum class PasswordState {
  kUsable,    // a hash: the password logs in
  kEmpty,     // an empty field: logs in without a password
  kDisabled,  // starts with '!': locked (a hash may follow)
  kNone,      // '*' or similar: no password can match
};

/// What reconcile kept of an account when it locked it, so unlocking restores it.
struct LockRecord {
  std::string shell;                 // the shell before the lock
  bool password_set = false;         // a usable password hash was set before the lock
  bool password_empty = false;       // the password field was empty: an unlock keeps it disabled
  std::optional<std::int64_t> expire;  // the expiry day (days since 1970-01-01) before the lock; none = never
};

/// The fields of an account that can drift.
enum class UserField { kAccount, kUid, kHome, kShell, kGroups, kPassword, kExpiry, kSshKeys };
/// "account", "uid", "home", "shell", "groups", "password", "expiry", "ssh_keys".
std::string_view field_name(UserField field);

/// An account's ~/.ssh/authorized_keys, observed when the state manages its keys.
struct AuthorizedKeysSeen {
  bool observed = false;
  std::string path;                  // "/home/deploy/.ssh/authorized_keys"
  std::string problem;               // why it cannot be written ("/home/deploy/.ssh is a symbolic link"), or ""
  bool exists = false;
  std::vector<SshKey> keys;          // its key lines, in file order
  std::size_t other_lines = 0;       // comments, blank lines and lines that are not keys (always kept)
  std::map<std::string, std::string> fingerprints;  // identity → "SHA256:…", of the listed keys and the file's
  std::optional<unsigned> dir_mode;  // ~/.ssh's permission bits, when it exists
  std::optional<unsigned> file_mode;
  bool dir_owned = true;             // owned by the account (uid and primary gid)
  bool file_owned = true;

  /// How a key is named in reports: its fingerprint when known, never the whole blob.
  std::string label(const SshKey& key) const;
};

/// One account as seen in /etc/passwd, /etc/shadow and /etc/group.
class UserObserved : public Observed {
 public:
  bool exists = false;
  std::uint32_t uid = 0;
  std::string home;
  std::string shell;
  std::vector<std::string> groups;  // supplementary groups, sorted
  PasswordState password = PasswordState::kNone;
  std::optional<std::int64_t> expire;  // days since 1970-01-01; none = never
  std::int64_t today = 0;              // the day it was observed
  std::string nologin_shell;           // the host's nologin, e.g. /usr/sbin/nologin
  std::optional<LockRecord> record;    // set when reconcile locked this account
  AuthorizedKeysSeen authorized_keys;  // observed when the state lists ssh_keys for it

  /// Every part of the lock holds.
  bool password_locked() const { return password == PasswordState::kDisabled; }
  bool shell_locked() const;
  bool expired() const { return expire && *expire <= today; }

  std::vector<Field> fields() const override;
};

/// The accounts that can log in, as seen for the allow-list.
class LoginPolicyObserved : public Observed {
 public:
  std::vector<std::string> can_log_in;
  std::vector<Field> fields() const override;
};

/// `users.present`, `users.locked`, `users.absent` and what the allow-list adds: `user:NAME`.
class UserResource : public ResourceOf<UserObserved> {
 public:
  UserResource(std::string name, UserEnsure ensure, Location location, std::string key_path);

  UserEnsure ensure() const { return ensure_; }
  UserOrigin origin() const { return origin_; }
  void set_origin(UserOrigin origin) { origin_ = origin; }
  /// users.allow_lockout: skip the checks that keep someone able to log in.
  bool allow_lockout() const { return allow_lockout_; }
  void set_allow_lockout(bool allow) { allow_lockout_ = allow; }

  std::optional<std::uint32_t> uid;
  std::vector<std::string> groups;  // supplementary groups the account is at least a member of
  std::optional<std::string> shell;
  std::optional<std::string> home;
  bool remove_home = false;         // absent: delete the home directory too
  std::vector<SshKey> ssh_keys;     // keys ~/.ssh/authorized_keys holds (at least, or only when exclusive)
  bool ssh_keys_exclusive = false;  // remove every other key of the file
  /// Whether the state manages this account's authorized_keys.
  bool manages_ssh_keys() const { return !ssh_keys.empty() || ssh_keys_exclusive; }

  std::vector<std::string> auto_requires() const override;
  /// A group it joins that does not exist yet may come with a package the run installs (its maintainer script
  /// adds it), or with the group or account the state manages.
  bool provided_by(const Resource& requirement) const override;
  std::string comes_with_changes_hint() const override;
  std::vector<Field> desired_fields() const override;
  Drift diff_of(const UserObserved& seen) const override;

 private:
  UserEnsure ensure_;
  UserOrigin origin_ = UserOrigin::kListed;
  bool allow_lockout_ = false;
};

/// `users.login_allowed_only`: the accounts that may log in; every other one that can is locked.
/// Its id is `user:*`; the locks themselves are added by the provider at observe time.
class LoginPolicyResource : public ResourceOf<LoginPolicyObserved> {
 public:
  LoginPolicyResource(std::vector<std::string> allowed, Location location, std::string key_path);

  const std::vector<std::string>& allowed() const { return allowed_; }
  bool allow_lockout() const { return allow_lockout_; }
  void set_allow_lockout(bool allow) { allow_lockout_ = allow; }
  /// users.login_names_ignore_case: "Admin" in the list allows the account admin (laitos compares so).
  bool ignore_case() const { return ignore_case_; }
  void set_ignore_case(bool ignore) { ignore_case_ = ignore; }
  /// Whether the account `name` is on the list.
  bool allows(std::string_view name) const;

  std::vector<Field> desired_fields() const override;
  Drift diff_of(const LoginPolicyObserved& seen) const override;
  std::string host_expansion() const override {
    return "a user:NAME for each account of the host's /etc/passwd outside the list that can log in (locked), or "
           "that reconcile locked and the list allows again (unlocked)";
  }

 private:
  std::vector<std::string> allowed_;
  bool allow_lockout_ = false;
  bool ignore_case_ = false;
};

/// The name of the allow-list resource (`user:*`).
inline constexpr std::string_view kLoginPolicyName = "*";

/// "present", "locked", "absent".
std::string_view to_string(UserEnsure ensure);
/// "usable", "empty", "disabled", "none".
std::string_view to_string(PasswordState state);
/// A day number as YYYY-MM-DD.
std::string day_text(std::int64_t days);

/// Nothing when `name` may be an account name at all (charset, length 32, not starting with '-').
std::expected<void, std::string> check_user_name(std::string_view name);

/// The `users` key.
KindSpec users_kind();

}  // namespace reconcile::resources
