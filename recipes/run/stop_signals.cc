#include "recipes/run/stop_signals.h"

#include <atomic>
#include <csignal>

namespace attn {

namespace {

std::atomic<int> g_last{0};
std::atomic<int> g_count{0};
struct sigaction g_old_int {};
struct sigaction g_old_term {};

extern "C" void attnlab_on_stop_signal(int sig) {
  g_last.store(sig);
  g_count.fetch_add(1);
}

}  // namespace

StopSignals::StopSignals() {
  g_last.store(0);
  g_count.store(0);
  struct sigaction sa {};
  sa.sa_handler = attnlab_on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, &g_old_int);
  sigaction(SIGTERM, &sa, &g_old_term);
}

StopSignals::~StopSignals() {
  sigaction(SIGINT, &g_old_int, nullptr);
  sigaction(SIGTERM, &g_old_term, nullptr);
}

int StopSignals::last() {
  return g_last.load();
}

int StopSignals::count() {
  return g_count.load();
}

}  // namespace attn
