#include "recipes/run/progress.h"

#include <unistd.h>

#include <cmath>

#include <fmt/format.h>

namespace attn {

namespace {

// Weight of the newest step-time sample: smooths over roughly ten updates, enough to hide
// evaluation pauses and checkpoint writes without lagging a real change of speed for long.
constexpr double kSmoothing = 0.1;
constexpr auto kRedrawInterval = std::chrono::milliseconds(100);

}  // namespace

std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "--";
  const int64_t s = static_cast<int64_t>(std::llround(seconds));
  if (s < 60) return fmt::format("{}s", s);
  if (s < 3600) return fmt::format("{}m{:02d}s", s / 60, s % 60);
  if (s < 86400) return fmt::format("{}h{:02d}m", s / 3600, (s % 3600) / 60);
  return fmt::format("{}d{:02d}h", s / 86400, (s % 86400) / 3600);
}

std::string format_si(double value) {
  if (!std::isfinite(value)) return fmt::format("{}", value);
  static const char* const kSuffix[] = {"", "K", "M", "G", "T"};
  double v = value;
  int i = 0;
  // Rounding can carry into the next unit (999.96 -> "1000"), so test the rounded value.
  while (i < 4 && std::fabs(v) >= 999.95) {
    v /= 1000;
    ++i;
  }
  if (i == 0) return std::fabs(v) >= 100 ? fmt::format("{:.0f}", v) : fmt::format("{:.3g}", v);
  const int decimals = std::fabs(v) >= 99.95 ? 0 : (std::fabs(v) >= 9.995 ? 1 : 2);
  return fmt::format("{:.{}f}{}", v, decimals, kSuffix[i]);
}

Progress::Progress(int64_t total_steps, bool quiet, std::FILE* out, Clock clock)
    : total_(total_steps), quiet_(quiet), out_(out), clock_(std::move(clock)) {
  if (!clock_) clock_ = [] { return std::chrono::steady_clock::now(); };
  tty_ = out_ && ::isatty(::fileno(out_)) == 1;
}

void Progress::update(int64_t step, double loss, double tokens_per_s) {
  const auto now = clock_();
  if (last_step_ >= 0 && step > last_step_) {
    const double dt = std::chrono::duration<double>(now - last_time_).count() /
                      static_cast<double>(step - last_step_);
    sec_per_step_ = sec_per_step_ < 0 ? dt : (1 - kSmoothing) * sec_per_step_ + kSmoothing * dt;
  }
  last_step_ = step;
  last_time_ = now;

  std::string text =
      total_ > 0 ? fmt::format("step {}/{}", step, total_) : fmt::format("step {}", step);
  text += fmt::format(" | loss {:.4f} | {} {}/s", loss, format_si(tokens_per_s), unit_);
  if (total_ > 0) {
    const double eta = sec_per_step_ < 0 ? -1 : sec_per_step_ * static_cast<double>(total_ - step);
    text += " | ETA " + format_duration(eta);
  }
  line_ = std::move(text);

  if (quiet_ || !out_) return;
  if (tty_) {
    const bool last = total_ > 0 && step >= total_;
    if (drawn_ && !last && now - last_draw_ < kRedrawInterval) return;
    last_draw_ = now;
    draw();
  } else {
    std::fprintf(out_, "%s\n", line_.c_str());
    std::fflush(out_);
  }
}

void Progress::draw() {
  // \x1b[K clears the rest of a longer previous line.
  std::fprintf(out_, "\r%s\x1b[K", line_.c_str());
  std::fflush(out_);
  drawn_ = true;
}

void Progress::message(const std::string& text) {
  if (quiet_ || !out_) return;
  if (tty_ && drawn_) {
    std::fprintf(out_, "\r\x1b[K%s\n", text.c_str());
    draw();
  } else {
    std::fprintf(out_, "%s\n", text.c_str());
    std::fflush(out_);
  }
}

void Progress::warn(const std::string& text) {
  if (!out_) return;
  if (quiet_) {
    std::fprintf(stderr, "warning: %s\n", text.c_str());
    return;
  }
  message("warning: " + text);
}

void Progress::finish() {
  if (quiet_ || !out_ || !tty_ || !drawn_) return;
  draw();  // the newest values, which throttling may have skipped
  std::fputc('\n', out_);
  std::fflush(out_);
  drawn_ = false;
}

}  // namespace attn
