#pragma once
// The fuzz targets: each reads one input through a real parser and checks the invariants every input must
// keep, aborting when one breaks. The libFuzzer binaries (fuzz/fuzz_target.cc, one per entry of kTargets) and
// the unit suite's replay of fuzz/regressions/<target>/ (tests/engine/fuzz_regression_test.cc) call the same
// functions. A new parser is one function and one entry in kTargets, plus its name in fuzz/CMakeLists.txt.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "builtin/builtin.h"
#include "engine/front_end.h"
#include "engine/graph.h"
#include "engine/loader.h"
#include "engine/registry.h"
#include "providers/account_db.h"
#include "providers/dpkg_status.h"
#include "providers/file_text.h"
#include "resources/file_claim.h"

namespace reconcile::fuzz {

inline std::string_view as_text(const std::uint8_t* data, std::size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

/// Small limits so a fuzzer spends its time on structure, not on size.
inline engine::LoadLimits fuzz_limits() {
  engine::LoadLimits limits;
  limits.max_file_bytes = 64u << 10;
  limits.max_depth = 64;
  limits.max_nodes = 20'000;
  return limits;
}

/// Every error found in input must say where: a parse or compile error without a location is a bug.
inline void require_located(const std::vector<resources::Error>& errors) {
  for (const auto& e : errors) {
    if (e.message.empty() || !e.location.known()) std::abort();
  }
}

/// The compiler on a parsed tree: it must never throw or crash, and the registry is built once.
inline void compile_checked(const resources::Node& root) {
  static const engine::Registry registry = builtin::registry();
  engine::Compiled compiled = engine::compile(root, registry);
  require_located(compiled.errors);
  if (compiled.errors.empty()) (void)compiled.graph.order();
}

inline void yaml_loader(std::string_view text) {
  std::vector<resources::Error> errors;
  resources::Node root = engine::parse_text("fuzz.yaml", std::string(text), errors,
                                            fuzz_limits(), &engine::yaml_front_end());
  require_located(errors);
  if (errors.empty()) compile_checked(root);
}

inline void json_loader(std::string_view text) {
  std::vector<resources::Error> errors;
  resources::Node root = engine::parse_text("fuzz.json", std::string(text), errors,
                                            fuzz_limits(), &engine::json_front_end());
  require_located(errors);
  if (errors.empty()) compile_checked(root);
}

/// Two state files split at the first NUL byte, each read by its content, layered, then compiled.
inline void layering(std::string_view text) {
  const std::size_t cut = text.find('\0');
  const std::string first(text.substr(0, cut));
  const std::string second(cut == std::string_view::npos ? std::string_view{} : text.substr(cut + 1));
  std::vector<resources::Error> errors;
  resources::Node base = engine::parse_text("base.yaml", first, errors, fuzz_limits());
  resources::Node overlay = engine::parse_text("overlay.yaml", second, errors, fuzz_limits());
  require_located(errors);
  if (!errors.empty()) return;
  resources::Node merged = base;
  engine::merge_into(merged, overlay);
  (void)engine::explain(merged);
  // Layering a file over itself changes nothing a second time.
  resources::Node again = merged;
  engine::merge_into(again, overlay);
  if (engine::explain(again) != engine::explain(merged)) std::abort();
  compile_checked(merged);
}

inline void dpkg_status(std::string_view text) {
  const providers::DpkgStatus status = providers::parse_dpkg_status(text);
  for (const auto& [name, entry] : status) {
    if (name.empty()) std::abort();
    (void)entry;
  }
}

inline void passwd(std::string_view text) {
  const auto entries = providers::parse_passwd(text);
  const auto malformed = providers::malformed_passwd_lines(text);
  for (const auto& e : entries) {
    if (e.name.empty()) std::abort();
  }
  // No account is silently left out: every line that is not blank, a comment or a NIS entry is read or reported.
  std::size_t lines = 0, start = 0;
  while (start < text.size()) {
    std::size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(start, end - start);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (!line.empty() && line.front() != '#' && line.front() != '+' && line.front() != '-') ++lines;
    start = end + 1;
  }
  if (entries.size() + malformed.size() != lines) std::abort();
}

inline void shadow(std::string_view text) {
  for (const auto& [name, entry] : providers::parse_shadow(text)) {
    (void)providers::password_state(entry.hash);
    if (name.empty()) std::abort();
  }
}

inline void group(std::string_view text) {
  for (const auto& g : providers::parse_group(text)) {
    if (g.name.empty()) std::abort();
  }
}

inline void login_defs(std::string_view text) {
  (void)providers::parse_login_defs_number(text, "UID_MIN");
  (void)providers::parse_name_regex(text);
  (void)providers::parse_shells(text);
}

/// /etc/fstab as swap and mounts read and edit it (providers/file_text.h): every byte is kept, every record
/// found is read back, and the swap's own record set, read back and removed leaves the other records alone.
inline void fstab(std::string_view text) {
  using resources::Fragment;
  using resources::FragmentKind;
  auto parsed = providers::FileText::parse(text);
  if (!parsed) return;
  if (parsed->bytes() != text) std::abort();
  const auto records = parsed->all(FragmentKind::kFstabRecord);
  for (const auto& [key, record] : records) {
    const Fragment fragment{FragmentKind::kFstabRecord, key};
    const auto got = parsed->get(fragment);
    if (!got || parsed->occurrences(fragment) == 0) std::abort();
  }
  providers::FileText edited = *parsed;
  const Fragment swap = resources::fstab_record("/fuzz-swapfile", "none");
  const auto set = edited.set(swap, "/fuzz-swapfile none swap sw 0 0");
  if (!set) return;
  if (edited.get(swap) != std::optional<std::string>("/fuzz-swapfile none swap sw 0 0")) std::abort();
  if (edited.occurrences(swap) != 1) std::abort();
  // Written and read again, the file says the same.
  auto reread = providers::FileText::parse(edited.bytes());
  if (!reread || reread->get(swap) != edited.get(swap)) std::abort();
  // Set again: nothing changes.
  const auto again = edited.set(swap, "/fuzz-swapfile none swap sw 0 0");
  if (!again || *again) std::abort();
  if (!edited.remove(swap) || edited.get(swap).has_value()) std::abort();
  // The other records are still there, as they were.
  for (const auto& [key, record] : records) {
    if (key == "/fuzz-swapfile") continue;
    const Fragment fragment{FragmentKind::kFstabRecord, key};
    if (edited.get(fragment) != parsed->get(fragment)) std::abort();
  }
}

/// A laitos configuration through the laitos front-end: detected by content or read as laitos, compiled to
/// native keys, then through the compiler. Errors must say where, and nothing may throw or crash.
inline void laitos(std::string_view text) {
  (void)engine::detect_front_end(text);
  std::vector<resources::Error> errors;
  std::vector<std::string> notes;
  resources::Node root = engine::parse_text("laitos.json", std::string(text), errors, fuzz_limits(),
                                            &engine::laitos_front_end(), &notes);
  require_located(errors);
  if (errors.empty()) compile_checked(root);
  // Detected by content, as `reconcile apply laitos.json` reads it.
  if (&engine::detect_front_end(text) == &engine::laitos_front_end()) {
    std::vector<resources::Error> detected_errors;
    resources::Node detected = engine::parse_text("laitos.json", std::string(text), detected_errors, fuzz_limits());
    require_located(detected_errors);
    if (detected_errors.size() != errors.size()) std::abort();
  }
}

/// Every target by name.
inline const std::map<std::string, std::function<void(std::string_view)>, std::less<>>& targets() {
  static const std::map<std::string, std::function<void(std::string_view)>, std::less<>> kTargets{
      {"yaml_loader", yaml_loader}, {"json_loader", json_loader}, {"layering", layering},
      {"dpkg_status", dpkg_status}, {"passwd", passwd},           {"shadow", shadow},
      {"group", group},             {"login_defs", login_defs},   {"fstab", fstab},
      {"laitos", laitos},
  };
  return kTargets;
}

}  // namespace reconcile::fuzz
