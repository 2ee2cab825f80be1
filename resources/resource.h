#pragma once
// What every managed thing has in common: an identity, a desired state, its dependencies,
// and a diff against what was observed. Platform-free: no I/O, no logging.

#include <memory>
#include <expected>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "resources/error.h"
#include "resources/file_claim.h"

namespace reconcile::resources {

/// The one spelling of a resource id: "package:nginx", or the kind alone for singletons ("timezone").
std::string make_id(std::string_view kind, std::string_view name);

/// A named value of a desired or observed state, as shown in reports and kept in the ledger.
struct Field {
  std::string name;
  std::string value;
};

/// One field that differs: what was observed, what is desired, and why it matters.
struct FieldDrift {
  std::string field;   // the field's name, for reports
  std::string observed;
  std::string desired;
  std::string reason;
  int code = 0;        // the kind's field enum (see drift_of); providers match on it, never on the name
  std::string summary; // when set, reports show it instead of "observed → desired" (a sensitive file's content)
  std::string detail;  // lines shown under the drift in the text report (a unified diff of a file's content)
};

/// Every field that differs; empty means in sync.
using Drift = std::vector<FieldDrift>;

/// A drifted field of a kind whose fields are `enum class` values named by `field_name(E)` (found by ADL):
/// the report shows the name, a provider asks `drifted(drift, E::kShell)`, so a misspelt field does not compile.
template <class E>
  requires std::is_enum_v<E>
FieldDrift drift_of(E field, std::string observed, std::string desired, std::string reason) {
  return FieldDrift{std::string(field_name(field)), std::move(observed), std::move(desired), std::move(reason),
                    static_cast<int>(field) + 1};
}

/// The same, for a field whose report name is not the enum's (one pending upgrade, named by its package).
template <class E>
  requires std::is_enum_v<E>
FieldDrift drift_of(E field, std::string name, std::string observed, std::string desired, std::string reason) {
  return FieldDrift{std::move(name), std::move(observed), std::move(desired), std::move(reason),
                    static_cast<int>(field) + 1};
}

/// Whether this drift is of `field`.
template <class E>
  requires std::is_enum_v<E>
bool is_field(const FieldDrift& drift, E field) {
  return drift.code == static_cast<int>(field) + 1;
}

/// Whether `field` is among the drifted fields.
template <class E>
  requires std::is_enum_v<E>
bool drifted(const Drift& drift, E field) {
  for (const auto& d : drift) {
    if (is_field(d, field)) return true;
  }
  return false;
}

/// What a provider saw of one resource on the host, typed per kind.
class Observed {
 public:
  virtual ~Observed() = default;
  /// The observed fields, for reports.
  virtual std::vector<Field> fields() const = 0;
};

/// A dependency named in the state file, with where it was named.
struct Requirement {
  std::string id;
  Location location;
  std::string key_path;
};

/// A resource to act on when this one changes in a run (`notify: [service:nginx]`): its id, what to ask of it
/// ("restart", "reload") and where the state named it.
struct Notification {
  std::string id;
  std::string action;
  Location location;
  std::string key_path;
};

class Node;

/// The desired state of one managed thing.
class Resource {
 public:
  Resource(std::string kind, std::string name, Location location, std::string key_path);
  virtual ~Resource() = default;

  const std::string& kind() const { return kind_; }
  const std::string& name() const { return name_; }
  const std::string& id() const { return id_; }
  const Location& location() const { return location_; }
  const std::string& key_path() const { return key_path_; }

  const std::vector<Requirement>& requirements() const { return requirements_; }
  void add_requirement(Requirement requirement) { requirements_.push_back(std::move(requirement)); }

  /// Ids this resource should converge after, if the state manages them (a service after its package).
  virtual std::vector<std::string> auto_requires() const { return {}; }
  /// Ids that should converge after this resource, if the state manages them (a time daemon's package before
  /// the clock routine, when the package is added once the host is seen).
  virtual std::vector<std::string> auto_before() const { return {}; }
  /// Converges after every resource that does not itself run last (a user's script).
  virtual bool runs_last() const { return false; }
  /// Whether its drift is labelled intended or corrective from the ledger; not for what is due every run
  /// (a script about to run, a check about to be probed).
  virtual bool labels_drift() const { return true; }
  /// Whether its drift is always a repair of the host (an interrupted dpkg), labelled corrective without the ledger.
  virtual bool drift_is_corrective() const { return false; }
  /// The desired fields, for reports and the ledger of last-applied values.
  virtual std::vector<Field> desired_fields() const = 0;
  /// What differs between desired and observed; empty when in sync.
  virtual Drift diff(const Observed& observed) const = 0;
  /// The state to plan against when the observation waits on a change of a requirement
  /// (a unit its package will install); nullptr when that cannot be predicted.
  virtual std::unique_ptr<Observed> predicted() const { return nullptr; }
  /// Whether a planned change of `requirement` can provide what blocks this resource (a service's unit comes
  /// from its package, not from the timezone it also requires); only such a change lifts a block.
  virtual bool provided_by(const Resource& /*requirement*/) const { return false; }
  /// Non-empty when what blocks it may also come with a change elsewhere in the run that it is not ordered after
  /// (a unit or a group a package of another name installs): the plan then orders it after every planned change
  /// it is provided_by, and observes it again there. The text is added to the reason when nothing provides it.
  virtual std::string comes_with_changes_hint() const { return ""; }
  /// A provider this resource must use ("apt"), or "" for the host's default.
  virtual std::string provider_hint() const { return ""; }
  /// The file fragments this resource owns and writes; no two resources may claim one (engine/claims.h).
  virtual std::vector<FileClaim> claims() const { return {}; }
  /// The resources the host adds for this one at run time (Provider::expand), and from what ("a user:NAME for
  /// each account …"); "" when none. `validate` names them, since a count of the state alone misses them.
  virtual std::string host_expansion() const { return ""; }
  /// What to act on when this resource changes in a run; each converges after it (engine/graph.cc).
  virtual std::vector<Notification> notifies() const { return {}; }
  /// The change a notification asks of this resource, planned against what was observed ("would restart
  /// service:nginx (after file:/etc/nginx/nginx.conf)"), or nullopt when it has nothing to do (it is about to
  /// start anyway, or is meant to be stopped). `by` names the notifiers that drifted.
  virtual std::optional<FieldDrift> notified(const Observed& /*seen*/, std::string_view /*action*/,
                                             const std::vector<std::string>& /*by*/) const {
    return std::nullopt;
  }
  /// Whether notifications may name this resource (a service can restart; a package cannot).
  virtual bool notifiable() const { return false; }
  /// The state's top-level `vars:` (nullptr when it has none), for resources that fill templates from it.
  virtual void use_vars(std::shared_ptr<const Node> /*vars*/) {}

 private:
  std::string kind_;
  std::string name_;
  std::string id_;
  Location location_;
  std::string key_path_;
  std::vector<Requirement> requirements_;
};

/// A resource whose kind observes into `O`: its diff receives the typed observation. An observation of another
/// type (a provider bug) is reported as drift of the whole state rather than read as `O`.
template <class O>
class ResourceOf : public Resource {
 public:
  using Resource::Resource;
  using ObservedType = O;

  Drift diff(const resources::Observed& observed) const final {
    const auto* seen = dynamic_cast<const O*>(&observed);
    if (seen == nullptr) return {FieldDrift{"state", "observed as another kind", "observable", "a provider error", 0}};
    return diff_of(*seen);
  }
  /// What differs between desired and observed; empty when in sync.
  virtual Drift diff_of(const O& observed) const = 0;
};

/// Checks a name against a strict charset (letters, digits and `extra`), length 1..max_length.
/// Nothing when valid, else what is wrong with it.
std::expected<void, std::string> check_name(std::string_view name, std::string_view extra,
                                            std::size_t max_length = 128);

}  // namespace reconcile::resources
