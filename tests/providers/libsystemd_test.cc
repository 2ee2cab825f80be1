// libsystemd loaded on first use: what a host without it (or with an older one) is told, and that the binary
// does not link it (its dependencies would be loaded at every start).

#include "providers/libsystemd.h"

#include <elf.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "providers/systemd_bus.h"

namespace reconcile::providers {
namespace {

TEST(LibsystemdTest, AnAbsentLibraryIsMissingWithTheLoadersReason) {
  const Libsystemd sd = load_libsystemd("libsystemd-absent.so.0");
  EXPECT_TRUE(sd.missing.starts_with("cannot load libsystemd-absent.so.0: ")) << sd.missing;
  EXPECT_NE(sd.missing.find("cannot open shared object file"), std::string::npos) << sd.missing;
  EXPECT_EQ(sd.notify, nullptr);
  EXPECT_EQ(sd.open_system, nullptr);
}

TEST(LibsystemdTest, ALibraryWithoutTheCallsIsMissingWithTheFirstAbsentSymbol) {
  const Libsystemd sd = load_libsystemd("libc.so.6");
  EXPECT_EQ(sd.missing, "libc.so.6 lacks sd_bus_error_is_set");
}

TEST(LibsystemdTest, TheBuildsLibraryLoadsEveryCallOnce) {
  const Libsystemd& sd = Libsystemd::get();
  EXPECT_EQ(sd.missing, "");
  EXPECT_NE(sd.open_system, nullptr);
  EXPECT_NE(sd.message_read, nullptr);
  EXPECT_NE(sd.notify, nullptr);
  EXPECT_NE(sd.watchdog_enabled, nullptr);
  EXPECT_EQ(&Libsystemd::get(), &sd);
}

// Services are then unknown with this reason, like when systemd's bus does not answer (SystemdProvider::observe).
TEST(LibsystemdTest, WithoutTheLibrarySystemdCannotBeReachedAndTheErrorSaysWhy) {
  const Libsystemd sd = load_libsystemd("libsystemd-absent.so.0");
  const Host host{"/", nullptr, true, {}};
  for (const std::string address : {"", "unix:path=/run/dbus/system_bus_socket"}) {
    const auto bus = SystemdBus::open(address, host, sd);
    ASSERT_FALSE(bus.has_value());
    EXPECT_EQ(bus.error(), "cannot connect to systemd over D-Bus: " + sd.missing);
  }
}

// The DT_NEEDED entries of a 64-bit ELF file, read from its section headers.
std::vector<std::string> needed_libraries(const char* file) {
  std::ifstream in(file, std::ios::binary);
  auto read_at = [&](std::uint64_t offset, void* into, std::size_t size) {
    in.clear();
    in.seekg(static_cast<std::streamoff>(offset));
    return static_cast<bool>(in.read(static_cast<char*>(into), static_cast<std::streamsize>(size)));
  };
  std::vector<std::string> out;
  Elf64_Ehdr header{};
  if (!read_at(0, &header, sizeof header) || std::memcmp(header.e_ident, ELFMAG, SELFMAG) != 0) return out;
  auto section = [&](std::size_t i) {
    Elf64_Shdr s{};
    read_at(header.e_shoff + i * sizeof(Elf64_Shdr), &s, sizeof s);
    return s;
  };
  for (std::size_t i = 0; i < header.e_shnum; ++i) {
    const Elf64_Shdr dynamic = section(i);
    if (dynamic.sh_type != SHT_DYNAMIC) continue;
    const Elf64_Shdr strings = section(dynamic.sh_link);
    std::string names(strings.sh_size, '\0');
    if (!read_at(strings.sh_offset, names.data(), names.size())) return out;
    std::vector<Elf64_Dyn> entries(dynamic.sh_size / sizeof(Elf64_Dyn));
    if (!read_at(dynamic.sh_offset, entries.data(), entries.size() * sizeof(Elf64_Dyn))) return out;
    for (const auto& entry : entries) {
      if (entry.d_tag == DT_NULL) break;
      if (entry.d_tag == DT_NEEDED && entry.d_un.d_val < names.size()) {
        out.emplace_back(names.c_str() + entry.d_un.d_val);
      }
    }
  }
  return out;
}

TEST(LibsystemdTest, TheBinaryDoesNotLinkLibsystemd) {
  const auto needed = needed_libraries(RECONCILE_BINARY);
  ASSERT_FALSE(needed.empty()) << RECONCILE_BINARY;
  for (const auto& library : needed) EXPECT_FALSE(library.starts_with("libsystemd")) << library;
}

}  // namespace
}  // namespace reconcile::providers
