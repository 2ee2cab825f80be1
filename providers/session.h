#pragma once
// One run's view of the host and everything the run learns on the way: the D-Bus connection, the account
// databases read once, the package manager's lock. `converge` creates a session and drops it when the run ends,
// so a daemon that converges thousands of times never plans from what an earlier run saw; providers themselves
// hold configuration only.

#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <typeindex>
#include <utility>
#include <vector>

#include "providers/host.h"

namespace reconcile::providers {

/// What one run holds; shared by every provider and worker thread of the run.
class Session {
 public:
  explicit Session(const Host& host) : host_(host) {}
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  /// The host this run works on.
  const Host& host() const { return host_; }

  /// The run's `T` of `owner` (a provider, or nullptr for state shared by several), made by `T()` on first use.
  /// Thread-safe; the object lives until the session ends, and T guards its own members.
  template <class T>
  T& state(const void* owner = nullptr) {
    const std::lock_guard lock(mutex_);
    auto& slot = states_[{std::type_index(typeid(T)), owner}];
    if (slot == nullptr) slot = std::make_shared<T>();
    return *static_cast<T*>(slot.get());
  }

  /// A warning for the run's report, such as a leftover of a killed run repaired on the way. Thread-safe.
  void warn(std::string text) {
    const std::lock_guard lock(mutex_);
    warnings_.push_back(std::move(text));
  }
  std::vector<std::string> warnings() const {
    const std::lock_guard lock(mutex_);
    return warnings_;
  }

  /// How many per-run objects the session holds (tests: a run's caches end with it).
  std::size_t size() const {
    const std::lock_guard lock(mutex_);
    return states_.size();
  }

 private:
  const Host& host_;
  mutable std::mutex mutex_;
  std::map<std::pair<std::type_index, const void*>, std::shared_ptr<void>> states_;
  std::vector<std::string> warnings_;
};

/// The ids of every resource the state manages, set in the session by the engine before host validation, so a
/// provider may accept a name the state itself creates (a file's owner from users.present).
struct ManagedIds {
  std::set<std::string> ids;
};

}  // namespace reconcile::providers
