// read_file: the whole file in one string, for ordinary files and for the pseudo-files of /proc, which say size
// 0 and give a sysctl's value only to a read at their start.

#include "providers/fs.h"

#include <gtest/gtest.h>

#include <fstream>
#include <iterator>
#include <string>

#include "tests/engine/temp_root.h"

namespace reconcile::providers {
namespace {

std::string by_stream(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

TEST(ReadFileTest, ProcFilesAreReadWhole) {
  for (const char* path : {"/proc/sys/kernel/ostype", "/proc/sys/net/ipv4/ip_local_port_range",
                           "/proc/sys/vm/swappiness", "/proc/self/limits"}) {
    const auto text = read_file(path);
    ASSERT_TRUE(text.has_value()) << path << ": " << text.error();
    EXPECT_EQ(*text, by_stream(path)) << path;
    EXPECT_GT(text->size(), 1u) << path;
  }
}

TEST(ReadFileTest, OrdinaryFilesOfEverySizeAndTheLimit) {
  testing::TempRoot root;
  for (const std::size_t size : {0ul, 1ul, 4095ul, 4096ul, 65537ul, 300000ul}) {
    std::string content(size, 'x');
    for (std::size_t i = 0; i < size; i += 7) content[i] = static_cast<char>('a' + i % 26);
    root.write("f", content);
    const auto text = read_file(root.path() / "f");
    ASSERT_TRUE(text.has_value());
    EXPECT_EQ(*text, content) << size;
  }
  root.write("big", std::string(5000, 'y'));
  const auto limited = read_file(root.path() / "big", 4096);
  ASSERT_FALSE(limited.has_value());
  EXPECT_NE(limited.error().find("larger than"), std::string::npos) << limited.error();
}

}  // namespace
}  // namespace reconcile::providers
