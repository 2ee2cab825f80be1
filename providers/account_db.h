#pragma once
// The account databases read in-process: /etc/passwd, /etc/shadow, /etc/group, /etc/shells and the
// distribution's account name rule. One read of each file per run, no getent or chage per user.

#include <cstdint>
#include <expected>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "providers/host.h"
#include "resources/user.h"

namespace reconcile::providers {

/// One line of /etc/passwd.
struct PasswdEntry {
  std::string name;
  std::uint32_t uid = 0;
  std::uint32_t gid = 0;
  std::string home;
  std::string shell;
};

/// The fields of /etc/shadow that matter here.
struct ShadowEntry {
  std::string hash;
  std::optional<std::int64_t> expire;  // days since 1970-01-01; none = never
};

/// One line of /etc/group.
struct GroupEntry {
  std::string name;
  std::uint32_t gid = 0;
  std::vector<std::string> members;
};

/// The default account name rule of shadow's useradd (and of Debian's adduser).
inline constexpr std::string_view kDefaultNameRegex = "^[a-z_][a-z0-9_-]*[$]?$";

/// Every account of a host, as read once.
struct AccountDb {
  std::vector<PasswdEntry> passwd;                      // in file order
  std::vector<std::string> malformed;                   // /etc/passwd lines that cannot be read (see parse_passwd)
  std::unordered_map<std::string, std::size_t> by_name;  // name → index in passwd
  std::vector<GroupEntry> groups;
  std::unordered_map<std::string, std::vector<std::string>> member_of;  // user → supplementary groups, sorted
  bool shadow_readable = false;
  std::string shadow_error;                              // why not ("permission denied")
  std::unordered_map<std::string, ShadowEntry> shadow;
  bool gshadow_readable = false;                         // /etc/gshadow was read
  std::vector<std::string> gshadow_groups;               // the groups /etc/gshadow lists, sorted
  std::vector<std::string> shells;                       // /etc/shells
  std::string name_regex = std::string(kDefaultNameRegex);
  std::string nologin_shell = "/usr/sbin/nologin";       // the one that exists on this host
  std::uint32_t uid_min = 1000;                          // ordinary accounts (login.defs UID_MIN..UID_MAX)
  std::uint32_t uid_max = 60000;

  const PasswdEntry* find(std::string_view name) const;
  const GroupEntry* find_group(std::string_view name) const;
  /// The password state of an account; kNone when /etc/shadow has no line for it.
  resources::PasswordState password(std::string_view name) const;
  bool valid_shell(std::string_view shell) const;
};

/// Parses /etc/passwd text as glibc reads it (a line without its shell is an account with an empty shell, which
/// glibc reads as /bin/sh); lines glibc cannot read either are left out here and listed by malformed_passwd_lines.
/// `malformed`, if given, receives what malformed_passwd_lines says, from the same pass.
std::vector<PasswdEntry> parse_passwd(std::string_view text, std::vector<std::string>* malformed = nullptr);
/// The lines of /etc/passwd text that no reader can take as an account: "line 8 ('broken line')".
std::vector<std::string> malformed_passwd_lines(std::string_view text);
/// Parses /etc/shadow text into name → entry.
std::unordered_map<std::string, ShadowEntry> parse_shadow(std::string_view text);
/// Parses /etc/group text.
std::vector<GroupEntry> parse_group(std::string_view text);
/// The group names of /etc/gshadow text, sorted.
std::vector<std::string> parse_gshadow_names(std::string_view text);
/// Parses /etc/shells text: absolute paths, comments dropped.
std::vector<std::string> parse_shells(std::string_view text);
/// The NAME_REGEX of adduser.conf text, or "" when it sets none.
std::string parse_name_regex(std::string_view adduser_conf);
/// A numeric setting of /etc/login.defs text ("UID_MIN"), or none.
std::optional<std::uint32_t> parse_login_defs_number(std::string_view login_defs, std::string_view key);
/// How a /etc/shadow password field stands.
resources::PasswordState password_state(std::string_view hash);

/// Reads every database under host.root. An error only when /etc/passwd itself cannot be read;
/// an unreadable /etc/shadow is recorded in shadow_readable/shadow_error.
std::expected<AccountDb, std::string> read_account_db(const Host& host);

/// What reconcile kept of the accounts it locked: /var/lib/reconcile/users.json.
struct LockRecords {
  std::map<std::string, resources::LockRecord> locked;
};

/// Where the lock records live on the host.
inline constexpr std::string_view kLockRecordsPath = "/var/lib/reconcile/users.json";

/// Reads the lock records; none when the file does not exist; an error when it is unreadable or malformed.
std::expected<LockRecords, std::string> read_lock_records(const Host& host);
/// Writes the lock records atomically (mode 0600), creating /var/lib/reconcile if needed.
std::expected<void, std::string> write_lock_records(const Host& host, const LockRecords& records);

/// The processes whose real uid is `uid`, as "PID (name)", read from /proc.
std::vector<std::string> processes_of(const Host& host, std::uint32_t uid);

/// Days since 1970-01-01 now.
std::int64_t today();

}  // namespace reconcile::providers
