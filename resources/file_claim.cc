#include "resources/file_claim.h"

namespace reconcile::resources {

std::string_view to_string(FragmentKind kind) {
  switch (kind) {
    case FragmentKind::kWholeFile: return "whole file";
    case FragmentKind::kKeyedLine: return "keyed line";
    case FragmentKind::kFstabRecord: return "fstab record";
    case FragmentKind::kMarkedBlock: return "marked block";
  }
  return "fragment";
}

std::string Fragment::str() const {
  if (kind == FragmentKind::kWholeFile) return "the whole file";
  return std::string(to_string(kind)) + " '" + key + "'";
}

std::string FileClaim::str() const { return path + ": " + fragment.str(); }

Fragment whole_file() { return Fragment{FragmentKind::kWholeFile, ""}; }

Fragment keyed_line(std::string key) { return Fragment{FragmentKind::kKeyedLine, std::move(key)}; }

Fragment fstab_record(std::string_view source, std::string_view mount_point) {
  const bool swap = mount_point == "none" || mount_point == "swap";
  return Fragment{FragmentKind::kFstabRecord, std::string(swap ? source : mount_point)};
}

Fragment marked_block(std::string id) { return Fragment{FragmentKind::kMarkedBlock, std::move(id)}; }

std::string collision(const FileClaim& a, const FileClaim& b) {
  if (a.path != b.path) return "";
  if (a.fragment == b.fragment) {
    return "the same " + (a.fragment.kind == FragmentKind::kWholeFile ? "whole file" : a.fragment.str());
  }
  if (a.fragment.kind == FragmentKind::kWholeFile || b.fragment.kind == FragmentKind::kWholeFile) {
    const auto& part = a.fragment.kind == FragmentKind::kWholeFile ? b : a;
    return "the whole file against " + part.fragment.str();
  }
  if (a.fragment.kind != b.fragment.kind) {
    return std::string(to_string(a.fragment.kind)) + "s against " + std::string(to_string(b.fragment.kind)) +
           "s in one file";
  }
  return "";
}

}  // namespace reconcile::resources
