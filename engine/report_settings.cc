#include "engine/report_settings.h"

#include <algorithm>

namespace reconcile::engine {

namespace {

using resources::ErrorCode;
using resources::Node;
using resources::NodeReader;

// An absolute path without NUL, newline or `..` parts (the report is written as root).
std::optional<std::string> absolute_path(const Node& node, NodeReader& reader, std::string_view what) {
  auto text = reader.string(node, what);
  if (!text) return std::nullopt;
  if (text->empty() || text->front() != '/') {
    reader.fail(node, ErrorCode::kInvalidValue, std::string(what) + " must be an absolute path, got '" + *text + "'",
                "write it from the root, e.g. /var/lib/reconcile");
    return std::nullopt;
  }
  if (text->find_first_of(std::string_view("\0\n\r", 3)) != std::string::npos || text->size() > 4096) {
    reader.fail(node, ErrorCode::kInvalidValue, std::string(what) + " holds a control character or is too long");
    return std::nullopt;
  }
  for (std::size_t start = 0; start < text->size();) {
    const std::size_t end = std::min(text->find('/', start), text->size());
    if (text->substr(start, end - start) == "..") {
      reader.fail(node, ErrorCode::kInvalidValue, std::string(what) + " must not contain '..': '" + *text + "'",
                  "name the directory itself");
      return std::nullopt;
    }
    start = end + 1;
  }
  return text;
}

// "0600": three or four octal digits, no set-id or sticky bits.
std::optional<unsigned> file_mode(const Node& node, NodeReader& reader) {
  auto text = reader.string(node, "a file mode such as \"0600\"", true);
  if (!text) return std::nullopt;
  const bool octal = (text->size() == 3 || text->size() == 4) &&
                     std::all_of(text->begin(), text->end(), [](char c) { return c >= '0' && c <= '7'; });
  const unsigned mode = octal ? static_cast<unsigned>(std::stoul(*text, nullptr, 8)) : 0;
  if (!octal || mode > 0777) {
    reader.fail(node, ErrorCode::kInvalidValue, "'" + *text + "' is not a file mode from 0000 to 0777",
                "write it as an octal string, e.g. \"0600\" (owner reads and writes)");
    return std::nullopt;
  }
  return mode;
}

// A recipient for `sendmail -t`: an address or a local user, never something that could add a header,
// a second recipient or an option.
bool valid_recipient(std::string_view address) {
  if (address.empty() || address.size() > 254 || address.front() == '-' || address.front() == '@' ||
      address.back() == '@') {
    return false;
  }
  return std::none_of(address.begin(), address.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u <= 0x20 || u == 0x7f || std::string_view("<>,;:\"()[]\\").find(c) != std::string_view::npos;
  });
}

// S3 bucket names: 3–63 characters of a-z, 0-9, '.', '-', starting and ending with a letter or digit.
bool valid_bucket(std::string_view name) {
  if (name.size() < 3 || name.size() > 63) return false;
  auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  if (!alnum(name.front()) || !alnum(name.back())) return false;
  return std::all_of(name.begin(), name.end(), [&](char c) { return alnum(c) || c == '.' || c == '-'; }) &&
         name.find("..") == std::string_view::npos;
}

bool valid_region(std::string_view region) {
  return !region.empty() && region.size() <= 40 && std::all_of(region.begin(), region.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
  });
}

bool printable_ascii(std::string_view text) {
  return std::all_of(text.begin(), text.end(), [](char c) { return c > 0x20 && c < 0x7f; });
}

template <typename Enum, std::size_t N>
std::optional<Enum> choice(const Node& node, NodeReader& reader, std::string_view what,
                           const std::pair<const char*, Enum> (&options)[N]) {
  auto text = reader.string(node, what);
  if (!text) return std::nullopt;
  std::string valid;
  for (const auto& [name, value] : options) {
    if (*text == name) return value;
    valid += (valid.empty() ? "" : ", ") + std::string(name);
  }
  reader.fail(node, ErrorCode::kInvalidValue, "'" + *text + "' is not one of " + valid, "write one of " + valid);
  return std::nullopt;
}

void read_copy(const Node& node, NodeReader& reader, ReportSettings& settings) {
  if (!reader.check_keys(node, {"path", "format", "mode"}, "a report copy")) return;
  ReportCopy copy;
  const Node* path = node.find("path");
  if (path == nullptr) {
    reader.fail(node, ErrorCode::kInvalidValue, "a report copy needs a path",
                "write {path: /tmp/latest-report.txt, format: text, mode: \"0600\"}");
    return;
  }
  auto absolute = absolute_path(*path, reader, "a copy's path");
  if (absolute) copy.path = *absolute;
  if (const Node* format = node.find("format")) {
    static constexpr std::pair<const char*, ReportFormat> kFormats[] = {{"text", ReportFormat::kText},
                                                                         {"json", ReportFormat::kJson}};
    if (auto value = choice(*format, reader, "text or json", kFormats)) copy.format = *value;
  }
  if (const Node* mode = node.find("mode")) {
    if (auto value = file_mode(*mode, reader)) copy.mode = *value;
  }
  if (absolute) {
    for (const auto& other : settings.copies) {
      if (other.path == copy.path) {
        reader.fail(*path, ErrorCode::kConflict, "the copy " + copy.path + " is listed twice",
                    "keep one entry per path");
        return;
      }
    }
    settings.copies.push_back(std::move(copy));
  }
}

void read_s3(const Node& node, NodeReader& reader, ReportSettings& settings) {
  if (!reader.check_keys(node, {"bucket", "prefix", "region", "endpoint"}, "the s3 mapping")) return;
  S3Target target;
  const Node* bucket = node.find("bucket");
  if (bucket == nullptr) {
    reader.fail(node, ErrorCode::kInvalidValue, "s3 needs a bucket", "write s3: {bucket: my-reports}");
    return;
  }
  if (auto name = reader.string(*bucket, "a bucket name")) {
    if (!valid_bucket(*name)) {
      reader.fail(*bucket, ErrorCode::kInvalidValue, "'" + *name + "' is not an S3 bucket name",
                  "3 to 63 characters of a-z, 0-9, '.' and '-', starting and ending with a letter or digit");
    }
    target.bucket = *name;
  }
  if (const Node* prefix = node.find("prefix")) {
    if (auto text = reader.string(*prefix, "an object key prefix")) {
      if (!printable_ascii(*text) || text->size() > 512 || (!text->empty() && text->front() == '/')) {
        reader.fail(*prefix, ErrorCode::kInvalidValue,
                    "the prefix must be printable ASCII without spaces, at most 512 characters, not starting with '/'",
                    "e.g. prefix: reports/");
      }
      target.prefix = *text;
    }
  }
  if (const Node* region = node.find("region")) {
    if (auto text = reader.string(*region, "a region such as eu-north-1")) {
      if (!valid_region(*text)) {
        reader.fail(*region, ErrorCode::kInvalidValue, "'" + *text + "' is not a region name",
                    "e.g. region: eu-north-1");
      }
      target.region = *text;
    }
  }
  if (const Node* endpoint = node.find("endpoint")) {
    if (auto text = reader.string(*endpoint, "a URL such as https://s3.example.net")) {
      const bool scheme = text->starts_with("https://") || text->starts_with("http://");
      const std::size_t host_at = text->find("//") + 2;
      if (!scheme || !printable_ascii(*text) || text->size() <= host_at || text->size() > 1024 ||
          text->find_first_of("?#", host_at) != std::string::npos) {
        reader.fail(*endpoint, ErrorCode::kInvalidValue, "'" + *text + "' is not an http(s) endpoint URL",
                    "e.g. endpoint: https://s3.example.net (objects go to ENDPOINT/BUCKET/KEY)");
      }
      target.endpoint = *text;
      while (target.endpoint.ends_with('/')) target.endpoint.pop_back();
    }
  }
  settings.s3 = std::move(target);
}

}  // namespace

ReportSettings read_report_settings(const Node& node, NodeReader& reader) {
  ReportSettings settings;
  settings.present = true;
  if (node.is_null()) return settings;
  if (!reader.check_keys(node, {"dir", "history", "copies", "mail_to", "mail", "s3", "metrics", "stdout"},
                         "the report section")) {
    if (!node.is_map()) return settings;
  }
  if (const Node* dir = node.find("dir")) {
    if (auto path = absolute_path(*dir, reader, "the report directory")) {
      settings.dir = *path;
      settings.dir_given = true;
      while (settings.dir.size() > 1 && settings.dir.ends_with('/')) settings.dir.pop_back();
    }
  }
  if (const Node* history = node.find("history")) {
    if (auto count = reader.integer(*history, 0, 10000)) settings.history = static_cast<int>(*count);
  }
  if (const Node* copies = node.find("copies")) {
    for (const Node* copy : reader.list(*copies, "copies ({path, format, mode})")) read_copy(*copy, reader, settings);
  }
  if (const Node* mail_to = node.find("mail_to")) {
    for (const Node* item : reader.list(*mail_to, "addresses", true)) {
      auto address = reader.string(*item, "an e-mail address");
      if (!address) continue;
      if (!valid_recipient(*address)) {
        reader.fail(*item, ErrorCode::kInvalidValue, "'" + *address + "' is not an e-mail address or local user",
                    "one address per item, e.g. root@localhost or admin@example.net, no spaces, commas or <>");
        continue;
      }
      if (std::find(settings.mail_to.begin(), settings.mail_to.end(), *address) == settings.mail_to.end()) {
        settings.mail_to.push_back(*address);
      }
    }
  }
  if (const Node* mail = node.find("mail")) {
    static constexpr std::pair<const char*, MailWhen> kWhen[] = {{"changes", MailWhen::kChanges},
                                                                 {"always", MailWhen::kAlways}};
    if (auto value = choice(*mail, reader, "changes or always", kWhen)) settings.mail = *value;
  }
  if (const Node* s3 = node.find("s3")) read_s3(*s3, reader, settings);
  if (const Node* metrics = node.find("metrics")) {
    if (auto path = absolute_path(*metrics, reader, "the metrics file")) {
      if (!path->ends_with(".prom")) {
        reader.fail(*metrics, ErrorCode::kInvalidValue, "the metrics file must end in .prom, got '" + *path + "'",
                    "node_exporter's textfile collector reads only *.prom files, e.g. "
                    "/var/lib/prometheus/node-exporter/reconcile.prom");
      }
      settings.metrics = *path;
    }
  }
  if (const Node* out = node.find("stdout")) {
    static constexpr std::pair<const char*, StdoutWhen> kWhen[] = {
        {"auto", StdoutWhen::kAuto}, {"always", StdoutWhen::kAlways}, {"never", StdoutWhen::kNever}};
    if (auto value = choice(*out, reader, "auto, always or never", kWhen)) settings.stdout_when = *value;
  }
  return settings;
}

resources::SectionSpec report_section() {
  return resources::SectionSpec{
      "report", "where each run's report goes: latest files, history, copies, e-mail, S3, metrics",
      [](const Node& value, NodeReader& reader) { (void)read_report_settings(value, reader); }};
}

}  // namespace reconcile::engine
