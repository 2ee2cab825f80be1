#include "engine/loader.h"

#include <gtest/gtest.h>
#include <time.h>

#include <algorithm>
#include <functional>
#include <tuple>

namespace reconcile::engine {
namespace {

using resources::ErrorCode;
using resources::Node;

Node parse(const std::string& name, const std::string& text, std::vector<resources::Error>& errors) {
  return parse_text(name, text, errors);
}

TEST(LoaderTest, YamlValuesKeepFileLineAndKeyPath) {
  std::vector<resources::Error> errors;
  Node root = parse("s.yaml", "timezone: Europe/Helsinki\npackages:\n  present: [a, b]\n", errors);
  ASSERT_TRUE(errors.empty());
  const Node* b = &root.find("packages")->find("present")->items[1];
  EXPECT_EQ(b->scalar, "b");
  EXPECT_EQ(b->location.file, "s.yaml");
  EXPECT_EQ(b->location.line, 3);
  EXPECT_EQ(b->location.column, 16);
  EXPECT_EQ(b->path, "packages.present[1]");
}

TEST(LoaderTest, JsonValuesKeepFileLineAndKeyPath) {
  std::vector<resources::Error> errors;
  Node root = parse("s.json", "{\n  \"timezone\": \"Europe/Helsinki\",\n  \"packages\": {\"present\": [\"a\",\n \"b\"]}\n}\n", errors);
  ASSERT_TRUE(errors.empty()) << errors[0].str();
  const Node* tz = root.find("timezone");
  EXPECT_EQ(tz->location.line, 2);
  EXPECT_EQ(tz->location.column, 15);
  const Node* b = &root.find("packages")->find("present")->items[1];
  EXPECT_EQ(b->location.line, 4);
  EXPECT_EQ(b->location.column, 2);
  EXPECT_EQ(b->path, "packages.present[1]");
  EXPECT_EQ(root.entries[1].key_location.line, 3);
}

TEST(LoaderTest, BomCrlfAndNoFinalNewlineAreAccepted) {
  std::vector<resources::Error> errors;
  Node root = parse("s.yaml", "\xEF\xBB\xBFtimezone: Etc/UTC\r\nother: x", errors);
  ASSERT_TRUE(errors.empty());
  EXPECT_EQ(root.find("timezone")->scalar, "Etc/UTC");
  EXPECT_EQ(root.find("other")->location.line, 2);
  Node json = parse("s.json", "\xEF\xBB\xBF{\"timezone\": \"Etc/UTC\"}", errors);
  ASSERT_TRUE(errors.empty());
  EXPECT_EQ(json.find("timezone")->scalar, "Etc/UTC");
}

TEST(LoaderTest, MalformedYamlNamesLine) {
  std::vector<resources::Error> errors;
  parse("bad.yaml", "timezone: Etc/UTC\npackages: [a, b\n", errors);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].code, ErrorCode::kSyntax);
  EXPECT_EQ(errors[0].location.file, "bad.yaml");
  EXPECT_GE(errors[0].location.line, 2);
  EXPECT_NE(errors[0].message.find("malformed YAML"), std::string::npos);
}

TEST(LoaderTest, MalformedJsonNamesLineAndColumn) {
  std::vector<resources::Error> errors;
  parse("bad.json", "{\n  \"timezone\": \"Etc/UTC\",\n  \"x\" 1\n}\n", errors);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].code, ErrorCode::kSyntax);
  EXPECT_EQ(errors[0].location.line, 3);
  EXPECT_EQ(errors[0].location.column, 7);
}

// Found by the fuzzer: the value of a duplicate key is read and dropped; when it is a mapping with a duplicate key
// of its own, the outer dropped value must still be there while the inner one is read.
TEST(LoaderTest, ADuplicateKeyInsideTheDroppedValueOfADuplicateKeyIsReportedToo) {
  std::vector<resources::Error> errors;
  parse("nested.yaml", "a:\n  x: 1\na:\n  y: 1\n  y: {q: 1}\n  z: {q: 1, q: 2}\n  w: 3\n", errors);
  ASSERT_EQ(errors.size(), 3u) << errors[0].str();  // a (line 3), y (line 5), q (line 6)
  for (const auto& error : errors) EXPECT_EQ(error.code, ErrorCode::kDuplicateKey) << error.str();
  EXPECT_EQ(errors[0].location.line, 3);
  EXPECT_EQ(errors[2].location.line, 6);
}

TEST(LoaderTest, DuplicateKeysAreErrorsInBothFormats) {
  std::vector<resources::Error> errors;
  parse("d.yaml", "timezone: a\ntimezone: b\n", errors);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].code, ErrorCode::kDuplicateKey);
  EXPECT_EQ(errors[0].location.line, 2);
  EXPECT_NE(errors[0].message.find("first at line 1"), std::string::npos);
  errors.clear();
  parse("d.json", "{\"timezone\": \"a\",\n \"timezone\": \"b\"}", errors);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].code, ErrorCode::kDuplicateKey);
  EXPECT_EQ(errors[0].location.line, 2);
}

// CPU time of this thread (not wall time: the machine is shared), the least of three tries.
double least_cpu_seconds(const std::function<void()>& work) {
  double least = 1e9;
  for (int i = 0; i < 3; ++i) {
    timespec start{}, end{};
    ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &start);
    work();
    ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &end);
    least = std::min(least, static_cast<double>(end.tv_sec - start.tv_sec) + (end.tv_nsec - start.tv_nsec) * 1e-9);
  }
  return least;
}

// Not a speed test: how the work grows. Sixteen times the keys must cost about sixteen times as much
// (a quadratic search for duplicates would cost 256 times); the bound of 4x linear leaves room for noise,
// caches and allocator growth on a loaded machine.
TEST(LoaderTest, ADuplicateKeyAmongManyIsFoundAtItsPlaceAndLoadingIsLinear) {
  auto yaml = [](int n) {
    std::string text = "timezone: Etc/UTC\nmany:\n";
    for (int i = 0; i < n; ++i) text += "  k" + std::to_string(i) + ": 1\n";
    return text + "  k5: 2\n";
  };
  auto json = [](int n) {
    std::string text = "{\"timezone\": \"Etc/UTC\",\n\"many\": {\n";
    for (int i = 0; i < n; ++i) text += "  \"k" + std::to_string(i) + "\": 1,\n";
    return text + "  \"k5\": 2}}\n";
  };
  for (const auto& [name, make, word] :
       {std::tuple{"many.yaml", +yaml, "mapping"}, std::tuple{"many.json", +json, "object"}}) {
    constexpr int kSmall = 5000;
    const std::string small = make(kSmall);
    const std::string large = make(16 * kSmall);
    std::vector<resources::Error> errors;
    parse(name, large, errors);
    ASSERT_EQ(errors.size(), 1u) << name;
    EXPECT_EQ(errors[0].code, ErrorCode::kDuplicateKey);
    EXPECT_EQ(errors[0].location.file, name);
    EXPECT_EQ(errors[0].location.line, 16 * kSmall + 3);
    EXPECT_EQ(errors[0].location.column, 3);
    EXPECT_EQ(errors[0].key_path, "many.k5");
    EXPECT_EQ(errors[0].message, std::string("key 'k5' is given twice in this ") + word + " (first at line 8)");
    const double small_seconds = least_cpu_seconds([&] {
      std::vector<resources::Error> ignored;
      parse(name, small, ignored);
    });
    const double large_seconds = least_cpu_seconds([&] {
      std::vector<resources::Error> ignored;
      parse(name, large, ignored);
    });
    EXPECT_LT(large_seconds, 64 * std::max(small_seconds, 1e-4))
        << name << ": " << small_seconds << " s for " << kSmall << " keys, " << large_seconds
        << " s for 16 times as many";
  }
}

TEST(LoaderTest, EmptyBinaryAndNonMappingFilesAreRefused) {
  std::vector<resources::Error> errors;
  parse("e.yaml", "  \n# only a comment\n", errors);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_NE(errors[0].message.find("empty"), std::string::npos);
  errors.clear();
  parse("b.yaml", std::string("timezone: x\n\0\x01\x02", 15), errors);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_NE(errors[0].message.find("binary"), std::string::npos);
  errors.clear();
  parse("l.yaml", "- a\n- b\n", errors);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_NE(errors[0].message.find("must be a mapping"), std::string::npos);
  errors.clear();
  parse("u.yaml", "timezone: \xff\xfe\n", errors);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_NE(errors[0].message.find("UTF-8"), std::string::npos);
}

TEST(LoaderTest, DeepNestingIsRefusedWithoutCrashing) {
  std::vector<resources::Error> errors;
  parse("deep.yaml", "x: " + std::string(100000, '[') + std::string(100000, ']') + "\n", errors);
  ASSERT_FALSE(errors.empty());
  EXPECT_NE(errors[0].message.find("nested deeper"), std::string::npos);
  errors.clear();
  parse("deep.json", "{\"x\": " + std::string(100000, '[') + std::string(100000, ']') + "}", errors);
  ASSERT_FALSE(errors.empty());
  EXPECT_NE(errors[0].message.find("nested deeper"), std::string::npos);
  errors.clear();
  std::string block = "a:\n";
  for (int i = 1; i < 200; ++i) block += std::string(i, ' ') + "a:\n";
  parse("deep2.yaml", block, errors);
  ASSERT_FALSE(errors.empty());
}

TEST(LoaderTest, AliasBombIsRefused) {
  std::string text = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n";
  for (int i = 1; i < 9; ++i) {
    text += "a" + std::to_string(i) + ": &a" + std::to_string(i) + " [";
    for (int k = 0; k < 10; ++k) text += std::string(k ? ", " : "") + "*a" + std::to_string(i - 1);
    text += "]\n";
  }
  std::vector<resources::Error> errors;
  parse("bomb.yaml", text, errors);
  ASSERT_FALSE(errors.empty());
  EXPECT_NE(errors[0].message.find("more than"), std::string::npos);
}

TEST(LoaderTest, LayersMergeMapsReplaceScalarsAndAppendListsWithoutDuplicates) {
  std::vector<resources::Error> errors;
  Node base = parse("common.yaml", "timezone: Etc/UTC\npackages:\n  present: [a, b]\n", errors);
  Node host = parse("web1.yaml", "timezone: Europe/Helsinki\npackages:\n  present: [b, c]\n", errors);
  ASSERT_TRUE(errors.empty());
  merge_into(base, host);
  EXPECT_EQ(base.find("timezone")->scalar, "Europe/Helsinki");
  EXPECT_EQ(base.find("timezone")->location.file, "web1.yaml");
  const auto& present = base.find("packages")->find("present")->items;
  ASSERT_EQ(present.size(), 3u);
  EXPECT_EQ(present[0].location.file, "common.yaml");
  EXPECT_EQ(present[2].scalar, "c");
  EXPECT_EQ(present[2].location.file, "web1.yaml");
  EXPECT_EQ(present[2].path, "packages.present[2]");
  const std::string text = explain(base);
  EXPECT_NE(text.find("timezone = Europe/Helsinki    # web1.yaml:1:11"), std::string::npos) << text;
  EXPECT_NE(text.find("packages.present[0] = a    # common.yaml:3:13"), std::string::npos) << text;
}

TEST(LoaderTest, ExplainShowsWhatEachLayerOverrodeNewestFirst) {
  std::vector<resources::Error> errors;
  Node base = parse("base.yaml", "timezone: Etc/UTC\nreport:\n  keep: 5\n", errors);
  Node mid = parse("mid.yaml", "timezone: Europe/Berlin\nreport:\n  keep: 7\n", errors);
  Node host = parse("host.yaml", "timezone: Europe/Helsinki\nreport: null\n", errors);
  ASSERT_TRUE(errors.empty());
  std::vector<Overridden> overridden;
  merge_into(base, mid, &overridden);
  merge_into(base, host, &overridden);
  ASSERT_EQ(overridden.size(), 4u);
  EXPECT_EQ(explain(base, overridden),
            "timezone = Europe/Helsinki    # host.yaml:1:11\n"
            "timezone = Europe/Berlin    # mid.yaml:1:11 (overridden by host.yaml:1:11)\n"
            "timezone = Etc/UTC    # base.yaml:1:11 (overridden by mid.yaml:1:11)\n"
            // A mapping replaced whole: its values are shown under the value that replaced it, and what they had
            // replaced in turn.
            "report = null    # host.yaml:2:9\n"
            "report.keep = 7    # mid.yaml:3:9 (overridden by host.yaml:2:9)\n"
            "report.keep = 5    # base.yaml:3:9 (overridden by mid.yaml:3:9)\n");
  // Without the record, only what won.
  EXPECT_EQ(explain(base), "timezone = Europe/Helsinki    # host.yaml:1:11\nreport = null    # host.yaml:2:9\n");
}

TEST(LoaderTest, MissingFileAndDirectoryAreClearErrors) {
  auto loaded = load_files({"/nonexistent/state.yaml", "/tmp"});
  ASSERT_EQ(loaded.errors.size(), 2u);
  EXPECT_NE(loaded.errors[0].message.find("cannot read"), std::string::npos);
  EXPECT_NE(loaded.errors[1].message.find("directory"), std::string::npos);
}

}  // namespace
}  // namespace reconcile::engine
