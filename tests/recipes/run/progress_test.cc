// Progress line: number/duration formatting, smoothed ETA with a fake clock, plain and TTY output.
#include "recipes/run/progress.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <string>

namespace attn {
namespace {

using namespace std::chrono_literals;

// A FILE* in memory-backed temp storage whose content can be read back.
class CapturedFile {
 public:
  CapturedFile() : file_(std::tmpfile()) {}
  ~CapturedFile() { std::fclose(file_); }
  std::FILE* get() { return file_; }
  std::string text() {
    std::fflush(file_);
    const long size = std::ftell(file_);
    std::string s(static_cast<size_t>(size), '\0');
    std::rewind(file_);
    EXPECT_EQ(std::fread(s.data(), 1, s.size(), file_), s.size());
    std::fseek(file_, 0, SEEK_END);
    return s;
  }

 private:
  std::FILE* file_;
};

struct FakeClock {
  std::chrono::steady_clock::time_point now{};
  Progress::Clock fn() {
    return [this] { return now; };
  }
};

TEST(ProgressFormat, Durations) {
  EXPECT_EQ(format_duration(0), "0s");
  EXPECT_EQ(format_duration(45.4), "45s");
  EXPECT_EQ(format_duration(59.6), "1m00s");
  EXPECT_EQ(format_duration(192), "3m12s");
  EXPECT_EQ(format_duration(3900), "1h05m");
  EXPECT_EQ(format_duration(2 * 86400 + 3 * 3600 + 5), "2d03h");
  EXPECT_EQ(format_duration(-1), "--");
  EXPECT_EQ(format_duration(NAN), "--");
  EXPECT_EQ(format_duration(INFINITY), "--");
}

TEST(ProgressFormat, SiSuffixes) {
  EXPECT_EQ(format_si(950), "950");
  EXPECT_EQ(format_si(41.25), "41.2");
  EXPECT_EQ(format_si(41234), "41.2K");
  EXPECT_EQ(format_si(1.5e6), "1.50M");
  EXPECT_EQ(format_si(999.96), "1.00K");
  EXPECT_EQ(format_si(99960), "100K");
  EXPECT_EQ(format_si(2.5e9), "2.50G");
  EXPECT_EQ(format_si(0), "0");
}

TEST(Progress, PlainLinesWithSmoothedEta) {
  CapturedFile out;
  FakeClock clock;
  Progress p(2000, false, out.get(), clock.fn());
  p.set_tty(false);
  p.update(100, 2.5, 41234);
  EXPECT_EQ(p.line(), "step 100/2000 | loss 2.5000 | 41.2K tok/s | ETA --");
  EXPECT_LT(p.seconds_per_step(), 0);
  clock.now += 10s;  // 20 steps in 10 s: 0.5 s/step, 1880 steps left
  p.update(120, 2.31449, 41234);
  EXPECT_DOUBLE_EQ(p.seconds_per_step(), 0.5);
  EXPECT_EQ(p.line(), "step 120/2000 | loss 2.3145 | 41.2K tok/s | ETA 15m40s");
  clock.now += 20s;  // 1.0 s/step sample: smoothed 0.9 * 0.5 + 0.1 * 1.0 = 0.55
  p.update(140, 2.0, 1000);
  EXPECT_NEAR(p.seconds_per_step(), 0.55, 1e-12);
  EXPECT_EQ(p.line(), "step 140/2000 | loss 2.0000 | 1.00K tok/s | ETA 17m03s");
  p.message("eval: val_loss 2.1");
  p.finish();
  EXPECT_EQ(out.text(),
            "step 100/2000 | loss 2.5000 | 41.2K tok/s | ETA --\n"
            "step 120/2000 | loss 2.3145 | 41.2K tok/s | ETA 15m40s\n"
            "step 140/2000 | loss 2.0000 | 1.00K tok/s | ETA 17m03s\n"
            "eval: val_loss 2.1\n");
}

TEST(Progress, UnknownTotalHasNoEta) {
  CapturedFile out;
  Progress p(0, false, out.get());
  p.set_tty(false);
  p.update(7, NAN, 12);
  EXPECT_EQ(p.line(), "step 7 | loss nan | 12 tok/s");
}

TEST(Progress, QuietPrintsNothing) {
  CapturedFile out;
  Progress p(10, true, out.get());
  p.set_tty(true);
  p.update(1, 1.0, 1.0);
  p.message("hello");
  p.finish();
  EXPECT_EQ(out.text(), "");
  EXPECT_FALSE(p.line().empty()) << "the line is still tracked for callers that want it";
}

TEST(Progress, TtyRewritesOneLineThrottledAndClearsForMessages) {
  CapturedFile out;
  FakeClock clock;
  Progress p(3, false, out.get(), clock.fn());
  EXPECT_FALSE(p.tty()) << "a temp file is not a terminal";
  p.set_tty(true);
  p.update(1, 3.0, 10);
  clock.now += 10ms;
  p.update(2, 2.0, 10);  // within 100 ms of the last draw: skipped
  EXPECT_EQ(out.text(), "\rstep 1/3 | loss 3.0000 | 10 tok/s | ETA --\x1b[K");
  p.message("note");
  clock.now += 10ms;
  p.update(3, 1.0, 10);  // the last step is always drawn
  p.finish();
  const std::string text = out.text();
  EXPECT_EQ(text.find('\n'), text.find("note\n") + 4) << "only messages and finish end lines";
  EXPECT_NE(text.find("\r\x1b[Knote\n\rstep 2/3 | loss 2.0000"), std::string::npos) << text;
  EXPECT_NE(text.find("\rstep 3/3 | loss 1.0000 | 10 tok/s | ETA 0s\x1b[K\n"), std::string::npos)
      << text;
  EXPECT_EQ(text.back(), '\n');
}

}  // namespace
}  // namespace attn
