#include "parallel/cad/calibration.h"

#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "framework/core/error.h"

namespace attn::cad {

CalibratedAttention read_calibration(const std::string& path) {
  std::error_code ec;
  std::ifstream in(path);
  if (!std::filesystem::is_regular_file(path, ec) || !in)
    ATTN_FAIL(kInput, "{}: cannot open the attention calibration (not a readable file)", path);
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    ATTN_FAIL(kInput, "{}: not JSON ({})", path, e.what());
  }
  auto number = [&](const char* key) {
    if (!j.is_object() || !j.contains(key) || !j[key].is_number())
      ATTN_FAIL(kInput, "{}: the calibration has no number \"{}\"", path, key);
    return j[key].get<double>();
  };
  CalibratedAttention c;
  c.per_pair_ns = number("per_pair_ns");
  c.per_row_ns = number("per_row_ns");
  c.per_task_ns = number("per_task_ns");
  c.width = static_cast<int64_t>(number("heads") * number("dim"));
  if (!(c.per_pair_ns > 0) || c.per_row_ns < 0 || c.per_task_ns < 0 || c.width <= 0)
    ATTN_FAIL(kInput, "{}: per_pair_ns must be > 0 and the other costs >= 0", path);
  if (!j.contains("mode") || !j["mode"].is_string())
    ATTN_FAIL(kInput, "{}: the calibration has no string \"mode\"", path);
  const std::string mode = j["mode"].get<std::string>();
  if (mode != "fwd" && mode != "fwdbwd")
    ATTN_FAIL(kInput, "{}: mode \"{}\" is neither fwd nor fwdbwd", path, mode);
  c.forward_only = mode == "fwd";
  c.source = path;
  return c;
}

CostModel calibrated_cost_model(const CalibratedAttention& c, int64_t width) {
  const double scale = static_cast<double>(width) / static_cast<double>(c.width);
  return {c.per_pair_ns * scale, c.per_row_ns * scale, c.per_task_ns};
}

}  // namespace attn::cad
