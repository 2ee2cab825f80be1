#pragma once
// The one way reconcile runs a system tool: an argv vector, no shell, a timeout, captured output.

#include <atomic>
#include <chrono>
#include <mutex>
#include <string>
#include <vector>

namespace reconcile::providers {

/// A command to run.
struct ExecRequest {
  std::vector<std::string> argv;           // argv[0] is looked up in PATH when it has no '/'
  std::vector<std::string> extra_env;      // "NAME=value" added to the environment
  std::string stdin_data;
  std::chrono::milliseconds timeout{std::chrono::minutes(10)};
};

/// What a command did.
struct ExecResult {
  int exit_status = -1;     // exit code, or -1 when it did not exit normally
  int signal = 0;           // the signal that ended it, if any
  bool timed_out = false;
  std::string spawn_error;  // why it could not be started, if it was not
  std::string out;
  std::string err;
  double seconds = 0;

  bool ok() const { return spawn_error.empty() && !timed_out && exit_status == 0; }
  /// The last lines of stderr (or stdout), or the reason it failed to run, for reports.
  std::string tail(std::size_t max_lines = 8) const;
  /// The same on one line ("a; b"), for a message that is one sentence.
  std::string tail_line(std::size_t max_lines = 3) const;
  /// "exit status 100", "killed by signal 9", "timed out after 30 s", "not started: …".
  std::string status_text() const;
};

/// Runs commands; one instance per run. Counts every process it spawns.
class Exec {
 public:
  virtual ~Exec() = default;
  /// Runs the command; each start and end is logged at debug level (the argv, how it ended, its time).
  virtual ExecResult run(const ExecRequest& request);
  /// The number of processes spawned by every Exec in this process.
  static std::size_t spawned() { return spawned_.load(); }
  /// The time during which at least one child of an Exec in this process was running (the union of their
  /// lifetimes, so tools run in parallel count once), in seconds, the interval in progress included.
  static double tool_wait_seconds();
  /// The argv as one line for reports, quoting what needs it.
  static std::string describe(const std::vector<std::string>& argv);

 private:
  ExecResult spawn_and_wait(const ExecRequest& request);
  static void child_started();
  static void child_ended();
  static inline std::atomic<std::size_t> spawned_{0};
  static inline std::mutex wait_mutex_;
  static inline std::size_t running_ = 0;                          // under wait_mutex_
  static inline std::chrono::steady_clock::time_point busy_since_;  // when running_ went 0 → 1
  static inline std::chrono::steady_clock::duration waited_{};     // the closed intervals
};

}  // namespace reconcile::providers
