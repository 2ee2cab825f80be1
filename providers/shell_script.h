#pragma once
// Scripts through /bin/sh -c: guards (creates, unless, onlyif) evaluated when observed, in a dry run too; the
// script itself only in an apply, with its timeout (the whole process group is killed) and its output kept.

#include "providers/provider.h"
#include "resources/script.h"

namespace reconcile::providers {

/// Runs the user's scripts, one at a time, in the order of the state.
class ShellScriptProvider : public ProviderOf<const resources::ScriptResource*, resources::ScriptObserved> {
 public:
  std::string_view name() const override { return "sh"; }
  std::string_view kind() const override { return "script"; }
  std::string unusable_reason(const Host& host) const override;
  std::vector<Observation> observe(Session& session,
                                   std::span<const resources::ScriptResource* const> resources) const override;
  std::vector<ChangeOutcome> apply(Session& session, std::span<const Change> changes) const override;
};

/// The last `max_bytes` of `text`, cut at a line start where one is near ("…" marks the cut).
std::string output_tail(const std::string& text, std::size_t max_bytes);

}  // namespace reconcile::providers
