#include "resources/file.h"

#include <filesystem>

#include "resources/service.h"
#include "resources/user.h"

namespace reconcile::resources {

std::string_view field_name(FileField field) {
  switch (field) {
    case FileField::kType: return "type";
    case FileField::kContent: return "content";
    case FileField::kMode: return "mode";
    case FileField::kOwner: return "owner";
    case FileField::kGroup: return "group";
    case FileField::kTarget: return "target";
  }
  return "type";
}

std::string_view to_string(FileEnsure ensure) {
  switch (ensure) {
    case FileEnsure::kFile: return "file";
    case FileEnsure::kDirectory: return "directory";
    case FileEnsure::kSymlink: return "symlink";
    case FileEnsure::kAbsent: return "absent";
  }
  return "file";
}

std::string_view to_string(FileType type) {
  switch (type) {
    case FileType::kAbsent: return "absent";
    case FileType::kFile: return "a file";
    case FileType::kDirectory: return "a directory";
    case FileType::kSymlink: return "a symlink";
    case FileType::kOther: return "another kind of file";
  }
  return "absent";
}

std::string file_mode_text(unsigned mode) {
  std::string out;
  for (int shift = 9; shift >= 0; shift -= 3) out += static_cast<char>('0' + ((mode >> shift) & 7));
  return out;
}

std::vector<Field> FileObserved::fields() const {
  std::vector<Field> out{{"type", type == FileType::kOther ? other : std::string(to_string(type))}};
  if (type == FileType::kAbsent) return out;
  if (type == FileType::kSymlink) {
    out.push_back({"target", target});
    return out;
  }
  out.push_back({"mode", file_mode_text(mode)});
  out.push_back({"owner", owner});
  out.push_back({"group", group});
  if (type == FileType::kFile) out.push_back({"size", std::to_string(size)});
  return out;
}

FileResource::FileResource(std::string path, FileEnsure ensure, Location location, std::string key_path)
    : ResourceOf("file", std::move(path), std::move(location), std::move(key_path)), ensure_(ensure) {}

std::vector<std::string> FileResource::auto_requires() const {
  std::vector<std::string> out;
  if (ensure_ == FileEnsure::kAbsent) return out;
  if (owner) out.push_back(make_id("user", *owner));
  if (group) out.push_back(make_id("group", *group));
  const std::string& p = path();
  for (auto slash = p.rfind('/'); slash != std::string::npos && slash > 0; slash = p.rfind('/', slash - 1)) {
    out.push_back(make_id("file", p.substr(0, slash)));
  }
  if (p.starts_with("/home/")) {
    const auto end = p.find('/', 6);
    if (end != std::string::npos) out.push_back(make_id("user", p.substr(6, end - 6)));
  } else if (p.starts_with("/root/")) {
    out.push_back(make_id("user", "root"));
  }
  return out;
}

std::vector<Field> FileResource::desired_fields() const {
  std::vector<Field> out{{"ensure", std::string(to_string(ensure_))}};
  if (content_from == ContentFrom::kInline) {
    out.push_back({"content", sensitive ? "(sensitive, " + std::to_string(content.size()) + " bytes)"
                                        : std::to_string(content.size()) + " bytes"});
    if (!sensitive) out.push_back({"content_text", content});
  }
  if (content_from == ContentFrom::kSource) out.push_back({"source", source_resolved});
  if (content_from == ContentFrom::kTemplate) out.push_back({"template", source_resolved});
  for (const auto& notification : notify) out.push_back({"notify", notification.action + " " + notification.id});
  if (mode) out.push_back({"mode", file_mode_text(*mode)});
  if (owner) out.push_back({"owner", *owner});
  if (group) out.push_back({"group", *group});
  if (ensure_ == FileEnsure::kSymlink) out.push_back({"target", target});
  if (sensitive) out.push_back({"sensitive", "true"});
  return out;
}

namespace {

std::string short_hash(const std::string& sha256) { return sha256.substr(0, 16); }

FieldDrift content_drift(const FileResource& file, const FileObserved& seen) {
  const bool created = seen.type != FileType::kFile;
  std::string observed = created ? "(none)" : std::to_string(seen.size) + " bytes";
  std::string desired = std::to_string(seen.wanted_size) + " bytes";
  if (!file.sensitive && seen.binary) {
    if (!created) observed += ", sha256 " + short_hash(seen.sha256);
    desired += ", sha256 " + short_hash(seen.wanted_sha256);
  }
  auto drift = drift_of(FileField::kContent, observed, desired,
                        created ? "to be written" : "the content differs");
  if (file.sensitive) {
    drift.observed = "(sensitive)";
    drift.desired = "(sensitive)";
    drift.summary = "content changed (sensitive: not shown)";
  } else if (!seen.binary) {
    drift.detail = seen.content_diff;
  }
  return drift;
}

}  // namespace

Drift FileResource::diff_of(const FileObserved& seen) const {
  Drift drift;
  const std::string seen_type = seen.type == FileType::kOther ? seen.other : std::string(to_string(seen.type));
  switch (ensure_) {
    case FileEnsure::kAbsent:
      if (seen.type != FileType::kAbsent) {
        drift.push_back(drift_of(FileField::kType, seen_type, "absent", "to be removed"));
      }
      return drift;
    case FileEnsure::kSymlink:
      if (seen.type != FileType::kSymlink) {
        drift.push_back(drift_of(FileField::kType, seen_type, "a symlink → " + target, "to be linked"));
      } else if (seen.target != target) {
        drift.push_back(drift_of(FileField::kTarget, seen.target, target, "the link points elsewhere"));
      }
      return drift;
    case FileEnsure::kDirectory:
      if (seen.type != FileType::kDirectory) {
        std::string what = "a directory";
        if (mode) what += ", mode " + file_mode_text(*mode);
        if (owner) what += ", owner " + *owner;
        drift.push_back(drift_of(FileField::kType, seen_type, what, "to be created"));
        return drift;
      }
      break;
    case FileEnsure::kFile:
      if (seen.type != FileType::kFile) {
        std::string what = "a file";
        if (mode) what += ", mode " + file_mode_text(*mode);
        if (owner) what += ", owner " + *owner;
        drift.push_back(drift_of(FileField::kType, seen_type, what, "to be created"));
        if (content_from != ContentFrom::kNone && seen.content_known) drift.push_back(content_drift(*this, seen));
        return drift;
      }
      if (content_from != ContentFrom::kNone && seen.content_known && !seen.content_same) {
        drift.push_back(content_drift(*this, seen));
      }
      break;
  }
  if (mode && *mode != seen.mode) {
    drift.push_back(drift_of(FileField::kMode, file_mode_text(seen.mode), file_mode_text(*mode), "the mode differs"));
  }
  if (owner && *owner != seen.owner) drift.push_back(drift_of(FileField::kOwner, seen.owner, *owner, "the owner differs"));
  if (group && *group != seen.group) drift.push_back(drift_of(FileField::kGroup, seen.group, *group, "the group differs"));
  return drift;
}

std::vector<FileClaim> FileResource::claims() const { return {{path(), whole_file()}}; }

void FileResource::use_vars(std::shared_ptr<const Node> state_vars) {
  if (content_from == ContentFrom::kTemplate) vars = std::move(state_vars);
}

std::expected<void, std::string> check_file_path(std::string_view path) {
  if (path.empty() || path.front() != '/') return std::unexpected("it is not an absolute path");
  if (path.size() > 4096) return std::unexpected("it is longer than 4096 bytes");
  for (const char c : path) {
    if (c == '\0') return std::unexpected("it contains a NUL byte");
    if (c == '\n' || c == '\r') return std::unexpected("it contains a line break");
  }
  if (path == "/") return std::unexpected("/ itself cannot be managed");
  if (path.back() == '/') return std::unexpected("it ends with '/'");
  std::size_t start = 1;
  while (start <= path.size()) {
    const std::size_t end = std::min(path.find('/', start), path.size());
    const auto part = path.substr(start, end - start);
    if (part.empty()) return std::unexpected("it contains '//'");
    if (part == "..") return std::unexpected("it contains '..'");
    if (part == ".") return std::unexpected("it contains '.' as a part");
    if (part.size() > 255) return std::unexpected("a part is longer than 255 bytes");
    start = end + 1;
  }
  for (const std::string_view dir : {"/proc", "/sys", "/dev"}) {
    if (path == dir || (path.starts_with(dir) && path[dir.size()] == '/')) {
      return std::unexpected("it is under " + std::string(dir) + ", which the kernel provides, not a file system");
    }
  }
  return {};
}

std::expected<unsigned, std::string> parse_mode(std::string_view text) {
  if (text.empty() || text.size() > 4) return std::unexpected("a mode has 3 or 4 octal digits");
  unsigned mode = 0;
  for (const char c : text) {
    if (c < '0' || c > '7') return std::unexpected("'" + std::string(1, c) + "' is not an octal digit");
    mode = mode * 8 + static_cast<unsigned>(c - '0');
  }
  if (text.size() < 3) return std::unexpected("a mode has 3 or 4 octal digits");
  return mode;
}

namespace {

// `notify: [service:nginx, {service: php8.2-fpm, action: reload}]`.
bool read_notify(const Node& node, NodeReader& reader, FileResource& file) {
  const char* hint = "write notify: [service:nginx] or notify: [{service: nginx, action: reload}]";
  if (!node.is_sequence()) {
    reader.fail(node, ErrorCode::kType, "expected a list of services to notify, got " + node.describe(), hint);
    return false;
  }
  bool ok = true;
  for (const Node& entry : node.items) {
    std::string name;
    std::string action = "restart";
    if (entry.is_map()) {
      if (!reader.check_keys(entry, {"service", "action"}, "a notify entry")) {
        ok = false;
        continue;
      }
      const Node* service = entry.find("service");
      if (service == nullptr) {
        reader.fail(entry, ErrorCode::kInvalidValue, "this notify entry needs a 'service'", hint);
        ok = false;
        continue;
      }
      auto text = reader.string(*service, "a service name such as nginx");
      if (!text) {
        ok = false;
        continue;
      }
      name = *text;
      if (const Node* how = entry.find("action")) {
        auto word = reader.string(*how, "restart or reload");
        if (!word) {
          ok = false;
          continue;
        }
        if (*word != "restart" && *word != "reload") {
          const std::string near = did_you_mean(*word, {"restart", "reload"});
          reader.fail(*how, ErrorCode::kInvalidValue, "unknown action '" + *word + "'",
                      near.empty() ? "action is restart or reload" : near);
          ok = false;
          continue;
        }
        action = *word;
      }
    } else {
      auto text = reader.string(entry, "service:NAME");
      if (!text) {
        ok = false;
        continue;
      }
      if (!text->starts_with("service:")) {
        reader.fail(entry, ErrorCode::kInvalidValue, "notify names a service as service:NAME, not '" + *text + "'",
                    hint);
        ok = false;
        continue;
      }
      name = text->substr(8);
    }
    if (name.ends_with(".service")) name.resize(name.size() - 8);
    if (const auto checked = check_unit_name(name); !checked || name.empty()) {
      reader.fail(entry, ErrorCode::kInvalidValue,
                  "invalid service '" + name + "'" + (checked ? std::string() : ": " + checked.error()), hint);
      ok = false;
      continue;
    }
    const std::string id = make_id("service", name);
    bool repeated = false;
    for (auto& earlier : file.notify) {
      if (earlier.id != id) continue;
      repeated = true;
      if (action == "restart") earlier.action = "restart";
    }
    if (!repeated) file.notify.push_back(Notification{id, action, entry.location, entry.path});
  }
  return ok;
}

// One entry of the files list.
std::unique_ptr<FileResource> read_entry(const Node& item, CompileContext& context) {
  NodeReader& reader = context.reader();
  if (!item.is_map()) {
    reader.fail(item, ErrorCode::kType, "expected a mapping with a 'path', got " + item.describe(),
                "write - {path: /etc/motd, content: \"hello\\n\"}");
    return nullptr;
  }
  if (!reader.check_keys(item, {"path", "ensure", "content", "source", "template", "mode", "owner", "group",
                                "target", "sensitive", "requires", "notify"},
                         "a files entry")) {
    return nullptr;
  }
  const Node* path_node = item.find("path");
  if (path_node == nullptr) {
    reader.fail(item, ErrorCode::kInvalidValue, "this entry needs a 'path'", "write {path: /etc/motd, ...}");
    return nullptr;
  }
  auto path = reader.string(*path_node, "an absolute path such as /etc/motd");
  if (!path) return nullptr;
  if (const auto checked = check_file_path(*path); !checked) {
    std::string shown = path->size() > 200 ? path->substr(0, 200) + "…" : *path;
    reader.fail(*path_node, ErrorCode::kInvalidValue, "invalid path '" + shown + "': " + checked.error(),
                "write a normalised absolute path such as /etc/motd");
    return nullptr;
  }
  FileEnsure ensure = FileEnsure::kFile;
  if (const Node* node = item.find("ensure")) {
    auto text = reader.string(*node, "file, directory, symlink or absent");
    if (!text) return nullptr;
    const std::vector<std::string> words{"file", "directory", "symlink", "absent"};
    if (*text == "file") ensure = FileEnsure::kFile;
    else if (*text == "directory") ensure = FileEnsure::kDirectory;
    else if (*text == "symlink" || *text == "link") ensure = FileEnsure::kSymlink;
    else if (*text == "absent") ensure = FileEnsure::kAbsent;
    else {
      std::string hint = did_you_mean(*text, words);
      reader.fail(*node, ErrorCode::kInvalidValue, "unknown ensure '" + *text + "'",
                  hint.empty() ? "ensure is one of file, directory, symlink, absent" : hint);
      return nullptr;
    }
  }
  auto file = std::make_unique<FileResource>(*path, ensure, item.location, item.path);
  bool ok = true;
  auto refuse = [&](const char* key, const std::string& why, const std::string& hint) {
    if (const Node* node = item.find(key)) {
      reader.fail(*node, ErrorCode::kConflict, why, hint);
      ok = false;
    }
  };
  const std::string ensure_name(to_string(ensure));
  if (ensure != FileEnsure::kFile) {
    for (const char* key : {"content", "source", "template"}) {
      refuse(key, std::string("'") + key + "' is for files, and this entry is ensure: " + ensure_name,
             "remove it, or write ensure: file");
    }
  }
  if (ensure != FileEnsure::kSymlink) {
    refuse("target", "'target' is for symlinks, and this entry is ensure: " + ensure_name,
           "write ensure: symlink, or remove target");
  }
  if (ensure == FileEnsure::kSymlink || ensure == FileEnsure::kAbsent) {
    for (const char* key : {"mode", "owner", "group"}) {
      refuse(key, std::string("'") + key + "' is for files and directories, and this entry is ensure: " + ensure_name,
             "remove it");
    }
  }
  if (item.find("content") != nullptr && item.find("source") != nullptr) {
    refuse("source", "both 'content' and 'source' are given", "keep one: content is the text, source a file");
  }
  if (item.find("template") != nullptr && (item.find("content") != nullptr || item.find("source") != nullptr)) {
    refuse("template", "'template' and '" + std::string(item.find("content") != nullptr ? "content" : "source") +
                           "' are both given",
           "keep one: a template is a file filled in from facts and vars, source a file copied as it is");
  }
  if (!ok) return nullptr;
  if (const Node* node = item.find("content")) {
    auto text = reader.string(*node, "the file's text", true);
    if (!text) return nullptr;
    file->content_from = ContentFrom::kInline;
    file->content = *text;
  }
  if (const Node* node = item.find("source")) {
    auto text = reader.string(*node, "a file path, relative to this state file");
    if (!text) return nullptr;
    if (text->empty() || text->find('\0') != std::string::npos) {
      reader.fail(*node, ErrorCode::kInvalidValue, "invalid source path", "write source: files/motd");
      return nullptr;
    }
    file->content_from = ContentFrom::kSource;
    file->source = *text;
    std::filesystem::path resolved(*text);
    if (resolved.is_relative()) resolved = std::filesystem::path(node->location.file).parent_path() / resolved;
    file->source_resolved = resolved.lexically_normal().string();
  }
  if (const Node* node = item.find("template")) {
    auto text = reader.string(*node, "a mustache template file, relative to this state file");
    if (!text) return nullptr;
    if (text->empty() || text->find('\0') != std::string::npos) {
      reader.fail(*node, ErrorCode::kInvalidValue, "invalid template path", "write template: templates/app.env.tmpl");
      return nullptr;
    }
    file->content_from = ContentFrom::kTemplate;
    file->template_path = *text;
    std::filesystem::path resolved(*text);
    if (resolved.is_relative()) resolved = std::filesystem::path(node->location.file).parent_path() / resolved;
    file->source_resolved = resolved.lexically_normal().string();
  }
  if (const Node* node = item.find("notify")) {
    if (!read_notify(*node, reader, *file)) return nullptr;
  }
  if (const Node* node = item.find("mode")) {
    auto text = reader.string(*node, "an octal mode in quotes such as \"0644\"");
    if (!text) return nullptr;
    const auto mode = parse_mode(*text);
    if (!mode) {
      reader.fail(*node, ErrorCode::kInvalidValue, "invalid mode '" + *text + "': " + mode.error(),
                  "write the mode as an octal string in quotes, e.g. mode: \"0644\"");
      return nullptr;
    }
    file->mode = *mode;
  }
  for (const char* key : {"owner", "group"}) {
    const Node* node = item.find(key);
    if (node == nullptr) continue;
    auto name = reader.string(*node, std::string("an account name such as root"));
    if (!name) return nullptr;
    if (const auto checked = check_user_name(*name); !checked) {
      reader.fail(*node, ErrorCode::kInvalidValue, std::string("invalid ") + key + " '" + *name + "': " + checked.error(),
                  "write a name such as root or deploy (numeric ids are not accepted)");
      return nullptr;
    }
    (std::string_view(key) == "owner" ? file->owner : file->group) = *name;
  }
  if (ensure == FileEnsure::kSymlink) {
    const Node* node = item.find("target");
    if (node == nullptr) {
      reader.fail(item, ErrorCode::kInvalidValue, "a symlink needs a 'target'",
                  "write {path: ..., ensure: symlink, target: /usr/bin/vim.basic}");
      return nullptr;
    }
    auto target = reader.string(*node, "the path the link points to");
    if (!target) return nullptr;
    if (target->empty() || target->find('\0') != std::string::npos || target->size() > 4095) {
      reader.fail(*node, ErrorCode::kInvalidValue, "invalid symlink target", "write target: /usr/bin/vim.basic");
      return nullptr;
    }
    file->target = *target;
  }
  if (const Node* node = item.find("sensitive")) {
    auto value = reader.boolean(*node);
    if (!value) return nullptr;
    file->sensitive = *value;
  }
  context.read_requires(item, *file);
  return file;
}

}  // namespace

KindSpec files_kind() {
  KindSpec spec;
  spec.key = "files";
  spec.compile = [](const Node& value, CompileContext& context) {
    for (const Node* item : context.reader().list(value, "file entries such as {path: /etc/motd, content: ...}")) {
      if (auto file = read_entry(*item, context)) context.add(std::move(file));
    }
  };
  return spec;
}

}  // namespace reconcile::resources
