#include "recipes/run/fault_injection.h"

#include <unistd.h>

#include <csignal>
#include <cstdlib>

#include "framework/core/error.h"

namespace attn {

namespace {

// "POINT" (throw), "kill@POINT", "hang@POINT" or "nan@POINT" when ATTNLAB_FAULT_INJECT names
// `point`.
enum class Fault { kNone, kThrow, kKill, kHang, kNan };

Fault injected(const std::string& point) {
  const char* v = std::getenv("ATTNLAB_FAULT_INJECT");
  if (!v) return Fault::kNone;
  const std::string s = v;
  if (s == point) return Fault::kThrow;
  if (s == "kill@" + point) return Fault::kKill;
  if (s == "hang@" + point) return Fault::kHang;
  if (s == "nan@" + point) return Fault::kNan;
  return Fault::kNone;
}

}  // namespace

void crash_if_injected(const std::string& point) {
  if (injected(point) == Fault::kThrow) std::_Exit(75);
}

void fault_if_injected(const std::string& point, const std::function<void()>& poison) {
  switch (injected(point)) {
    case Fault::kNone:
      return;
    case Fault::kThrow:
      ATTN_FAIL(kInternal, "injected fault at {}", point);
    case Fault::kKill:
      std::raise(SIGKILL);
      return;
    case Fault::kHang:
      for (;;) ::pause();  // a rank stuck outside any collective: only the watchdog ends it
    case Fault::kNan:
      if (poison) poison();
      return;
  }
}

}  // namespace attn
