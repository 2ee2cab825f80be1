#include "providers/rpm_common.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <sstream>
#include <tuple>

namespace reconcile::providers {

int rpm_version_compare(std::string_view a, std::string_view b) {
  if (a == b) return 0;
  std::size_t i = 0, j = 0;
  auto alnum = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; };
  auto digit = [](char c) { return std::isdigit(static_cast<unsigned char>(c)) != 0; };
  while (i < a.size() || j < b.size()) {
    while (i < a.size() && !alnum(a[i]) && a[i] != '~' && a[i] != '^') ++i;
    while (j < b.size() && !alnum(b[j]) && b[j] != '~' && b[j] != '^') ++j;
    const char ca = i < a.size() ? a[i] : '\0';
    const char cb = j < b.size() ? b[j] : '\0';
    if (ca == '~' || cb == '~') {  // a tilde sorts before everything, even the end
      if (ca != '~') return 1;
      if (cb != '~') return -1;
      ++i, ++j;
      continue;
    }
    if (ca == '^' || cb == '^') {  // a caret sorts after the end, before anything else
      if (ca == '\0') return -1;
      if (cb == '\0') return 1;
      if (ca != '^') return 1;
      if (cb != '^') return -1;
      ++i, ++j;
      continue;
    }
    if (ca == '\0' || cb == '\0') break;
    const bool numeric = digit(ca);
    const std::size_t si = i, sj = j;
    while (i < a.size() && (numeric ? digit(a[i]) : std::isalpha(static_cast<unsigned char>(a[i])))) ++i;
    while (j < b.size() && (numeric ? digit(b[j]) : std::isalpha(static_cast<unsigned char>(b[j])))) ++j;
    std::string_view sa = a.substr(si, i - si);
    std::string_view sb = b.substr(sj, j - sj);
    if (sb.empty()) return numeric ? 1 : -1;  // numbers sort after letters
    if (numeric) {
      while (sa.size() > 1 && sa.front() == '0') sa.remove_prefix(1);
      while (sb.size() > 1 && sb.front() == '0') sb.remove_prefix(1);
      if (sa.size() != sb.size()) return sa.size() < sb.size() ? -1 : 1;
    }
    if (const int c = sa.compare(sb); c != 0) return c < 0 ? -1 : 1;
  }
  if (i >= a.size() && j >= b.size()) return 0;
  return i < a.size() ? 1 : -1;
}

int rpm_evr_compare(std::string_view a, std::string_view b) {
  auto split_evr = [](std::string_view evr) {
    long epoch = 0;
    if (const auto colon = evr.find(':'); colon != std::string_view::npos) {
      epoch = std::strtol(std::string(evr.substr(0, colon)).c_str(), nullptr, 10);
      evr.remove_prefix(colon + 1);
    }
    const auto dash = evr.rfind('-');
    const std::string_view version = dash == std::string_view::npos ? evr : evr.substr(0, dash);
    const std::string_view release = dash == std::string_view::npos ? std::string_view() : evr.substr(dash + 1);
    return std::tuple{epoch, version, release};
  };
  const auto [ea, va, ra] = split_evr(a);
  const auto [eb, vb, rb] = split_evr(b);
  if (ea != eb) return ea < eb ? -1 : 1;
  if (const int c = rpm_version_compare(va, vb); c != 0) return c;
  return rpm_version_compare(ra, rb);
}

std::map<std::string, std::string> parse_rpm_qa(std::string_view text) {
  std::map<std::string, std::string> out;
  for (const auto& line : output_lines(text)) {
    const auto fields = split_trimmed(line, '\t');
    if (fields.size() != 2 || fields[0].empty() || fields[0] == "gpg-pubkey") continue;
    auto [it, inserted] = out.try_emplace(fields[0], fields[1]);
    if (!inserted && rpm_evr_compare(fields[1], it->second) > 0) it->second = fields[1];
  }
  return out;
}

std::expected<std::map<std::string, std::string>, std::string> query_rpm_installed(const Host& host) {
  std::vector<std::string> argv{"rpm"};
  if (is_alt_root(host)) argv.insert(argv.end(), {"--root", host.root.string()});
  argv.insert(argv.end(), {"-qa", "--qf", "%{NAME}\\t%|EPOCH?{%{EPOCH}:}:{}|%{VERSION}-%{RELEASE}\\n"});
  const ExecResult result = run_package_tool(host, argv);
  if (!result.ok()) return std::unexpected("rpm -qa: " + result.status_text() + ": " + result.tail(3));
  return parse_rpm_qa(result.out);
}

bool is_alt_root(const Host& host) { return !(host.root.empty() || host.root == "/"); }

ExecResult run_package_tool(const Host& host, const std::vector<std::string>& argv) {
  ExecRequest request;
  request.argv = argv;
  request.extra_env = {"LC_ALL=C"};
  request.timeout = std::chrono::minutes(30);
  return host.exec->run(request);
}

std::vector<std::string> split_trimmed(std::string_view text, char sep) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= text.size()) {
    const std::size_t end = std::min(text.find(sep, start), text.size());
    std::string_view part = text.substr(start, end - start);
    while (!part.empty() && std::isspace(static_cast<unsigned char>(part.front()))) part.remove_prefix(1);
    while (!part.empty() && std::isspace(static_cast<unsigned char>(part.back()))) part.remove_suffix(1);
    out.emplace_back(part);
    start = end + 1;
  }
  return out;
}

std::vector<std::string> output_lines(std::string_view text) {
  std::vector<std::string> out;
  std::istringstream in{std::string(text)};
  std::string line;
  while (std::getline(in, line)) out.push_back(line);
  return out;
}

}  // namespace reconcile::providers
