#pragma once
// rapidcheck generators of valid states over the kinds, as nlohmann::json trees, and their YAML text.
// A new kind is one more entry in kKindGens (state_gen.h) with a generator of its valid values.

#include <rapidcheck.h>

#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

namespace reconcile::testing::prop {

using json = nlohmann::json;

inline rc::Gen<std::string> one_of_names(std::vector<std::string> names) {
  return rc::gen::elementOf(std::move(names));
}

/// Names that exist in the test-host image's offline repository or on the image itself, so that the same
/// generators serve the in-memory properties and the test-host ones.
inline const std::vector<std::string> kPackages{"hello", "tree", "figlet", "sl", "jq"};
inline const std::vector<std::string> kServices{"cron", "rc-demo", "systemd-timesyncd"};
inline const std::vector<std::string> kZones{"Etc/UTC", "Europe/Berlin", "Europe/Helsinki", "America/New_York",
                                             "Asia/Tokyo"};

inline rc::Gen<json> unique_subset(const std::vector<std::string>& names) {
  return rc::gen::map(rc::gen::container<std::vector<bool>>(names.size(), rc::gen::arbitrary<bool>()),
                      [names](const std::vector<bool>& pick) {
                        json out = json::array();
                        for (std::size_t i = 0; i < names.size(); ++i) {
                          if (pick[i]) out.push_back(names[i]);
                        }
                        return out;
                      });
}

inline rc::Gen<json> packages_gen() {
  return rc::gen::map(rc::gen::container<std::vector<int>>(kPackages.size(), rc::gen::inRange(0, 3)),
                      [](const std::vector<int>& where) {
                        json present = json::array(), absent = json::array();
                        for (std::size_t i = 0; i < kPackages.size(); ++i) {
                          if (where[i] == 1) present.push_back(kPackages[i]);
                          if (where[i] == 2) absent.push_back(kPackages[i]);
                        }
                        json out = json::object();
                        if (!present.empty()) out["present"] = present;
                        if (!absent.empty()) out["absent"] = absent;
                        return out;
                      });
}

inline rc::Gen<json> services_gen() {
  return rc::gen::map(rc::gen::container<std::vector<int>>(2, rc::gen::inRange(0, 3)), [](const std::vector<int>& w) {
    // cron is on the image; systemd-timesyncd is not, so it is only asked absent-safe (disabled needs the unit).
    json out = json::object();
    if (w[0] == 1) out["enabled"] = json::array({"cron"});
    if (w[0] == 2) out["disabled"] = json::array({"cron"});
    return out;
  });
}

inline rc::Gen<json> users_gen() {
  return rc::gen::map(rc::gen::container<std::vector<int>>(3, rc::gen::inRange(0, 3)), [](const std::vector<int>& w) {
    static const std::vector<std::string> names{"hnalice", "hnbob", "hncarol"};
    static const std::vector<std::string> shells{"/bin/bash", "/bin/sh", "/usr/sbin/nologin"};
    json present = json::array(), absent = json::array();
    for (std::size_t i = 0; i < names.size(); ++i) {
      if (w[i] == 1) present.push_back({{"name", names[i]}, {"shell", shells[i]}});
      if (w[i] == 2) absent.push_back(names[i]);
    }
    json out = json::object();
    if (!present.empty()) out["present"] = present;
    if (!absent.empty()) out["absent"] = absent;
    return out;
  });
}

inline rc::Gen<json> groups_gen() {
  return rc::gen::map(rc::gen::container<std::vector<int>>(2, rc::gen::inRange(0, 3)), [](const std::vector<int>& w) {
    static const std::vector<json> wanted{json{{"name", "hnops"}, {"gid", 1701}}, json("hnweb")};
    static const std::vector<std::string> names{"hnops", "hnweb"};
    json present = json::array(), absent = json::array();
    for (std::size_t i = 0; i < names.size(); ++i) {
      if (w[i] == 1) present.push_back(wanted[i]);
      if (w[i] == 2) absent.push_back(names[i]);
    }
    json out = json::object();
    if (!present.empty()) out["present"] = present;
    if (!absent.empty()) out["absent"] = absent;
    return out;
  });
}

inline rc::Gen<json> sysctl_gen() {
  // Keys of the network namespace, which a test host has of its own.
  return rc::gen::map(rc::gen::pair(rc::gen::inRange(0, 3), rc::gen::arbitrary<bool>()), [](std::pair<int, bool> p) {
    json keys = json::object();
    keys["net.ipv4.tcp_syncookies"] = p.first;
    if (p.second) keys["net.ipv4.ip_local_port_range"] = "20000 30000";
    return json{{"keys", keys}};
  });
}

/// Each kind and a generator of its valid values; a state is any subset of them.
inline const std::vector<std::pair<std::string, std::function<rc::Gen<json>()>>> kKindGens{
    {"timezone", [] { return rc::gen::map(one_of_names(kZones), [](std::string z) { return json(z); }); }},
    {"packages", packages_gen},
    {"services", services_gen},
    {"users", users_gen},
    {"groups", groups_gen},
    {"sysctl", sysctl_gen},
};

/// A valid state: each kind present or not.
inline rc::Gen<json> state_gen() {
  return rc::gen::exec([] {
    json state = json::object();
    for (const auto& [key, gen] : kKindGens) {
      if (*rc::gen::arbitrary<bool>()) {
        json value = *gen();
        if (!value.is_object() || !value.empty()) state[key] = value;
      }
    }
    return state;
  });
}

/// Block-style YAML of a JSON tree (scalars double-quoted as JSON strings, which YAML reads the same).
inline void to_yaml(const json& v, int indent, std::string& out) {
  const std::string pad(static_cast<std::size_t>(indent), ' ');
  if (v.is_object()) {
    if (v.empty()) {
      out += " {}\n";
      return;
    }
    out += "\n";
    for (const auto& [k, x] : v.items()) {
      out += pad + k + ":";
      to_yaml(x, indent + 2, out);
    }
  } else if (v.is_array()) {
    if (v.empty()) {
      out += " []\n";
      return;
    }
    out += "\n";
    for (const auto& x : v) {
      out += pad + "-";
      if (x.is_object() && !x.empty()) {
        // "- key: v" then the rest of the mapping indented under it
        bool first = true;
        for (const auto& [k, y] : x.items()) {
          out += (first ? " " : pad + "  ") + k + ":";
          to_yaml(y, indent + 4, out);
          first = false;
        }
      } else {
        to_yaml(x, indent + 2, out);
      }
    }
  } else {
    out += " " + v.dump() + "\n";
  }
}

inline std::string yaml_text(const json& state) {
  std::string out;
  if (state.empty()) return "{}\n";
  to_yaml(state, 0, out);
  return out.substr(1);  // the leading newline of the top mapping
}

}  // namespace reconcile::testing::prop
