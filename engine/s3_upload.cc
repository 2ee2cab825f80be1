#include "engine/s3_upload.h"

#include <curl/curl.h>
#include <dlfcn.h>
#include <pwd.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <mutex>
#include <type_traits>

namespace reconcile::engine {

namespace {

// libcurl, loaded on first use (see the header).
struct Libcurl {
  decltype(&curl_global_init) global_init = nullptr;
  decltype(&curl_easy_init) easy_init = nullptr;
  decltype(&curl_easy_setopt) setopt = nullptr;
  decltype(&curl_easy_perform) perform = nullptr;
  decltype(&curl_easy_getinfo) getinfo = nullptr;
  decltype(&curl_easy_cleanup) cleanup = nullptr;
  decltype(&curl_easy_strerror) strerror = nullptr;
  decltype(&curl_slist_append) slist_append = nullptr;
  decltype(&curl_slist_free_all) slist_free_all = nullptr;
  std::string missing;

  static const Libcurl& get() {
    static const Libcurl library = load();
    return library;
  }

 private:
  static Libcurl load() {
    Libcurl c;
    void* handle = ::dlopen(RECONCILE_LIBCURL_SONAME, RTLD_NOW | RTLD_LOCAL);
    if (handle == nullptr) {
      const char* why = ::dlerror();
      c.missing = std::string("cannot load " RECONCILE_LIBCURL_SONAME) + (why != nullptr ? std::string(": ") + why : "");
      return c;
    }
    auto bind = [&](auto& fn, const char* symbol) {
      fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(::dlsym(handle, symbol));
      if (fn == nullptr) c.missing = std::string("libcurl lacks ") + symbol;
    };
    bind(c.global_init, "curl_global_init");
    bind(c.easy_init, "curl_easy_init");
    bind(c.setopt, "curl_easy_setopt");
    bind(c.perform, "curl_easy_perform");
    bind(c.getinfo, "curl_easy_getinfo");
    bind(c.cleanup, "curl_easy_cleanup");
    bind(c.strerror, "curl_easy_strerror");
    bind(c.slist_append, "curl_slist_append");
    bind(c.slist_free_all, "curl_slist_free_all");
    // Not thread-safe in this libcurl: once, here, before any handle exists.
    if (c.missing.empty() && c.global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) c.missing = "curl_global_init failed";
    return c;
  }
};

std::string env(const char* name) {
  const char* value = std::getenv(name);
  return value != nullptr ? value : "";
}

std::string home_dir() {
  if (std::string home = env("HOME"); !home.empty()) return home;
  if (const passwd* pw = ::getpwuid(::geteuid()); pw != nullptr && pw->pw_dir != nullptr) return pw->pw_dir;
  return "/root";
}

std::string trim(std::string text) {
  const auto first = text.find_first_not_of(" \t\r");
  if (first == std::string::npos) return "";
  const auto last = text.find_last_not_of(" \t\r");
  return text.substr(first, last - first + 1);
}

// The keys of one section of an AWS ini file ("[default]", "[profile x]"); empty when absent.
std::map<std::string, std::string> ini_section(const std::string& path, const std::string& section) {
  std::map<std::string, std::string> out;
  std::ifstream in(path);
  std::string line;
  bool inside = false;
  while (std::getline(in, line)) {
    line = trim(line);
    if (line.empty() || line.front() == '#' || line.front() == ';') continue;
    if (line.front() == '[') {
      inside = line.back() == ']' && trim(line.substr(1, line.size() - 2)) == section;
      continue;
    }
    if (!inside) continue;
    const auto equals = line.find('=');
    if (equals != std::string::npos) out[trim(line.substr(0, equals))] = trim(line.substr(equals + 1));
  }
  return out;
}

bool unreserved(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
         c == '_' || c == '~';
}

std::string encode_key(const std::string& key) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (const char c : key) {
    if (unreserved(c) || c == '/') {
      out += c;
    } else {
      const auto u = static_cast<unsigned char>(c);
      out += '%';
      out += kHex[u >> 4];
      out += kHex[u & 15];
    }
  }
  return out;
}

std::size_t collect(char* data, std::size_t size, std::size_t count, void* into) {
  auto* body = static_cast<std::string*>(into);
  if (body->size() < 4096) body->append(data, std::min<std::size_t>(size * count, 4096 - body->size()));
  return size * count;
}

// S3's <Code>…</Code> and <Message>…</Message> of an error body, else its start.
std::string s3_error(const std::string& body) {
  auto tag = [&](const std::string& name) {
    const auto open = body.find("<" + name + ">");
    const auto close = body.find("</" + name + ">");
    if (open == std::string::npos || close == std::string::npos || close < open) return std::string();
    return body.substr(open + name.size() + 2, close - open - name.size() - 2);
  };
  const std::string code = tag("Code");
  const std::string message = tag("Message");
  if (!code.empty()) return code + (message.empty() ? "" : ": " + message);
  std::string start = body.substr(0, 200);
  for (char& c : start) {
    if (static_cast<unsigned char>(c) < 0x20) c = ' ';
  }
  return start;
}

}  // namespace

std::expected<AwsCredentials, std::string> aws_credentials() {
  AwsCredentials credentials;
  const std::string profile = env("AWS_PROFILE").empty() ? "default" : env("AWS_PROFILE");
  if (!env("AWS_ACCESS_KEY_ID").empty() && !env("AWS_SECRET_ACCESS_KEY").empty()) {
    credentials.access_key = env("AWS_ACCESS_KEY_ID");
    credentials.secret_key = env("AWS_SECRET_ACCESS_KEY");
    credentials.session_token = env("AWS_SESSION_TOKEN");
    credentials.source = "environment";
  } else {
    const std::string file = env("AWS_SHARED_CREDENTIALS_FILE").empty() ? home_dir() + "/.aws/credentials"
                                                                        : env("AWS_SHARED_CREDENTIALS_FILE");
    auto keys = ini_section(file, profile);
    credentials.access_key = keys["aws_access_key_id"];
    credentials.secret_key = keys["aws_secret_access_key"];
    credentials.session_token = keys["aws_session_token"];
    credentials.source = file;
    if (credentials.access_key.empty() || credentials.secret_key.empty()) {
      return std::unexpected("no AWS credentials: neither AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in the "
                             "environment nor aws_access_key_id and aws_secret_access_key in profile '" + profile +
                             "' of " + file);
    }
  }
  credentials.region = !env("AWS_REGION").empty() ? env("AWS_REGION") : env("AWS_DEFAULT_REGION");
  if (credentials.region.empty()) {
    const std::string config = env("AWS_CONFIG_FILE").empty() ? home_dir() + "/.aws/config" : env("AWS_CONFIG_FILE");
    credentials.region = ini_section(config, profile == "default" ? "default" : "profile " + profile)["region"];
  }
  for (const std::string* value : {&credentials.access_key, &credentials.secret_key, &credentials.session_token}) {
    for (const char c : *value) {
      if (static_cast<unsigned char>(c) < 0x21 || c == 0x7f) {
        return std::unexpected("the AWS credentials from " + credentials.source + " hold a space or control character");
      }
    }
  }
  return credentials;
}

std::string s3_object_key(const S3Target& target, const std::string& host, const std::string& started) {
  std::string stamp;
  for (const char c : started) {
    if (c != '-' && c != ':') stamp += c;
  }
  return target.prefix + host + "/" + stamp + ".json";
}

std::string s3_object_url(const S3Target& target, const std::string& region, const std::string& key) {
  if (!target.endpoint.empty()) return target.endpoint + "/" + target.bucket + "/" + encode_key(key);
  return "https://" + target.bucket + ".s3." + region + ".amazonaws.com/" + encode_key(key);
}

std::expected<std::string, std::string> s3_put(const S3Target& target, const std::string& key, const std::string& body,
                                               const std::string& content_type, std::chrono::seconds timeout) {
  auto credentials = aws_credentials();
  if (!credentials) return std::unexpected(credentials.error());
  const std::string region = !target.region.empty()            ? target.region
                             : !credentials->region.empty()    ? credentials->region
                                                               : "us-east-1";
  const Libcurl& curl = Libcurl::get();
  if (!curl.missing.empty()) return std::unexpected(curl.missing);
  CURL* handle = curl.easy_init();
  if (handle == nullptr) return std::unexpected("curl_easy_init failed");

  const std::string url = s3_object_url(target, region, key);
  const std::string sigv4 = "aws:amz:" + region + ":s3";
  const std::string userpwd = credentials->access_key + ":" + credentials->secret_key;
  curl_slist* headers = nullptr;
  headers = curl.slist_append(headers, ("Content-Type: " + content_type).c_str());
  headers = curl.slist_append(headers, "x-amz-content-sha256: UNSIGNED-PAYLOAD");
  if (!credentials->session_token.empty()) {
    headers = curl.slist_append(headers, ("x-amz-security-token: " + credentials->session_token).c_str());
  }
  std::string response;
  char error[CURL_ERROR_SIZE] = {};
  curl.setopt(handle, CURLOPT_URL, url.c_str());
  curl.setopt(handle, CURLOPT_CUSTOMREQUEST, "PUT");
  curl.setopt(handle, CURLOPT_POSTFIELDS, body.data());
  curl.setopt(handle, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  curl.setopt(handle, CURLOPT_HTTPHEADER, headers);
  curl.setopt(handle, CURLOPT_AWS_SIGV4, sigv4.c_str());
  curl.setopt(handle, CURLOPT_USERPWD, userpwd.c_str());
  curl.setopt(handle, CURLOPT_TIMEOUT, static_cast<long>(timeout.count()));
  curl.setopt(handle, CURLOPT_CONNECTTIMEOUT, 15L);
  curl.setopt(handle, CURLOPT_NOSIGNAL, 1L);
  curl.setopt(handle, CURLOPT_FOLLOWLOCATION, 0L);
  curl.setopt(handle, CURLOPT_PROTOCOLS_STR, "http,https");
  curl.setopt(handle, CURLOPT_ERRORBUFFER, error);
  curl.setopt(handle, CURLOPT_WRITEFUNCTION, collect);
  curl.setopt(handle, CURLOPT_WRITEDATA, &response);
  const CURLcode code = curl.perform(handle);
  long status = 0;
  curl.getinfo(handle, CURLINFO_RESPONSE_CODE, &status);
  curl.cleanup(handle);
  curl.slist_free_all(headers);

  const std::string where = "s3://" + target.bucket + "/" + key;
  if (code != CURLE_OK) {
    return std::unexpected("PUT " + url + ": " + (error[0] != '\0' ? std::string(error) : curl.strerror(code)));
  }
  if (status < 200 || status > 299) {
    return std::unexpected("PUT " + url + ": HTTP " + std::to_string(status) +
                           (response.empty() ? "" : " " + s3_error(response)));
  }
  return where;
}

}  // namespace reconcile::engine
