#include "engine/observe.h"

#include <algorithm>
#include <atomic>
#include <functional>
#include <map>
#include <thread>

namespace reconcile::engine {

namespace {

// Vertices grouped by the provider that serves them, in vertex order (resources without one left out).
std::map<const providers::Provider*, std::vector<std::size_t>> by_provider(const std::vector<const providers::Provider*>& chosen) {
  std::map<const providers::Provider*, std::vector<std::size_t>> groups;
  for (std::size_t v = 0; v < chosen.size(); ++v) {
    if (chosen[v] != nullptr) groups[chosen[v]].push_back(v);
  }
  return groups;
}

// The resources at these vertices, as a provider's batch.
std::vector<const resources::Resource*> batch_of(const ResourceGraph& graph, const std::vector<std::size_t>& vertices) {
  std::vector<const resources::Resource*> batch;
  batch.reserve(vertices.size());
  for (const std::size_t v : vertices) batch.push_back(graph.resources[v].get());
  return batch;
}

// The provider of every resource, each (kind, provider hint) decided once: suitable() may read the
// host's facts, and a state holds hundreds of resources of a kind.
std::vector<const providers::Provider*> choose_providers(const ResourceGraph& graph, const Registry& registry,
                                                         const providers::Host& host) {
  std::map<std::pair<std::string, std::string>, const providers::Provider*> chosen;
  std::vector<const providers::Provider*> out;
  out.reserve(graph.size());
  for (const auto& resource : graph.resources) {
    auto key = std::make_pair(resource->kind(), resource->provider_hint());
    auto it = chosen.find(key);
    if (it == chosen.end()) {
      it = chosen.emplace(key, registry.provider_for(key.first, key.second, host)).first;
    }
    out.push_back(it->second);
  }
  return out;
}

// A provider that threw during `during` (validate, expand): an error at its batch's first resource.
resources::Error provider_threw(std::string_view during, const providers::Provider& provider,
                                const resources::Resource& first) {
  return resources::Error{resources::ErrorCode::kSystem,
                          exception_message(during, std::current_exception()) + " (provider " +
                              std::string(provider.name()) + ")",
                          first.location(), first.key_path(), ""};
}

}  // namespace

std::string exception_message(std::string_view during, std::exception_ptr error) {
  try {
    std::rethrow_exception(error);
  } catch (const std::exception& e) {
    return std::string(during) + " failed: " + e.what();
  } catch (...) {
    return std::string(during) + " failed: an exception that is not a std::exception";
  }
}

std::vector<providers::Observation> observe_batch(const providers::Provider& provider, providers::Session& session,
                                                  std::span<const resources::Resource* const> batch) {
  try {
    return provider.observe_resources(session, batch);
  } catch (...) {
    const std::string message = exception_message("observe", std::current_exception());
    std::vector<providers::Observation> out;
    for (std::size_t i = 0; i < batch.size(); ++i) out.push_back(providers::Observation::unknown(message));
    return out;
  }
}

std::vector<resources::Error> validate_on_host(const ResourceGraph& graph, const Registry& registry,
                                               providers::Session& session) {
  const providers::Host& host = session.host();
  std::vector<resources::Error> errors;
  const auto chosen = choose_providers(graph, registry, host);
  {
    // What the state manages, for providers that accept names the state itself creates (providers::ManagedIds).
    auto& managed = session.state<providers::ManagedIds>();
    for (const auto& [id, v] : graph.index) managed.ids.insert(id);
  }
  for (std::size_t v = 0; v < graph.size(); ++v) {
    const auto& resource = graph.resources[v];
    if (chosen[v] != nullptr || resource->provider_hint().empty()) continue;
    errors.push_back(resources::Error{resources::ErrorCode::kInvalidValue,
                                      "no provider '" + resource->provider_hint() + "' for " + resource->kind(),
                                      resource->location(), resource->key_path(),
                                      resources::did_you_mean(resource->provider_hint(),
                                                              registry.provider_names(resource->kind()))});
  }
  for (const auto& [provider, members] : by_provider(chosen)) {
    try {
      for (auto& error : provider->validate_resources(session, batch_of(graph, members))) errors.push_back(std::move(error));
    } catch (...) {
      errors.push_back(provider_threw("validate", *provider, *graph.resources[members.front()]));
    }
  }
  return errors;
}

std::vector<resources::Error> expand_all(ResourceGraph& graph, const Registry& registry, providers::Session& session) {
  const providers::Host& host = session.host();
  std::vector<resources::Error> errors;
  for (const auto& [provider, members] : by_provider(choose_providers(graph, registry, host))) {
    try {
      if (!provider->unusable_reason(host).empty()) continue;
      for (auto& added : provider->expand_resources(session, batch_of(graph, members))) graph.add(std::move(added));
    } catch (...) {
      errors.push_back(provider_threw("expand", *provider, *graph.resources[members.front()]));
    }
  }
  return errors;
}

std::vector<providers::Observation> observe_all(const ResourceGraph& graph, const Registry& registry,
                                               providers::Session& session, RunState& state) {
  const providers::Host& host = session.host();
  state = RunState(graph.size());
  std::vector<providers::Observation> observations(graph.size());
  const auto chosen = choose_providers(graph, registry, host);
  for (std::size_t v = 0; v < graph.size(); ++v) {
    const auto& resource = *graph.resources[v];
    state[v].provider = chosen[v];
    if (state[v].provider == nullptr) {
      observations[v] = providers::Observation::unknown("no provider for " + resource.kind() + " on this host");
    }
  }
  // One batch per provider; providers observe side by side since they share nothing.
  std::vector<std::function<void()>> work_items;
  for (const auto& [provider, members] : by_provider(chosen)) {
    // A thread body: whatever it throws becomes the batch's unknown state, never std::terminate.
    auto work = [&graph, &session, &host, &observations, provider, members] {
      try {
        const std::string unusable = provider->unusable_reason(host);
        if (!unusable.empty()) {
          for (const std::size_t v : members) observations[v] = providers::Observation::unknown(unusable);
          return;
        }
        auto seen = observe_batch(*provider, session, batch_of(graph, members));
        for (std::size_t i = 0; i < members.size(); ++i) {
          observations[members[i]] = i < seen.size() ? std::move(seen[i])
                                                     : providers::Observation::unknown("the provider observed nothing");
        }
      } catch (...) {
        const std::string message = exception_message("observe", std::current_exception());
        for (const std::size_t v : members) observations[v] = providers::Observation::unknown(message);
      }
    };
    work_items.emplace_back(work);
  }
  // As many threads as cores (at least two, so a provider waiting on a daemon never holds up the rest), this one
  // among them, each taking the next batch: a thread per provider would cost more to start than most batches.
  std::atomic<std::size_t> next{0};
  const auto drain = [&] {
    for (std::size_t i = next++; i < work_items.size(); i = next++) work_items[i]();
  };
  const std::size_t threads = std::min<std::size_t>(work_items.size(), std::max(2u, std::thread::hardware_concurrency()));
  std::vector<std::thread> workers;
  for (std::size_t i = 1; i < threads; ++i) workers.emplace_back(drain);
  drain();
  for (auto& worker : workers) worker.join();
  return observations;
}

}  // namespace reconcile::engine
