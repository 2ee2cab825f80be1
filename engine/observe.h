#pragma once
// Before the plan: the host checks (each provider validates and expands its resources) and observation,
// once per provider, side by side.

#include <exception>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "engine/graph.h"
#include "engine/plan.h"
#include "engine/registry.h"
#include "providers/provider.h"

namespace reconcile::engine {

/// Lets each provider add the resources that depend on what the host holds (Provider::expand); a provider
/// that throws is an error at its first resource.
std::vector<resources::Error> expand_all(ResourceGraph& graph, const Registry& registry, providers::Session& session);

/// What an exception escaping a provider says, for the resources it fails: "observe failed: <what>".
std::string exception_message(std::string_view during, std::exception_ptr error);

/// provider.observe(), one observation per resource, never throwing: an exception leaves every
/// resource of the batch unknown with its message.
std::vector<providers::Observation> observe_batch(const providers::Provider& provider, providers::Session& session,
                                                  std::span<const resources::Resource* const> batch);

/// Chooses each resource's provider (into state) and observes them, one batch per provider.
std::vector<providers::Observation> observe_all(const ResourceGraph& graph, const Registry& registry,
                                               providers::Session& session, RunState& state);

/// Host-side validation by each provider (a zone exists); no change is made.
std::vector<resources::Error> validate_on_host(const ResourceGraph& graph, const Registry& registry,
                                               providers::Session& session);

}  // namespace reconcile::engine
