#pragma once
// Signals of a run or of the daemon, taken by one thread with sigwait (nothing runs in a signal handler):
// SIGTERM and SIGINT ask the run to stop after the steps in progress, SIGHUP asks the daemon for a cycle now.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>

namespace reconcile::engine {

class Signals {
 public:
  /// Blocks SIGTERM, SIGINT and SIGHUP in the calling thread (call it before any other thread starts, so every
  /// thread inherits the mask; child processes get a clean mask from providers::Exec) and starts the thread
  /// that takes them. Once per process.
  static Signals& install();

  /// Set by SIGTERM/SIGINT; pass it as RunOptions::stop.
  const std::atomic<bool>& stop() const { return stop_; }
  /// The signal that set stop() (SIGTERM or SIGINT), 0 before.
  int stop_signal() const { return stop_signal_.load(); }

  enum class Wake { kTimeout, kHangup, kStop };
  /// Sleeps until `deadline`, a SIGHUP (consumed) or a stop request.
  Wake wait_until(std::chrono::steady_clock::time_point deadline);
  /// Whether a SIGHUP came since the last wait (consumes it).
  bool take_hangup();

  /// For tests: what a signal would do.
  void deliver(int signal);

 private:
  Signals() = default;
  void loop();

  std::atomic<bool> stop_{false};
  std::atomic<int> stop_signal_{0};
  bool hangup_ = false;
  std::mutex mutex_;
  std::condition_variable wake_;
};

}  // namespace reconcile::engine
