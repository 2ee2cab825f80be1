#pragma once
// How one family of system tools observes and changes one kind of resource.
// The engine calls observe() once per run with every resource of the kind, then apply() with
// batches of drifted ones, then observe() again for what it changed, all within one run's Session.

#include <memory>
#include <optional>
#include <stdexcept>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "providers/host.h"
#include "providers/session.h"
#include "resources/error.h"
#include "resources/resource.h"

namespace reconcile::providers {

using resources::Resource;

/// What a provider saw of one resource.
struct Observation {
  /// The observed state; null when it could not be observed (see unknown_reason).
  std::unique_ptr<resources::Observed> state;
  /// Why the state is unknown: "not observable: permission denied", "systemd is not running".
  std::string unknown_reason;
  /// Set when the state is known but cannot be converged from it ("unit nginx.service does not
  /// exist"); a planned change of a requirement may lift it, and the resource is then planned
  /// against Resource::predicted(), or against `after_requirements` when that is null.
  std::string blocked_reason;
  /// Worth telling about a state that needs no change ("unit snmpd.service does not exist, so nothing
  /// can start it"); shown as the reason of an in-sync resource.
  std::string note;
  /// Set when the observation holds only if nothing this resource requires changes first (a script's guards,
  /// a port a service opens): then a dry run reports the resource unknown with this reason, and an apply plans
  /// it against `after_requirements` (observed again once its requirements converged), or unknown when null.
  std::string holds_unless_requirements_change;
  std::unique_ptr<resources::Observed> after_requirements;

  static Observation known(std::unique_ptr<resources::Observed> state) {
    Observation o;
    o.state = std::move(state);
    return o;
  }
  static Observation unknown(std::string reason) {
    Observation o;
    o.unknown_reason = std::move(reason);
    return o;
  }
};

/// One command or action a change ran, for the report.
struct Step {
  std::string what;         // the command line, or "rename /etc/.localtime.tmp → /etc/localtime"
  double seconds = 0;
  int exit_status = 0;      // 0 for in-process steps that worked; -1 for a command that did not exit
  std::string error_tail;   // the last lines of its error output when it failed
  std::string output;       // what it printed, bounded, when the report keeps it (a user's script)
};

/// The report's record of a command that ran: its line, time and exit status (-1 when it did not exit:
/// killed, timed out or not started); when it failed, why it ended and the last lines of its error output.
inline Step step_of(const std::vector<std::string>& argv, const ExecResult& result) {
  Step step{Exec::describe(argv), result.seconds, result.exit_status, ""};
  if (result.ok()) return step;
  const std::string tail = result.tail();
  if (!result.spawn_error.empty()) step.error_tail = result.status_text();
  else if (result.exit_status < 0) step.error_tail = result.status_text() + (tail.empty() ? "" : "\n" + tail);
  else step.error_tail = tail;
  return step;
}

/// A drifted resource handed to apply().
struct Change {
  const Resource* resource = nullptr;
  const resources::Observed* observed = nullptr;
  const resources::Drift* drift = nullptr;
};

/// How applying one change ended.
struct ChangeOutcome {
  enum class Result { kChanged, kFailed, kDeferred };
  Result result = Result::kChanged;
  std::string message;      // why it failed or was deferred
  std::vector<Step> steps;  // what ran for it (shared batch commands appear in each)

  static ChangeOutcome failed(std::string why, std::vector<Step> steps = {}) {
    return ChangeOutcome{Result::kFailed, std::move(why), std::move(steps)};
  }
};

/// A tool family for one resource kind on one kind of platform, as the engine calls it: resources and
/// observations of any type. Providers derive from ProviderOf, which hands them their own types. A provider
/// object is configuration only (const); what a run learns lives in the Session.
class Provider {
 public:
  virtual ~Provider() = default;
  /// "localtime", "apt", "systemd", …
  virtual std::string_view name() const = 0;
  /// The resource kind it manages: "timezone", "package", …
  virtual std::string_view kind() const = 0;
  /// Whether this provider is the natural one for this host (apt on Debian); the first suitable
  /// provider of a kind is used unless a resource names one.
  virtual bool suitable(const Host&) const { return true; }
  /// "" when it can work on this host, else why not (tool missing, daemon not running).
  virtual std::string unusable_reason(const Host&) const { return ""; }
  /// How many apply() calls of this provider may run at once (dpkg: 1).
  virtual int max_parallel() const { return 1; }

  /// Checks that need the host but change nothing (a zone exists); errors stop the run as input errors.
  virtual std::vector<resources::Error> validate_resources(Session&, std::span<const Resource* const>) const = 0;
  /// Resources that exist only once the host is seen (the login allow-list becomes one lock per
  /// account that can log in now). Called once, before observe; ids the state already manages are dropped.
  virtual std::vector<std::unique_ptr<Resource>> expand_resources(Session&, std::span<const Resource* const>) const = 0;
  /// Observes every given resource in one batch; returns one observation per resource, in order.
  virtual std::vector<Observation> observe_resources(Session&, std::span<const Resource* const>) const = 0;
  /// Converges a batch of drifted resources; returns one outcome per change, in order.
  virtual std::vector<ChangeOutcome> apply_changes(Session&, std::span<const Change>) const = 0;
};

/// How a provider's own resource type is taken from the engine's: `const R*` for one class, or a
/// `std::variant<const A*, const B*>` for a kind made of several (an account and the login allow-list).
template <class Item>
struct ResourceCast;

template <class R>
struct ResourceCast<const R*> {
  static std::optional<const R*> from(const Resource& resource) {
    if (const auto* typed = dynamic_cast<const R*>(&resource)) return typed;
    return std::nullopt;
  }
};

template <class... Rs>
struct ResourceCast<std::variant<const Rs*...>> {
  static std::optional<std::variant<const Rs*...>> from(const Resource& resource) {
    std::optional<std::variant<const Rs*...>> out;
    ((out ? void() : [&] {
       if (const auto* typed = dynamic_cast<const Rs*>(&resource)) out = typed;
     }()),
     ...);
    return out;
  }
};

/// A drifted resource of a provider's own types, as its apply() receives it.
template <class Item, class O>
struct TypedChange {
  Item resource;
  const O* observed = nullptr;
  const resources::Drift* drift = nullptr;

  /// Whether `field` (the kind's field enum) drifted.
  template <class E>
  bool drifted(E field) const {
    return resources::drifted(*drift, field);
  }
};

/// The base of every provider: the engine's resources become `Item`s (`const PackageResource*`) and its
/// observations `const O*` in one place, checked, so a provider never casts.
template <class Item, class O>
class ProviderOf : public Provider {
 public:
  using Change = TypedChange<Item, O>;

  /// Host checks that change nothing (see Provider::validate_resources).
  virtual std::vector<resources::Error> validate(Session&, std::span<const Item>) const { return {}; }
  /// Resources known only once the host is seen (see Provider::expand_resources).
  virtual std::vector<std::unique_ptr<Resource>> expand(Session&, std::span<const Item>) const { return {}; }
  /// One observation per resource, in order, in one batch.
  virtual std::vector<Observation> observe(Session& session, std::span<const Item> resources) const = 0;
  /// One outcome per change, in order.
  virtual std::vector<ChangeOutcome> apply(Session& session, std::span<const Change> changes) const = 0;

  std::vector<resources::Error> validate_resources(Session& session,
                                                   std::span<const Resource* const> resources) const final {
    const auto typed = items(resources);
    return validate(session, typed);
  }
  std::vector<std::unique_ptr<Resource>> expand_resources(Session& session,
                                                          std::span<const Resource* const> resources) const final {
    const auto typed = items(resources);
    return expand(session, typed);
  }
  std::vector<Observation> observe_resources(Session& session, std::span<const Resource* const> resources) const final {
    const auto typed = items(resources);
    return observe(session, typed);
  }
  std::vector<ChangeOutcome> apply_changes(Session& session, std::span<const providers::Change> changes) const final {
    std::vector<Change> typed;
    typed.reserve(changes.size());
    for (const auto& change : changes) {
      const auto* observed = dynamic_cast<const O*>(change.observed);
      if (observed == nullptr) throw std::logic_error(mismatch(*change.resource, "an observation"));
      typed.push_back(Change{item(*change.resource), observed, change.drift});
    }
    return apply(session, typed);
  }

 private:
  std::string mismatch(const Resource& resource, std::string_view what) const {
    return "provider " + std::string(name()) + " was given " + std::string(what) + " of another type for " +
           resource.id();
  }
  Item item(const Resource& resource) const {
    auto typed = ResourceCast<Item>::from(resource);
    if (!typed) throw std::logic_error(mismatch(resource, "a resource"));
    return *typed;
  }
  std::vector<Item> items(std::span<const Resource* const> resources) const {
    std::vector<Item> out;
    out.reserve(resources.size());
    for (const Resource* resource : resources) out.push_back(item(*resource));
    return out;
  }
};

}  // namespace reconcile::providers
