#pragma once
// Groups present or absent (`groups:`), one resource `group:NAME` each. Membership is kept on the account
// (users.present groups), as Ansible's group module and Puppet's default group provider do: a group entry
// says that the group exists, with which gid, and whether it is a system group.

#include <cstdint>
#include <expected>
#include <optional>
#include <string>
#include <vector>

#include "resources/kind.h"
#include "resources/resource.h"

namespace reconcile::resources {

/// What the state wants of one group.
enum class GroupEnsure { kPresent, kAbsent };

/// The fields of a group that can drift.
enum class GroupField { kGroup, kGid };
/// "group", "gid".
std::string_view field_name(GroupField field);

/// One group as seen in /etc/group and /etc/gshadow.
class GroupObserved : public Observed {
 public:
  bool exists = false;
  std::uint32_t gid = 0;
  std::vector<std::string> members;     // supplementary members, as /etc/group lists them
  std::vector<std::string> primary_of;  // accounts whose primary group it is, sorted
  bool in_gshadow = false;              // /etc/gshadow has its line (false when gshadow is unreadable)

  std::vector<Field> fields() const override;
};

/// `groups.present` and `groups.absent`: `group:NAME`.
class GroupResource : public ResourceOf<GroupObserved> {
 public:
  GroupResource(std::string name, GroupEnsure ensure, Location location, std::string key_path);

  GroupEnsure ensure() const { return ensure_; }

  std::optional<std::uint32_t> gid;
  bool system = false;  // created with groupadd --system (a gid from the system range) when no gid is given

  std::vector<std::string> auto_requires() const override;
  std::vector<Field> desired_fields() const override;
  Drift diff_of(const GroupObserved& seen) const override;

 private:
  GroupEnsure ensure_;
};

/// "present", "absent".
std::string_view to_string(GroupEnsure ensure);

/// The `groups` key.
KindSpec groups_kind();

}  // namespace reconcile::resources
