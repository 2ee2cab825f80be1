#include "engine/claims.h"

#include <map>
#include <optional>
#include <set>
#include <string>
#include <tuple>

namespace reconcile::engine {

namespace {

struct Holder {
  std::size_t owner = 0;
  resources::FileClaim claim;
};

// What is claimed of one path so far: by fragment, who holds the whole file, and the first part claimed
// (which fixes the file's format). Enough to find a collision without comparing every pair.
struct PathClaims {
  std::map<resources::Fragment, Holder> parts;
  std::optional<Holder> whole;
  std::optional<Holder> first_part;
};

std::optional<Holder> colliding(const PathClaims& path, std::size_t owner, const resources::FileClaim& claim) {
  const auto found = path.parts.find(claim.fragment);
  if (found != path.parts.end()) {
    if (found->second.owner == owner) return std::nullopt;
    return found->second;
  }
  if (path.whole && path.whole->owner != owner) return path.whole;
  for (const auto& other : {path.first_part, path.whole}) {
    if (other && other->owner != owner && !resources::collision(other->claim, claim).empty()) return other;
  }
  if (claim.fragment.kind == resources::FragmentKind::kWholeFile) {
    for (const auto& [fragment, holder] : path.parts) {
      if (holder.owner != owner) return holder;
    }
  }
  return std::nullopt;
}

}  // namespace

std::vector<resources::Error> check_claims(const std::vector<std::unique_ptr<resources::Resource>>& resources) {
  std::vector<resources::Error> errors;
  std::map<std::string, PathClaims> paths;
  std::set<std::tuple<std::size_t, std::size_t, std::string>> reported;
  for (std::size_t v = 0; v < resources.size(); ++v) {
    const auto& resource = *resources[v];
    for (const auto& claim : resource.claims()) {
      auto& path = paths[claim.path];
      if (const auto other = colliding(path, v, claim)) {
        if (!reported.emplace(v, other->owner, claim.path).second) continue;
        const auto& first = *resources[other->owner];
        errors.push_back(resources::Error{
            resources::ErrorCode::kConflict,
            resource.id() + " here and " + first.id() + " at " + first.location().str() + " (" + first.key_path() +
                ") claim " + claim.path + ": " + resources::collision(other->claim, claim),
            resource.location(), resource.key_path(), "give each fragment of a file one owner"});
        continue;
      }
      const Holder holder{v, claim};
      path.parts.emplace(claim.fragment, holder);
      if (claim.fragment.kind == resources::FragmentKind::kWholeFile) {
        if (!path.whole) path.whole = holder;
      } else if (!path.first_part) {
        path.first_part = holder;
      }
    }
  }
  return errors;
}

}  // namespace reconcile::engine
