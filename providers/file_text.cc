#include "providers/file_text.h"

#include <algorithm>
#include <set>

namespace reconcile::providers {

using resources::Fragment;
using resources::FragmentKind;

namespace {

constexpr std::string_view kBom = "\xEF\xBB\xBF";
constexpr std::string_view kBegin = "# BEGIN reconcile ";
constexpr std::string_view kEnd = "# END reconcile ";
constexpr std::string_view kBlanks = " \t\r\v\f";

std::string_view trim(std::string_view text) {
  const auto first = text.find_first_not_of(kBlanks);
  if (first == std::string_view::npos) return {};
  return text.substr(first, text.find_last_not_of(kBlanks) - first + 1);
}

bool is_comment_or_blank(std::string_view text) {
  const auto trimmed = trim(text);
  return trimmed.empty() || trimmed.front() == '#' || trimmed.front() == ';';
}

// The key of a `key = value` line ("-key" too: sysctl's "ignore if missing"), or "" when it is none.
std::string_view line_key(std::string_view text) {
  if (is_comment_or_blank(text)) return {};
  const auto eq = text.find('=');
  if (eq == std::string_view::npos) return {};
  auto key = trim(text.substr(0, eq));
  if (key.starts_with('-')) key = trim(key.substr(1));
  return key;
}

// Where a `key = value` line's value starts and ends (its blanks excluded).
std::pair<std::size_t, std::size_t> value_span(std::string_view text) {
  const auto eq = text.find('=');
  auto start = text.find_first_not_of(kBlanks, eq + 1);
  if (start == std::string_view::npos) return {text.size(), text.size()};
  return {start, text.find_last_not_of(kBlanks) + 1};
}

std::vector<std::string_view> fields_of(std::string_view text) {
  std::vector<std::string_view> fields;
  std::size_t at = 0;
  while (true) {
    at = text.find_first_not_of(kBlanks, at);
    if (at == std::string_view::npos) break;
    const auto end = std::min(text.find_first_of(kBlanks, at), text.size());
    fields.push_back(text.substr(at, end - at));
    at = end;
  }
  return fields;
}

std::string joined(const std::vector<std::string_view>& parts, std::string_view separator) {
  std::string out;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    if (i) out += separator;
    out += parts[i];
  }
  return out;
}

// The key of an fstab record line, or "" for comments, blanks and lines of fewer than two fields.
std::string fstab_key(std::string_view text) {
  if (is_comment_or_blank(text)) return "";
  const auto fields = fields_of(text);
  if (fields.size() < 2) return "";
  return resources::fstab_record(fields[0], fields[1]).key;
}

// The id of a block marker line (`# BEGIN reconcile <id>`), or "".
std::string_view marker_id(std::string_view text, std::string_view marker) {
  const auto trimmed = trim(text);
  if (!trimmed.starts_with(marker)) return {};
  return trim(trimmed.substr(marker.size()));
}

}  // namespace

FileText FileText::split(std::string_view bytes, bool exists) {
  FileText text;
  text.exists_ = exists;
  if (bytes.starts_with(kBom)) {
    text.bom_ = kBom;
    bytes.remove_prefix(kBom.size());
  }
  while (!bytes.empty()) {
    const auto nl = bytes.find('\n');
    Line line;
    if (nl == std::string_view::npos) {
      line.text = bytes;
      bytes = {};
    } else {
      const bool crlf = nl > 0 && bytes[nl - 1] == '\r';
      line.text = bytes.substr(0, crlf ? nl - 1 : nl);
      line.eol = crlf ? "\r\n" : "\n";
      bytes.remove_prefix(nl + 1);
    }
    text.lines_.push_back(std::move(line));
  }
  return text;
}

std::expected<FileText, std::string> FileText::parse(std::string_view bytes, bool exists) {
  FileText text = split(bytes, exists);
  for (std::size_t i = 0; i < text.lines_.size(); ++i) {
    const auto id = marker_id(text.lines_[i].text, kBegin);
    if (id.empty()) continue;
    const auto [begin, end] = text.block_at(i);
    if (end == text.lines_.size()) {
      return std::unexpected("line " + std::to_string(i + 1) + ": '" + std::string(kBegin) + std::string(id) +
                             "' has no '" + std::string(kEnd) + std::string(id) + "'");
    }
    i = end;
  }
  return text;
}

std::pair<std::size_t, std::size_t> FileText::block_at(std::size_t begin) const {
  const auto id = marker_id(lines_[begin].text, kBegin);
  for (std::size_t i = begin + 1; i < lines_.size(); ++i) {
    if (marker_id(lines_[i].text, kEnd) == id) return {begin, i};
    if (!marker_id(lines_[i].text, kBegin).empty()) break;  // blocks do not nest
  }
  return {begin, lines_.size()};
}

// The first line of each occurrence of the fragment (for a block: its BEGIN marker).
std::vector<std::size_t> FileText::find(const Fragment& fragment) const {
  std::vector<std::size_t> out;
  for (std::size_t i = 0; i < lines_.size(); ++i) {
    const auto& text = lines_[i].text;
    switch (fragment.kind) {
      case FragmentKind::kWholeFile: return out;
      case FragmentKind::kKeyedLine:
        if (line_key(text) == fragment.key) out.push_back(i);
        break;
      case FragmentKind::kFstabRecord:
        if (fstab_key(text) == fragment.key) out.push_back(i);
        break;
      case FragmentKind::kMarkedBlock:
        if (marker_id(text, kBegin) == fragment.key) {
          out.push_back(i);
          i = block_at(i).second;
        }
        break;
    }
  }
  return out;
}

std::optional<std::string> FileText::get(const Fragment& fragment) const {
  if (fragment.kind == FragmentKind::kWholeFile) {
    if (!exists_) return std::nullopt;
    return bytes();
  }
  const auto found = find(fragment);
  if (found.empty()) return std::nullopt;
  const auto& text = lines_[found.front()].text;
  switch (fragment.kind) {
    case FragmentKind::kKeyedLine: {
      const auto& last = lines_[found.back()].text;  // the one sysctl applies
      const auto [start, end] = value_span(last);
      return last.substr(start, end - start);
    }
    case FragmentKind::kFstabRecord: return joined(fields_of(text), " ");
    case FragmentKind::kMarkedBlock: {
      const auto [begin, end] = block_at(found.front());
      std::string body;
      for (std::size_t i = begin + 1; i < end; ++i) body += (i > begin + 1 ? "\n" : "") + lines_[i].text;
      return body;
    }
    case FragmentKind::kWholeFile: break;
  }
  return std::nullopt;
}

std::size_t FileText::occurrences(const Fragment& fragment) const {
  if (fragment.kind == FragmentKind::kWholeFile) return exists_ ? 1 : 0;
  return find(fragment).size();
}

std::vector<std::pair<std::string, std::string>> FileText::all(FragmentKind kind) const {
  std::vector<std::pair<std::string, std::string>> out;
  std::set<std::string> seen;
  for (std::size_t i = 0; i < lines_.size(); ++i) {
    std::string key;
    if (kind == FragmentKind::kKeyedLine) key = line_key(lines_[i].text);
    if (kind == FragmentKind::kFstabRecord) key = fstab_key(lines_[i].text);
    if (kind == FragmentKind::kMarkedBlock) {
      key = marker_id(lines_[i].text, kBegin);
      if (!key.empty()) i = block_at(i).second;
    }
    if (key.empty() || !seen.insert(key).second) continue;
    out.emplace_back(key, *get(Fragment{kind, key}));
  }
  return out;
}

std::string FileText::newline() const {
  for (const auto& line : lines_) {
    if (!line.eol.empty()) return line.eol;
  }
  return "\n";
}

void FileText::append(std::string text) {
  const auto eol = newline();
  if (!lines_.empty() && lines_.back().eol.empty()) lines_.back().eol = eol;
  lines_.push_back(Line{std::move(text), eol});
}

std::expected<bool, std::string> FileText::set(const Fragment& fragment, std::string_view content) {
  const std::string before = bytes();
  const bool existed = exists_;
  const auto found = find(fragment);
  switch (fragment.kind) {
    case FragmentKind::kWholeFile:
      *this = split(content, true);  // a whole file may hold anything, an unterminated marker too
      break;
    case FragmentKind::kKeyedLine: {
      if (fragment.key.empty() || fragment.key.find_first_of("=\n\r#;") != std::string::npos ||
          trim(fragment.key) != fragment.key) {
        return std::unexpected("not a key of a key = value line: '" + fragment.key + "'");
      }
      if (content.find_first_of("\n\r") != std::string_view::npos || trim(content) != content) {
        return std::unexpected("a value of one line without outer blanks is expected for " + fragment.key);
      }
      if (found.empty()) {
        append(fragment.key + " = " + std::string(content));
        break;
      }
      auto& text = lines_[found.front()].text;
      const auto [start, end] = value_span(text);
      text = text.substr(0, start) + std::string(content) + text.substr(end);
      for (std::size_t copy = found.size(); copy-- > 1;) lines_.erase(lines_.begin() + found[copy]);
      break;
    }
    case FragmentKind::kFstabRecord: {
      if (content.find_first_of("\n\r") != std::string_view::npos) {
        return std::unexpected("an fstab record is one line");
      }
      if (fstab_key(content) != fragment.key) {
        return std::unexpected("the record '" + std::string(content) + "' is not the record of " + fragment.key);
      }
      if (found.empty()) {
        append(std::string(content));
        break;
      }
      if (joined(fields_of(lines_[found.front()].text), " ") != joined(fields_of(content), " ")) {
        lines_[found.front()].text = content;
      }
      for (std::size_t copy = found.size(); copy-- > 1;) lines_.erase(lines_.begin() + found[copy]);
      break;
    }
    case FragmentKind::kMarkedBlock: {
      if (fragment.key.empty() || fragment.key.find_first_of(" \t\n\r") != std::string::npos) {
        return std::unexpected("a block id is one word: '" + fragment.key + "'");
      }
      std::string_view body = content;
      if (body.ends_with('\n')) body.remove_suffix(1);
      std::vector<std::string> wanted;
      for (std::size_t at = 0; !body.empty() && at <= body.size();) {
        const auto nl = std::min(body.find('\n', at), body.size());
        wanted.emplace_back(body.substr(at, nl - at));
        at = nl + 1;
      }
      for (const auto& line : wanted) {
        if (!marker_id(line, kBegin).empty() || !marker_id(line, kEnd).empty()) {
          return std::unexpected("a block's lines hold no block markers");
        }
      }
      // Later copies of the block go; the first is rewritten when its lines differ.
      for (std::size_t copy = found.size(); copy-- > 1;) {
        const auto [begin, end] = block_at(found[copy]);
        lines_.erase(lines_.begin() + begin, lines_.begin() + end + 1);
      }
      const auto eol = newline();
      if (found.empty()) {
        append(std::string(kBegin) + fragment.key);
        for (auto& line : wanted) lines_.push_back(Line{std::move(line), eol});
        lines_.push_back(Line{std::string(kEnd) + fragment.key, eol});
        break;
      }
      const auto [begin, end] = block_at(found.front());
      if (*get(fragment) == std::string(body)) break;
      lines_.erase(lines_.begin() + begin + 1, lines_.begin() + end);
      std::vector<Line> fresh;
      for (auto& line : wanted) fresh.push_back(Line{std::move(line), eol});
      lines_.insert(lines_.begin() + begin + 1, fresh.begin(), fresh.end());
      break;
    }
  }
  exists_ = true;
  return !existed || bytes() != before;
}

bool FileText::remove(const Fragment& fragment) {
  if (fragment.kind == FragmentKind::kWholeFile) {
    const bool was = exists_;
    *this = FileText{};
    return was;
  }
  const auto found = find(fragment);
  for (auto it = found.rbegin(); it != found.rend(); ++it) {
    const auto last = fragment.kind == FragmentKind::kMarkedBlock ? block_at(*it).second : *it;
    lines_.erase(lines_.begin() + *it, lines_.begin() + last + 1);
  }
  return !found.empty();
}

bool FileText::comment_out(const Fragment& fragment) {
  if (fragment.kind != FragmentKind::kKeyedLine && fragment.kind != FragmentKind::kFstabRecord) return false;
  const auto found = find(fragment);
  for (const std::size_t i : found) lines_[i].text = "#" + lines_[i].text;
  return !found.empty();
}

std::string FileText::bytes() const {
  std::string out = bom_;
  for (const auto& line : lines_) out += line.text + line.eol;
  return out;
}

}  // namespace reconcile::providers
