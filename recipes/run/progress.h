// Progress line of long runs: `step 120/2000 | loss 2.3145 | 41.2K tok/s | ETA 3m12s`, redrawn in
// place (\r, ~10 Hz) on a terminal and printed as plain log lines otherwise; ETA from smoothed step
// time.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <string>

namespace attn {

class Progress {
 public:
  using Clock = std::function<std::chrono::steady_clock::time_point()>;

  // total_steps <= 0: unknown length (no "/total", no ETA). quiet: prints nothing at all.
  // `clock` defaults to steady_clock::now; tests pass a fake one.
  Progress(int64_t total_steps, bool quiet, std::FILE* out, Clock clock = nullptr);

  // On a terminal the line is redrawn at most every 100 ms (and always on the last step), so
  // calling it every step is cheap; elsewhere every call prints one line.
  void update(int64_t step, double loss, double tokens_per_s);
  // What the rate counts ("tok" unless set: ABMIL runs count "bags").
  void set_rate_unit(std::string unit) { unit_ = std::move(unit); }
  // Prints `text` on its own line above the progress line (which is redrawn below it).
  void message(const std::string& text);
  // "warning: text", printed even when quiet (to stderr then): what a user must not miss. A
  // Progress without `out` (ranks other than 0) prints nothing.
  void warn(const std::string& text);
  // Ends the progress line (the terminal's cursor moves to a fresh line).
  void finish();

  // Whether output goes to a terminal (isatty at construction); tests force either mode.
  bool tty() const { return tty_; }
  void set_tty(bool tty) { tty_ = tty; }

  // The line for the latest update, without \r or newline ("" before the first update).
  const std::string& line() const { return line_; }
  // Smoothed seconds per step (< 0 until two updates have been seen).
  double seconds_per_step() const { return sec_per_step_; }

 private:
  void draw();

  int64_t total_;
  bool quiet_;
  std::FILE* out_;
  Clock clock_;
  bool tty_ = false;
  bool drawn_ = false;  // a progress line is on screen (tty) and must be cleared before messages
  std::string line_;
  std::string unit_ = "tok";
  int64_t last_step_ = -1;
  std::chrono::steady_clock::time_point last_time_{};
  std::chrono::steady_clock::time_point last_draw_{};
  double sec_per_step_ = -1;
};

// "3m12s", "45s", "1h05m", "2d03h"; "--" for a negative or non-finite duration.
std::string format_duration(double seconds);
// Three significant digits with a K/M/G suffix: 950 -> "950", 41234 -> "41.2K", 1.5e6 -> "1.50M".
std::string format_si(double value);

}  // namespace attn
