#include "providers/exec.h"

#include <spdlog/spdlog.h>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>

extern char** environ;

namespace reconcile::providers {

namespace {

void close_fd(int& fd) {
  if (fd >= 0) ::close(fd);
  fd = -1;
}

std::string trim_tail(const std::string& text, std::size_t max_lines) {
  std::size_t end = text.find_last_not_of(" \n\r\t");
  if (end == std::string::npos) return "";
  std::size_t pos = end + 1;
  std::size_t lines = 0;
  while (pos > 0) {
    const std::size_t nl = text.rfind('\n', pos - 1);
    if (nl == std::string::npos) {
      pos = 0;
      break;
    }
    if (++lines >= max_lines) {
      pos = nl + 1;
      break;
    }
    pos = nl;
  }
  std::string out = text.substr(pos, end + 1 - pos);
  if (out.size() > 2000) out = "…" + out.substr(out.size() - 2000);
  return out;
}

}  // namespace

std::string ExecResult::tail(std::size_t max_lines) const {
  if (!spawn_error.empty()) return spawn_error;
  std::string text = trim_tail(err, max_lines);
  if (text.empty()) text = trim_tail(out, max_lines);
  return text;
}

std::string ExecResult::tail_line(std::size_t max_lines) const {
  std::string out;
  const std::string text = tail(max_lines);
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    std::string_view line = std::string_view(text).substr(start, end - start);
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.remove_suffix(1);
    if (!line.empty()) out += (out.empty() ? "" : "; ") + std::string(line);
    start = end + 1;
  }
  return out;
}

std::string ExecResult::status_text() const {
  if (!spawn_error.empty()) return "not started: " + spawn_error;
  if (timed_out) {
    char text[48];
    std::snprintf(text, sizeof text, seconds < 10 ? "timed out after %.1f s" : "timed out after %.0f s", seconds);
    return text;
  }
  if (signal != 0) return std::string("killed by signal ") + std::to_string(signal);
  return "exit status " + std::to_string(exit_status);
}

std::string Exec::describe(const std::vector<std::string>& argv) {
  std::string out;
  for (const auto& arg : argv) {
    if (!out.empty()) out += ' ';
    const bool plain = !arg.empty() && arg.find_first_of(" \t\n'\"\\$`*?;&|<>()") == std::string::npos;
    if (plain) {
      out += arg;
    } else {
      out += '\'';
      for (const char c : arg) out += (c == '\'') ? std::string("'\\''") : std::string(1, c);
      out += '\'';
    }
  }
  return out;
}

namespace {

// RECONCILE_TOOL_TIMEOUT=SECONDS caps every tool's timeout (the tests of a hanging tool); unset: no cap.
std::chrono::milliseconds tool_timeout_cap() {
  static const std::chrono::milliseconds cap = [] {
    const char* text = std::getenv("RECONCILE_TOOL_TIMEOUT");
    const long seconds = text != nullptr ? std::strtol(text, nullptr, 10) : 0;
    return std::chrono::milliseconds(seconds > 0 ? seconds * 1000 : 0);
  }();
  return cap;
}

}  // namespace

void Exec::child_started() {
  const std::lock_guard lock(wait_mutex_);
  if (running_++ == 0) busy_since_ = std::chrono::steady_clock::now();
}

void Exec::child_ended() {
  const std::lock_guard lock(wait_mutex_);
  if (running_ > 0 && --running_ == 0) waited_ += std::chrono::steady_clock::now() - busy_since_;
}

double Exec::tool_wait_seconds() {
  const std::lock_guard lock(wait_mutex_);
  auto total = waited_;
  if (running_ > 0) total += std::chrono::steady_clock::now() - busy_since_;
  return std::chrono::duration<double>(total).count();
}

ExecResult Exec::run(const ExecRequest& request) {
  const bool logging = spdlog::should_log(spdlog::level::debug);
  if (logging) spdlog::debug("exec {}", describe(request.argv));
  ExecResult result = spawn_and_wait(request);
  if (logging) {
    spdlog::debug("exec {} → {} in {:.3f} s", describe(request.argv), result.ok() ? "exit 0" : result.status_text(),
                  result.seconds);
  }
  return result;
}

ExecResult Exec::spawn_and_wait(const ExecRequest& request) {
  ExecResult result;
  const auto started = std::chrono::steady_clock::now();
  if (request.argv.empty()) {
    result.spawn_error = "empty command";
    return result;
  }
  int in_pipe[2] = {-1, -1}, out_pipe[2] = {-1, -1}, err_pipe[2] = {-1, -1};
  if (::pipe2(in_pipe, O_CLOEXEC) != 0 || ::pipe2(out_pipe, O_CLOEXEC) != 0 || ::pipe2(err_pipe, O_CLOEXEC) != 0) {
    result.spawn_error = std::string("pipe: ") + std::strerror(errno);
    for (int* fds : {in_pipe, out_pipe, err_pipe}) {
      close_fd(fds[0]);
      close_fd(fds[1]);
    }
    return result;
  }

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, in_pipe[0], 0);
  posix_spawn_file_actions_adddup2(&actions, out_pipe[1], 1);
  posix_spawn_file_actions_adddup2(&actions, err_pipe[1], 2);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  posix_spawnattr_setpgroup(&attr, 0);
  sigset_t empty, all;
  sigemptyset(&empty);
  sigfillset(&all);
  posix_spawnattr_setsigmask(&attr, &empty);
  posix_spawnattr_setsigdefault(&attr, &all);

  std::vector<std::string> env_strings;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) env_strings.emplace_back(*e);
  for (const auto& extra : request.extra_env) {
    const std::string name = extra.substr(0, extra.find('=') + 1);
    std::erase_if(env_strings, [&](const std::string& s) { return s.starts_with(name); });
    env_strings.push_back(extra);
  }
  std::vector<char*> envp;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<std::string> argv_copy = request.argv;
  std::vector<char*> argv;
  for (auto& s : argv_copy) argv.push_back(s.data());
  argv.push_back(nullptr);

  // The tool's time starts with its spawn (the exec of its binary is its cost) and ends when it is reaped.
  pid_t pid = -1;
  child_started();
  const int rc = ::posix_spawnp(&pid, argv[0], &actions, &attr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  close_fd(in_pipe[0]);
  close_fd(out_pipe[1]);
  close_fd(err_pipe[1]);
  if (rc != 0) {
    child_ended();
    result.spawn_error = request.argv[0] + ": " + std::strerror(rc);
    close_fd(in_pipe[1]);
    close_fd(out_pipe[0]);
    close_fd(err_pipe[0]);
    return result;
  }
  spawned_.fetch_add(1);

  std::size_t written = 0;
  if (request.stdin_data.empty()) close_fd(in_pipe[1]);
  else ::fcntl(in_pipe[1], F_SETFL, O_NONBLOCK);
  auto timeout = std::chrono::duration_cast<std::chrono::milliseconds>(request.timeout);
  if (const auto cap = tool_timeout_cap(); cap.count() > 0 && cap < timeout) timeout = cap;
  const auto deadline = started + timeout;
  char buffer[16384];
  while (out_pipe[0] >= 0 || err_pipe[0] >= 0) {
    pollfd fds[3];
    int n = 0;
    int out_index = -1, err_index = -1, in_index = -1;
    if (out_pipe[0] >= 0) { out_index = n; fds[n++] = {out_pipe[0], POLLIN, 0}; }
    if (err_pipe[0] >= 0) { err_index = n; fds[n++] = {err_pipe[0], POLLIN, 0}; }
    if (in_pipe[1] >= 0) { in_index = n; fds[n++] = {in_pipe[1], POLLOUT, 0}; }
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      result.timed_out = true;
      ::kill(-pid, SIGKILL);
      ::kill(pid, SIGKILL);  // also when it left its process group
      break;
    }
    const int ready = ::poll(fds, n, static_cast<int>(std::min<long long>(left.count(), 1000)));
    if (ready < 0 && errno != EINTR) break;
    if (ready <= 0) continue;
    auto drain = [&](int index, int& fd, std::string& sink) {
      if (index < 0 || (fds[index].revents & (POLLIN | POLLHUP | POLLERR)) == 0) return;
      const ssize_t got = ::read(fd, buffer, sizeof buffer);
      if (got > 0) {
        if (sink.size() < (64u << 20)) sink.append(buffer, static_cast<std::size_t>(got));
      } else if (got == 0 || errno != EINTR) {
        close_fd(fd);
      }
    };
    drain(out_index, out_pipe[0], result.out);
    drain(err_index, err_pipe[0], result.err);
    if (in_index >= 0 && (fds[in_index].revents & (POLLOUT | POLLERR | POLLHUP)) != 0) {
      const ssize_t put = ::write(in_pipe[1], request.stdin_data.data() + written, request.stdin_data.size() - written);
      if (put > 0) written += static_cast<std::size_t>(put);
      if (put < 0 && errno != EAGAIN && errno != EINTR) close_fd(in_pipe[1]);
      if (written >= request.stdin_data.size()) close_fd(in_pipe[1]);
    }
  }
  close_fd(in_pipe[1]);
  close_fd(out_pipe[0]);
  close_fd(err_pipe[0]);
  // A command may close its output and go on running: the deadline holds for its exit too. Its exit is awaited on
  // a pidfd (readable when it exits), so no sleep is added after it; without pidfd_open (a kernel before 5.3, a
  // seccomp filter) the loop below polls.
  if (!result.timed_out) {
    const int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
    while (pidfd >= 0) {
      const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) break;  // the loop below kills it
      pollfd fd{pidfd, POLLIN, 0};
      const int ready = ::poll(&fd, 1, static_cast<int>(std::min<long long>(left.count(), 1000)));
      if (ready > 0 || (ready < 0 && errno != EINTR)) break;
    }
    if (pidfd >= 0) ::close(pidfd);
  }
  int status = 0;
  while (true) {
    const pid_t done = ::waitpid(pid, &status, result.timed_out ? 0 : WNOHANG);
    if (done == pid || (done < 0 && errno != EINTR)) break;
    if (done != 0) continue;
    if (std::chrono::steady_clock::now() >= deadline) {
      result.timed_out = true;
      ::kill(-pid, SIGKILL);
      ::kill(pid, SIGKILL);
      continue;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  child_ended();
  if (WIFEXITED(status)) result.exit_status = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) result.signal = WTERMSIG(status);
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return result;
}

}  // namespace reconcile::providers
