// CadPlan encoding (cad_plan.proto): what a plan is on the wire. Decoding never trusts the bytes:
// a truncated, corrupted, wrong-version or hash-mismatched plan, or one that breaks the plan's
// invariants for the batch at hand (check_plan), is a named attn::Error(kInput), never a crash.
#pragma once

#include <string>
#include <string_view>

#include "parallel/cad/planner.h"

namespace attn::cad {

inline constexpr uint32_t kPlanVersion = 1;

std::string encode_plan(const Plan& plan);

// The plan for `layout`, with load and traffic recomputed under `options` (the planner's
// tolerance and balance verdict are not part of the encoding: eps is `options.eps`).
Plan decode_plan(std::string_view bytes, const WorkerLayout& layout,
                 const PlannerOptions& options = {});

}  // namespace attn::cad
