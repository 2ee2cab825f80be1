#pragma once
// Groups through groupadd, groupmod and groupdel: observed in-process from /etc/group and /etc/gshadow (one read
// per run), changed only by the tools, never by writing the databases.

#include <mutex>
#include <optional>

#include "providers/account_db.h"
#include "providers/provider.h"
#include "resources/group.h"

namespace reconcile::providers {

/// Observes groups in-process and converges them with groupadd/groupmod/groupdel.
class GroupaddProvider : public ProviderOf<const resources::GroupResource*, resources::GroupObserved> {
 public:
  std::string_view name() const override { return "groupadd"; }
  std::string_view kind() const override { return "group"; }
  std::string unusable_reason(const Host& host) const override;
  std::vector<resources::Error> validate(Session& session,
                                         std::span<const resources::GroupResource* const> groups) const override;
  std::vector<Observation> observe(Session& session,
                                   std::span<const resources::GroupResource* const> groups) const override;
  std::vector<ChangeOutcome> apply(Session& session, std::span<const Change> changes) const override;

  /// The account databases a run read for validate, handed to the observe that follows.
  struct Databases {
    std::mutex mutex;
    std::optional<AccountDb> validated;
  };

 private:
  std::expected<AccountDb, std::string> load(Session& session) const;
};

/// The accounts whose primary group has `gid`, sorted.
std::vector<std::string> primary_members(const AccountDb& db, std::uint32_t gid);

}  // namespace reconcile::providers
