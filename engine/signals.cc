#include "engine/signals.h"

#include <pthread.h>
#include <signal.h>
#include <spdlog/spdlog.h>

#include <thread>

namespace reconcile::engine {

namespace {

sigset_t handled() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGHUP);
  return set;
}

}  // namespace

Signals& Signals::install() {
  static Signals* signals = [] {
    auto* s = new Signals();  // lives as long as the process (its thread never ends)
    const sigset_t set = handled();
    ::pthread_sigmask(SIG_BLOCK, &set, nullptr);
    std::thread([s] { s->loop(); }).detach();
    return s;
  }();
  return *signals;
}

void Signals::loop() {
  const sigset_t set = handled();
  while (true) {
    int signal = 0;
    if (::sigwait(&set, &signal) != 0) continue;
    deliver(signal);
  }
}

void Signals::deliver(int signal) {
  std::lock_guard lock(mutex_);
  if (signal == SIGHUP) {
    spdlog::info("SIGHUP: a cycle now");
    hangup_ = true;
  } else {
    if (stop_.load()) {
      spdlog::warn("{} again: still stopping after the steps in progress", signal == SIGINT ? "SIGINT" : "SIGTERM");
    } else {
      spdlog::warn("{}: stopping after the steps in progress", signal == SIGINT ? "SIGINT" : "SIGTERM");
      stop_signal_.store(signal);
      stop_.store(true);
    }
  }
  wake_.notify_all();
}

Signals::Wake Signals::wait_until(std::chrono::steady_clock::time_point deadline) {
  std::unique_lock lock(mutex_);
  wake_.wait_until(lock, deadline, [&] { return hangup_ || stop_.load(); });
  if (stop_.load()) return Wake::kStop;
  if (hangup_) {
    hangup_ = false;
    return Wake::kHangup;
  }
  return Wake::kTimeout;
}

bool Signals::take_hangup() {
  std::lock_guard lock(mutex_);
  const bool had = hangup_;
  hangup_ = false;
  return had;
}

}  // namespace reconcile::engine
