#include "resources/swap.h"

namespace reconcile::resources {

namespace {

std::string mib(std::uint64_t bytes) {
  if (bytes % (1u << 20) == 0) return std::to_string(bytes >> 20) + " MiB";
  return std::to_string(bytes) + " bytes";
}

std::string octal(unsigned mode) {
  std::string out;
  for (int shift = 9; shift >= 0; shift -= 3) out += static_cast<char>('0' + ((mode >> shift) & 7));
  return out;
}

std::string joined(const std::vector<std::string>& items) {
  if (items.empty()) return "none";
  std::string out;
  for (const auto& item : items) out += (out.empty() ? "" : ", ") + item;
  return out;
}

}  // namespace

std::string_view field_name(SwapFileField field) {
  switch (field) {
    case SwapFileField::kFile: return "file";
    case SwapFileField::kSize: return "size";
    case SwapFileField::kHoles: return "holes";
    case SwapFileField::kMode: return "mode";
    case SwapFileField::kActive: return "active";
    case SwapFileField::kFstab: return "/etc/fstab";
  }
  return "file";
}

std::string_view field_name(SwapOffField field) {
  switch (field) {
    case SwapOffField::kActive: return "active";
    case SwapOffField::kFstab: return "/etc/fstab";
  }
  return "active";
}

std::vector<Field> SwapFileObserved::fields() const {
  if (type == Type::kMissing) return {{"file", "missing"}};
  if (type == Type::kOther) return {{"file", other}};
  return {{"size", mib(size_bytes)},
          {"holes", holes ? "yes" : "no"},
          {"mode", octal(mode) + " " + std::to_string(uid) + ":" + std::to_string(gid)},
          {"active", active ? "yes" : "no"},
          {"/etc/fstab", fstab.value_or("no entry")}};
}

SwapFileResource::SwapFileResource(std::string path, std::uint64_t size_mb, Location location, std::string key_path)
    : ResourceOf("swapfile", std::move(path), std::move(location), std::move(key_path)), size_mb_(size_mb) {}

std::string SwapFileResource::fstab_line() const { return path() + " none swap sw 0 0"; }

std::vector<Field> SwapFileResource::desired_fields() const {
  return {{"size", std::to_string(size_mb_) + " MiB"}, {"mode", "0600 0:0"}, {"active", "yes"},
          {"/etc/fstab", fstab_line()}};
}

Drift SwapFileResource::diff_of(const SwapFileObserved& seen) const {
  Drift drift;
  const std::string size = std::to_string(size_mb_) + " MiB";
  if (seen.type == SwapFileObserved::Type::kMissing) {
    drift.push_back(drift_of(SwapFileField::kFile, "missing", size, "no swap file at " + path()));
  } else if (seen.type == SwapFileObserved::Type::kOther) {
    drift.push_back(drift_of(SwapFileField::kFile, seen.other, size, path() + " is not a regular file"));
    return drift;  // nothing else can be said; apply refuses to replace it
  } else {
    if (seen.size_bytes != size_bytes()) {
      drift.push_back(drift_of(SwapFileField::kSize, mib(seen.size_bytes), size, "the swap file has another size"));
    }
    if (seen.holes) {
      drift.push_back(drift_of(SwapFileField::kHoles, "yes", "no", "the kernel refuses swap files with holes"));
    }
    if ((seen.mode & 07777) != 0600 || seen.uid != 0 || seen.gid != 0) {
      drift.push_back(drift_of(SwapFileField::kMode,
                               octal(seen.mode & 07777) + " " + std::to_string(seen.uid) + ":" + std::to_string(seen.gid),
                               "0600 0:0", "a swap file readable by others leaks memory contents"));
    }
  }
  if (!seen.active) drift.push_back(drift_of(SwapFileField::kActive, "no", "yes", "not in /proc/swaps"));
  if (!seen.fstab) {
    drift.push_back(drift_of(SwapFileField::kFstab, "no entry", fstab_line(), "without it swap is off after a reboot"));
  } else if (*seen.fstab != fstab_line()) {
    drift.push_back(drift_of(SwapFileField::kFstab, *seen.fstab, fstab_line(), "the record differs"));
  }
  return drift;
}

std::vector<FileClaim> SwapFileResource::claims() const { return {{"/etc/fstab", fstab_record(path(), "none")}}; }

std::vector<Field> SwapOffObserved::fields() const { return {{"active", joined(active)}, {"/etc/fstab", joined(fstab)}}; }

SwapOffResource::SwapOffResource(Location location, std::string key_path)
    : ResourceOf("swap", "off", std::move(location), std::move(key_path)) {}

std::vector<Field> SwapOffResource::desired_fields() const { return {{"active", "none"}, {"/etc/fstab", "none"}}; }

Drift SwapOffResource::diff_of(const SwapOffObserved& seen) const {
  Drift drift;
  if (!seen.active.empty()) drift.push_back(drift_of(SwapOffField::kActive, joined(seen.active), "none", "swap is on"));
  if (!seen.fstab.empty()) {
    drift.push_back(drift_of(SwapOffField::kFstab, joined(seen.fstab), "none", "swap would be turned on at boot"));
  }
  return drift;
}

std::expected<void, std::string> check_swap_path(std::string_view path) {
  if (auto named = check_name(path, "/._-+", 4095); !named) return named;
  if (path.front() != '/') return std::unexpected("the path must be absolute");
  if (path.back() == '/') return std::unexpected("the path names a file, not a directory");
  std::size_t start = 1;
  while (start <= path.size()) {
    const std::size_t end = std::min(path.find('/', start), path.size());
    const std::string_view part = path.substr(start, end - start);
    if (part.empty() || part == "." || part == "..") return std::unexpected("the path has no empty, '.' or '..' parts");
    start = end + 1;
  }
  for (const std::string_view system : {"/proc/", "/sys/", "/dev/", "/run/", "/tmp/"}) {
    if (path.starts_with(system)) return std::unexpected("swap files do not go under " + std::string(system));
  }
  return {};
}

KindSpec swap_kind() {
  KindSpec spec;
  spec.key = "swap";
  spec.compile = [](const Node& value, CompileContext& context) {
    NodeReader& reader = context.reader();
    if (!reader.check_keys(value, {"file", "size_mb", "off", "requires"}, "the swap mapping")) return;
    const Node* off = value.find("off");
    const Node* size = value.find("size_mb");
    const Node* file = value.find("file");
    if (off != nullptr) {
      auto is_off = reader.boolean(*off);
      if (!is_off) return;
      if (*is_off) {
        if (size != nullptr || file != nullptr) {
          reader.fail(*off, ErrorCode::kConflict, "swap: off: true turns every swap off; it takes no file or size_mb",
                      "remove file and size_mb, or off");
          return;
        }
        auto resource = std::make_unique<SwapOffResource>(off->location, off->path);
        context.read_requires(value, *resource);
        context.add(std::move(resource));
        return;
      }
    }
    if (size == nullptr) {
      reader.fail(value, ErrorCode::kInvalidValue, "the swap mapping needs size_mb (or off: true)",
                  "write swap: {file: /swapfile, size_mb: 2048}");
      return;
    }
    auto mb = reader.integer(*size, 1, std::int64_t{1} << 24);
    std::string path = "/swapfile";
    if (file != nullptr) {
      auto given = reader.string(*file, "an absolute path such as /swapfile");
      if (!given) return;
      if (const auto checked = check_swap_path(*given); !checked) {
        reader.fail(*file, ErrorCode::kInvalidValue, "invalid swap file path '" + *given + "': " + checked.error(),
                    "write file: /swapfile");
        return;
      }
      path = *given;
    }
    if (!mb) return;
    const Node& at = file != nullptr ? *file : *size;
    auto resource = std::make_unique<SwapFileResource>(path, static_cast<std::uint64_t>(*mb), at.location, at.path);
    context.read_requires(value, *resource);
    context.add(std::move(resource));
  };
  return spec;
}

}  // namespace reconcile::resources
