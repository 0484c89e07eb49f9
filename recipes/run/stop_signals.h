// SIGINT/SIGTERM as a request to stop at the next safe point: while a StopSignals guard lives,
// the signals only record themselves, so long work can checkpoint and return instead of dying.
#pragma once

namespace attn {

class StopSignals {
 public:
  StopSignals();   // installs the handlers and clears earlier signals
  ~StopSignals();  // restores the previous handlers
  StopSignals(const StopSignals&) = delete;
  StopSignals& operator=(const StopSignals&) = delete;

  static int last();   // the most recent signal number, 0 if none arrived
  static int count();  // how many arrived since the guard was installed
};

}  // namespace attn
