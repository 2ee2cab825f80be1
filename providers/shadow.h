#pragma once
// Accounts through the shadow tools (useradd, usermod, userdel): observed in-process from the
// account databases, changed only by the tools, never by writing the databases.

#include <mutex>
#include <optional>
#include <variant>

#include "providers/account_db.h"
#include "providers/provider.h"
#include "resources/user.h"

namespace reconcile::providers {

/// Who is running reconcile, so a state cannot lock them out.
struct RunningUser {
  std::string sudo_user;                  // $SUDO_USER
  std::optional<std::uint32_t> login_uid;  // /proc/self/loginuid, when set
};

/// The running user of this process.
RunningUser current_running_user();

/// Whether an account can log in now: a login shell listed in /etc/shells, a usable (or empty)
/// password, or an authorized_keys file in its home.
bool can_log_in(const Host& host, const AccountDb& db, const PasswdEntry& entry);

/// A resource of the user kind: one account, or the login allow-list.
using UserItem = std::variant<const resources::UserResource*, const resources::LoginPolicyResource*>;
/// The account of an item, or nullptr for the allow-list.
const resources::UserResource* as_user(const UserItem& item);
/// The allow-list of an item, or nullptr for an account.
const resources::LoginPolicyResource* as_policy(const UserItem& item);

/// Observes accounts in-process and converges them with useradd/usermod/userdel.
class ShadowProvider : public ProviderOf<UserItem, resources::UserObserved> {
 public:
  ShadowProvider() : running_user_(current_running_user()) {}
  explicit ShadowProvider(RunningUser running_user) : running_user_(std::move(running_user)) {}

  std::string_view name() const override { return "shadow"; }
  std::string_view kind() const override { return "user"; }
  std::string unusable_reason(const Host& host) const override;
  std::vector<resources::Error> validate(Session& session, std::span<const UserItem> resources) const override;
  std::vector<std::unique_ptr<Resource>> expand(Session& session, std::span<const UserItem> resources) const override;
  std::vector<Observation> observe(Session& session, std::span<const UserItem> resources) const override;
  std::vector<ChangeOutcome> apply(Session& session, std::span<const Change> changes) const override;

  /// What a run reads of the account databases, shared by its validate, expand and observe (one read per run).
  struct Databases {
    std::mutex mutex;
    std::optional<AccountDb> primed;     // read by expand, reused by the observe that follows
    std::optional<AccountDb> validated;  // read by validate; used while files_signature is unchanged
    std::string validated_signature;
  };

 private:
  std::expected<AccountDb, std::string> load(Session& session, bool keep) const;
  // Stat data (inode, size, mtime) of every file read_account_db reads.
  static std::string files_signature(const Host& host);

  RunningUser running_user_;
};

}  // namespace reconcile::providers
