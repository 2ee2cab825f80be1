#pragma once
// A throwaway directory standing in for a host's file tree, for file-only resources.

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

namespace reconcile::testing {

/// mkdtemp'd root with a small zone database and /etc; removed when destroyed.
class TempRoot {
 public:
  TempRoot() {
    std::string pattern = (std::filesystem::temp_directory_path() / "reconcile-root-XXXXXX").string();
    path_ = ::mkdtemp(pattern.data());
    std::filesystem::create_directories(path_ / "etc");
    for (const char* zone : {"Etc/UTC", "Europe/Helsinki", "Europe/Berlin", "America/New_York"}) {
      const auto target = path_ / "usr/share/zoneinfo" / zone;
      std::filesystem::create_directories(target.parent_path());
      std::filesystem::copy_file(std::filesystem::path("/usr/share/zoneinfo") / zone, target);
    }
  }
  ~TempRoot() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::filesystem::path& path() const { return path_; }
  void write(const std::string& relative, const std::string& content) const {
    std::filesystem::create_directories((path_ / relative).parent_path());
    std::ofstream(path_ / relative) << content;
  }
  void link(const std::string& relative, const std::string& target) const {
    std::error_code ec;
    std::filesystem::remove(path_ / relative, ec);
    std::filesystem::create_symlink(target, path_ / relative);
  }
  std::string read(const std::string& relative) const {
    std::ifstream in(path_ / relative);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }

 private:
  std::filesystem::path path_;
};

}  // namespace reconcile::testing
