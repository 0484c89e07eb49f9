// Test hooks for the failure-handling tests: ATTNLAB_FAULT_INJECT names one point of a run;
// reaching it either kills the process (a crash) or throws (an error on one rank).
#pragma once

#include <functional>
#include <string>

namespace attn {

// _Exit(75) without unwinding when ATTNLAB_FAULT_INJECT == point (e.g. "checkpoint_midway").
void crash_if_injected(const std::string& point);

// When ATTNLAB_FAULT_INJECT names `point` (e.g. "step_3_rank_1"): "<point>" throws attn::Error
// (kInternal, "injected fault at <point>"), "kill@<point>" raises SIGKILL, "hang@<point>"
// blocks forever (a hung rank), "nan@<point>" calls `poison` (which makes the run's numbers
// non-finite, as a diverged run's are).
void fault_if_injected(const std::string& point, const std::function<void()>& poison = nullptr);

}  // namespace attn
