#pragma once
// Accounts through the shadow tools (useradd, usermod, userdel): observed in-process from the
// account databases, changed only by the tools, never by writing the databases.

#include <mutex>
#include <optional>

#include "providers/account_db.h"
#include "providers/provider.h"

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

/// Observes accounts in-process and converges them with useradd/usermod/userdel.
class ShadowProvider : public Provider {
 public:
  ShadowProvider() : running_user_(current_running_user()) {}
  explicit ShadowProvider(RunningUser running_user) : running_user_(std::move(running_user)) {}

  std::string_view name() const override { return "shadow"; }
  std::string_view kind() const override { return "user"; }
  std::string unusable_reason(const Host& host) const override;
  std::vector<resources::Error> validate(const Host& host, std::span<const Resource* const> resources) override;
  std::vector<std::unique_ptr<Resource>> expand(const Host& host, std::span<const Resource* const> resources) override;
  std::vector<Observation> observe(const Host& host, std::span<const Resource* const> resources) override;
  std::vector<ChangeOutcome> apply(const Host& host, std::span<const Change> changes) override;

 private:
  // The databases read by expand, reused by the observe that follows (one read per run).
  std::expected<AccountDb, std::string> load(const Host& host, bool keep);

  // Stat data (inode, size, mtime) of every file read_account_db reads.
  static std::string files_signature(const Host& host);

  RunningUser running_user_;
  std::mutex mutex_;
  std::optional<AccountDb> primed_;
  std::optional<AccountDb> validated_;  // read by validate; used while files_signature is unchanged
  std::string validated_signature_;
};

}  // namespace reconcile::providers
