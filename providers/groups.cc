#include "providers/groups.h"

#include <algorithm>
#include <filesystem>
#include <map>

#include "providers/account_tools.h"
#include "resources/user.h"

namespace reconcile::providers {

namespace {

using resources::Error;
using resources::ErrorCode;
using resources::GroupEnsure;
using resources::GroupField;
using resources::GroupObserved;
using resources::GroupResource;

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& item : items) out += (out.empty() ? "" : ", ") + item;
  return out;
}

Error error_at(const Resource& resource, ErrorCode code, std::string message, std::string hint = "") {
  return Error{code, std::move(message), resource.location(), resource.key_path(), std::move(hint)};
}

// Why removing the group would strand accounts: they keep it as their primary group.
std::string primary_refusal(const std::string& group, const std::vector<std::string>& accounts) {
  return "group '" + group + "' is the primary group of " + join(accounts) +
         "; groupdel refuses to leave an account without its primary group";
}

}  // namespace

std::vector<std::string> primary_members(const AccountDb& db, std::uint32_t gid) {
  std::vector<std::string> out;
  for (const auto& entry : db.passwd) {
    if (entry.gid == gid) out.push_back(entry.name);
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::string GroupaddProvider::unusable_reason(const Host& host) const {
  std::error_code ec;
  for (const char* dir : {"/usr/sbin/", "/sbin/"}) {
    if (std::filesystem::exists(host.path(std::string(dir) + "groupadd"), ec)) return "";
  }
  return "groupadd is not installed (install the passwd package)";
}

std::expected<AccountDb, std::string> GroupaddProvider::load(Session& session) const {
  auto& cache = session.state<Databases>(this);
  const std::lock_guard lock(cache.mutex);
  if (cache.validated) {
    AccountDb db = std::move(*cache.validated);
    cache.validated.reset();
    return db;
  }
  return read_account_db(session.host());
}

std::vector<Error> GroupaddProvider::validate(Session& session, std::span<const GroupResource* const> groups) const {
  std::vector<Error> errors;
  auto db = read_account_db(session.host());
  if (!db) return errors;  // reported per resource when observed
  const auto& managed = session.state<ManagedIds>().ids;
  std::map<std::uint32_t, const GroupResource*> wanted_gids;
  for (const GroupResource* group : groups) {
    if (group->ensure() == GroupEnsure::kAbsent) {
      const GroupEntry* entry = db->find_group(group->name());
      if (entry == nullptr) continue;
      std::vector<std::string> stranded;
      for (const auto& account : primary_members(*db, entry->gid)) {
        if (!managed.contains(resources::make_id("user", account))) stranded.push_back(account);
      }
      if (!stranded.empty()) {
        errors.push_back(error_at(*group, ErrorCode::kConflict, primary_refusal(group->name(), stranded),
                                  "give " + join(stranded) + " another primary group first (usermod --gid), or "
                                  "list " + (stranded.size() == 1 ? "it" : "them") + " under users.absent"));
      }
      continue;
    }
    if (!group->gid) continue;
    for (const auto& other : db->groups) {
      if (other.gid == *group->gid && other.name != group->name()) {
        errors.push_back(error_at(*group, ErrorCode::kConflict,
                                  "gid " + std::to_string(*group->gid) + " already belongs to group '" + other.name + "'",
                                  "choose a free gid, or leave gid out to get the next free one"));
        break;
      }
    }
    const auto [it, fresh] = wanted_gids.emplace(*group->gid, group);
    if (!fresh) {
      errors.push_back(error_at(*group, ErrorCode::kConflict,
                                "gid " + std::to_string(*group->gid) + " is also wanted for group '" +
                                    it->second->name() + "' at " + it->second->location().str(),
                                "give each group its own gid"));
    }
  }
  auto& cache = session.state<Databases>(this);
  const std::lock_guard lock(cache.mutex);
  cache.validated = std::move(*db);
  return errors;
}

std::vector<Observation> GroupaddProvider::observe(Session& session, std::span<const GroupResource* const> groups) const {
  std::vector<Observation> out;
  auto db = load(session);
  if (!db) {
    for (std::size_t i = 0; i < groups.size(); ++i) out.push_back(Observation::unknown("not observable: " + db.error()));
    return out;
  }
  for (const GroupResource* group : groups) {
    auto seen = std::make_unique<GroupObserved>();
    if (const GroupEntry* entry = db->find_group(group->name())) {
      seen->exists = true;
      seen->gid = entry->gid;
      seen->members = entry->members;
      seen->primary_of = primary_members(*db, entry->gid);
      seen->in_gshadow = std::binary_search(db->gshadow_groups.begin(), db->gshadow_groups.end(), group->name());
    }
    Observation observation = Observation::known(std::move(seen));
    if (db->gshadow_readable && observation.state && static_cast<GroupObserved&>(*observation.state).exists &&
        !static_cast<GroupObserved&>(*observation.state).in_gshadow) {
      observation.note = "/etc/gshadow has no line for it (grpck -r lists such groups)";
    }
    out.push_back(std::move(observation));
  }
  return out;
}

std::vector<ChangeOutcome> GroupaddProvider::apply(Session& session, std::span<const Change> changes) const {
  const Host& host = session.host();
  {
    auto& cache = session.state<Databases>(this);
    const std::lock_guard lock(cache.mutex);
    cache.validated.reset();
  }
  std::vector<ChangeOutcome> outcomes(changes.size());
  // Removals first (they free gids), then gid changes, then new groups.
  std::vector<std::size_t> order(changes.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  const auto rank = [&](std::size_t i) {
    const Change& change = changes[i];
    if (change.resource->ensure() == GroupEnsure::kAbsent) return 0;
    return change.observed->exists ? 1 : 2;
  };
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return rank(a) < rank(b); });

  std::optional<AccountDb> now;  // read again before a removal: the accounts may have changed in this run
  for (const std::size_t i : order) {
    const GroupResource& group = *changes[i].resource;
    const GroupObserved& seen = *changes[i].observed;
    ChangeOutcome& outcome = outcomes[i];
    std::vector<std::string> argv;
    if (group.ensure() == GroupEnsure::kAbsent) {
      if (!now) {
        auto read = read_account_db(host);
        if (!read) {
          outcome = ChangeOutcome::failed("cannot read the account databases: " + read.error());
          continue;
        }
        now = std::move(*read);
      }
      const GroupEntry* entry = now->find_group(group.name());
      if (entry == nullptr) {
        outcome.message = "already removed (with the account of the same name)";
        continue;
      }
      if (const auto accounts = primary_members(*now, entry->gid); !accounts.empty()) {
        outcome = ChangeOutcome::failed("cannot remove: " + primary_refusal(group.name(), accounts) +
                                        "; give them another primary group first");
        continue;
      }
      argv = {"groupdel", "--", group.name()};
    } else if (seen.exists) {
      if (!changes[i].drifted(GroupField::kGid)) continue;
      argv = {"groupmod", "--gid", std::to_string(*group.gid), "--", group.name()};
    } else {
      argv = {"groupadd"};
      if (group.gid) argv.insert(argv.end(), {"--gid", std::to_string(*group.gid)});
      if (group.system) argv.push_back("--system");
      argv.insert(argv.end(), {"--", group.name()});
    }
    const ExecResult result = run_account_tool(host, argv, outcome.steps);
    if (!result.ok()) {
      outcome.result = ChangeOutcome::Result::kFailed;
      outcome.message = argv.front() + " failed (" + result.status_text() + "): " + result.tail_line(3);
      continue;
    }
    outcome.result = ChangeOutcome::Result::kChanged;
  }
  return outcomes;
}

}  // namespace reconcile::providers
