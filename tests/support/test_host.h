// Throwaway booted test hosts for integration tests: a C++ wrapper around tests/host/testhost.sh
// (systemd-nspawn container on an overlayfs over a cached Debian image; see tests/host/README.md).
//
//   TEST(Foo, Bar) {
//     RECONCILE_TEST_HOST_OR_SKIP(host, reconcile::testing::unique_name("foo"),
//                                 reconcile::testing::default_bin_dir());
//     auto before = host->upper_snapshot();
//     auto r = host->reconcile({"apply", "--dry-run", "/tmp/state.toml"});
//     EXPECT_EQ(r.exit_code, 0) << r.err;
//     EXPECT_EQ(host->upper_snapshot(), before);  // the dry run changed no file
//     std::string report;
//     EXPECT_TRUE(host->down(&report)) << report;  // optional: the destructor does it too
//   }
//
// Requires root. The script is found through the environment variable RECONCILE_SOURCE_DIR, else the compile
// definition RECONCILE_SOURCE_DIR (the source tree root).
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

namespace reconcile::testing {

struct RunResult {
  int exit_code;    // the command's exit code; 128+N if killed by signal N; -1 on timeout or spawn failure
  std::string out;  // stdout
  std::string err;  // stderr
};

/// Runs argv (argv[0] looked up in PATH) on the machine running the tests, feeding stdin_data and capturing
/// stdout/stderr (read with poll, no deadlock). The child gets its own process group, which is SIGKILLed after
/// `timeout`. SIGPIPE is ignored process-wide from the first call on.
RunResult run_command(const std::vector<std::string>& argv, const std::string& stdin_data = "",
                      std::chrono::seconds timeout = std::chrono::seconds(600));

/// Absolute path of tests/host/testhost.sh, or "" if RECONCILE_SOURCE_DIR is known neither from the environment
/// nor from the compile definition.
std::string testhost_script();

/// Directory holding the `reconcile` executable under test: env RECONCILE_BIN_DIR, else the compile definition
/// RECONCILE_BIN_DIR, else "" (then hosts boot without a binary at /opt/rc).
std::string default_bin_dir();

/// "PREFIX-PID-N": a host name that is unique across concurrently running test processes; valid for testhost.sh
/// ([a-z0-9-], at most 31 characters; PREFIX is lowercased and shortened as needed).
std::string unique_name(const std::string& prefix);

/// True if RECONCILE_ALLOW_SKIP=1: tests may GTEST_SKIP when no test host can be started; otherwise they FAIL.
bool skip_allowed();

/// A booted throwaway test host; torn down in the destructor.
class TestHost {
 public:
  /// Boots NAME with the reconcile binary from bin_dir (directory that holds `reconcile`; "" for none). Inside the
  /// host the binary is /opt/rc/reconcile and the libraries it needs that the image lacks are in /opt/rc/lib.
  /// Returns nullptr and sets *why if it cannot (not root, script not found, boot failed) so tests can GTEST_SKIP
  /// only when RECONCILE_ALLOW_SKIP=1, else FAIL (see RECONCILE_TEST_HOST_OR_SKIP).
  static std::unique_ptr<TestHost> start(const std::string& name, const std::string& bin_dir, std::string* why);

  /// Tears the host down if down() was not called; a failed teardown (host not untouched) is reported with
  /// ADD_FAILURE and on stderr.
  ~TestHost();
  TestHost(const TestHost&) = delete;
  TestHost& operator=(const TestHost&) = delete;

  /// Runs argv inside the host (nsenter into all its namespaces; environment is only PATH, HOME=/root,
  /// LD_LIBRARY_PATH=/opt/rc/lib plus `env`). Exit code 125 with a "testhost.sh: error:" message on stderr means
  /// the command could not be started (host gone).
  RunResult exec(const std::vector<std::string>& argv, const std::string& stdin_data = "");
  RunResult exec_env(const std::vector<std::string>& env, const std::vector<std::string>& argv,
                     const std::string& stdin_data = "");  // env entries are "K=V"
  /// /opt/rc/reconcile with args.
  RunResult reconcile(const std::vector<std::string>& args, const std::string& stdin_data = "");

  /// Writes a file inside the host (mkdir -p of its directory, then `cat >` through exec, so it works for the
  /// host's /tmp, a tmpfs that root_dir() does not show). Throws std::runtime_error on failure. Note: a file
  /// outside /tmp lands in the overlay upper dir; take upper_snapshot() after writing state files.
  void write_file(const std::string& path_inside, const std::string& content);

  /// Host-side path of the overlay upper directory: every file the host changed since boot (systemd writes a few
  /// at boot: /etc/machine-id, /var/lib/systemd/..., /var/log/wtmp; /run and /tmp are tmpfs and never appear).
  std::string upper_dir() const;
  /// Sorted lines "/path mtime size ctime type mode uid:gid" of everything in upper_dir(). Equal snapshots before
  /// and after a command prove the command changed no file (outside /run and /tmp).
  std::vector<std::string> upper_snapshot();
  /// Host-side path of the merged root (writing here changes the upper dir, like a write inside the host).
  std::string root_dir() const;
  /// Host pid of the container's PID 1.
  int leader_pid() const { return leader_pid_; }
  const std::string& name() const { return name_; }

  /// Optional: `testhost.sh netpeer` -- veth 192.0.2.1/24 inside (dev th0) and 192.0.2.2/24 in the host-side
  /// namespace peer_netns() ("th-NAME-peer"); run things there with
  /// run_command({"ip", "netns", "exec", peer_netns(), ...}). The container's namespace is "th-NAME".
  bool netpeer(std::string* why = nullptr);
  std::string peer_netns() const { return "th-" + name_ + "-peer"; }

  /// `testhost.sh reboot`: powers the host off and boots it again on the same overlay (its files persist; the
  /// network namespaces, netpeer included, start afresh). Updates leader_pid().
  bool reboot(std::string* why = nullptr);

  /// Tears down now. Returns true if the host machine is untouched (no swap, mounts or namespaces left, nft
  /// ruleset unchanged); otherwise false with the script's report in *report. Idempotent.
  bool down(std::string* report = nullptr);

 private:
  TestHost() = default;
  RunResult script(const std::vector<std::string>& args, const std::string& stdin_data = "") const;

  std::string script_;
  std::string name_;
  std::string upper_;
  std::string root_;
  int leader_pid_ = -1;
  bool down_done_ = false;
  bool down_ok_ = true;
  std::string down_report_;
};

}  // namespace reconcile::testing

/// Declares `std::unique_ptr<TestHost> var` booted as NAME with BIN_DIR; if that fails, GTEST_SKIP()s when
/// RECONCILE_ALLOW_SKIP=1 and FAIL()s otherwise. Use in a TEST body (it returns).
#define RECONCILE_TEST_HOST_OR_SKIP(var, name, bin_dir)                                          \
  std::string var##_why_;                                                                        \
  auto var = ::reconcile::testing::TestHost::start((name), (bin_dir), &var##_why_);               \
  if (!var) {                                                                                    \
    if (::reconcile::testing::skip_allowed()) GTEST_SKIP() << "no test host: " << var##_why_;     \
    FAIL() << "cannot start a test host (set RECONCILE_ALLOW_SKIP=1 to skip): " << var##_why_;     \
  }
