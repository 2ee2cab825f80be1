#include "providers/shell_script.h"

#include <sys/stat.h>

#include <algorithm>
#include <mutex>
#include <set>

namespace reconcile::providers {

namespace {

using resources::ScriptDecision;
using resources::ScriptObserved;
using resources::ScriptResource;

constexpr std::string_view kShell = "/bin/sh";
constexpr std::int64_t kGuardTimeoutCap = 300;

// The scripts this run has run: observing one again in the same run (verify) finds it done.
struct RanThisRun {
  std::mutex mutex;
  std::set<std::string> ids;
};

std::string short_command(const std::string& command) {
  std::string line = command.substr(0, std::min<std::size_t>(command.size(), 80));
  std::replace(line.begin(), line.end(), '\n', ';');
  return line + (command.size() > 80 ? "…" : "");
}

ExecResult run_shell(const Host& host, const std::string& command, std::int64_t timeout_seconds) {
  ExecRequest request;
  request.argv = {std::string(kShell), "-c", command};
  request.timeout = std::chrono::seconds(timeout_seconds);
  return host.exec->run(request);
}

// What a guard run says, as a sentence: "unless `test -f /x` exited 0".
std::string guard_text(std::string_view key, const std::string& command, const ExecResult& result) {
  return std::string(key) + " `" + short_command(command) + "` " +
         (result.spawn_error.empty() && !result.timed_out && result.exit_status >= 0
              ? "exited " + std::to_string(result.exit_status)
              : result.status_text());
}

ScriptObserved decide(const Host& host, const ScriptResource& script) {
  ScriptObserved seen;
  if (!script.guarded()) {
    seen.why = "unguarded: it runs every run";
    return seen;
  }
  const std::int64_t timeout = std::min(script.timeout_seconds(), kGuardTimeoutCap);
  if (!script.creates().empty()) {
    struct stat st {};
    if (::lstat(host.path(script.creates()).c_str(), &st) == 0) {
      seen.decision = ScriptDecision::kCreatesExists;
      seen.why = "creates " + script.creates() + " exists";
      return seen;
    }
    seen.why = script.creates() + " does not exist";
  }
  if (!script.unless().empty()) {
    const auto result = run_shell(host, script.unless(), timeout);
    if (result.ok()) {
      seen.decision = ScriptDecision::kUnlessPassed;
      seen.why = guard_text("unless", script.unless(), result);
      return seen;
    }
    seen.why += (seen.why.empty() ? "" : "; ") + guard_text("unless", script.unless(), result);
  }
  if (!script.onlyif().empty()) {
    const auto result = run_shell(host, script.onlyif(), timeout);
    if (!result.ok()) {
      seen.decision = ScriptDecision::kOnlyifFailed;
      seen.why = guard_text("onlyif", script.onlyif(), result);
      return seen;
    }
    seen.why += (seen.why.empty() ? "" : "; ") + guard_text("onlyif", script.onlyif(), result);
  }
  return seen;
}

}  // namespace

std::string output_tail(const std::string& text, std::size_t max_bytes) {
  if (text.size() <= max_bytes) return text;
  std::size_t from = text.size() - max_bytes;
  const std::size_t line = text.find('\n', from);
  if (line != std::string::npos && line + 1 < text.size() && line - from < 200) from = line + 1;
  return "…" + text.substr(from);
}

std::string ShellScriptProvider::unusable_reason(const Host& host) const {
  struct stat st {};
  if (::stat(host.path(kShell).c_str(), &st) != 0 || (st.st_mode & S_IXUSR) == 0) {
    return "this host has no " + std::string(kShell);
  }
  if (host.root != "/") return "scripts run only on the host itself, not under another root";
  return "";
}

std::vector<Observation> ShellScriptProvider::observe(Session& session,
                                                      std::span<const ScriptResource* const> resources) const {
  const Host& host = session.host();
  auto& ran = session.state<RanThisRun>(this);
  std::vector<Observation> out;
  for (const auto* script : resources) {
    bool done = false;
    {
      const std::lock_guard lock(ran.mutex);
      done = ran.ids.contains(script->id());
    }
    auto seen = std::make_unique<ScriptObserved>();
    if (done && !script->guarded()) {
      seen->decision = ScriptDecision::kDone;
      seen->why = "ran in this run";
      out.push_back(Observation::known(std::move(seen)));
      continue;
    }
    *seen = decide(host, *script);
    const bool runs = seen->decision == ScriptDecision::kRun;
    const std::string why = seen->why;
    Observation o = Observation::known(std::move(seen));
    if (!runs) o.note = "not run: " + why;
    if (done && runs) {
      // Verify after it ran: the guards still ask for it, so running it did not do what they look for.
      o.blocked_reason = "it ran, but its guards still ask for it: " + why;
    }
    // Every other resource converges before a script: its guards' answer holds only if none of them changes.
    if (script->guarded()) {
      o.holds_unless_requirements_change = "the guards decide after the changes before it; now: " +
                                           std::string(runs ? "it would run" : "it would not run") + " (" + why + ")";
      if (!host.dry_run) {
        auto pending = std::make_unique<ScriptObserved>();
        pending->decision = ScriptDecision::kPending;
        o.after_requirements = std::move(pending);
      }
    }
    out.push_back(std::move(o));
  }
  return out;
}

std::vector<ChangeOutcome> ShellScriptProvider::apply(Session& session, std::span<const Change> changes) const {
  const Host& host = session.host();
  auto& ran = session.state<RanThisRun>(this);
  std::vector<ChangeOutcome> out;
  for (const auto& change : changes) {
    const auto& script = *change.resource;
    const auto result = run_shell(host, script.run(), script.timeout_seconds());
    {
      const std::lock_guard lock(ran.mutex);
      ran.ids.insert(script.id());
    }
    Step step{"/bin/sh -c " + Exec::describe({short_command(script.run())}), result.seconds, result.exit_status, ""};
    step.output = output_tail(result.out, resources::kScriptOutputBytes);
    if (!result.err.empty()) {
      step.output += (step.output.empty() || step.output.ends_with('\n') ? "" : "\n") + std::string("stderr: ") +
                     output_tail(result.err, resources::kScriptOutputBytes);
    }
    ChangeOutcome outcome;
    if (result.ok()) {
      outcome.message = script.guarded() ? change.observed->why : "unguarded: it runs every run";
    } else {
      step.error_tail = result.timed_out ? "timed out after " + std::to_string(script.timeout_seconds()) +
                                               " s: its process group was killed"
                                         : result.tail();
      outcome = ChangeOutcome::failed(
          "the script " + (result.timed_out ? "timed out after " + std::to_string(script.timeout_seconds()) +
                                                  " s and its process group was killed"
                                            : "ended with " + result.status_text()));
    }
    outcome.steps.push_back(std::move(step));
    out.push_back(std::move(outcome));
  }
  return out;
}

}  // namespace reconcile::providers
