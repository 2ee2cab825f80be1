#include "resources/script.h"

#include <map>

#include "resources/check.h"

namespace reconcile::resources {

namespace {

constexpr std::size_t kMaxCommand = 64 * 1024;

std::string_view decision_text(ScriptDecision decision) {
  switch (decision) {
    case ScriptDecision::kRun: return "would run";
    case ScriptDecision::kDone: return "ran";
    case ScriptDecision::kCreatesExists: return "skipped (creates exists)";
    case ScriptDecision::kUnlessPassed: return "skipped (unless passed)";
    case ScriptDecision::kOnlyifFailed: return "skipped (onlyif failed)";
    case ScriptDecision::kPending: return "guards not evaluated yet";
  }
  return "would run";
}

}  // namespace

std::string_view field_name(ScriptField) { return "run"; }

std::vector<Field> ScriptObserved::fields() const { return {{"run", std::string(decision_text(decision))}, {"why", why}}; }

ScriptResource::ScriptResource(std::string name, std::string run, Location location, std::string key_path)
    : ResourceOf("script", std::move(name), std::move(location), std::move(key_path)), run_(std::move(run)) {}

std::vector<Field> ScriptResource::desired_fields() const {
  std::vector<Field> out{{"run", run_}};
  if (!unless_.empty()) out.push_back({"unless", unless_});
  if (!onlyif_.empty()) out.push_back({"onlyif", onlyif_});
  if (!creates_.empty()) out.push_back({"creates", creates_});
  out.push_back({"timeout", std::to_string(timeout_) + " s"});
  return out;
}

Drift ScriptResource::diff_of(const ScriptObserved& seen) const {
  switch (seen.decision) {
    case ScriptDecision::kRun:
      return {drift_of(ScriptField::kRun, "not run", guarded() ? "run" : "run (unguarded: every run)", seen.why)};
    case ScriptDecision::kPending:
      return {drift_of(ScriptField::kRun, "guards not evaluated yet", "run if the guards allow",
                       "its guards decide once everything before it has converged")};
    default:
      return {};
  }
}

KindSpec scripts_kind() {
  KindSpec spec;
  spec.key = "scripts";
  spec.compile = [](const Node& value, CompileContext& context) {
    NodeReader& reader = context.reader();
    if (!value.is_sequence()) {
      reader.fail(value, ErrorCode::kType, "expected a list of scripts, got " + value.describe(),
                  "write scripts: [{name: rotate-logs, run: \"logrotate -f /etc/logrotate.conf\"}]");
      return;
    }
    std::map<std::string, const Node*> seen;
    for (const Node& item : value.items) {
      if (!item.is_map()) {
        reader.fail(item, ErrorCode::kType, "expected a script as a mapping with name and run, got " + item.describe(),
                    "write {name: rotate-logs, run: \"…\"}");
        continue;
      }
      if (!reader.check_keys(item, {"name", "run", "unless", "onlyif", "creates", "timeout", "requires"},
                             "a script")) {
        continue;
      }
      const Node* name_node = item.find("name");
      const Node* run_node = item.find("run");
      if (name_node == nullptr || run_node == nullptr) {
        reader.fail(item, ErrorCode::kInvalidValue,
                    std::string("a script needs ") + (name_node == nullptr ? "'name'" : "'run'"),
                    "write {name: rotate-logs, run: \"…\"}");
        continue;
      }
      auto name = reader.string(*name_node, "a script name");
      auto run = reader.string(*run_node, "shell commands");
      if (!name || !run) continue;
      if (auto checked = check_name(*name, "-_.", 64); !checked) {
        reader.fail(*name_node, ErrorCode::kInvalidValue, "invalid script name '" + *name + "': " + checked.error(),
                    "names are letters, digits, '-', '_' and '.'");
        continue;
      }
      if (const auto first = seen.find(*name); first != seen.end()) {
        reader.fail(*name_node, ErrorCode::kConflict,
                    "script '" + *name + "' is also defined at " + first->second->location.str(),
                    "give each script its own name");
        continue;
      }
      seen.emplace(*name, name_node);
      auto command_ok = [&](const Node& node, const std::string& text, std::string_view key) {
        if (text.find_first_not_of(" \t\r\n") == std::string::npos) {
          reader.fail(node, ErrorCode::kInvalidValue, "the script's '" + std::string(key) + "' is empty");
          return false;
        }
        if (text.size() > kMaxCommand || text.find('\0') != std::string::npos) {
          reader.fail(node, ErrorCode::kInvalidValue,
                      "the script's '" + std::string(key) + "' is over 64 KiB or holds a NUL byte",
                      "keep long scripts in a file and run that file");
          return false;
        }
        return true;
      };
      if (!command_ok(*run_node, *run, "run")) continue;
      auto script = std::make_unique<ScriptResource>(*name, *run, name_node->location, item.path);
      bool ok = true;
      for (const char* key : {"unless", "onlyif"}) {
        const Node* node = item.find(key);
        if (node == nullptr) continue;
        auto text = reader.string(*node, "shell commands");
        if (!text || !command_ok(*node, *text, key)) {
          ok = false;
          continue;
        }
        if (std::string_view(key) == "unless") script->set_unless(*text);
        else script->set_onlyif(*text);
      }
      if (const Node* node = item.find("creates")) {
        auto path = reader.string(*node, "an absolute path");
        if (!path) {
          ok = false;
        } else if (!path->starts_with('/') || path->find('\0') != std::string::npos || path->size() > 4096) {
          reader.fail(*node, ErrorCode::kInvalidValue, "'creates' must be an absolute path, not '" + *path + "'",
                      "write creates: /var/lib/app/.done");
          ok = false;
        } else {
          script->set_creates(*path);
        }
      }
      if (const Node* node = item.find("timeout")) {
        auto seconds = read_duration(reader, *node, 1, 7 * 86400);
        if (!seconds) ok = false;
        else script->set_timeout(*seconds);
      }
      context.read_requires(item, *script);
      if (ok) context.add(std::move(script));
    }
  };
  return spec;
}

}  // namespace reconcile::resources
