// Report delivery for real: e-mail through OpenSMTPD on a test host, read from the delivered mailbox; the S3
// upload to a local S3-compatible server (s3rver from npm, scripts/setup.sh) on this machine's loopback, read
// back over HTTP. The upload runs the binary on a throwaway root (--root), so nothing of this machine changes.

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "tests/support/test_host.h"

namespace reconcile {
namespace {

namespace fs = std::filesystem;
namespace rt = reconcile::testing;
using nlohmann::json;

// The newest mail in the Maildir of `user` on the host, waiting up to 20 s for it to be the `count`th.
std::string wait_for_mail(rt::TestHost& host, const std::string& maildir, std::size_t count) {
  for (int i = 0; i < 100; ++i) {
    const auto list = host.exec({"sh", "-c", "ls -1tr " + maildir + "/new 2>/dev/null"});
    std::vector<std::string> names;
    std::size_t start = 0;
    while (start < list.out.size()) {
      const std::size_t end = std::min(list.out.find('\n', start), list.out.size());
      if (end > start) names.push_back(list.out.substr(start, end - start));
      start = end + 1;
    }
    if (names.size() >= count) return host.exec({"cat", maildir + "/new/" + names[count - 1]}).out;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  return "";
}

std::size_t mail_count(rt::TestHost& host, const std::string& maildir) {
  const auto list = host.exec({"sh", "-c", "ls -1 " + maildir + "/new 2>/dev/null | wc -l"});
  return static_cast<std::size_t>(std::stoul(list.out.empty() ? "0" : list.out));
}

TEST(DeliveryHostTest, TheReportIsMailedThroughTheLocalMtaWhenSomethingChangedOrAlways) {
  RECONCILE_TEST_HOST_OR_SKIP(host, rt::unique_name("dl-mail"), rt::default_bin_dir());
  // OpenSMTPD from the offline repository; it delivers no mail to root itself (by design), so root's mail
  // goes to a user through /etc/aliases, as on any Debian host with an MTA.
  auto installed = host->exec_env({"DEBIAN_FRONTEND=noninteractive"}, {"apt-get", "install", "-y", "-q", "opensmtpd"});
  ASSERT_EQ(installed.exit_code, 0) << installed.out << installed.err;
  ASSERT_EQ(host->exec({"sh", "-c", "useradd -m mailtest && echo 'root: mailtest' >> /etc/aliases && "
                                    "systemctl restart opensmtpd"}).exit_code, 0);
  const std::string maildir = "/home/mailtest/Maildir";
  host->write_file("/tmp/state.yaml", "timezone: Europe/Helsinki\nreport:\n  mail_to: [root@localhost]\n");

  auto applied = host->reconcile({"/tmp/state.yaml"});
  ASSERT_EQ(applied.exit_code, 2) << applied.out << applied.err;
  const std::string mail = wait_for_mail(*host, maildir, 1);
  ASSERT_FALSE(mail.empty()) << host->exec({"journalctl", "-u", "opensmtpd", "--no-pager"}).out;
  EXPECT_NE(mail.find("Subject: reconcile on " + host->name() + ": 1 changed, 0 in sync of 1\n"), std::string::npos)
      << mail;
  EXPECT_NE(mail.find("To: root@localhost"), std::string::npos) << mail;
  EXPECT_NE(mail.find("Auto-Submitted: auto-generated"), std::string::npos) << mail;
  EXPECT_NE(mail.find("✓ timezone: zone Etc/UTC → Europe/Helsinki"), std::string::npos) << mail;
  EXPECT_NE(mail.find("Applied: 1 changed"), std::string::npos) << mail;
  const json latest = json::parse(host->exec({"cat", "/var/lib/reconcile/last-report.json"}).out);
  EXPECT_EQ(latest["delivery"][0]["channel"], "mail");
  EXPECT_TRUE(latest["delivery"][0]["ok"].get<bool>());

  // Converged: `mail: changes` (the default) sends nothing and spawns no process.
  auto again = host->reconcile({"--format=json", "/tmp/state.yaml"});
  ASSERT_EQ(again.exit_code, 0) << again.out << again.err;
  EXPECT_EQ(json::parse(again.out)["processes_spawned"], 0);
  std::this_thread::sleep_for(std::chrono::seconds(2));
  EXPECT_EQ(mail_count(*host, maildir), 1u);

  // A dry run that finds drift mails too (watch-only mode), and `mail: always` mails a converged run.
  host->write_file("/tmp/dry.yaml", "timezone: Europe/Berlin\nreport:\n  mail_to: [root@localhost]\n");
  ASSERT_EQ(host->reconcile({"--dry-run", "/tmp/dry.yaml"}).exit_code, 2);
  const std::string preview = wait_for_mail(*host, maildir, 2);
  EXPECT_NE(preview.find("Subject: reconcile dry run on " + host->name() + ": 1 would change, 0 in sync of 1\n"),
            std::string::npos) << preview;
  host->write_file("/tmp/always.yaml", "timezone: Europe/Helsinki\nreport:\n  mail_to: [root@localhost]\n  mail: always\n");
  ASSERT_EQ(host->reconcile({"/tmp/always.yaml"}).exit_code, 0);
  const std::string always = wait_for_mail(*host, maildir, 3);
  EXPECT_NE(always.find("Subject: reconcile on " + host->name() + ": in sync, 1 in sync of 1\n"), std::string::npos)
      << always;

  // No MTA: the failure is reported, the run's change stays, the exit code gains the failure bit.
  ASSERT_EQ(host->exec_env({"DEBIAN_FRONTEND=noninteractive"}, {"apt-get", "purge", "-y", "-q", "opensmtpd"}).exit_code, 0);
  host->write_file("/tmp/utc.yaml", "timezone: Etc/UTC\nreport:\n  mail_to: [root@localhost]\n");
  auto no_mta = host->reconcile({"/tmp/utc.yaml"});
  EXPECT_EQ(no_mta.exit_code, 6) << no_mta.out << no_mta.err;
  EXPECT_NE(no_mta.err.find("/usr/sbin/sendmail is missing: install a mail transfer agent"), std::string::npos)
      << no_mta.err;
  EXPECT_EQ(host->exec({"readlink", "/etc/localtime"}).out, "/usr/share/zoneinfo/Etc/UTC\n");
  std::string report;
  EXPECT_TRUE(host->down(&report)) << report;
}

// s3rver (or, with verify_signatures, tests/support/sigv4_server.py, which checks each request's SigV4 signature)
// on 127.0.0.1, a port of its choosing; stopped (by its process group) when destroyed.
class S3Server {
 public:
  static constexpr const char* kScript = "/opt/reconcile-test/node_modules/s3rver/bin/s3rver.js";

  bool start(std::string* why, bool verify_signatures = false) {
    if (!verify_signatures && !fs::exists(kScript)) {
      *why = std::string(kScript) + " is missing: run scripts/setup.sh --test";
      return false;
    }
    char pattern[] = "/tmp/reconcile-s3rver-XXXXXX";
    dir_ = ::mkdtemp(pattern);
    fs::create_directories(dir_ / "data");
    const std::string log = (dir_ / "log").string();
    pid_ = ::fork();
    if (pid_ == 0) {
      ::setpgid(0, 0);
      std::freopen(log.c_str(), "w", stdout);
      std::freopen(log.c_str(), "a", stderr);
      const std::string data = (dir_ / "data").string();
      if (verify_signatures) {
        const std::string server = std::string(RECONCILE_SOURCE_DIR) + "/tests/support/sigv4_server.py";
        ::execl("/usr/bin/python3", "python3", server.c_str(), "S3RVER", "S3RVER", "eu-north-1",
                static_cast<char*>(nullptr));
      }
      ::execlp("node", "node", kScript, "-d", data.c_str(), "-a", "127.0.0.1", "-p", "0", "--configure-bucket",
               "reports", static_cast<char*>(nullptr));
      ::_exit(127);
    }
    for (int i = 0; i < 150; ++i) {
      std::ifstream in(log);
      const std::string text((std::istreambuf_iterator<char>(in)), {});
      const auto at = text.find("listening on 127.0.0.1:");
      if (at != std::string::npos) {
        endpoint_ = "http://127.0.0.1:" + std::to_string(std::stoi(text.substr(at + 23)));
        return true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    *why = "s3rver did not start: " + log;
    return false;
  }
  ~S3Server() {
    if (pid_ > 0) {
      ::kill(-pid_, SIGTERM);
      ::waitpid(pid_, nullptr, 0);
    }
    std::error_code ec;
    if (!dir_.empty()) fs::remove_all(dir_, ec);
  }
  const std::string& endpoint() const { return endpoint_; }

 private:
  fs::path dir_;
  pid_t pid_ = -1;
  std::string endpoint_;
};

// Both servers: s3rver, a full S3-compatible server (it checks the access key, not the V4 signature), and the
// verifying one, which refuses a request whose signature is not what AWS would compute.
class DeliveryS3Test : public ::testing::TestWithParam<bool> {};
INSTANTIATE_TEST_SUITE_P(Servers, DeliveryS3Test, ::testing::Values(false, true),
                         [](const auto& info) { return info.param ? "SignatureChecked" : "S3rver"; });

TEST_P(DeliveryS3Test, TheJsonReportIsUploadedWithSigV4AndReadBack) {
  const bool verifying = GetParam();
  S3Server server;
  std::string why;
  if (!server.start(&why, verifying)) {
    if (rt::skip_allowed()) GTEST_SKIP() << why;
    FAIL() << why;
  }
  char pattern[] = "/tmp/reconcile-s3root-XXXXXX";
  const fs::path root = ::mkdtemp(pattern);
  fs::create_directories(root / "etc");
  fs::create_directories(root / "usr/share/zoneinfo/Etc");
  fs::copy_file("/usr/share/zoneinfo/Etc/UTC", root / "usr/share/zoneinfo/Etc/UTC");
  fs::create_symlink("/usr/share/zoneinfo/Etc/GMT", root / "etc/localtime");
  std::ofstream(root / "state.yaml") << "timezone: Etc/UTC\nreport:\n  dir: /reports\n  s3: {bucket: reports, prefix: fleet/, "
                                        "region: eu-north-1, endpoint: \"" + server.endpoint() + "\"}\n";
  const std::string binary = rt::default_bin_dir() + "/reconcile";
  auto run = [&](const std::string& key, const std::string& secret = "S3RVER") {
    return rt::run_command({"env", "-i", "PATH=/usr/bin:/bin", "HOME=" + root.string(), "AWS_ACCESS_KEY_ID=" + key,
                            "AWS_SECRET_ACCESS_KEY=" + secret, binary, "--root=" + root.string(), "--dry-run",
                            "--format=json", (root / "state.yaml").string()});
  };
  const auto uploaded = run("S3RVER");
  ASSERT_EQ(uploaded.exit_code, 2) << uploaded.out << uploaded.err;
  const json report = json::parse(uploaded.out);
  ASSERT_EQ(report["delivery"][0]["channel"], "s3") << report["delivery"].dump();
  ASSERT_TRUE(report["delivery"][0]["ok"].get<bool>()) << report["delivery"].dump();
  const std::string target = report["delivery"][0]["target"];
  const std::string prefix = "s3://reports/";
  ASSERT_TRUE(target.starts_with(prefix + "fleet/")) << target;
  const std::string key = target.substr(prefix.size());

  const auto got = rt::run_command({"curl", "-sS", "--fail-with-body", "--aws-sigv4", "aws:amz:eu-north-1:s3", "--user",
                                    "S3RVER:S3RVER", "-H", "x-amz-content-sha256: UNSIGNED-PAYLOAD",
                                    server.endpoint() + "/reports/" + key});
  ASSERT_EQ(got.exit_code, 0) << got.out << got.err;
  const json object = json::parse(got.out);
  EXPECT_EQ(object["mode"], "dry-run");
  EXPECT_EQ(object["started"], report["started"]);
  EXPECT_EQ(object["counts"]["drifted"], 1);

  // Credentials the server does not know: reported, the exit code gains the failure bit, the latest report says so.
  const auto refused = run("NOBODY");
  EXPECT_EQ(refused.exit_code, 6) << refused.out << refused.err;
  EXPECT_NE(refused.err.find("HTTP 403 InvalidAccessKeyId"), std::string::npos) << refused.err;
  std::ifstream latest_file(root / "reports/last-report.json");
  const json latest = json::parse(latest_file);
  EXPECT_FALSE(latest["delivery"][0]["ok"].get<bool>());
  EXPECT_EQ(latest["exit_code"], 6);
  EXPECT_EQ(fs::read_symlink(root / "etc/localtime"), "/usr/share/zoneinfo/Etc/GMT");  // a dry run
  if (verifying) {
    const auto forged = run("S3RVER", "not-the-secret");
    EXPECT_EQ(forged.exit_code, 6) << forged.out << forged.err;
    EXPECT_NE(forged.err.find("HTTP 403 SignatureDoesNotMatch"), std::string::npos) << forged.err;
  }
  std::error_code ec;
  fs::remove_all(root, ec);
}

}  // namespace
}  // namespace reconcile
