// pretty_json writes exactly what nlohmann's dump(2, ' ', false, replace) writes, for every kind of value:
// nested and empty containers, escapes, control characters, UTF-8 (valid and not), integers at their limits
// and floating point.

#include "engine/json_text.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <functional>
#include <limits>
#include <random>
#include <string>

namespace reconcile::engine {
namespace {

using nlohmann::json;

std::string reference(const json& value) { return value.dump(2, ' ', false, json::error_handler_t::replace) + "\n"; }

TEST(JsonTextTest, WritesWhatNlohmannWrites) {
  const json documents[] = {
      json(nullptr),
      json::object(),
      json::array(),
      json("plain"),
      json(""),
      json(std::numeric_limits<std::int64_t>::min()),
      json(std::numeric_limits<std::uint64_t>::max()),
      json(-0.0),
      json(0.000209701),
      json(1e300),
      json(3.0),
      json(std::numeric_limits<double>::quiet_NaN()),
      json{{"b", true}, {"a", false}, {"n", nullptr}, {"empty", json::object()}, {"list", json::array()}},
      json{{"quote \"and\" backslash \\", "tab\tnew\nline\r\x01\x1f\x7f"},
           {"utf8", "Grüße, 東京 ✓"},
           {"bad", std::string("a\xff\xfe" "b\xc3")},
           {"nested", {{"x", {1, 2, {{"y", json::array({json::object(), "z"})}}}}}}},
  };
  for (const auto& document : documents) EXPECT_EQ(pretty_json(document), reference(document)) << reference(document);
}

TEST(JsonTextTest, RandomDocumentsMatch) {
  std::mt19937 random(42);
  const auto pick = [&](int n) { return static_cast<int>(random() % static_cast<unsigned>(n)); };
  std::function<json(int)> make = [&](int depth) -> json {
    switch (depth > 3 ? pick(5) : pick(7)) {
      case 0: return json(pick(2) == 0);
      case 1: return json(static_cast<std::int64_t>(random()) - (1ll << 31));
      case 2: return json(static_cast<double>(random()) / 7.0);
      case 3: {
        std::string text;
        for (int i = pick(12); i > 0; --i) text += static_cast<char>(random() % 256);
        return json(text);
      }
      case 4: return json(nullptr);
      case 5: {
        json array = json::array();
        for (int i = pick(4); i > 0; --i) array.push_back(make(depth + 1));
        return array;
      }
      default: {
        json object = json::object();
        for (int i = pick(4); i > 0; --i) object["k" + std::to_string(pick(100))] = make(depth + 1);
        return object;
      }
    }
  };
  for (int i = 0; i < 500; ++i) {
    const json document = make(0);
    ASSERT_EQ(pretty_json(document), reference(document)) << i;
  }
}

}  // namespace
}  // namespace reconcile::engine
