#include "tests/support/test_host.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <mutex>
#include <sstream>
#include <stdexcept>

extern char** environ;

namespace reconcile::testing {
namespace {

void ignore_sigpipe_once() {
  static std::once_flag once;
  std::call_once(once, [] { ::signal(SIGPIPE, SIG_IGN); });
}

void close_fd(int& fd) {
  if (fd >= 0) ::close(fd);
  fd = -1;
}

// Environment for children: ours, with /usr/sbin and /sbin on PATH (tests are often run with a user PATH).
std::vector<std::string> child_environment() {
  std::vector<std::string> env;
  bool have_path = false;
  for (char** e = environ; e && *e; ++e) {
    std::string s(*e);
    if (s.starts_with("PATH=")) {
      have_path = true;
      for (const char* d : {"/usr/sbin", "/sbin", "/usr/bin", "/bin"}) {
        std::string dir(d);
        std::string list = ":" + s.substr(5) + ":";
        if (list.find(":" + dir + ":") == std::string::npos) s += ":" + dir;
      }
    }
    env.push_back(std::move(s));
  }
  if (!have_path) env.emplace_back("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
  return env;
}

std::vector<std::string> split_lines(const std::string& s) {
  std::vector<std::string> lines;
  std::istringstream in(s);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

std::string trim(std::string s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  size_t i = 0;
  while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
  return s.substr(i);
}

std::string describe(const std::vector<std::string>& args, const RunResult& r) {
  std::string cmd;
  for (const auto& a : args) cmd += (cmd.empty() ? "" : " ") + a;
  return "`testhost.sh " + cmd + "` exited " + std::to_string(r.exit_code) + ": " + trim(r.err);
}

}  // namespace

RunResult run_command(const std::vector<std::string>& argv, const std::string& stdin_data,
                      std::chrono::seconds timeout) {
  RunResult result{-1, "", ""};
  if (argv.empty()) {
    result.err = "run_command: empty argv";
    return result;
  }
  ignore_sigpipe_once();

  // Everything the child needs is prepared before fork (no allocation after fork in a threaded process).
  std::vector<std::string> env_storage = child_environment();
  std::vector<char*> envp;
  for (auto& e : env_storage) envp.push_back(e.data());
  envp.push_back(nullptr);
  std::vector<std::string> argv_storage = argv;
  std::vector<char*> args;
  for (auto& a : argv_storage) args.push_back(a.data());
  args.push_back(nullptr);
  std::string path_value;
  for (const auto& e : env_storage)
    if (e.starts_with("PATH=")) path_value = e.substr(5);
  // Resolve argv[0] against PATH now (execvpe would use the parent's PATH, not ours).
  std::string program = argv[0];
  if (program.find('/') == std::string::npos) {
    std::istringstream dirs(path_value);
    for (std::string dir; std::getline(dirs, dir, ':');) {
      std::string candidate = (dir.empty() ? "." : dir) + "/" + program;
      if (::access(candidate.c_str(), X_OK) == 0) {
        program = candidate;
        break;
      }
    }
  }

  int in_pipe[2] = {-1, -1}, out_pipe[2] = {-1, -1}, err_pipe[2] = {-1, -1};
  if (::pipe2(in_pipe, O_CLOEXEC) != 0 || ::pipe2(out_pipe, O_CLOEXEC) != 0 ||
      ::pipe2(err_pipe, O_CLOEXEC) != 0) {
    result.err = std::string("pipe2: ") + std::strerror(errno);
    for (int* p : {in_pipe, out_pipe, err_pipe}) {
      close_fd(p[0]);
      close_fd(p[1]);
    }
    return result;
  }

  pid_t pid = ::fork();
  if (pid < 0) {
    result.err = std::string("fork: ") + std::strerror(errno);
    for (int* p : {in_pipe, out_pipe, err_pipe}) {
      close_fd(p[0]);
      close_fd(p[1]);
    }
    return result;
  }
  if (pid == 0) {
    ::setpgid(0, 0);
    ::signal(SIGPIPE, SIG_DFL);
    ::dup2(in_pipe[0], 0);
    ::dup2(out_pipe[1], 1);
    ::dup2(err_pipe[1], 2);
    ::close_range(3, ~0U, 0);  // no stray descriptor (e.g. another test's pipe) reaches the child
    ::execve(program.c_str(), args.data(), envp.data());
    const char msg[] = "run_command: execve failed\n";
    [[maybe_unused]] auto n = ::write(2, msg, sizeof msg - 1);
    ::_exit(127);
  }
  ::setpgid(pid, pid);  // also from the parent, so the group exists before any kill below
  close_fd(in_pipe[0]);
  close_fd(out_pipe[1]);
  close_fd(err_pipe[1]);

  int in_fd = in_pipe[1], out_fd = out_pipe[0], err_fd = err_pipe[0];
  ::fcntl(in_fd, F_SETFL, ::fcntl(in_fd, F_GETFL) | O_NONBLOCK);
  size_t written = 0;
  if (stdin_data.empty()) close_fd(in_fd);

  const auto deadline = std::chrono::steady_clock::now() + timeout;
  bool timed_out = false;
  char buf[65536];
  while (out_fd >= 0 || err_fd >= 0) {
    std::vector<pollfd> fds;
    if (in_fd >= 0) fds.push_back({in_fd, POLLOUT, 0});
    if (out_fd >= 0) fds.push_back({out_fd, POLLIN, 0});
    if (err_fd >= 0) fds.push_back({err_fd, POLLIN, 0});
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      timed_out = true;
      break;
    }
    int n = ::poll(fds.data(), fds.size(), static_cast<int>(std::min<long long>(left.count(), 1000)));
    if (n < 0) {
      if (errno == EINTR) continue;
      result.err += std::string("poll: ") + std::strerror(errno);
      break;
    }
    for (const auto& p : fds) {
      if (p.revents == 0) continue;
      if (p.fd == in_fd) {
        if (p.revents & (POLLERR | POLLHUP)) {
          close_fd(in_fd);
          continue;
        }
        ssize_t w = ::write(in_fd, stdin_data.data() + written, stdin_data.size() - written);
        if (w > 0) written += static_cast<size_t>(w);
        if ((w < 0 && errno != EAGAIN && errno != EINTR) || written == stdin_data.size()) close_fd(in_fd);
      } else {
        ssize_t r = ::read(p.fd, buf, sizeof buf);
        if (r > 0) {
          (p.fd == out_fd ? result.out : result.err).append(buf, static_cast<size_t>(r));
        } else if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
          if (p.fd == out_fd) close_fd(out_fd);
          else close_fd(err_fd);
        }
      }
    }
  }
  if (timed_out) ::kill(-pid, SIGKILL);
  close_fd(in_fd);
  close_fd(out_fd);
  close_fd(err_fd);

  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) {
      result.err += std::string("waitpid: ") + std::strerror(errno);
      return result;
    }
  }
  if (timed_out) {
    result.exit_code = -1;
    result.err += "\n[run_command: timed out after " + std::to_string(timeout.count()) + " s; killed]\n";
  } else if (WIFEXITED(status)) {
    result.exit_code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    result.exit_code = 128 + WTERMSIG(status);
  }
  return result;
}

std::string testhost_script() {
  std::string dir;
  if (const char* e = std::getenv("RECONCILE_SOURCE_DIR"); e && *e) dir = e;
#ifdef RECONCILE_SOURCE_DIR
  if (dir.empty()) dir = RECONCILE_SOURCE_DIR;
#endif
  if (dir.empty()) return "";
  return dir + "/tests/host/testhost.sh";
}

std::string default_bin_dir() {
  if (const char* e = std::getenv("RECONCILE_BIN_DIR"); e && *e) return e;
#ifdef RECONCILE_BIN_DIR
  return RECONCILE_BIN_DIR;
#else
  return "";
#endif
}

std::string unique_name(const std::string& prefix) {
  static std::atomic<int> counter{0};
  std::string suffix = "-" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
  std::string p;
  for (char c : prefix) {
    unsigned char u = static_cast<unsigned char>(c);
    if (std::isalnum(u)) p += static_cast<char>(std::tolower(u));
    else if (!p.empty() && p.back() != '-') p += '-';
  }
  while (!p.empty() && p.back() == '-') p.pop_back();
  if (p.empty()) p = "th";
  if (p.size() + suffix.size() > 31) p.resize(31 - suffix.size());
  while (!p.empty() && p.back() == '-') p.pop_back();
  return p + suffix;
}

bool skip_allowed() {
  const char* e = std::getenv("RECONCILE_ALLOW_SKIP");
  return e && std::string(e) == "1";
}

std::unique_ptr<TestHost> TestHost::start(const std::string& name, const std::string& bin_dir, std::string* why) {
  auto fail = [&](std::string msg) -> std::unique_ptr<TestHost> {
    if (why) *why = std::move(msg);
    return nullptr;
  };
  if (::geteuid() != 0) return fail("test hosts need root (systemd-nspawn, overlayfs mounts)");
  std::string script = testhost_script();
  if (script.empty()) return fail("RECONCILE_SOURCE_DIR is set neither in the environment nor at compile time");
  if (::access(script.c_str(), X_OK) != 0) return fail(script + " is missing or not executable");

  std::unique_ptr<TestHost> host(new TestHost());
  host->script_ = script;
  host->name_ = name;
  std::vector<std::string> up = {"up", name};
  if (!bin_dir.empty()) {
    up.push_back("--bin");
    up.push_back(bin_dir);
  }
  RunResult r = host->script(up);
  if (r.exit_code != 0) {
    host->down_done_ = true;  // `up` cleans up after itself on failure
    return fail(describe(up, r));
  }
  RunResult upper = host->script({"upper", name});
  RunResult root = host->script({"root", name});
  RunResult leader = host->script({"leader", name});
  if (upper.exit_code != 0 || root.exit_code != 0 || leader.exit_code != 0) {
    std::string msg = "host booted but cannot be inspected: " + upper.err + root.err + leader.err;
    host->down();
    return fail(msg);
  }
  host->upper_ = trim(upper.out);
  host->root_ = trim(root.out);
  host->leader_pid_ = std::atoi(trim(leader.out).c_str());
  return host;
}

TestHost::~TestHost() {
  if (down_done_) return;
  std::string report;
  if (!down(&report)) {
    std::cerr << "test host '" << name_ << "': teardown failed:\n" << report << std::endl;
    ADD_FAILURE() << "test host '" << name_ << "' teardown: the host machine is not untouched:\n" << report;
  }
}

RunResult TestHost::script(const std::vector<std::string>& args, const std::string& stdin_data) const {
  std::vector<std::string> argv = {script_};
  argv.insert(argv.end(), args.begin(), args.end());
  return run_command(argv, stdin_data);
}

RunResult TestHost::exec(const std::vector<std::string>& argv, const std::string& stdin_data) {
  return exec_env({}, argv, stdin_data);
}

RunResult TestHost::exec_env(const std::vector<std::string>& env, const std::vector<std::string>& argv,
                             const std::string& stdin_data) {
  std::vector<std::string> args = {"exec", name_};
  for (const auto& kv : env) {
    args.push_back("--env");
    args.push_back(kv);
  }
  args.push_back("--");
  args.insert(args.end(), argv.begin(), argv.end());
  return script(args, stdin_data);
}

RunResult TestHost::reconcile(const std::vector<std::string>& args, const std::string& stdin_data) {
  std::vector<std::string> argv = {"/opt/rc/reconcile"};
  argv.insert(argv.end(), args.begin(), args.end());
  return exec(argv, stdin_data);
}

void TestHost::write_file(const std::string& path_inside, const std::string& content) {
  RunResult r = exec({"/bin/sh", "-c", "mkdir -p \"$(dirname \"$1\")\" && cat > \"$1\"", "sh", path_inside}, content);
  if (r.exit_code != 0)
    throw std::runtime_error("write_file(" + path_inside + ") in host '" + name_ + "' failed (exit " +
                             std::to_string(r.exit_code) + "): " + r.err);
}

std::string TestHost::upper_dir() const { return upper_; }
std::string TestHost::root_dir() const { return root_; }

std::vector<std::string> TestHost::upper_snapshot() {
  RunResult r = script({"snapshot", name_});
  if (r.exit_code != 0) throw std::runtime_error(describe({"snapshot", name_}, r));
  return split_lines(r.out);
}

bool TestHost::reboot(std::string* why) {
  RunResult r = script({"reboot", name_});
  if (r.exit_code != 0) {
    if (why) *why = describe({"reboot", name_}, r);
    return false;
  }
  RunResult leader = script({"leader", name_});
  leader_pid_ = std::atoi(trim(leader.out).c_str());
  return leader.exit_code == 0;
}

bool TestHost::netpeer(std::string* why) {
  RunResult r = script({"netpeer", name_});
  if (r.exit_code != 0 && why) *why = describe({"netpeer", name_}, r);
  return r.exit_code == 0;
}

bool TestHost::down(std::string* report) {
  if (!down_done_) {
    down_done_ = true;
    RunResult r = script({"down", name_});
    down_ok_ = r.exit_code == 0;
    down_report_ = down_ok_ ? "" : describe({"down", name_}, r);
  }
  if (report) *report = down_report_;
  return down_ok_;
}

}  // namespace reconcile::testing
