#include "providers/managed_file.h"
#include "providers/fs.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <thread>

#include "tests/engine/temp_root.h"

namespace reconcile::providers {
namespace {

using resources::fstab_record;
using resources::keyed_line;
using resources::marked_block;
using resources::whole_file;

constexpr std::string_view kSysctl = "/etc/sysctl.d/90-reconcile.conf";

class ManagedFileTest : public ::testing::Test {
 protected:
  FileEdit open(std::string_view path, EditOptions options = {}) {
    auto edit = FileEdit::open(host_, path, std::move(options));
    if (!edit) ADD_FAILURE() << edit.error();
    return std::move(edit).value();  // throws (and fails the test) when it could not be opened
  }
  struct stat stat_of(const std::string& relative) const {
    struct stat st {};
    EXPECT_EQ(::lstat((root_.path() / relative).c_str(), &st), 0) << relative;
    return st;
  }
  std::vector<std::string> listing(const std::string& relative) const {
    std::vector<std::string> names;
    for (const auto& entry : std::filesystem::directory_iterator(root_.path() / relative)) {
      names.push_back(entry.path().filename().string());
    }
    std::sort(names.begin(), names.end());
    return names;
  }
  testing::TempRoot root_;
  Host host_{root_.path(), nullptr, true, {}};
};

TEST_F(ManagedFileTest, ForeignBytesStayByteForByte) {
  const std::string before =
      "\xEF\xBB\xBF# kernel tuning\r\n"
      "\tnet.ipv4.ip_forward\t=  1 \r\n"
      "; old style comment\r\n"
      "vm.swappiness=60\r\n"
      "\r\n"
      "kernel.panic = 10";  // no final newline
  root_.write("etc/sysctl.d/90-reconcile.conf", before);
  auto edit = open(kSysctl);
  ASSERT_EQ(edit.set(keyed_line("vm.swappiness"), "10"), true);
  ASSERT_TRUE(edit.commit());
  EXPECT_EQ(root_.read("etc/sysctl.d/90-reconcile.conf"),
            "\xEF\xBB\xBF# kernel tuning\r\n"
            "\tnet.ipv4.ip_forward\t=  1 \r\n"
            "; old style comment\r\n"
            "vm.swappiness=10\r\n"
            "\r\n"
            "kernel.panic = 10");
}

TEST_F(ManagedFileTest, AppendedLineTakesTheFilesLineEnding) {
  root_.write("etc/sysctl.d/90-reconcile.conf", "# tuned\r\nkernel.panic = 10");
  auto edit = open(kSysctl);
  ASSERT_EQ(edit.set(keyed_line("vm.swappiness"), "10"), true);
  ASSERT_TRUE(edit.commit());
  EXPECT_EQ(root_.read("etc/sysctl.d/90-reconcile.conf"), "# tuned\r\nkernel.panic = 10\r\nvm.swappiness = 10\r\n");
}

TEST_F(ManagedFileTest, TwoFragmentsInOneCommitAreOneWrite) {
  root_.write("etc/sysctl.d/90-reconcile.conf", "vm.swappiness = 60\n");
  const auto inode = stat_of("etc/sysctl.d/90-reconcile.conf").st_ino;
  const auto writes = FileEdit::writes();
  auto edit = open(kSysctl);
  ASSERT_EQ(edit.set(keyed_line("vm.swappiness"), "10"), true);
  ASSERT_EQ(edit.set(keyed_line("net.ipv4.ip_forward"), "1"), true);
  EXPECT_EQ(stat_of("etc/sysctl.d/90-reconcile.conf").st_ino, inode) << "nothing is written before commit";
  auto done = edit.commit();
  ASSERT_TRUE(done) << done.error();
  EXPECT_TRUE(done->written);
  EXPECT_EQ(done->fragments, 2u);
  EXPECT_EQ(done->what, "write /etc/sysctl.d/90-reconcile.conf (2 fragments)");
  EXPECT_EQ(FileEdit::writes(), writes + 1);
  EXPECT_NE(stat_of("etc/sysctl.d/90-reconcile.conf").st_ino, inode);
  EXPECT_EQ(root_.read("etc/sysctl.d/90-reconcile.conf"), "vm.swappiness = 10\nnet.ipv4.ip_forward = 1\n");
}

TEST_F(ManagedFileTest, UnchangedContentIsNotWritten) {
  root_.write("etc/fstab", "UUID=1 /\text4\tdefaults\t0 1\n/swapfile none swap sw 0 0\n");
  const auto inode = stat_of("etc/fstab").st_ino;
  const auto writes = FileEdit::writes();
  auto edit = open("/etc/fstab");
  EXPECT_EQ(edit.set(fstab_record("/swapfile", "none"), "/swapfile\tnone\tswap\tsw\t0\t0"), false);
  EXPECT_EQ(edit.set(fstab_record("UUID=1", "/"), "UUID=1 / ext4 defaults 0 1"), false);
  EXPECT_FALSE(edit.changed());
  auto done = edit.commit();
  ASSERT_TRUE(done);
  EXPECT_FALSE(done->written);
  EXPECT_EQ(FileEdit::writes(), writes);
  EXPECT_EQ(stat_of("etc/fstab").st_ino, inode);
  EXPECT_EQ(listing("etc"), (std::vector<std::string>{"fstab"}));
}

TEST_F(ManagedFileTest, SettingAndRestoringIsNoChange) {
  root_.write("etc/sysctl.d/90-reconcile.conf", "vm.swappiness = 60\n");
  auto edit = open(kSysctl);
  ASSERT_EQ(edit.set(keyed_line("vm.swappiness"), "10"), true);
  ASSERT_EQ(edit.set(keyed_line("vm.swappiness"), "60"), true);
  EXPECT_FALSE(edit.changed());
  EXPECT_FALSE(edit.commit()->written);
}

TEST_F(ManagedFileTest, ModeAndOwnerAreKept) {
  root_.write("etc/fstab", "/swapfile none swap sw 0 0\n");
  const auto path = root_.path() / "etc/fstab";
  ASSERT_EQ(::chmod(path.c_str(), 0640), 0);
  const bool root = ::geteuid() == 0;
  if (root) {
    ASSERT_EQ(::chown(path.c_str(), 1234, 4321), 0);
  }
  const auto before = stat_of("etc/fstab");
  auto edit = open("/etc/fstab");
  ASSERT_EQ(edit.set(fstab_record("/swapfile", "none"), "/swapfile none swap sw,pri=5 0 0"), true);
  ASSERT_TRUE(edit.commit());
  const auto after = stat_of("etc/fstab");
  EXPECT_NE(after.st_ino, before.st_ino);
  EXPECT_EQ(after.st_mode & 07777, 0640u);
  EXPECT_EQ(after.st_uid, before.st_uid);
  EXPECT_EQ(after.st_gid, before.st_gid);
  if (root) {
    EXPECT_EQ(after.st_uid, 1234u);
  }
}

TEST_F(ManagedFileTest, NewFileGetsTheGivenMode) {
  std::filesystem::create_directories(root_.path() / "etc/sysctl.d");
  auto edit = open(kSysctl, EditOptions{.mode = 0600});
  EXPECT_FALSE(edit.text().exists());
  ASSERT_EQ(edit.set(keyed_line("vm.swappiness"), "10"), true);
  EXPECT_EQ(edit.what(), "create /etc/sysctl.d/90-reconcile.conf (1 fragment)");
  ASSERT_TRUE(edit.commit());
  EXPECT_EQ(stat_of("etc/sysctl.d/90-reconcile.conf").st_mode & 07777, 0600u);
  EXPECT_EQ(root_.read("etc/sysctl.d/90-reconcile.conf"), "vm.swappiness = 10\n");
}

TEST_F(ManagedFileTest, PreviousVersionIsKeptOncePerChange) {
  root_.write("etc/fstab", "# static\n/swapfile none swap sw 0 0\n");
  auto edit = open("/etc/fstab", EditOptions{.keep_previous = true});
  ASSERT_EQ(edit.set(fstab_record("/swapfile", "swap"), "/swapfile none swap sw,pri=1 0 0"), true);
  ASSERT_TRUE(edit.commit());
  EXPECT_EQ(root_.read("etc/fstab.reconcile-previous"), "# static\n/swapfile none swap sw 0 0\n");
  EXPECT_FALSE(edit.commit()->written) << "no change, no new copy";
  ASSERT_EQ(edit.remove(fstab_record("/swapfile", "none")), true);
  ASSERT_TRUE(edit.commit());
  EXPECT_EQ(root_.read("etc/fstab"), "# static\n");
  EXPECT_EQ(root_.read("etc/fstab.reconcile-previous"), "# static\n/swapfile none swap sw,pri=1 0 0\n");
  EXPECT_EQ(listing("etc"), (std::vector<std::string>{"fstab", "fstab.reconcile-previous"}));
}

TEST_F(ManagedFileTest, CrashBeforeRenameLeavesTheOldFileAndNoDebris) {
  root_.write("etc/fstab", "/swapfile none swap sw 0 0\n");
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    EditOptions dying;
    dying.before_rename = [](const std::filesystem::path&) { ::_exit(0); };
    auto edit = FileEdit::open(host_, "/etc/fstab", dying);
    if (edit && edit->set(fstab_record("/swapfile", "none"), "/swapfile none swap sw,pri=9 0 0")) edit->commit();
    ::_exit(1);  // not reached when the hook ran
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_EQ(WEXITSTATUS(status), 0) << "the child died at the rename";
  EXPECT_EQ(root_.read("etc/fstab"), "/swapfile none swap sw 0 0\n");
  const auto left = listing("etc");
  ASSERT_EQ(left.size(), 2u);
  EXPECT_EQ(left[0].rfind(".fstab.reconcile-tmp-" + std::to_string(child) + "-", 0), 0u) << left[0];
  const std::string live = ".fstab.reconcile-tmp-" + std::to_string(::getppid()) + "-1";
  root_.write("etc/" + live, "a running process's");
  auto edit = open("/etc/fstab");
  EXPECT_EQ(listing("etc"), (std::vector<std::string>{live, "fstab"}))
      << "the dead run's temporary file is removed, a live process's is not";
  EXPECT_EQ(edit.get(fstab_record("/swapfile", "none")), "/swapfile none swap sw 0 0");
}

TEST_F(ManagedFileTest, ALinkAtThePathIsRefusedAndTheRootIsNeverLeft) {
  root_.write("etc/real-fstab", "/swapfile none swap sw 0 0\n");
  root_.link("etc/fstab", "real-fstab");
  auto edit = FileEdit::open(host_, "/etc/fstab");
  ASSERT_FALSE(edit);
  EXPECT_EQ(edit.error(), "/etc/fstab is a symbolic link; reconcile edits regular files only, never through a link");
  EXPECT_FALSE(observe_file(host_, "/etc/fstab"));

  testing::TempRoot elsewhere;
  std::filesystem::create_symlink(elsewhere.path() / "etc", root_.path() / "outside");
  auto escaped = FileEdit::open(host_, "/outside/fstab");
  ASSERT_FALSE(escaped);
  EXPECT_NE(escaped.error().find("outside the root"), std::string::npos) << escaped.error();
  EXPECT_FALSE(FileEdit::open(host_, "/etc/../outside/fstab"));
  EXPECT_FALSE(replace_symlink(host_, "/outside/localtime", "/usr/share/zoneinfo/Etc/UTC"));
}

TEST_F(ManagedFileTest, FragmentsAreParsedForObserving) {
  root_.write("etc/sysctl.d/90-reconcile.conf",
              "# vm.swappiness = 1\nvm.swappiness = 60\n-net.core.somaxconn=4096\nvm.swappiness = 30\nnot a line\n");
  auto text = observe_file(host_, kSysctl);
  ASSERT_TRUE(text) << text.error();
  EXPECT_EQ(text->get(keyed_line("vm.swappiness")), "30") << "the last one is what sysctl applies";
  EXPECT_EQ(text->occurrences(keyed_line("vm.swappiness")), 2u);
  EXPECT_EQ(text->get(keyed_line("net.core.somaxconn")), "4096");
  EXPECT_EQ(text->get(keyed_line("kernel.panic")), std::nullopt);
  using Entries = std::vector<std::pair<std::string, std::string>>;
  EXPECT_EQ(text->all(resources::FragmentKind::kKeyedLine),
            (Entries{{"vm.swappiness", "30"}, {"net.core.somaxconn", "4096"}}));

  root_.write("etc/fstab", "# <fs> <mount>\nUUID=1\t/\text4\terrors=remount-ro 0 1\n/dev/sdb1 none swap sw 0 0\n");
  auto fstab = observe_file(host_, "/etc/fstab");
  ASSERT_TRUE(fstab);
  EXPECT_EQ(fstab->get(fstab_record("UUID=1", "/")), "UUID=1 / ext4 errors=remount-ro 0 1");
  EXPECT_EQ(fstab->get(fstab_record("/dev/sdb1", "swap")), "/dev/sdb1 none swap sw 0 0") << "swap by its source";
  EXPECT_EQ(fstab->all(resources::FragmentKind::kFstabRecord),
            (Entries{{"/", "UUID=1 / ext4 errors=remount-ro 0 1"}, {"/dev/sdb1", "/dev/sdb1 none swap sw 0 0"}}));

  root_.write("etc/bom.conf", "\xEF\xBB\xBFkernel.panic = 10\r\n");
  auto bom = observe_file(host_, "/etc/bom.conf");
  ASSERT_TRUE(bom);
  EXPECT_EQ(bom->get(keyed_line("kernel.panic")), "10") << "the BOM is not part of the first key";
  EXPECT_EQ(bom->get(whole_file()), "\xEF\xBB\xBFkernel.panic = 10\r\n");

  auto missing = observe_file(host_, "/etc/absent.conf");
  ASSERT_TRUE(missing);
  EXPECT_FALSE(missing->exists());
  EXPECT_EQ(missing->get(whole_file()), std::nullopt);
  EXPECT_EQ(listing("etc").size(), 3u) << "observing writes nothing";
}

TEST_F(ManagedFileTest, DuplicateKeysBecomeOneLine) {
  root_.write("etc/sysctl.d/90-reconcile.conf", "vm.swappiness = 60\nx = 1\nvm.swappiness = 30\n");
  auto edit = open(kSysctl);
  ASSERT_EQ(edit.set(keyed_line("vm.swappiness"), "30"), true);
  ASSERT_TRUE(edit.commit());
  EXPECT_EQ(root_.read("etc/sysctl.d/90-reconcile.conf"), "vm.swappiness = 30\nx = 1\n");
}

TEST_F(ManagedFileTest, MarkedBlockIsReplacedAndRemovedAlone) {
  root_.write("etc/nftables.conf", "table inet filter {}\n# BEGIN reconcile firewall\nold rule\n# END reconcile firewall\n# mine\n");
  auto edit = open("/etc/nftables.conf");
  EXPECT_EQ(edit.get(marked_block("firewall")), "old rule");
  ASSERT_EQ(edit.set(marked_block("firewall"), "rule one\n\trule two\n"), true);
  ASSERT_EQ(edit.set(marked_block("extra"), ""), true);
  ASSERT_TRUE(edit.commit());
  EXPECT_EQ(root_.read("etc/nftables.conf"),
            "table inet filter {}\n# BEGIN reconcile firewall\nrule one\n\trule two\n# END reconcile firewall\n# mine\n"
            "# BEGIN reconcile extra\n# END reconcile extra\n");
  ASSERT_EQ(edit.remove(marked_block("firewall")), true);
  EXPECT_EQ(edit.set(marked_block("extra"), ""), false);
  ASSERT_TRUE(edit.commit());
  EXPECT_EQ(root_.read("etc/nftables.conf"), "table inet filter {}\n# mine\n# BEGIN reconcile extra\n# END reconcile extra\n");
}

TEST_F(ManagedFileTest, UnterminatedBlockIsAnErrorNotAGuess) {
  root_.write("etc/nftables.conf", "a\n# BEGIN reconcile firewall\nrule\n");
  auto edit = FileEdit::open(host_, "/etc/nftables.conf");
  ASSERT_FALSE(edit);
  EXPECT_EQ(edit.error(),
            "/etc/nftables.conf: line 2: '# BEGIN reconcile firewall' has no '# END reconcile firewall'");
}

TEST_F(ManagedFileTest, ContentAFragmentCannotHoldIsRefused) {
  auto edit = open("/etc/fstab");
  EXPECT_FALSE(edit.set(keyed_line("vm.swappiness"), "1\nkernel.panic = 1"));
  EXPECT_FALSE(edit.set(fstab_record("/swapfile", "none"), "/other none swap sw 0 0"));
  EXPECT_FALSE(edit.set(marked_block("b"), "# END reconcile b"));
  EXPECT_FALSE(edit.changed());
}

TEST_F(ManagedFileTest, WholeFileIsWrittenAndRemoved) {
  auto edit = open("/etc/timezone");
  ASSERT_EQ(edit.set(whole_file(), "Europe/Helsinki\n"), true);
  EXPECT_EQ(edit.what(), "create /etc/timezone");
  ASSERT_TRUE(edit.commit());
  EXPECT_EQ(root_.read("etc/timezone"), "Europe/Helsinki\n");
  EXPECT_EQ(edit.set(whole_file(), "Europe/Helsinki\n"), false);
  ASSERT_EQ(edit.remove(whole_file()), true);
  EXPECT_EQ(edit.what(), "remove /etc/timezone");
  ASSERT_TRUE(edit.commit()->written);
  EXPECT_FALSE(std::filesystem::exists(root_.path() / "etc/timezone"));
}

TEST_F(ManagedFileTest, EditsOfOneFileFromTwoThreadsAreSerialised) {
  root_.write("etc/sysctl.d/90-reconcile.conf", "");
  std::vector<std::thread> threads;
  for (int t = 0; t < 2; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 20; ++i) {
        auto edit = FileEdit::open(host_, kSysctl);
        ASSERT_TRUE(edit);
        ASSERT_TRUE(edit->set(keyed_line("key" + std::to_string(t) + "." + std::to_string(i)), "1"));
        ASSERT_TRUE(edit->commit());
      }
    });
  }
  for (auto& thread : threads) thread.join();
  auto text = observe_file(host_, kSysctl);
  ASSERT_TRUE(text);
  EXPECT_EQ(text->all(resources::FragmentKind::kKeyedLine).size(), 40u) << "no edit is lost";
}

TEST_F(ManagedFileTest, SymlinkIsReplacedAtomicallyOnlyWhenItDiffers) {
  root_.link("etc/localtime", "/usr/share/zoneinfo/Etc/UTC");
  EXPECT_EQ(replace_symlink(host_, "/etc/localtime", "/usr/share/zoneinfo/Etc/UTC"), false);
  EXPECT_EQ(replace_symlink(host_, "/etc/localtime", "/usr/share/zoneinfo/Europe/Berlin"), true);
  EXPECT_EQ(std::filesystem::read_symlink(root_.path() / "etc/localtime"), "/usr/share/zoneinfo/Europe/Berlin");
  EXPECT_EQ(listing("etc"), (std::vector<std::string>{"localtime"}));
}

TEST(FileTextTest, CommentOutKeepsTheLinesBytesAndEndsTheFragment) {
  auto text = FileText::parse("a = 1\r\n/dev/sdb1\tnone  swap sw 0 0\r\n# c\r\n/dev/sdb1 none swap sw 0 0");
  ASSERT_TRUE(text.has_value());
  const auto swap = resources::fstab_record("/dev/sdb1", "none");
  EXPECT_EQ(text->occurrences(swap), 2u);
  EXPECT_TRUE(text->comment_out(swap));
  EXPECT_EQ(text->bytes(), "a = 1\r\n#/dev/sdb1\tnone  swap sw 0 0\r\n# c\r\n#/dev/sdb1 none swap sw 0 0");
  EXPECT_EQ(text->get(swap), std::nullopt);
  EXPECT_FALSE(text->comment_out(swap));
  EXPECT_TRUE(text->comment_out(resources::keyed_line("a")));
  EXPECT_FALSE(text->comment_out(resources::whole_file()));
  EXPECT_TRUE(text->bytes().starts_with("#a = 1\r\n"));
}

}  // namespace
TEST(AtomicWriteTest, TemporaryFilesOfAKilledWriterAreRemovedByTheNextWrite) {
  testing::TempRoot root;
  const auto target = root.path() / "etc/timezone";
  root.write("etc/.timezone.reconcile-999999", "half");  // no such process: a run killed before its rename
  root.write("etc/.timezone.reconcile-" + std::to_string(::getppid()), "live");  // a writer still running
  root.write("etc/.timezone.reconcile-12x", "not ours");
  ASSERT_TRUE(write_file_atomic(target, "Etc/UTC\n", 0644));
  EXPECT_FALSE(std::filesystem::exists(root.path() / "etc/.timezone.reconcile-999999"));
  EXPECT_TRUE(std::filesystem::exists(root.path() / ("etc/.timezone.reconcile-" + std::to_string(::getppid()))));
  EXPECT_TRUE(std::filesystem::exists(root.path() / "etc/.timezone.reconcile-12x"));
  ASSERT_TRUE(replace_symlink_atomic(root.path() / "etc/localtime", "/usr/share/zoneinfo/Etc/UTC"));
  root.write("etc/.localtime.reconcile-999998", "");
  ASSERT_TRUE(replace_symlink_atomic(root.path() / "etc/localtime", "/usr/share/zoneinfo/Etc/UTC"));
  EXPECT_FALSE(std::filesystem::exists(root.path() / "etc/.localtime.reconcile-999998"));
}

}  // namespace reconcile::providers

namespace reconcile::providers {
namespace {

class WholeFileTest : public ::testing::Test {
 protected:
  testing::TempRoot root_;
  Host host_{root_.path(), nullptr, true, {}};
};

TEST_F(WholeFileTest, WritesWithItsModeReplacesALinkWithoutFollowingItAndRefusesADirectory) {
  root_.write("etc/keep", "unchanged\n");
  std::filesystem::create_symlink(root_.path() / "etc/keep", root_.path() / "etc/link");
  ASSERT_TRUE(write_whole_file(host_, "/etc/app.env", std::string("A=1\n\0bin", 8), 0640, std::nullopt));
  struct stat st {};
  ASSERT_EQ(::lstat((root_.path() / "etc/app.env").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0640u);
  EXPECT_EQ(root_.read("etc/app.env"), std::string("A=1\n\0bin", 8));
  ASSERT_TRUE(write_whole_file(host_, "/etc/link", "new\n", 0644, std::nullopt));
  EXPECT_EQ(root_.read("etc/keep"), "unchanged\n");  // the link's target is untouched
  EXPECT_FALSE(std::filesystem::is_symlink(root_.path() / "etc/link"));
  std::filesystem::create_directories(root_.path() / "etc/dir");
  const auto refused = write_whole_file(host_, "/etc/dir", "x", 0644, std::nullopt);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error(), "/etc/dir is a directory");
  for (const auto& entry : std::filesystem::directory_iterator(root_.path() / "etc")) {
    EXPECT_EQ(entry.path().filename().string().find("reconcile-tmp"), std::string::npos) << entry.path();
  }
}

}  // namespace
}  // namespace reconcile::providers
