#pragma once
// An in-memory kind for engine tests: `fakes: [{name, value, requires}]`, observed from and applied
// to a map, so planning and execution can be tested without touching a host.

#include <algorithm>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <stdexcept>

#include "builtin/builtin.h"
#include "engine/registry.h"
#include "providers/provider.h"
#include "resources/kind.h"

namespace reconcile::testing {

class FakeObserved : public resources::Observed {
 public:
  std::string value;
  std::vector<resources::Field> fields() const override { return {{"value", value}}; }
};

enum class FakeField { kValue };
inline std::string_view field_name(FakeField) { return "value"; }

class FakeResource : public resources::ResourceOf<FakeObserved> {
 public:
  FakeResource(std::string name, std::string value, resources::Location location, std::string path)
      : ResourceOf("fake", std::move(name), std::move(location), std::move(path)), value_(std::move(value)) {}
  const std::string& value() const { return value_; }
  std::vector<resources::Field> desired_fields() const override { return {{"value", value_}}; }
  resources::Drift diff_of(const FakeObserved& seen) const override {
    if (seen.value == value_) return {};
    return {resources::drift_of(FakeField::kValue, seen.value, value_, "differs")};
  }
  std::unique_ptr<resources::Observed> predicted() const override {
    auto state = std::make_unique<FakeObserved>();
    state->value = "predicted";
    return state;
  }
  bool provided_by(const resources::Resource& requirement) const override {
    return std::find(provided_by_.begin(), provided_by_.end(), requirement.id()) != provided_by_.end();
  }
  std::vector<std::string> auto_requires() const override { return auto_; }
  std::string provider_hint() const override { return via_; }
  std::vector<resources::FileClaim> claims() const override { return claims_; }
  std::vector<std::string> auto_;
  std::vector<std::string> provided_by_;  // ids whose planned change lifts a block
  std::string via_;  // another fake provider's name
  std::vector<resources::FileClaim> claims_;

 private:
  std::string value_;
};

/// The fake host: values by name; names in `failing` fail to apply, in `blocked` are blocked until
/// something else is applied, in `unobservable` cannot be observed. The members are the fake host, not the
/// provider's state, so they change through const calls like a real host does.
class FakeProvider : public providers::ProviderOf<const FakeResource*, FakeObserved> {
 public:
  explicit FakeProvider(std::string name = "fake") : name_(std::move(name)) {}
  mutable std::map<std::string, std::string> world;
  mutable std::set<std::string> failing, blocked, unobservable, stuck;
  /// Names in `failing` whose failed apply still leaves this value behind (a tool that fails half way).
  mutable std::map<std::string, std::string> half_done;
  /// Names whose batch makes observe() or apply() throw std::runtime_error("<name> exploded").
  std::set<std::string> throw_in_observe, throw_in_apply;
  bool throw_in_validate = false, throw_in_expand = false;
  mutable std::vector<std::vector<std::string>> batches;  // names per apply() call
  mutable int observe_calls = 0;
  mutable std::mutex mutex;

  std::string_view name() const override { return name_; }
  /// Called at the start of every apply() (outside the provider's lock), e.g. to hold it open.
  std::function<void()> on_apply;
  std::string_view kind() const override { return "fake"; }
  std::vector<resources::Error> validate(providers::Session&, std::span<const FakeResource* const>) const override {
    if (throw_in_validate) throw std::runtime_error("validate exploded");
    return {};
  }
  std::vector<std::unique_ptr<resources::Resource>> expand(providers::Session&,
                                                           std::span<const FakeResource* const>) const override {
    if (throw_in_expand) throw std::runtime_error("expand exploded");
    return {};
  }
  std::vector<providers::Observation> observe(providers::Session&,
                                              std::span<const FakeResource* const> resources) const override {
    std::lock_guard lock(mutex);
    ++observe_calls;
    for (const auto* resource : resources) {
      if (throw_in_observe.contains(resource->name())) throw std::runtime_error(resource->name() + " exploded");
    }
    std::vector<providers::Observation> out;
    for (const auto* resource : resources) {
      if (unobservable.contains(resource->name())) {
        out.push_back(providers::Observation::unknown("not observable: permission denied"));
        continue;
      }
      auto state = std::make_unique<FakeObserved>();
      state->value = world.contains(resource->name()) ? world[resource->name()] : "absent";
      auto observation = providers::Observation::known(std::move(state));
      if (blocked.contains(resource->name())) observation.blocked_reason = resource->name() + " does not exist";
      out.push_back(std::move(observation));
    }
    return out;
  }
  std::vector<providers::ChangeOutcome> apply(providers::Session&, std::span<const Change> changes) const override {
    if (on_apply) on_apply();
    std::lock_guard lock(mutex);
    std::vector<std::string> names;
    std::vector<providers::ChangeOutcome> out;
    for (const auto& change : changes) {
      const auto& fake = *change.resource;
      names.push_back(fake.name());
      if (throw_in_apply.contains(fake.name())) throw std::runtime_error(fake.name() + " exploded");
      if (failing.contains(fake.name())) {
        if (half_done.contains(fake.name())) world[fake.name()] = half_done[fake.name()];
        out.push_back(providers::ChangeOutcome::failed("it broke", {{"set " + fake.name(), 0.0, 1, "boom"}}));
        continue;
      }
      if (!stuck.contains(fake.name())) world[fake.name()] = fake.value();
      blocked.clear();  // applying anything provides what was missing (a package brings its unit)
      out.push_back(providers::ChangeOutcome{providers::ChangeOutcome::Result::kChanged, "", {{"set " + fake.name(), 0.0, 0, ""}}});
    }
    batches.push_back(names);
    return out;
  }

 private:
  std::string name_;
};

/// A claim written "/etc/x" (the whole file) or "/etc/x line:KEY", "… fstab:KEY", "… block:ID".
inline resources::FileClaim parse_fake_claim(const std::string& text) {
  const auto space = text.find(' ');
  if (space == std::string::npos) return {text, resources::whole_file()};
  const std::string fragment = text.substr(space + 1);
  const auto colon = fragment.find(':');
  const std::string kind = fragment.substr(0, colon), key = fragment.substr(colon + 1);
  resources::Fragment parsed = kind == "line"    ? resources::keyed_line(key)
                               : kind == "fstab" ? resources::Fragment{resources::FragmentKind::kFstabRecord, key}
                                                 : resources::marked_block(key);
  return {text.substr(0, space), parsed};
}

inline resources::KindSpec fake_kind() {
  resources::KindSpec spec;
  spec.key = "fakes";
  spec.compile = [](const resources::Node& value, resources::CompileContext& context) {
    for (const auto* item : context.reader().list(value, "fakes")) {
      if (!context.reader().check_keys(*item, {"name", "value", "requires", "auto", "via", "claims", "provided_by"},
                                       "a fake")) {
        continue;
      }
      auto resource = std::make_unique<FakeResource>(item->find("name")->scalar,
                                                     item->find("value") ? item->find("value")->scalar : "on",
                                                     item->location, item->path);
      if (const auto* automatic = item->find("auto")) {
        for (const auto& id : automatic->items) resource->auto_.push_back(id.scalar);
      }
      if (const auto* by = item->find("provided_by")) {
        for (const auto& id : by->items) resource->provided_by_.push_back(id.scalar);
      }
      if (const auto* via = item->find("via")) resource->via_ = via->scalar;
      if (const auto* claims = item->find("claims")) {
        for (const auto& claim : claims->items) resource->claims_.push_back(parse_fake_claim(claim.scalar));
      }
      context.read_requires(*item, *resource);
      context.add(std::move(resource));
    }
  };
  return spec;
}

/// The built-in registry plus the fake kind; *provider points at the fake provider it owns.
inline engine::Registry fake_registry(FakeProvider** provider) {
  engine::Registry registry = builtin::registry();
  registry.add_kind(fake_kind());
  auto owned = std::make_unique<FakeProvider>();
  *provider = owned.get();
  registry.add_provider(std::move(owned));
  return registry;
}

}  // namespace reconcile::testing
