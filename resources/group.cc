#include "resources/group.h"

#include "resources/user.h"

namespace reconcile::resources {

namespace {

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& item : items) out += (out.empty() ? "" : ", ") + item;
  return out;
}

constexpr std::int64_t kMaxGid = 4294967294;  // (gid_t)-1 means "no gid"

}  // namespace

std::string_view to_string(GroupEnsure ensure) { return ensure == GroupEnsure::kAbsent ? "absent" : "present"; }

std::string_view field_name(GroupField field) {
  switch (field) {
    case GroupField::kGroup: return "group";
    case GroupField::kGid: return "gid";
  }
  return "group";
}

std::vector<Field> GroupObserved::fields() const {
  if (!exists) return {{"group", "absent"}};
  std::vector<Field> out{{"group", "present"}, {"gid", std::to_string(gid)}, {"members", join(members)}};
  if (!primary_of.empty()) out.push_back({"primary group of", join(primary_of)});
  return out;
}

GroupResource::GroupResource(std::string name, GroupEnsure ensure, Location location, std::string key_path)
    : ResourceOf("group", std::move(name), std::move(location), std::move(key_path)), ensure_(ensure) {}

std::vector<std::string> GroupResource::auto_requires() const {
  // Removing a group: after the account of the same name is removed (userdel takes its private group along).
  if (ensure_ == GroupEnsure::kAbsent) return {make_id("user", name())};
  return {};
}

std::vector<Field> GroupResource::desired_fields() const {
  std::vector<Field> out{{"ensure", std::string(to_string(ensure_))}};
  if (gid) out.push_back({"gid", std::to_string(*gid)});
  if (system) out.push_back({"system", "true"});
  return out;
}

Drift GroupResource::diff_of(const GroupObserved& seen) const {
  Drift drift;
  if (ensure_ == GroupEnsure::kAbsent) {
    if (seen.exists) {
      std::string why = "to be removed";
      if (!seen.members.empty()) why += "; its members " + join(seen.members) + " leave it";
      drift.push_back(drift_of(GroupField::kGroup, "present (gid " + std::to_string(seen.gid) + ")", "absent", why));
    }
    return drift;
  }
  if (!seen.exists) {
    std::string what = "present";
    if (gid) what += " (gid " + std::to_string(*gid) + ")";
    else if (system) what += " (a system gid)";
    drift.push_back(drift_of(GroupField::kGroup, "absent", what, "to be created"));
    return drift;
  }
  if (gid && *gid != seen.gid) {
    std::string why = "the gid differs";
    if (!seen.primary_of.empty()) why += "; groupmod moves the primary group of " + join(seen.primary_of) + " along";
    drift.push_back(drift_of(GroupField::kGid, std::to_string(seen.gid), std::to_string(*gid), why));
  }
  return drift;
}

namespace {

std::unique_ptr<GroupResource> read_entry(const Node& item, GroupEnsure ensure, CompileContext& context) {
  NodeReader& reader = context.reader();
  std::vector<std::string> allowed{"name", "requires"};
  if (ensure == GroupEnsure::kPresent) allowed.insert(allowed.end(), {"gid", "system"});
  const Node* name_node = reader.entry_name(item, allowed, "a groups." + std::string(to_string(ensure)) + " entry",
                                            "write {name: deploy, gid: 1500}");
  if (name_node == nullptr) return nullptr;
  auto name = reader.string(*name_node, "a group name such as deploy");
  if (!name) return nullptr;
  if (const auto checked = check_user_name(*name); !checked) {
    reader.fail(*name_node, ErrorCode::kInvalidValue, "invalid group name '" + *name + "': " + checked.error(),
                "group names look like deploy or web_admins: lower-case letters, digits, '_' and '-'");
    return nullptr;
  }
  auto resource = std::make_unique<GroupResource>(*name, ensure, item.location, item.path);
  if (!item.is_map()) return resource;
  bool ok = true;
  if (const Node* gid = item.find("gid")) {
    auto value = reader.integer(*gid, 0, kMaxGid);
    if (value) resource->gid = static_cast<std::uint32_t>(*value);
    else ok = false;
  }
  if (const Node* system = item.find("system")) {
    auto value = reader.boolean(*system);
    if (value) resource->system = *value;
    else ok = false;
  }
  context.read_requires(item, *resource);
  return ok ? std::move(resource) : nullptr;
}

}  // namespace

KindSpec groups_kind() {
  KindSpec spec;
  spec.key = "groups";
  spec.compile = [](const Node& value, CompileContext& context) {
    NodeReader& reader = context.reader();
    if (!reader.check_keys(value, {"present", "absent"}, "the groups mapping") && !value.is_map()) return;
    const std::pair<const char*, GroupEnsure> sections[] = {{"present", GroupEnsure::kPresent},
                                                            {"absent", GroupEnsure::kAbsent}};
    for (const auto& [key, ensure] : sections) {
      const Node* node = value.find(key);
      if (node == nullptr) continue;
      for (const Node* item : reader.list(*node, "group names or mappings")) {
        if (auto resource = read_entry(*item, ensure, context)) context.add(std::move(resource));
      }
    }
  };
  return spec;
}

}  // namespace reconcile::resources
